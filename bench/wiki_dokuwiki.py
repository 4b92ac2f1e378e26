"""Pages per second and requests per page of the dokuwiki connector on a real DokuWiki.

    .venv/bin/python bench/wiki_dokuwiki.py [--pages 100] [--skip-polite]

Starts a private DokuWiki on loopback (Debian's ``dokuwiki`` package, as the tests
do), writes the generated bilingual pages through the API as several users (a third
of them edited twice), then times a full run of the connector with politeness off
(no delay) and on (the default ``HttpSettings()``: one request a second per host), and
an incremental run after five edits. Prints the figures; it is not a test.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.synthetic import generate  # noqa: E402
from config.loader import HttpSettings  # noqa: E402
from connectors.base import Document, SourceContext  # noqa: E402
from connectors.dokuwiki import DokuWikiConnector, DokuWikiSettings  # noqa: E402
from crawler.http import HttpSession  # noqa: E402
from tests.conftest import free_port  # noqa: E402
from tests.servers.dokuwiki import DokuWiki  # noqa: E402

EDITORS = ("mtremblay", "jsingh", "agagnon", "lchen")


def load(wiki: DokuWiki, count: int) -> list[str]:
    pages = []
    for i, doc in enumerate(generate(count)):
        page = f"bench:{doc['agency']}:{doc['id']}"
        wiki.edit(page, f"====== {doc['title']} ======\n\n{doc['text']}\n", EDITORS[i % len(EDITORS)])
        pages.append(page)
    for i, page in enumerate(pages[::3]):
        wiki.edit(
            page, wiki.text(page) + "\nReviewed for the annual report.\n", EDITORS[(i + 1) % len(EDITORS)]
        )
    return pages


def timed_run(wiki: DokuWiki, settings: HttpSettings, checkpoint=None) -> tuple[float, int, int, object]:
    http = HttpSession(settings)
    try:
        context = SourceContext(id="bench", agency="bench", kind="dokuwiki")
        options = DokuWikiSettings(url=wiki.base, username="savoirbot", password="bot-pass-1")
        started = time.perf_counter()
        items = list(DokuWikiConnector(context, options, http).documents(checkpoint))
        seconds = time.perf_counter() - started
        docs = sum(isinstance(item, Document) for item in items)
        return seconds, docs, sum(http.stats.requests.values()), items[-1]
    finally:
        http.close()


def report(label: str, seconds: float, docs: int, requests: int) -> None:
    print(
        f"{label}: {docs} pages in {seconds:.1f} s = {docs / seconds:.1f} pages/s, "
        f"{requests} requests = {requests / max(docs, 1):.2f} per page"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--skip-polite", action="store_true", help="skip the run with default politeness")
    args = parser.parse_args()
    wiki = DokuWiki(free_port(), recent=20)  # DokuWiki's default history page size
    wiki.start()
    try:
        started = time.perf_counter()
        pages = load(wiki, args.pages)
        print(f"loaded {len(pages)} pages through the API in {time.perf_counter() - started:.1f} s")
        fast = HttpSettings(min_delay=0, jitter=0)
        seconds, docs, requests, end = timed_run(wiki, fast)
        report("full run, politeness off", seconds, docs, requests)
        if not args.skip_polite:
            report("full run, default politeness", *timed_run(wiki, HttpSettings())[:3])
        for i, page in enumerate(pages[:5]):
            wiki.edit(page, wiki.text(page) + "\nUpdated contact list.\n", EDITORS[(i + 2) % len(EDITORS)])
        seconds, docs, requests, _ = timed_run(wiki, fast, end)
        report("incremental after 5 edits, politeness off", seconds, docs, requests)
    finally:
        wiki.stop()


if __name__ == "__main__":
    main()
