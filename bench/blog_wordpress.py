"""Posts per second and requests per post of the wordpress connector on a real WordPress.

    .venv/bin/python bench/blog_wordpress.py [--posts 500] [--skip-polite]

Starts a private WordPress with its own MariaDB (Debian's packages, as the tests do),
loads the generated bilingual posts through WordPress's own functions by four authors,
a fifth of them with a guest's comment (one in three of those long enough to be a
document), then times a full run of the connector with politeness off and with the
default ``HttpSettings()`` (one request a second per host), a whole load into Savoir
(store and index) with the default politeness, and an incremental run after one edit.
Prints the figures; it is not a test.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.synthetic import generate  # noqa: E402
from config.loader import HttpSettings, SourceConfig  # noqa: E402
from connectors.base import Document, SourceContext  # noqa: E402
from connectors.wordpress import WordPressConnector, WordPressSettings  # noqa: E402
from crawler.http import HttpSession  # noqa: E402
from crawler.runner import Savoir  # noqa: E402
from tests.conftest import make_settings  # noqa: E402
from tests.servers.wordpress import WordPress  # noqa: E402

AUTHORS = ("wchen", "mroy", "gtremblay", "savoiradmin")
LONG_COMMENT = (
    "<p>We met the same problem in our region and solved it with a shared register that "
    "every office updates on the day the work is done, so nobody is surprised at year end.</p>"
)


def load(site: WordPress, count: int) -> list[int]:
    batches: dict[str, list[dict]] = {a: [] for a in AUTHORS}
    for i, doc in enumerate(generate(count)):
        paragraphs = "".join(f"<p>{p}</p>\n" for p in doc["text"].split("\n\n"))
        post = {
            "title": doc["title"],
            "content": paragraphs,
            "date": doc["modified"].strftime("%Y-%m-%d %H:%M:%S"),
            "categories": [doc["agency"]],
            "tags": [doc["language"] or "bilingual"],
        }
        if i % 5 == 0:
            text = LONG_COMMENT if i % 15 == 0 else "<p>Thanks, useful.</p>"
            post["comments"] = [
                {
                    "guest": f"Reader {i}",
                    "email": f"reader{i}@gc.example",
                    "content": text,
                    "date": post["date"],
                }
            ]
        batches[AUTHORS[i % len(AUTHORS)]].append(post)
    ids: list[int] = []
    for author, posts in batches.items():
        for start in range(0, len(posts), 100):
            ids += site.add_posts(posts[start : start + 100], author=author)
    return ids


def timed_run(site: WordPress, settings: HttpSettings, checkpoint=None) -> tuple[float, int, int, object]:
    http = HttpSession(settings)
    try:
        context = SourceContext(id="bench", agency="bench", kind="wordpress")
        options = WordPressSettings(site_url=f"{site.base}/")
        started = time.perf_counter()
        items = list(WordPressConnector(context, options, http).documents(checkpoint))
        seconds = time.perf_counter() - started
        posts = sum(isinstance(i, Document) and i.kind == "post" for i in items)
        return seconds, posts, sum(http.stats.requests.values()), items[-1]
    finally:
        http.close()


def report(label: str, seconds: float, posts: int, requests: int) -> None:
    print(
        f"{label}: {posts} posts in {seconds:.1f} s = {posts / seconds:.1f} posts/s, "
        f"{requests} requests = {requests / max(posts, 1):.3f} per post"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--posts", type=int, default=500)
    parser.add_argument("--skip-polite", action="store_true", help="skip the runs with default politeness")
    args = parser.parse_args()
    site = WordPress()
    site.start()
    try:
        started = time.perf_counter()
        ids = load(site, args.posts)
        print(f"loaded {len(ids)} posts into WordPress in {time.perf_counter() - started:.1f} s")
        fast = HttpSettings(min_delay=0, jitter=0)
        seconds, posts, requests, end = timed_run(site, fast)
        report("full run, politeness off", seconds, posts, requests)
        if not args.skip_polite:
            report("full run, default politeness", *timed_run(site, HttpSettings())[:3])
            with tempfile.TemporaryDirectory(prefix="savoir-bench-") as tmp:
                source = SourceConfig(
                    id="blog", kind="wordpress", agency="bench", settings={"site_url": f"{site.base}/"}
                )
                savoir = Savoir(make_settings(Path(tmp)), [source])
                try:
                    begun = time.perf_counter()
                    (run,) = savoir.crawl(["blog"])
                    took = time.perf_counter() - begun
                    asked = sum(savoir.store.runs("blog")[0]["requests"].values())
                    print(
                        f"whole load into Savoir (store + index), default politeness: {run.added} documents "
                        f"({posts} posts) in {took:.1f} s = {posts / took:.1f} posts/s, {asked} requests"
                    )
                finally:
                    savoir.close()
        time.sleep(1.05 - time.time() % 1)  # the edit falls in a later second than the last change
        site.update_post(ids[len(ids) // 2], post_content="<p>Updated: the contact list changed.</p>")
        polite = fast if args.skip_polite else HttpSettings()
        seconds, docs, requests, _ = timed_run(site, polite, end)
        label = "politeness off" if args.skip_polite else "default politeness"
        print(
            f"incremental run after one edit, {label}: {docs} post(s) in {seconds:.1f} s, {requests} requests"
        )
    finally:
        site.stop()


if __name__ == "__main__":
    main()
