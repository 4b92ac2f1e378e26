"""``/metrics`` in Prometheus' text format: search requests and their latency, the
documents in the store, the sources and each source's last crawl run.

Search requests are counted in this process by an after-request hook. ``savoir serve``
runs several worker processes and a scrape reaches one of them, so each process also
keeps its figures in ``<data_dir>/metrics/<pid>-<token>.json`` (rewritten atomically
after each search) and a scrape adds up every file: totals of workers that were
replaced stay counted, as a Prometheus counter must. The store's figures are read
at scrape time. No prometheus_client: its multi-process mode needs an environment
variable set before import and hooks in the server's master, for the same result.

Only loopback clients (with no ``X-Forwarded-For``/``Forwarded`` header, so a proxy
on the same host does not open it to everyone) and administrators may read it.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import time
from bisect import bisect_left
from datetime import datetime
from ipaddress import ip_address
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, g, request

from config.loader import ConfigError
from webui.api_views import declares
from webui.identity import current_user

log = logging.getLogger(__name__)

bp = Blueprint("metrics", __name__)

#: the routes that run a search
SEARCH_ENDPOINTS = frozenset(
    {"search.home", "search.api_search", "api_v1.search", "api_v1.experts", "feeds.search"}
)
#: latency histogram bounds, in seconds (a search has a budget of about a second)
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class SearchCounters:
    """Search requests by route and status, and a latency histogram by route, kept in
    memory and in this process's file under *folder*."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        # one writer at a time, each with the newest figures: an older snapshot never
        # replaces a newer one (another process would see a counter go down)
        self._write_lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self.pid = os.getpid()
        self.path = self.folder / f"{self.pid}-{secrets.token_hex(4)}.json"
        self.requests: dict[str, int] = {}  # "route status" -> n
        self.latency: dict[str, list[float]] = {}  # route -> [bucket counts..., +Inf, sum]

    def record(self, route: str, status: int, seconds: float) -> None:
        with self._lock:
            if os.getpid() != self.pid:  # a forked worker: its own counts, its own file
                self._reset()
            key = f"{route} {status}"
            self.requests[key] = self.requests.get(key, 0) + 1
            counts = self.latency.setdefault(route, [0.0] * (len(BUCKETS) + 2))
            counts[bisect_left(BUCKETS, seconds)] += 1
            counts[-1] += seconds
        with self._write_lock:
            with self._lock:
                snapshot = json.dumps({"requests": self.requests, "latency": self.latency})
                path = self.path
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(".tmp")
                tmp.write_text(snapshot, "utf-8")
                os.replace(tmp, path)
            except OSError as exc:  # the figures of this process are still served by it
                log.warning("cannot keep search metrics in %s: %s", self.folder, exc)

    def totals(self) -> tuple[dict[str, int], dict[str, list[float]]]:
        """Every process's figures added up (this one's from memory)."""
        with self._lock:
            parts = [
                {"requests": dict(self.requests), "latency": {k: list(v) for k, v in self.latency.items()}}
            ]
            own = self.path
        for path in self.folder.glob("*.json") if self.folder.is_dir() else ():
            if path == own:
                continue
            try:
                parts.append(json.loads(path.read_text("utf-8")))
            except (OSError, ValueError):
                continue  # being replaced, or not ours
        requests: dict[str, int] = {}
        latency: dict[str, list[float]] = {}
        for part in parts:
            for key, n in part.get("requests", {}).items():
                requests[key] = requests.get(key, 0) + int(n)
            for route, counts in part.get("latency", {}).items():
                total = latency.setdefault(route, [0.0] * (len(BUCKETS) + 2))
                for i, value in enumerate(counts[: len(total)]):
                    total[i] += value
        return requests, latency


def _counters():
    return current_app.extensions["savoir_search_counters"]


@bp.record_once
def _install(state) -> None:
    savoir = state.app.extensions["savoir"]
    state.app.extensions["savoir_search_counters"] = SearchCounters(savoir.settings.data_dir / "metrics")


@bp.before_app_request
def _start_clock() -> None:
    if request.endpoint in SEARCH_ENDPOINTS:
        g.search_started = time.perf_counter()


@bp.after_app_request
def _count_search(response):
    started = g.pop("search_started", None)
    if started is not None:
        _counters().record(request.endpoint or "", response.status_code, time.perf_counter() - started)
    return response


def _label(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**labels: object) -> str:
    return "{" + ",".join(f'{k}="{_label(v)}"' for k, v in labels.items()) + "}" if labels else ""


def _number(value: float) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


class Exposition:
    """Prometheus text format 0.0.4, one metric family after another."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, text: str) -> None:
        self.lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]

    def sample(self, name: str, value: float, **labels: object) -> None:
        self.lines.append(f"{name}{_labels(**labels)} {_number(value)}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _timestamp(value: datetime | None) -> float | None:
    return value.timestamp() if value else None


def _sources(savoir) -> list:
    try:
        return list(savoir.sources)
    except ConfigError:  # no sources file: the store still has its runs and documents
        return []


def exposition() -> str:
    savoir = current_app.extensions["savoir"]
    out = Exposition()
    requests, latency = _counters().totals()
    out.family("savoir_search_requests_total", "counter", "Search requests answered, by route and status.")
    for key in sorted(requests):
        route, status = key.rsplit(" ", 1)
        out.sample("savoir_search_requests_total", requests[key], route=route, status=status)
    out.family("savoir_search_duration_seconds", "histogram", "Time to answer a search request.")
    for route in sorted(latency):
        counts = latency[route]
        running = 0.0
        for bound, n in zip([*BUCKETS, "+Inf"], counts[:-1], strict=True):
            running += n
            out.sample("savoir_search_duration_seconds_bucket", int(running), route=route, le=bound)
        out.sample("savoir_search_duration_seconds_sum", counts[-1], route=route)
        out.sample("savoir_search_duration_seconds_count", int(running), route=route)

    counts = savoir.store.counts()
    out.family("savoir_documents", "gauge", "Live (not deleted) documents in the store, by source.")
    for source, n in sorted(counts["per_source"].items()):
        out.sample("savoir_documents", n, source=source)
    out.family("savoir_people", "gauge", "People known from contributions.")
    out.sample("savoir_people", counts["people"])
    sources = _sources(savoir)
    out.family("savoir_sources", "gauge", "Configured sources, enabled or not.")
    for enabled in (True, False):
        out.sample(
            "savoir_sources", sum(1 for s in sources if s.enabled == enabled), enabled=str(enabled).lower()
        )

    runs = savoir.store.last_runs()
    out.family("savoir_last_run_started_timestamp_seconds", "gauge", "When each source's last run started.")
    for source, run in sorted(runs.items()):
        out.sample(
            "savoir_last_run_started_timestamp_seconds",
            _timestamp(run["started_at"]) or 0.0,
            source=source,
            mode=run["mode"],
            status=run["status"],
        )
    out.family("savoir_last_run_finished_timestamp_seconds", "gauge", "When each source's last run finished.")
    for source, run in sorted(runs.items()):
        finished = _timestamp(run["finished_at"])
        if finished is not None:  # still running: no sample
            out.sample(
                "savoir_last_run_finished_timestamp_seconds",
                finished,
                source=source,
                mode=run["mode"],
                status=run["status"],
            )
    out.family("savoir_last_run_documents", "gauge", "What each source's last run did to its documents.")
    for source, run in sorted(runs.items()):
        for change in ("added", "updated", "deleted", "unchanged", "failed"):
            out.sample(
                "savoir_last_run_documents",
                run.get(change) or 0,
                source=source,
                status=run["status"],
                change=change,
            )
    return out.text()


def _allowed() -> bool:
    if current_user().admin:
        return True
    forwarded = request.headers.get("X-Forwarded-For") or request.headers.get("Forwarded")
    try:
        return not forwarded and ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


@bp.get("/metrics")
@declares(())
def metrics():
    if not _allowed():
        abort(403)
    return Response(exposition(), content_type="text/plain; version=0.0.4; charset=utf-8")
