"""Federation: this node asks its peers the same query and merges what they answer.

An agency that keeps custody of its documents runs its own node; the nodes answer each
other's searches instead of copying each other's content.

* **Signed requests.** A node asks a peer with ``POST /api/v1/federation/search``; the
  body carries the query, its filters and the asking user's identity and groups. Four
  headers sign it with the key the two nodes share (HMAC-SHA256 over the method, path,
  node, timestamp, nonce and the body's SHA-256). The peer refuses an unknown node, a
  stale timestamp, a bad signature and a nonce it has seen (a replay), maps the remote
  user's groups through its own ``groups`` table for that node (an unlisted group counts
  for nothing) and searches with its own ACL: only what its policy shares with that node
  leaves it.
* **Fan-out and merge.** A federated search asks every enabled peer in parallel and
  waits until the deadline, no longer. Local and remote hits are merged by reciprocal
  rank fusion; a hit whose URL (or other-language URL) is already in the list is dropped;
  every hit says which node it comes from; facet counts add up; every peer's outcome
  (answered, late, failed and why, skipped) is part of the answer.
* **Circuit breaker.** A peer that failed ``breaker_failures`` times in a row is not
  asked for ``breaker_seconds``: a dead peer costs nothing, not a deadline per search.
* **Experts** come from every node with their evidence and are merged by rank fusion
  too; people of different nodes are never merged (same name or not).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets as token_source
import threading
import time
from collections import defaultdict
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import requests

from config import secrets
from config.loader import FederationSettings, PeerSettings

log = logging.getLogger(__name__)

#: where a peer answers federated searches, and the signed ping ``savoir peers check`` uses
SEARCH_PATH = "/api/v1/federation/search"
PING_PATH = "/api/v1/federation/ping"
#: reciprocal rank fusion's constant (Cormack et al.: 60 is robust across systems)
RRF_K = 60
#: the most hits a peer is asked for (the merged list's pages come from these)
MAX_REMOTE_HITS = 100
HEADER_NODE = "X-Savoir-Node"
HEADER_TIME = "X-Savoir-Timestamp"
HEADER_NONCE = "X-Savoir-Nonce"
HEADER_SIGNATURE = "X-Savoir-Signature"


# -- signing ---------------------------------------------------------------------------


def _canonical(method: str, path: str, node: str, stamp: str, nonce: str, body: bytes) -> bytes:
    digest = hashlib.sha256(body).hexdigest()
    return "\n".join((method.upper(), path, node, stamp, nonce, digest)).encode()


def sign(secret: str, method: str, path: str, node: str, body: bytes, *, now: float | None = None) -> dict:
    """The headers that sign a request from *node* (a fresh nonce every time)."""
    stamp = str(int(now if now is not None else time.time()))
    nonce = token_source.token_hex(16)
    mac = hmac.new(secret.encode(), _canonical(method, path, node, stamp, nonce, body), hashlib.sha256)
    return {
        HEADER_NODE: node,
        HEADER_TIME: stamp,
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: mac.hexdigest(),
        "Content-Type": "application/json",
    }


class Refused(Exception):
    """A peer's request this node will not answer; the message says why (it is sent back)."""


def verify(
    settings: FederationSettings,
    method: str,
    path: str,
    headers,
    body: bytes,
    first_use_of_nonce,
    *,
    now: float | None = None,
) -> PeerSettings:
    """The peer a signed request comes from, or :class:`Refused`.

    *first_use_of_nonce(node, nonce, keep_seconds)* records a nonce and says whether it
    is new (the store's, shared by every web process).
    """
    if not settings.node:
        raise Refused("federation is not enabled on this node")
    node = (headers.get(HEADER_NODE) or "").strip()
    peer = settings.peer(node)
    if peer is None or not peer.enabled:
        raise Refused(
            f"unknown node {node!r}: this node has no enabled [[federation.peers]] entry of that name"
        )
    stamp, nonce = headers.get(HEADER_TIME) or "", headers.get(HEADER_NONCE) or ""
    given = headers.get(HEADER_SIGNATURE) or ""
    if not stamp.isdigit() or not (16 <= len(nonce) <= 64) or not given:
        raise Refused("unsigned request: the timestamp, nonce and signature headers are required")
    skew = abs((now if now is not None else time.time()) - int(stamp))
    if skew > settings.max_skew_seconds:
        raise Refused(
            f"stale request: its timestamp is {skew:.0f} s away from this node's clock "
            f"(at most {settings.max_skew_seconds} s); check both clocks (NTP)"
        )
    canonical = _canonical(method, path, node, stamp, nonce, body)
    keys = [k for k in (peer.secret, peer.previous_secret) if k]
    if not any(
        hmac.compare_digest(hmac.new(k.encode(), canonical, hashlib.sha256).hexdigest(), given) for k in keys
    ):
        raise Refused("bad signature: the two nodes do not hold the same secret for this pair")
    if not first_use_of_nonce(node, nonce, 2 * settings.max_skew_seconds):
        raise Refused("replayed request: this nonce was used already")
    return peer


def local_groups(peer: PeerSettings, remote_groups) -> tuple[str, ...]:
    """What a remote user's groups stand for here: only those the peer's table maps."""
    out = []
    for g in remote_groups or ():
        if isinstance(g, str) and g in peer.groups and peer.groups[g] not in out:
            out.append(peer.groups[g])
    return tuple(out)


# -- the breaker -----------------------------------------------------------------------


class Breaker:
    """Per peer: failures in a row, and until when (wall clock) it is not asked.

    With a *path*, the state lives in that small file (under ``flock``), shared by every
    server process of the node: a dead peer is skipped by all of them after the same
    ``breaker_failures``, not once per process. Without one it is this process's own.
    """

    def __init__(self, path=None) -> None:
        self._lock = threading.Lock()
        self.path = path
        self._state: dict[str, list[float]] = {}  # name -> [failures, open_until]

    def _locked(self, update):
        with self._lock:
            if self.path is None:
                return update(self._state)
            import fcntl

            with open(self.path, "a+", encoding="utf-8") as f:
                fcntl.flock(f, fcntl.LOCK_EX)
                f.seek(0)
                try:
                    state = json.loads(f.read() or "{}")
                except ValueError:
                    state = {}  # a torn or foreign file: start again
                if not isinstance(state, dict):
                    state = {}
                before = json.dumps(state, sort_keys=True)
                out = update(state)
                if json.dumps(state, sort_keys=True) != before:
                    f.seek(0)
                    f.truncate()
                    f.write(json.dumps(state))
                return out

    def closed(self, name: str, now: float | None = None) -> bool:
        now = now if now is not None else time.time()
        return self._locked(lambda st: float((st.get(name) or [0, 0])[1]) <= now)

    def record(self, name: str, ok: bool, settings: FederationSettings, now: float | None = None) -> None:
        now = now if now is not None else time.time()

        def update(st):
            if ok:
                st.pop(name, None)
                return
            failures, until = st.get(name) or [0, 0.0]
            failures += 1
            if failures >= settings.breaker_failures:
                failures, until = 0, now + settings.breaker_seconds
            st[name] = [failures, until]

        self._locked(update)

    def state(self) -> dict[str, dict[str, Any]]:
        now = time.time()
        return self._locked(
            lambda st: {
                name: {"failures": int(v[0]), "skipped_for_s": round(max(0.0, float(v[1]) - now), 1)}
                for name, v in st.items()
                if isinstance(v, list) and len(v) == 2
            }
        )


_BREAKERS: dict[str, Breaker] = {}
#: for callers without a data directory (a process of its own)
_LOCAL_BREAKER = Breaker()


def breaker_for(data_dir) -> Breaker:
    """The node's shared breaker (one file per data directory)."""
    key = str(data_dir)
    if key not in _BREAKERS:
        from pathlib import Path

        Path(data_dir).mkdir(parents=True, exist_ok=True)
        _BREAKERS[key] = Breaker(Path(data_dir) / "federation-breaker.json")
    return _BREAKERS[key]


#: threads that wait for peers; a late answer finishes in the background, unread
_POOL = ThreadPoolExecutor(max_workers=16, thread_name_prefix="savoir-peer")
#: one thread per federated search in flight waits for its peers (a pool of its own, so
#: that searches waiting never take the threads their peers' answers need)
_COORDINATORS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="savoir-federate")
_SESSION = threading.local()


def _session() -> requests.Session:
    if getattr(_SESSION, "value", None) is None:
        _SESSION.value = requests.Session()
    return _SESSION.value


# -- asking peers ----------------------------------------------------------------------


@dataclass
class PeerAnswer:
    name: str
    agency: str
    #: "answered", "late" (after the deadline), "failed", "skipped" (breaker open)
    status: str
    took_ms: float = 0.0
    reason: str = ""
    body: dict = field(default_factory=dict)

    def json(self) -> dict[str, Any]:
        out = {
            "node": self.name,
            "agency": self.agency,
            "status": self.status,
            "took_ms": round(self.took_ms, 1),
        }
        if self.reason:
            out["reason"] = self.reason
        return out


def post_signed(
    settings: FederationSettings, peer: PeerSettings, path: str, payload: dict, timeout: float
) -> dict:
    """POST *payload* to *peer*, signed; its JSON answer, or an exception saying what failed.

    A connection the peer closed without answering (a kept-alive one it had timed out,
    or a proxy's between them) is tried once more on a new connection, signed anew
    (a nonce is good once): what is asked of peers only reads.
    """
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    url = peer.url.rstrip("/") + path
    for attempt in (1, 2):
        headers = sign(peer.secret, "POST", path, settings.node, body)
        try:
            answer = _session().post(url, data=body, headers=headers, timeout=timeout, allow_redirects=False)
            break
        except requests.Timeout:
            raise PeerError(f"no answer within its {timeout:.1f} s timeout", late=True) from None
        except requests.ConnectionError as exc:
            if attempt == 1 and _dropped(exc):
                log.info("peer %s closed the connection without answering; asking again", peer.name)
                continue
            raise PeerError(
                f"cannot connect to {peer.url} ({_short(exc)}): is its savoir serve running?"
            ) from None
    if answer.status_code != 200:
        try:
            why = answer.json().get("error", "")
        except ValueError:
            why = answer.text[:200]
        raise PeerError(f"HTTP {answer.status_code} from {peer.url}: {why}".strip().rstrip(":"))
    try:
        data = answer.json()
    except ValueError:
        raise PeerError(f"{peer.url} answered something that is not JSON") from None
    if not isinstance(data, dict):
        raise PeerError(f"{peer.url} answered JSON that is not an object")
    return data


class PeerError(Exception):
    def __init__(self, message: str, *, late: bool = False) -> None:
        super().__init__(message)
        #: it is slow (its timeout passed), not broken
        self.late = late


def _dropped(exc: requests.ConnectionError) -> bool:
    """The connection was made, then closed or reset before an answer (not refused)."""
    text = str(exc)
    return "Connection aborted" in text or "Connection reset" in text or "RemoteDisconnected" in text


def _short(exc: Exception) -> str:
    text = secrets.scrub(str(exc))
    for marker in ("Connection refused", "Name or service not known", "timed out", "No route to host"):
        if marker in text:
            return marker.lower()
    return text[:120]


def ask_peers(
    settings: FederationSettings,
    payload: dict,
    *,
    deadline_s: float | None = None,
    breaker: Breaker | None = None,
) -> list[PeerAnswer]:
    """Every enabled peer's answer to *payload*, waiting no longer than the deadline."""
    started = time.monotonic()
    breaker = breaker or _LOCAL_BREAKER
    budget = deadline_s if deadline_s is not None else settings.deadline_ms / 1000
    answers: dict[str, PeerAnswer] = {}
    pending = {}
    for peer in settings.peers:
        if not peer.enabled:
            continue
        if not breaker.closed(peer.name):
            answers[peer.name] = PeerAnswer(
                peer.name, peer.agency, "skipped", reason="failing lately; asked again soon"
            )
            continue
        timeout = max(0.05, min(peer.timeout, budget))
        pending[_POOL.submit(_timed, settings, peer, payload, timeout)] = peer
    waiting = set(pending)
    while waiting:
        left = budget - (time.monotonic() - started)
        if left <= 0:
            break
        done, waiting = wait(waiting, timeout=left, return_when=FIRST_COMPLETED)
        for future in done:
            peer = pending[future]
            took, data, error, late = future.result()
            breaker.record(peer.name, error is None, settings)
            if error is None:
                # the agency this node's settings give the peer, not what its answer claims
                agency = peer.agency or str(data.get("agency") or "")
                answers[peer.name] = PeerAnswer(peer.name, agency, "answered", took, body=data)
            else:
                status = "late" if late else "failed"
                answers[peer.name] = PeerAnswer(peer.name, peer.agency, status, took, reason=error)
    for future in waiting:
        peer = pending[future]
        breaker.record(peer.name, False, settings)
        answers[peer.name] = PeerAnswer(
            peer.name,
            peer.agency,
            "late",
            budget * 1000,
            reason=f"no answer within the {budget * 1000:.0f} ms deadline",
        )
    return [answers[p.name] for p in settings.peers if p.name in answers]


def _timed(settings, peer, payload, timeout) -> tuple[float, dict, str | None, bool]:
    t0 = time.monotonic()
    try:
        data = post_signed(settings, peer, SEARCH_PATH, payload, timeout)
        return (time.monotonic() - t0) * 1000, data, None, False
    except PeerError as exc:
        return (time.monotonic() - t0) * 1000, {}, secrets.scrub(str(exc)), exc.late
    except Exception as exc:  # a peer's answer must never break this node's search
        return (time.monotonic() - t0) * 1000, {}, secrets.scrub(f"{type(exc).__name__}: {exc}")[:200], False


# -- merging ---------------------------------------------------------------------------


def _clean_hit(hit: Any) -> dict | None:
    """A remote hit as this node shows it: known fields of the right types, nothing else."""
    if (
        not isinstance(hit, dict)
        or not isinstance(hit.get("url"), str)
        or not isinstance(hit.get("title"), str)
    ):
        return None
    out = {}
    for key in ("id", "title", "url", "agency", "source", "kind", "language", "date", "snippet"):
        value = hit.get(key)
        out[key] = value if isinstance(value, str) else None
    out["authors"] = [a for a in hit.get("authors") or [] if isinstance(a, str)][:20]
    alternates = hit.get("alternates") if isinstance(hit.get("alternates"), dict) else {}
    out["alternates"] = {k: v for k, v in alternates.items() if isinstance(k, str) and isinstance(v, str)}
    return out


def merge_hits(lists: list[tuple[str, str, list[dict]]]) -> list[dict]:
    """Reciprocal rank fusion of each node's ranked hits; a URL already kept (or the
    other-language version of one) is not shown twice, but its node is named."""
    fused: dict[int, float] = defaultdict(float)
    entries: list[dict] = []
    for node, agency, hits in lists:
        for rank, hit in enumerate(hits, start=1):
            entry = dict(hit, node=node, node_agency=agency, also_at=[])
            entries.append(entry)
            fused[len(entries) - 1] = 1.0 / (RRF_K + rank)
    order = sorted(range(len(entries)), key=lambda i: -fused[i])
    kept: list[dict] = []
    seen: dict[str, dict] = {}
    for i in order:
        entry = entries[i]
        urls = [entry["url"], *entry.get("alternates", {}).values()]
        first = next((seen[u] for u in urls if u in seen), None)
        if first is not None:
            if entry["node"] != first["node"] and entry["node"] not in first["also_at"]:
                first["also_at"].append(entry["node"])
            first["fused"] += fused[i]
            continue
        entry["fused"] = fused[i]
        kept.append(entry)
        for u in urls:
            seen.setdefault(u, entry)
    kept.sort(key=lambda e: -e["fused"])
    for e in kept:
        e["fused"] = round(e["fused"], 6)
    return kept


def merge_experts(lists: list[tuple[str, str, list[dict]]], limit: int = 5) -> list[dict]:
    """Every node's experts fused by rank; a person is one node's person (never merged
    with someone of another node, whatever the name)."""
    scored = []
    for node, agency, experts in lists:
        for rank, e in enumerate(experts, start=1):
            if isinstance(e, dict) and isinstance(e.get("name"), str):
                scored.append((1.0 / (RRF_K + rank), rank, node, dict(e, node=node, node_agency=agency)))
    scored.sort(key=lambda t: (-t[0], t[1], t[2]))
    return [e for *_, e in scored[:limit]]


def merge_facets(facet_maps: list[dict]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for facets in facet_maps:
        if not isinstance(facets, dict):
            continue
        for name, counts in facets.items():
            if isinstance(counts, dict):
                for value, n in counts.items():
                    if isinstance(n, int) and not isinstance(n, bool):
                        out[str(name)][str(value)] += n
    return {name: dict(sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))) for name, c in out.items()}


def federate(
    settings: FederationSettings,
    local,
    payload: dict,
    page: int,
    page_size: int,
    breaker: Breaker | None = None,
) -> dict:
    """The merged answer. *local* is this node's own answer (hits, facets, total,
    experts), or a function that makes it: it then runs while the peers are asked."""
    started = time.monotonic()
    asking = _COORDINATORS.submit(ask_peers, settings, payload, breaker=breaker)
    if callable(local):
        local = local()
    try:
        answers = asking.result()
    except Exception:  # this node's own answer never fails for its peers' sake
        log.exception("asking the peers failed; answering with this node's hits only")
        answers = [
            PeerAnswer(p.name, p.agency, "failed", reason="this node could not ask it")
            for p in settings.peers
            if p.enabled
        ]
    node_lists = [(settings.node, settings.agency, local.get("hits", []))]
    expert_lists = [(settings.node, settings.agency, local.get("experts", []))]
    facet_maps = [local.get("facets", {})]
    total = int(local.get("total", 0))
    for a in answers:
        if a.status != "answered":
            continue
        hits = [h for h in (_clean_hit(x) for x in (a.body.get("hits") or [])[:MAX_REMOTE_HITS]) if h]
        node_lists.append((a.name, a.agency, hits))
        expert_lists.append(
            (a.name, a.agency, [e for e in a.body.get("experts") or [] if isinstance(e, dict)][:10])
        )
        facet_maps.append(a.body.get("facets") or {})
        remote_total = a.body.get("total")
        total += (
            remote_total
            if isinstance(remote_total, int) and not isinstance(remote_total, bool)
            else len(hits)
        )
    merged = merge_hits(node_lists)
    start = (page - 1) * page_size
    return {
        "node": settings.node,
        "total": total,
        "page": page,
        "hits": merged[start : start + page_size],
        "merged_hits": len(merged),
        "facets": merge_facets(facet_maps),
        "experts": merge_experts(expert_lists),
        "peers": [a.json() for a in answers],
        "took_ms": round((time.monotonic() - started) * 1000, 1),
    }
