"""Requests per second per host, politeness off (the ceiling) and on (the setting),
and the share of 304s when an unchanged site is crawled again.

    .venv/bin/python bench/politeness.py [--requests 200] [--polite-requests 10]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config.loader import HttpSettings  # noqa: E402
from crawler.http import HttpCache, HttpSession  # noqa: E402
from tests.faultserver import FaultServer  # noqa: E402


def rate(session: HttpSession, base: str, count: int, prefix: str) -> float:
    started = time.perf_counter()
    for i in range(count):
        session.get(f"{base}/page/{prefix}{i}")
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--polite-requests", type=int, default=10)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="savoir-polite-"))
    try:
        with FaultServer() as server:
            off = HttpSession(HttpSettings(min_delay=0.0, jitter=0.0, obey_robots=True))
            ceiling = rate(off, server.base, args.requests, "off")
            defaults = HttpSettings()
            polite = HttpSession(defaults)
            setting = rate(polite, server.base, args.polite_requests, "on")
            cached = HttpSession(HttpSettings(min_delay=0.0, jitter=0.0), cache=HttpCache(work / "cache"))
            rate(cached, server.base, args.requests, "c")
            again = HttpSession(HttpSettings(min_delay=0.0, jitter=0.0), cache=HttpCache(work / "cache"))
            rate(again, server.base, args.requests, "c")
            page_requests = sum(n for host, n in again.stats.requests.items())
        print(
            f"politeness off (min_delay=0): {ceiling:8.1f} requests/s to one host ({args.requests} requests)"
        )
        print(
            f"defaults (min_delay={defaults.min_delay:g}s, jitter {defaults.jitter:.0%}, "
            f"1 at a time): {setting:5.2f} requests/s ({args.polite_requests} requests)"
        )
        print(
            f"re-run of {args.requests} unchanged pages: {again.stats.not_modified} of {page_requests} requests "
            f"answered 304 ({again.stats.not_modified / page_requests:.0%}; the rest is robots.txt)"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
