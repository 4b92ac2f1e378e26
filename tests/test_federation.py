"""Federation: signed questions between nodes, fan-out with a deadline, merged answers.

The unit tests check the signature, the group mapping, the merge and the breaker; the
node tests start three real ``savoir serve`` processes on loopback, each with its own
data directory, documents and ACL, and ask one of them for a federated search, with a
peer behind a proxy that is made slow (a fault injector) and a peer that is stopped.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from config.loader import ConfigError, FederationSettings, PeerSettings, build_settings
from tests.conftest import ROOT, free_port
from webui import federation as fed

KEY_AB = "a-and-b-share-this-key-0001"
KEY_AC = "a-and-c-share-this-key-0002"
KEY_BC = "b-and-c-share-this-key-0003"


def _settings(node="b", **peer) -> FederationSettings:
    return FederationSettings(
        node=node,
        agency="ssc",
        peers=[PeerSettings(**{"name": "a", "url": "http://127.0.0.1:1", "secret": KEY_AB, **peer})],
    )


class _Nonces:
    def __init__(self):
        self.seen = set()

    def __call__(self, node, nonce, keep):
        if (node, nonce) in self.seen:
            return False
        self.seen.add((node, nonce))
        return True


# -- signing -----------------------------------------------------------------------------


def test_a_signed_request_is_accepted_once_and_its_replay_refused():
    settings, nonces = _settings(), _Nonces()
    body = b'{"query":"telework"}'
    headers = fed.sign(KEY_AB, "POST", fed.SEARCH_PATH, "a", body)
    assert fed.verify(settings, "POST", fed.SEARCH_PATH, headers, body, nonces).name == "a"
    with pytest.raises(fed.Refused, match="replayed"):
        fed.verify(settings, "POST", fed.SEARCH_PATH, headers, body, nonces)


@pytest.mark.parametrize(
    "change, reason",
    [
        (lambda h, b: (h, b + b" "), "bad signature"),  # the body changed on the way
        (lambda h, b: ({**h, fed.HEADER_NODE: "z"}, b), "unknown node"),
        (lambda h, b: ({k: v for k, v in h.items() if k != fed.HEADER_SIGNATURE}, b), "unsigned"),
        (
            lambda h, b: (fed.sign("some-other-key-of-length", "POST", fed.SEARCH_PATH, "a", b), b),
            "bad signature",
        ),
        (
            lambda h, b: (fed.sign(KEY_AB, "POST", fed.SEARCH_PATH, "a", b, now=time.time() - 3600), b),
            "stale",
        ),
        (lambda h, b: (fed.sign(KEY_AB, "POST", fed.PING_PATH, "a", b), b), "bad signature"),  # another path
    ],
)
def test_forged_stale_unsigned_and_unknown_requests_are_refused(change, reason):
    body = b'{"query":"telework"}'
    headers, sent = change(fed.sign(KEY_AB, "POST", fed.SEARCH_PATH, "a", body), body)
    with pytest.raises(fed.Refused, match=reason):
        fed.verify(_settings(), "POST", fed.SEARCH_PATH, headers, sent, _Nonces())


def test_a_key_rollover_accepts_both_keys_and_signs_with_the_new_one():
    new = "the-new-key-for-a-and-b-0009"
    rolled = _settings(secret=new, previous_secret=KEY_AB)
    body = b"{}"
    for key in (new, KEY_AB):  # the peer may not have switched yet
        assert fed.verify(
            rolled,
            "POST",
            fed.SEARCH_PATH,
            fed.sign(key, "POST", fed.SEARCH_PATH, "a", body),
            body,
            _Nonces(),
        )
    after = _settings(secret=new)  # the rollover is over: the old key is refused
    with pytest.raises(fed.Refused, match="bad signature"):
        fed.verify(
            after,
            "POST",
            fed.SEARCH_PATH,
            fed.sign(KEY_AB, "POST", fed.SEARCH_PATH, "a", body),
            body,
            _Nonces(),
        )


def test_only_the_groups_this_node_maps_count_for_a_remote_user():
    peer = PeerSettings(
        name="a", url="http://x", secret=KEY_AB, groups={"public": "public", "fraud-team": "fraud-ssc"}
    )
    assert fed.local_groups(peer, ["public", "fraud-team", "savoir-admins", 7]) == ("public", "fraud-ssc")
    default = PeerSettings(name="a", url="http://x", secret=KEY_AB)
    assert fed.local_groups(default, ["fraud-team", "all-government"]) == ("all-government",)


# -- settings ------------------------------------------------------------------------------


def _peers(**peer):
    return {"federation": {"node": "a", "peers": [{"name": "b", "url": "http://127.0.0.1:9", **peer}]}}


def test_peers_are_validated_and_their_secrets_never_quoted():
    settings = build_settings(_peers(secret="env:AB_KEY"), env={"AB_KEY": KEY_AB})
    assert settings.federation.peers[0].secret == KEY_AB and settings.federation.enabled
    for bad, message in (
        (_peers(secret="short-key"), "at least 16 characters"),
        (_peers(secret="env:MISSING"), "MISSING is not set"),
        (_peers(secret=KEY_AB, url="ftp://x"), "must start with http"),
        (
            {"federation": {"node": "a", "peers": [{"name": "a", "url": "http://x", "secret": KEY_AB}]}},
            "itself",
        ),
        (_peers(secret=KEY_AB, colour="red"), "unknown field 'colour'"),
        (_peers(secret=12345678901234567890), "expected text"),
    ):
        with pytest.raises(ConfigError, match=message) as caught:
            build_settings(bad, env={})
        assert KEY_AB not in str(caught.value) and "12345678901234567890" not in str(caught.value)


# -- merging and the breaker ---------------------------------------------------------------


def _hit(url, title="t", **more):
    return {"url": url, "title": title, "alternates": {}, **more}


def test_merge_interleaves_nodes_by_rank_and_drops_a_document_seen_twice():
    merged = fed.merge_hits(
        [
            ("a", "cra", [_hit("https://a/1"), _hit("https://shared/x"), _hit("https://a/3")]),
            ("b", "ssc", [_hit("https://b/1"), _hit("https://b/2", alternates={"fr": "https://shared/x"})]),
        ]
    )
    urls = [h["url"] for h in merged]
    # a document both nodes found adds both its ranks (rank fusion), then each node's first
    assert urls[:3] == ["https://shared/x", "https://a/1", "https://b/1"]
    assert "https://b/2" not in urls  # the French version of a hit already listed
    shared = next(h for h in merged if h["url"] == "https://shared/x")
    assert shared["node"] == "a" and shared["also_at"] == ["b"]
    assert {h["node"] for h in merged} == {"a", "b"} and all(h["node_agency"] for h in merged)


def test_experts_of_two_nodes_are_never_merged_on_name():
    merged = fed.merge_experts(
        [
            ("a", "cra", [{"name": "Jean Roy", "person_id": 1}]),
            ("b", "ssc", [{"name": "Jean Roy", "person_id": 1}]),
        ]
    )
    assert [(e["name"], e["node"]) for e in merged] == [("Jean Roy", "a"), ("Jean Roy", "b")]


def test_a_remote_hit_keeps_only_known_fields_of_the_right_type():
    clean = fed._clean_hit(
        {"url": "https://b/1", "title": "T", "score": 9, "evil": "<script>", "authors": ["x", 3]}
    )
    assert "evil" not in clean and clean["authors"] == ["x"]
    assert fed._clean_hit({"url": 5, "title": "T"}) is None


@pytest.mark.parametrize("shared", [False, True])
def test_the_breaker_skips_a_peer_after_failures_in_a_row_then_tries_again(tmp_path, shared):
    settings = FederationSettings(node="a", breaker_failures=2, breaker_seconds=10)
    breaker = fed.Breaker(tmp_path / "breaker.json" if shared else None)
    breaker.record("c", False, settings, now=100)
    assert breaker.closed("c", now=100)
    breaker.record("c", False, settings, now=101)
    assert not breaker.closed("c", now=105) and breaker.closed("c", now=112)
    if shared:  # another server process of the node reads the same state
        assert not fed.Breaker(tmp_path / "breaker.json").closed("c", now=105)
    breaker.record("c", True, settings, now=112)
    assert breaker.closed("c", now=112)


class _Dropper:
    """A fault: a server that reads each request and closes the first *drops*
    connections without a word, then answers a JSON object."""

    def __init__(self, drops: int):
        self.drops, self.nonces = drops, []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                request = b""
                while b"\r\n\r\n" not in request:
                    request += conn.recv(65536)
                head = request.split(b"\r\n\r\n")[0].decode().lower()
                self.nonces += [line.split(":", 1)[1].strip() for line in head.split("\r\n") if "nonce" in line]
                if self.drops:
                    self.drops -= 1
                    continue  # closed unanswered
                body = b'{"hits": []}'
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(body), body))


def test_a_connection_closed_unanswered_is_asked_again_once_signed_anew():
    once = _Dropper(drops=1)
    peer = PeerSettings(name="a", url=once.url, secret=KEY_AB)
    settings = FederationSettings(node="b", peers=[peer])
    assert fed.post_signed(settings, peer, fed.SEARCH_PATH, {"q": "x"}, 5.0) == {"hits": []}
    assert len(once.nonces) == 2 and len(set(once.nonces)) == 2  # a replay would be refused
    always = _Dropper(drops=10)
    peer = PeerSettings(name="a", url=always.url, secret=KEY_AB)
    with pytest.raises(fed.PeerError, match="cannot connect"):
        fed.post_signed(FederationSettings(node="b", peers=[peer]), peer, fed.SEARCH_PATH, {"q": "x"}, 5.0)
    assert len(always.nonces) == 2  # asked twice, not more


# -- three real nodes --------------------------------------------------------------------------


class SlowProxy:
    """A TCP relay in front of a node that can be told to hold every connection (a fault)."""

    def __init__(self, target_port: int):
        self.target = target_port
        self.delay = 0.0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(32)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client):
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target))
        except OSError:
            client.close()
            return

        def pump(src, dst, slow):
            try:
                while data := src.recv(65536):
                    if slow and self.delay:  # every request waits, kept-alive connections too
                        time.sleep(self.delay)
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        threading.Thread(target=pump, args=(upstream, client, False), daemon=True).start()
        pump(client, upstream, True)


NODES = {
    "a": (
        "cra",
        [
            (
                "telework-a",
                "Telework at the revenue agency",
                "Telework policy and telework equipment for auditors.",
                ("public",),
            )
        ],
    ),
    "b": (
        "ssc",
        [
            (
                "telework-b",
                "Telework network guide",
                "Telework over the shared network: telework VPN setup.",
                ("public",),
            ),
            (
                "fraud-b",
                "Telework fraud investigations",
                "Restricted: telework fraud case notes.",
                ("fraud-ssc",),
            ),
        ],
    ),
    "c": (
        "tbs",
        [
            (
                "telework-c",
                "Telework directive",
                "The telework directive for every department; telework rules.",
                ("public",),
            ),
            ("secret-c", "Telework cabinet notes", "Restricted telework notes.", ("tbs-only",)),
        ],
    ),
}


def _crawl(data_dir: Path, node: str, memory_content) -> None:
    from crawler.runner import Savoir
    from tests.conftest import memory_source

    agency, pages = NODES[node]
    memory_content[f"{node}-wiki"] = {
        name: {
            "title": title,
            "text": text,
            "acl": list(acl),
            "author": f"Author {node.upper()}",
            "language": "en",
        }
        for name, title, text, acl in pages
    }
    settings = build_settings({"store": {"data_dir": str(data_dir)}}, env={})
    savoir = Savoir(settings, [memory_source(f"{node}-wiki", agency=agency)])
    savoir.crawl()
    savoir.close()


def _toml_peer(name, url, secret_env, agency, groups=None) -> str:
    text = f'[[federation.peers]]\nname = "{name}"\nurl = "{url}"\nsecret = "env:{secret_env}"\nagency = "{agency}"\ntimeout = 1.0\n'
    if groups:
        text += "groups = {" + ", ".join(f'"{k}" = "{v}"' for k, v in groups.items()) + "}\n"
    return text


@pytest.fixture(scope="module")
def nodes(tmp_path_factory):
    from tests import memory_connector as memory

    root = tmp_path_factory.mktemp("federation")
    ports = {n: free_port() for n in NODES}
    for n in NODES:
        _crawl(root / n / "data", n, memory.CONTENT)
    memory.CONTENT.clear()
    proxy_b = SlowProxy(ports["b"])
    url = {n: f"http://127.0.0.1:{p}" for n, p in ports.items()}
    peers = {
        "a": _toml_peer("b", f"http://127.0.0.1:{proxy_b.port}", "KEY_AB", "ssc")
        + _toml_peer("c", url["c"], "KEY_AC", "tbs"),
        # b shares its fraud notes with a's fraud team; c shares nothing restricted
        "b": _toml_peer("a", url["a"], "KEY_AB", "cra", {"public": "public", "fraud-team": "fraud-ssc"})
        + _toml_peer("c", url["c"], "KEY_BC", "tbs"),
        "c": _toml_peer("a", url["a"], "KEY_AC", "cra") + _toml_peer("b", url["b"], "KEY_BC", "ssc"),
    }
    env = dict(os.environ, PYTHONPATH=str(ROOT), KEY_AB=KEY_AB, KEY_AC=KEY_AC, KEY_BC=KEY_BC)
    procs = {}
    for n, (agency, _) in NODES.items():
        (root / n / "sources.toml").write_text("")
        (root / n / "settings.toml").write_text(
            f'[store]\ndata_dir = "{root / n / "data"}"\n[web]\nport = {ports[n]}\n'
            '[auth]\nmode = "header"\ntrusted_proxies = ["127.0.0.1"]\n'
            f'[federation]\nnode = "{n}"\nagency = "{agency}"\ndeadline_ms = 1500\nbreaker_failures = 2\n'
            f"breaker_seconds = 60\n{peers[n]}"
        )
        procs[n] = subprocess.Popen(
            [sys.executable, "-m", "webui.cli", "--config", str(root / n / "settings.toml"), "serve"],
            cwd=root / n,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
    deadline = time.monotonic() + 90
    for n in NODES:
        while True:
            try:
                requests.get(f"{url[n]}/healthz", timeout=5)
                break
            except requests.ConnectionError:
                assert procs[n].poll() is None, procs[n].stderr.read()
                assert time.monotonic() < deadline, f"node {n} never answered"
                time.sleep(0.2)
    yield {"url": url, "procs": procs, "proxy_b": proxy_b, "root": root}
    for proc in procs.values():
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)


def _ask(base, groups="", q="telework"):
    headers = {"X-Remote-User": "pat", "X-Remote-Groups": groups} if groups else {}
    answer = requests.get(f"{base}/api/v1/federated/search", params={"q": q}, headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_one_search_on_a_shows_hits_of_a_b_and_c_labelled_and_no_restricted_document(nodes):
    answer = _ask(nodes["url"]["a"])
    by_node = {h["node"]: h for h in answer["hits"]}
    assert set(by_node) == {"a", "b", "c"}, answer
    assert {p["node"]: p["status"] for p in answer["peers"]} == {"b": "answered", "c": "answered"}
    assert {h["node_agency"] for h in answer["hits"]} == {"cra", "ssc", "tbs"}
    titles = {h["title"] for h in answer["hits"]}
    assert "Telework fraud investigations" not in titles and "Telework cabinet notes" not in titles
    assert set(answer["facets"]["agency"]) == {"cra", "ssc", "tbs"}
    assert {e["node"] for e in answer["experts"]} >= {"a", "b", "c"}


def test_the_search_page_of_a_shows_every_node_labelled_and_who_answered(nodes):
    page = requests.get(f"{nodes['url']['a']}/", params={"q": "telework", "ui": "en"}, timeout=30)
    assert page.status_code == 200
    html = page.text
    for title in ("Telework at the revenue agency", "Telework network guide", "Telework directive"):
        assert title in html
    assert "found by the ssc node" in html and "found by the tbs node" in html
    assert "ssc answered." in html and "tbs answered." in html
    assert "Telework fraud investigations" not in html
    french = requests.get(f"{nodes['url']['a']}/", params={"q": "telework", "ui": "fr"}, timeout=30).text
    assert "trouvé par le nœud de ssc" in french


def test_a_peers_snippet_keeps_only_its_marks():
    from webui.federated_page import safe_snippet

    assert str(safe_snippet("<mark>tele</mark>work <script>alert(1)</script> &amp; <b>x</b>")) == (
        "<mark>tele</mark>work alert(1) &amp; x"
    )
    assert "<mark>" not in str(safe_snippet("<mark>never closed"))


def test_a_peer_shares_a_restricted_document_only_with_the_groups_it_maps(nodes):
    titles = {h["title"] for h in _ask(nodes["url"]["a"], groups="fraud-team")["hits"]}
    assert "Telework fraud investigations" in titles  # b maps a's fraud-team to its fraud-ssc
    assert "Telework cabinet notes" not in titles  # c maps nothing restricted
    # the same group name claimed on b's own page by an unknown caller counts for nothing there
    direct = requests.post(f"{nodes['url']['b']}{fed.SEARCH_PATH}", json={"query": "telework"}, timeout=10)
    assert direct.status_code == 401 and "unknown node" in direct.json()["error"]


def test_replayed_and_forged_requests_to_a_real_node_are_refused(nodes):
    base = nodes["url"]["b"]
    body = json.dumps({"query": "fraud", "user": {"groups": ["fraud-team"]}}).encode()
    headers = fed.sign(KEY_AB, "POST", fed.SEARCH_PATH, "a", body)
    first = requests.post(base + fed.SEARCH_PATH, data=body, headers=headers, timeout=10)
    assert first.status_code == 200 and first.json()["hits"]
    again = requests.post(base + fed.SEARCH_PATH, data=body, headers=headers, timeout=10)
    assert again.status_code == 401 and "replayed" in again.json()["error"]
    forged = fed.sign("not-the-key-of-a-and-b!!", "POST", fed.SEARCH_PATH, "a", body)
    answer = requests.post(base + fed.SEARCH_PATH, data=body, headers=forged, timeout=10)
    assert answer.status_code == 401 and "bad signature" in answer.json()["error"]
    widened = json.dumps({"query": "fraud", "user": {"groups": ["fraud-team", "tbs-only"]}}).encode()
    answer = requests.post(base + fed.SEARCH_PATH, data=widened, headers=headers, timeout=10)
    assert answer.status_code == 401  # a signed request whose body was changed
    huge = json.dumps({"query": "x" * 20000}).encode()
    answer = requests.post(
        base + fed.SEARCH_PATH,
        data=huge,
        headers=fed.sign(KEY_AB, "POST", fed.SEARCH_PATH, "a", huge),
        timeout=10,
    )
    assert answer.status_code == 401 and "over 16384 bytes" in answer.json()["error"]


def _cli(settings: Path, *args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "webui.cli", "--config", str(settings), *args],
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "KEY_AB": KEY_AB,
            "KEY_AC": KEY_AC,
            "KEY_BC": KEY_BC,
            **(env or {}),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_peers_check_proves_every_peer_and_says_what_to_fix(nodes):
    settings = nodes["root"] / "a" / "settings.toml"
    done = _cli(settings, "peers", "check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "key accepted by b" in done.stdout and "key accepted by c" in done.stdout
    assert KEY_AB not in done.stdout + done.stderr
    # a's key for b is wrong: the check names the pair whose secrets differ
    wrong = _cli(settings, "peers", "check", env={"KEY_AB": "this-is-not-the-shared-key"})
    assert wrong.returncode == 1
    assert "b: FAILED" in wrong.stdout and "secret for a<->b differs" in wrong.stdout
    assert "c: ok" in wrong.stdout and "this-is-not-the-shared-key" not in wrong.stdout
    listed = _cli(settings, "peers", "list")
    assert listed.returncode == 0 and "b " in listed.stdout and KEY_AB not in listed.stdout


def test_the_admin_console_shows_the_peers_and_checks_them_for_admins_only(nodes):
    import re

    base = nodes["url"]["a"]
    assert requests.get(f"{base}/admin/peers", timeout=10, allow_redirects=False).status_code == 302
    someone = {"X-Remote-User": "pat", "X-Remote-Groups": "fraud-team"}
    assert requests.get(f"{base}/admin/peers", headers=someone, timeout=10).status_code == 403
    admin = requests.Session()
    admin.headers.update({"X-Remote-User": "root", "X-Remote-Groups": "savoir-admins"})
    page = admin.get(f"{base}/admin/peers", params={"ui": "en"}, timeout=10)
    assert page.status_code == 200 and "http://127.0.0.1:" in page.text and KEY_AB not in page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    checked = admin.post(f"{base}/admin/peers/check", data={"csrf_token": token}, timeout=60)
    assert checked.status_code == 200
    assert "key accepted by b" in checked.text and "key accepted by c" in checked.text


def test_a_slow_peer_and_a_stopped_peer_never_hold_the_search_past_its_deadline(nodes):
    nodes["proxy_b"].delay = 5.0  # b now answers far after the 1.5 s deadline
    proc_c = nodes["procs"]["c"]
    proc_c.kill()
    proc_c.communicate(timeout=10)
    started = time.monotonic()
    answer = _ask(nodes["url"]["a"])
    took = time.monotonic() - started
    assert took < 1.5 + 1.0, f"the search took {took:.2f} s"
    status = {p["node"]: p for p in answer["peers"]}
    assert status["b"]["status"] == "late" and status["c"]["status"] == "failed", status
    assert "cannot connect" in status["c"]["reason"]
    assert [h["node"] for h in answer["hits"]] == ["a"]  # a's own hits are still there
    page = requests.get(f"{nodes['url']['a']}/", params={"q": "telework", "ui": "en"}, timeout=30).text
    assert "tbs is not answering lately" in page or "tbs could not be reached" in page
    assert "Telework at the revenue agency" in page
    # after two failures in a row the breaker skips both: the search costs nothing more
    answer = _ask(nodes["url"]["a"])
    started = time.monotonic()
    answer = _ask(nodes["url"]["a"])
    took = time.monotonic() - started
    assert {p["node"]: p["status"] for p in answer["peers"]} == {"b": "skipped", "c": "skipped"}, answer[
        "peers"
    ]
    assert took < 1.0, f"{took:.2f} s"
