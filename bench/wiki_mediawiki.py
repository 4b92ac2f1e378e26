"""Pages per second and requests per page of the mediawiki connector on a real MediaWiki.

    .venv/bin/python bench/wiki_mediawiki.py [--pages 300] [--polite-pages 60] [--skip-polite]

Starts a private MediaWiki on loopback (Debian's ``mediawiki`` package, as the tests
do) and imports the generated bilingual pages as an XML dump: every page has three
to five revisions by the roster's people (a minor one among them, some by a bot).
``--pages`` go to the main namespace, ``--polite-pages`` to the Help namespace. Then
it times full runs of the connector with politeness off (no delay) over the main
namespace and on (the default ``HttpSettings()``: one request a second per host) over
the Help namespace, and an incremental run after five edits. Prints the figures and,
for the polite run, what the main namespace would take at the same requests per page.
It is not a test.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path
from xml.sax.saxutils import escape

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.synthetic import FIRST, LAST, generate  # noqa: E402
from config.loader import HttpSettings  # noqa: E402
from connectors.base import Document, SourceContext  # noqa: E402
from connectors.mediawiki import MediaWikiConnector, MediaWikiSettings  # noqa: E402
from crawler.http import HttpSession  # noqa: E402
from tests.servers.mediawiki import BOT, MediaWiki  # noqa: E402

PEOPLE = [f"{FIRST[i]} {LAST[i % len(LAST)]}" for i in range(8)]


def dump(pages: int, polite_pages: int, path: Path) -> None:
    """Write an XML export: paragraphs added one revision at a time by several people."""
    rng = random.Random(11)
    out = ['<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.11/" version="0.11" xml:lang="en">']
    for i, doc in enumerate(generate(pages + polite_pages)):
        ns, title = (0, doc["title"]) if i < pages else (12, f"Help:{doc['title']}")
        paragraphs = doc["text"].split("\n\n")
        people = rng.sample(PEOPLE, 3)
        when = doc["modified"]
        revisions = [(people[0], "\n\n".join(paragraphs[:1]), False)]
        revisions += [
            (people[1 + n % 2], "\n\n".join(paragraphs[: n + 1]), False) for n in range(1, len(paragraphs))
        ]
        revisions.append((people[2], revisions[-1][1] + "\n\n[[Category:Bench]]", True))
        if i % 4 == 0:
            revisions.append((BOT, revisions[-1][1] + "\n", True))
        out.append(f"<page><title>{escape(title)}</title><ns>{ns}</ns>")
        for n, (user, text, minor) in enumerate(revisions):
            stamp = (when.replace(microsecond=0).timestamp() + n * 3600) // 1
            iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp))
            out.append(
                f"<revision><timestamp>{iso}</timestamp><contributor><username>{escape(user)}</username>"
                f"</contributor>{'<minor/>' if minor else ''}<model>wikitext</model><format>text/x-wiki</format>"
                f'<text xml:space="preserve">{escape(text)}</text></revision>'
            )
        out.append("</page>")
    out.append("</mediawiki>")
    path.write_text("\n".join(out), encoding="utf-8")


def timed_run(wiki: MediaWiki, http: HttpSession, namespaces: list[str], checkpoint=None):
    connector = MediaWikiConnector(
        SourceContext(id="bench", agency="records", kind="mediawiki"),
        MediaWikiSettings(api_url=wiki.api, namespaces=namespaces),
        http,
    )
    before = sum(http.stats.requests.values())
    started = time.perf_counter()
    items = list(connector.documents(checkpoint))
    seconds = time.perf_counter() - started
    pages = sum(isinstance(item, Document) for item in items)
    return pages, sum(http.stats.requests.values()) - before, seconds, items[-1]


def report(label: str, pages: int, requests: int, seconds: float) -> None:
    print(
        f"{label:<34} {pages:>5} pages {requests:>5} requests {seconds:>7.1f}s "
        f"{pages / seconds:>7.2f} pages/s {requests / max(pages, 1):>5.2f} requests/page"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=300, help="pages in the main namespace (fast run)")
    parser.add_argument("--polite-pages", type=int, default=60, help="pages in Help (polite run)")
    parser.add_argument("--skip-polite", action="store_true")
    args = parser.parse_args()
    wiki = MediaWiki()
    try:
        started = time.perf_counter()
        wiki.install()
        for name in PEOPLE:
            wiki.php("createAndPromote.php", name, "bench-pass-12345")
        with tempfile.TemporaryDirectory() as tmp:
            dump(args.pages, args.polite_pages, Path(tmp) / "bench.xml")
            wiki.load(Path(tmp) / "bench.xml")
        wiki.serve()
        print(f"wiki ready in {time.perf_counter() - started:.1f}s ({wiki.api})")
        print("requests include robots.txt (once per session) and the per-run siteinfo, history and bots.")

        fast = HttpSession(HttpSettings(min_delay=0, jitter=0))
        pages, requests, seconds, checkpoint = timed_run(wiki, fast, ["0"])
        report("full, politeness off (min_delay=0)", pages, requests, seconds)
        time.sleep(1.1)  # keep the load out of the incremental run (changes are timed to the second)
        titles = [doc["title"] for doc in generate(5)]
        for n, title in enumerate(titles):
            wiki.edit(title, f"Updated guidance {n}.", PEOPLE[n % len(PEOPLE)])
        pages, requests, seconds, _ = timed_run(wiki, fast, ["0"], checkpoint)
        report(f"incremental after {len(titles)} edits", pages, requests, seconds)

        if not args.skip_polite:
            polite = HttpSession(HttpSettings())
            pages, requests, seconds, _ = timed_run(wiki, polite, ["Help"])
            report("full, default politeness (1 s/req)", pages, requests, seconds)
            per_page = seconds / max(pages, 1)
            print(
                f"  -> {args.pages} main-namespace pages at that pace: about {args.pages * per_page / 60:.1f} min "
                f"({1 / per_page:.2f} pages/s)"
            )
    finally:
        wiki.stop()


if __name__ == "__main__":
    main()
