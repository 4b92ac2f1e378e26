"""Fuzz and load `savoir serve` on loopback, and print what it did (issue 23, item 8).

Starts a real ``savoir serve`` subprocess on a data directory (the demo's
``./savoir-data`` by default: build it with ``savoir demo --no-serve``), then:

1. a bounded fuzz run: ``--requests`` hostile requests (default 10,000), at most
   ``--fuzz-concurrency`` (8) at once: the count of 5xx and the latency percentiles;
2. a load run: realistic queries from 1 client, then from ``--clients`` (20) clients,
   then from ``--clients`` clients with ``--hostile`` (5%) hostile requests mixed in,
   each for ``--seconds`` (60): requests/s and the realistic queries' p95.

    .venv/bin/python -m bench.fuzz_load                         # the full run
    .venv/bin/python -m bench.fuzz_load --requests 1000 --seconds 10   # a short one

A benchmark, not a test: it prints figures and judges nothing.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import socket
import string
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote, urlencode

ROOT = Path(__file__).resolve().parent.parent

REALISTIC_QUERIES = [
    "access to information",
    "télétravail",
    "procurement fraud",
    "fraude dans l'approvisionnement",
    "telework policy",
    "official languages",
    "records retention",
    "phishing",
    "green procurement",
    "vérification des fournisseurs",
    "ATIP backlog",
    "procurment",
    "frod",
    "acces to informaton",
    '"access to information"',
    "fraud -training",
    "telework OR télétravail",
    "agency:records information",
    "after:2023 procurement",
    "droit à la déconnexion",
]


def realistic_path(rng: random.Random) -> str:
    roll = rng.random()
    query = rng.choice(REALISTIC_QUERIES)
    if roll < 0.70:
        return "/?" + urlencode({"q": query})
    if roll < 0.80:
        return "/?" + urlencode({"q": query, "page": 2})
    if roll < 0.85:
        return "/?" + urlencode({"q": query, "sort": "date"})
    if roll < 0.92:
        return "/api/search?" + urlencode({"q": query})
    if roll < 0.96:
        return "/communities"
    return "/"


def _junk(rng: random.Random, size: int) -> str:
    alphabet = string.ascii_letters + string.digits + string.punctuation + " éèàçœ中文\u202e\t"
    return "".join(rng.choice(alphabet) for _ in range(size))


def hostile_path(rng: random.Random) -> str:
    """One request an attacker or a broken client might send."""
    kind = rng.randrange(14)
    if kind == 0:  # one very long word
        return "/?" + urlencode(
            {"q": "".join(rng.choice("abcdefghij") for _ in range(rng.choice([300, 1000])))}
        )
    if kind == 1:  # many unknown words
        return "/?" + urlencode({"q": " ".join(_junk(rng, 8).replace(" ", "x") for _ in range(60))})
    if kind == 2:  # url_for's own names
        name = rng.choice(["endpoint", "_external", "_scheme", "_anchor", "_method"])
        return "/?" + urlencode({"q": "telework", name: rng.choice(["1", "x", "javascript", "POST"])})
    if kind == 3:  # ids out of range
        return f"/people/{rng.choice(['10000000000000000000', '-1', '0', str(2**31), 'abc', '9' * 40])}"
    if kind == 4:  # bad numbers
        return "/?" + urlencode({"q": "fraud", "page": rng.choice(["0", "-5", "1e9", "abc", "9" * 30])})
    if kind == 5:  # markup
        return "/?" + urlencode({"q": '"><script>alert(1)</script>', "agency": "<svg onload=x>"})
    if kind == 6:  # random bytes
        return "/?q=" + quote(_junk(rng, rng.randint(1, 400)))
    if kind == 7:  # syntax soup
        return "/?" + urlencode({"q": '((a OR b) AND NOT -c:d "e ~f^2 *g? [h TO i]' * rng.randint(1, 20)})
    if kind == 8:  # too long
        return "/?" + urlencode({"q": "x" * rng.choice([1001, 5000])})
    if kind == 9:  # many filters
        return "/?" + urlencode(
            [("q", "fraud")] + [("agency", _junk(rng, 5)) for _ in range(rng.randint(1, 40))]
        )
    if kind == 10:  # typos in every word
        words = ["procurment", "fraudd", "informaton", "telewrok", "oficial", "langauges"]
        return "/?" + urlencode({"q": " ".join(rng.choice(words) for _ in range(rng.randint(1, 32)))})
    if kind == 11:  # community ids
        return "/communities/" + quote(_junk(rng, rng.randint(1, 80)), safe="")
    if kind == 12:  # the JSON API with junk
        return "/api/search?" + urlencode({"q": _junk(rng, 50), "sort": _junk(rng, 3), "page": _junk(rng, 2)})
    return "/people/" + str(rng.randint(1, 100000))  # walking ids


# -- the server ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(
    data_dir: Path,
    port: int,
    config: str | None,
    log_path: Path,
    startup: float = 120.0,
    workers: int | None = None,
) -> subprocess.Popen:
    env = dict(os.environ, SAVOIR_STORE_DATA_DIR=str(data_dir.resolve()))
    savoir = Path(sys.executable).with_name("savoir")
    command = [str(savoir) if savoir.exists() else "savoir"]
    if config:
        command += ["--config", config]
    command += ["serve", "--host", "127.0.0.1", "--port", str(port)]
    if workers:
        command += ["--workers", str(workers)]
    # the server's log goes to a file: a pipe nobody reads fills up and blocks its logging
    log = open(log_path, "wb")  # noqa: SIM115 - closed when the bench exits
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + startup
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"savoir serve exited: {log_path.read_text(errors='replace')[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return process
        except OSError:
            time.sleep(0.2)
    process.terminate()
    raise SystemExit(
        f"savoir serve did not listen within {startup:.0f} s (see {log_path}: an index built with other "
        "communities or an older schema is rebuilt first; pass --startup-timeout)"
    )


def _rss_one(pid: int, field: str = "VmRSS") -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def server_pids(pid: int) -> list[int]:
    """*pid* and its children (a pre-fork server's workers)."""
    out = [pid]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            out.append(int(entry.name))
    return out


def rss_mb(pid: int) -> float:
    """Resident memory of the server: its own plus its workers' (shared pages counted in each)."""
    return sum(_rss_one(p) for p in server_pids(pid)) or float("nan")


def rss_detail(pid: int) -> str:
    """RSS per process, and the anonymous part (RSS also counts the index's mapped
    files, whose pages every worker shares)."""
    pids = server_pids(pid)
    anon = sum(_rss_one(p, "RssAnon") for p in pids)
    if len(pids) == 1:
        return f"{rss_mb(pid):.0f} MB ({anon:.0f} MB anonymous)"
    each = " + ".join(f"{_rss_one(p):.0f}" for p in pids)
    return f"{rss_mb(pid):.0f} MB ({each}; {anon:.0f} MB anonymous)"


# -- clients --------------------------------------------------------------------


class Client:
    """One keep-alive HTTP connection; reconnects when the server closes it."""

    def __init__(self, port: int, timeout: float) -> None:
        self.port, self.timeout = port, timeout
        self.conn: http.client.HTTPConnection | None = None

    def get(self, path: str) -> tuple[int, float]:
        started = time.perf_counter()
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            try:
                self.conn.request("GET", path, headers={"Host": "127.0.0.1"})
                response = self.conn.getresponse()
                response.read()
                if response.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return response.status, time.perf_counter() - started
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt:
                    return 599, time.perf_counter() - started  # no answer: counted as a failure
        return 599, time.perf_counter() - started


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def fuzz(port: int, requests: int, concurrency: int, seed: int, timeout: float) -> None:
    rng = random.Random(seed)
    paths = [hostile_path(rng) for _ in range(requests)]
    local = threading.local()

    def one(path: str) -> tuple[int, float, str]:
        if not hasattr(local, "client"):
            local.client = Client(port, timeout)
        status, took = local.client.get(path)
        return status, took, path

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        results = list(pool.map(one, paths))
    elapsed = time.perf_counter() - started
    latencies = [t for _, t, _ in results]
    statuses: dict[int, int] = {}
    for status, _, _ in results:
        statuses[status] = statuses.get(status, 0) + 1
    errors = [(s, p) for s, _, p in results if s >= 500]
    print(
        f"fuzz: {requests} hostile requests, {concurrency} at once, {elapsed:.1f} s ({requests / elapsed:.0f}/s)"
    )
    print(f"  status counts: {dict(sorted(statuses.items()))}")
    print(f"  5xx (599 = no answer): {len(errors)}")
    print(
        "  latency ms: p50 {:.1f}  p95 {:.1f}  p99 {:.1f}  max {:.1f}".format(
            *(1000 * percentile(latencies, p) for p in (50, 95, 99, 100))
        )
    )
    slowest = sorted(results, key=lambda r: -r[1])[:3]
    for status, took, path in slowest:
        print(f"  slowest: {took * 1000:.0f} ms {status} {path[:100]}")
    for status, path in errors[:5]:
        print(f"  5xx: {status} {path[:120]}")


def load(port: int, clients: int, seconds: float, hostile: float, seed: int, timeout: float) -> dict:
    stop_at = time.perf_counter() + seconds
    lock = threading.Lock()
    realistic: list[float] = []
    counts = {"requests": 0, "5xx": 0, "hostile": 0}

    def run(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        client = Client(port, timeout)
        mine: list[float] = []
        done = bad = evil = 0
        while time.perf_counter() < stop_at:
            is_hostile = rng.random() < hostile
            status, took = client.get(hostile_path(rng) if is_hostile else realistic_path(rng))
            done += 1
            bad += status >= 500
            evil += is_hostile
            if not is_hostile:
                mine.append(took)
        with lock:
            realistic.extend(mine)
            counts["requests"] += done
            counts["5xx"] += bad
            counts["hostile"] += evil

    started = time.perf_counter()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return {
        "clients": clients,
        "hostile": hostile,
        "rps": counts["requests"] / elapsed,
        "requests": counts["requests"],
        "5xx": counts["5xx"],
        "hostile_requests": counts["hostile"],
        "p50": 1000 * percentile(realistic, 50),
        "p95": 1000 * percentile(realistic, 95),
        "p99": 1000 * percentile(realistic, 99),
    }


def print_load(result: dict) -> None:
    print(
        f"load: {result['clients']:>2} clients, {result['hostile'] * 100:.0f}% hostile: "
        f"{result['rps']:.1f} req/s ({result['requests']} requests, {result['hostile_requests']} hostile, "
        f"{result['5xx']} 5xx); realistic p50 {result['p50']:.1f} ms, p95 {result['p95']:.1f} ms, "
        f"p99 {result['p99']:.1f} ms"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data-dir", default="savoir-data", help="data directory to serve (default ./savoir-data)"
    )
    parser.add_argument("--config", default=None, help="settings file for savoir serve")
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument("--requests", type=int, default=10_000, help="fuzz requests")
    parser.add_argument("--fuzz-concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each load run")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--hostile", type=float, default=0.05, help="share of hostile requests in the mix")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds a request may take")
    parser.add_argument("--seed", type=int, default=23)
    parser.add_argument("--startup-timeout", type=float, default=120.0, help="seconds to wait for the server")
    parser.add_argument("--server-log", default="fuzz_load-server.log", help="where the server's log goes")
    parser.add_argument("--workers", type=int, default=None, help="savoir serve --workers (default: its own)")
    parser.add_argument("--skip-fuzz", action="store_true")
    parser.add_argument("--skip-load", action="store_true")
    args = parser.parse_args(argv)

    data_dir = Path(args.data_dir)
    if not (data_dir / "index").exists():
        raise SystemExit(f"no index in {data_dir}: build one with `savoir demo --no-serve` (or crawl) first")
    port = args.port or free_port()
    log_path = Path(args.server_log)
    server = start_server(data_dir, port, args.config, log_path, args.startup_timeout, args.workers)
    try:
        warm = Client(port, args.timeout)
        for query in REALISTIC_QUERIES:  # the first search of a word reads its postings
            warm.get("/?" + urlencode({"q": query}))
        print(f"savoir serve on 127.0.0.1:{port}, data {data_dir.resolve()}, RSS {rss_detail(server.pid)}")
        if not args.skip_fuzz:
            fuzz(port, args.requests, args.fuzz_concurrency, args.seed, args.timeout)
            print(f"  server RSS after the fuzz run: {rss_detail(server.pid)}")
        if not args.skip_load:
            one = load(port, 1, args.seconds, 0.0, args.seed, args.timeout)
            print_load(one)
            many = load(port, args.clients, args.seconds, 0.0, args.seed, args.timeout)
            print_load(many)
            mixed = load(port, args.clients, args.seconds, args.hostile, args.seed, args.timeout)
            print_load(mixed)
            print(
                f"  {args.clients} clients / 1 client throughput: {many['rps'] / one['rps']:.2f}x; "
                f"realistic p95 with hostile mix / without: {mixed['p95'] / many['p95']:.2f}x; "
                f"server RSS {rss_detail(server.pid)}"
            )
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        lines = log_path.read_text(errors="replace").splitlines() if log_path.exists() else []
        errors = [line for line in lines if "ERROR" in line or "Traceback" in line]
        print(f"server log {log_path}: {len(lines)} lines, {len(errors)} with ERROR or Traceback")


if __name__ == "__main__":
    main()
