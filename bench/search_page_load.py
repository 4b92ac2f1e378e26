"""Load the HTML search page: 20 concurrent clients on loopback, for a bounded time.

Serves the demo index with a real ``savoir serve`` subprocess (the demo's
``./savoir-data`` by default; with ``--build`` or when it has no index, the demo is
crawled first with ``savoir demo --no-serve`` into that directory), then has
``--clients`` keep-alive clients ask for the search page (``/?q=...``, in English or
French, sometimes page 2, a facet filter or the date sort) over a list of real queries
for ``--seconds``, and prints requests/s, p50, p95, p99, errors (4xx, 5xx and requests
with no answer) and redirects (a page 2 past the end redirects to the last page). A few seconds of warm-up are run first and not counted.

    .venv/bin/python -m bench.search_page_load                   # 20 clients, 30 s
    .venv/bin/python -m bench.search_page_load --seconds 10 --clients 5

A benchmark, not a test: it prints figures and judges nothing.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

from bench.fuzz_load import Client, free_port, percentile, rss_mb, start_server

#: what public servants type, in both languages, a few with syntax or typos
QUERIES = [
    "access to information",
    "accès à l'information",
    "télétravail",
    "telework policy",
    "procurement fraud",
    "fraude dans l'approvisionnement",
    "official languages",
    "langues officielles",
    "records retention",
    "phishing",
    "hameçonnage",
    "green procurement",
    "vérification des fournisseurs",
    "privacy breach",
    "accessibility",
    "open data",
    "identity theft",
    "ATIP",
    '"access to information"',
    "telework OR télétravail",
    "fraud -training",
    "procurment",
]


def page_path(rng: random.Random) -> str:
    """One search page as a person would ask for it."""
    args: dict[str, object] = {"q": rng.choice(QUERIES), "ui": rng.choice(("en", "fr"))}
    roll = rng.random()
    if roll < 0.15:
        args["page"] = 2
    elif roll < 0.25:
        args["lang"] = rng.choice(("en", "fr"))
    elif roll < 0.32:
        args["sort"] = "date"
    return "/?" + urlencode(args)


def run_clients(port: int, clients: int, seconds: float, seed: int, timeout: float) -> dict:
    stop_at = time.perf_counter() + seconds
    lock = threading.Lock()
    times: list[float] = []
    statuses: dict[int, int] = {}

    def run(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        client = Client(port, timeout)
        mine: list[float] = []
        seen: dict[int, int] = {}
        while time.perf_counter() < stop_at:
            status, took = client.get(page_path(rng))
            mine.append(took)
            seen[status] = seen.get(status, 0) + 1
        with lock:
            times.extend(mine)
            for status, n in seen.items():
                statuses[status] = statuses.get(status, 0) + n

    started = time.perf_counter()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return {
        "requests": len(times),
        "rps": len(times) / elapsed,
        # a page 2 past the end is answered with a redirect to the last page: not an error
        "redirects": sum(n for status, n in statuses.items() if 300 <= status < 400),
        "errors": sum(n for status, n in statuses.items() if status >= 400),  # 599: no answer
        "statuses": dict(sorted(statuses.items())),
        "p50": 1000 * percentile(times, 50),
        "p95": 1000 * percentile(times, 95),
        "p99": 1000 * percentile(times, 99),
        "elapsed": elapsed,
    }


def build_demo(data_dir: Path) -> None:
    savoir = Path(sys.executable).with_name("savoir")
    command = [
        str(savoir) if savoir.exists() else "savoir",
        "demo",
        "--no-serve",
        "--site-port",
        str(free_port()),
    ]
    print(f"building the demo index in {data_dir} ...", flush=True)
    subprocess.run(
        command,
        check=True,
        env={**os.environ, "SAVOIR_STORE_DATA_DIR": str(data_dir.resolve())},
        stdout=subprocess.DEVNULL,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data-dir", default="savoir-data", help="data directory to serve (default ./savoir-data)"
    )
    parser.add_argument("--build", action="store_true", help="crawl the demo into --data-dir first")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the measured run")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of unmeasured requests first")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds a request may take")
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--workers", type=int, default=None, help="savoir serve --workers (default: its own)")
    parser.add_argument("--server-log", default="search_page_load-server.log")
    args = parser.parse_args(argv)

    data_dir = Path(args.data_dir)
    if args.build or not (data_dir / "index").exists():
        build_demo(data_dir)
    port = free_port()
    server = start_server(data_dir, port, None, Path(args.server_log), 180.0, args.workers)
    try:
        if args.warmup > 0:
            run_clients(port, args.clients, args.warmup, args.seed + 1, args.timeout)
        result = run_clients(port, args.clients, args.seconds, args.seed, args.timeout)
        memory = rss_mb(server.pid)
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
    print(
        f"search page, {args.clients} clients, {result['elapsed']:.0f} s on loopback ({data_dir}): "
        f"{result['rps']:.1f} requests/s ({result['requests']} requests); "
        f"p50 {result['p50']:.0f} ms, p95 {result['p95']:.0f} ms, p99 {result['p99']:.0f} ms; "
        f"errors {result['errors']}, redirects {result['redirects']} (statuses {result['statuses']}); "
        f"server RSS {memory:.0f} MB"
    )


if __name__ == "__main__":
    main()
