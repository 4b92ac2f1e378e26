"""A web site that changes between runs ends, in the store and the index, as the site is.

The site (served from a folder on loopback) has a sitemap with lastmod dates. Between
two runs a page is edited, two are added (one linked, one listed in the sitemap only),
one is removed but still linked (404), one removed with its link and sitemap entry,
and one only dropped from the sitemap (still on disk, no longer reachable). Both an
incremental second run (which trusts lastmod) and a --full one end with exactly the
site's current pages and count each change.
"""

from __future__ import annotations

import functools
import http.server
import os
import threading
import time

import pytest

from config.loader import SourceConfig
from crawler.runner import Savoir
from tests.conftest import make_settings

OLD = "2020-01-01"


def page(title: str, body: str, links: list[str] = ()) -> str:
    items = "".join(f'<li><a href="{href}">{href}</a></li>' for href in links)
    return (
        f"<html lang='en'><head><title>{title}</title></head><body><main><h1>{title}</h1>"
        f"<p>{body}</p><ul>{items}</ul></main></body></html>"
    )


def sitemap(entries: dict[str, str]) -> str:
    urls = "".join(
        f"<url><loc>{{BASE}}/{name}</loc><lastmod>{when}</lastmod></url>" for name, when in entries.items()
    )
    return f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'


class Site:
    def __init__(self, root) -> None:
        self.root = root
        root.mkdir()

        class Quiet(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):
                return

        handler = functools.partial(Quiet, directory=str(root))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def write(self, name: str, text: str, *, later: bool = False) -> None:
        path = self.root / name
        path.write_text(text.replace("{BASE}", self.base))
        if later:  # an edit the server's Last-Modified (whole seconds) must show
            stamp = time.time() + 5
            os.utime(path, (stamp, stamp))

    def remove(self, name: str) -> None:
        (self.root / name).unlink()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def build(site: Site) -> None:
    site.write("robots.txt", "User-agent: *\nAllow: /\n")
    site.write("index.html", page("Home", "Staff intranet home.", ["a.html", "b.html", "c.html", "d.html"]))
    for name in "abcde":
        site.write(f"{name}.html", page(f"Guide {name}", f"Procurement guidance {name} for officers."))
    site.write("sitemap.xml", sitemap({f"{n}.html": OLD for n in "abcde"}))


def change(site: Site) -> None:
    today = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() + 60))
    site.write("a.html", page("Guide a", "Procurement guidance a, revised for 2026."), later=True)
    site.write("g.html", page("Guide g", "A new guide, linked from home."))
    site.write("f.html", page("Guide f", "A new guide, listed in the sitemap only."))
    site.remove("b.html")  # left the sitemap, still linked from home: 404
    site.remove("c.html")  # link and sitemap entry removed too
    # e.html stays on disk but leaves the sitemap: nothing links to it any more
    site.write(
        "index.html",
        page("Home", "Staff intranet home.", ["a.html", "b.html", "d.html", "g.html"]),
        later=True,
    )
    site.write("sitemap.xml", sitemap({"a.html": today, "d.html": OLD, "f.html": today}), later=True)


@pytest.fixture
def site(tmp_path):
    site = Site(tmp_path / "site")
    build(site)
    yield site
    site.close()


def _paths(ids) -> set[str]:
    return {i.rsplit("/", 1)[1] for i in ids}


@pytest.mark.parametrize("full", [False, True], ids=["incremental", "full"])
def test_changed_site_ends_with_exactly_its_current_pages(site, tmp_path, full):
    source = SourceConfig(
        id="intranet",
        kind="web",
        agency="records",
        settings={"start_urls": [f"{site.base}/index.html"], "sitemaps": [f"{site.base}/sitemap.xml"]},
    )
    savoir = Savoir(make_settings(tmp_path, http={"min_delay": 0.0, "jitter": 0.0}), [source])
    (first,) = savoir.crawl()
    assert first.status == "success", first.summary()
    assert _paths(savoir.store.live_ids("intranet")) == {"index.html", *(f"{n}.html" for n in "abcde")}

    change(site)
    (second,) = savoir.crawl(full=full)
    current = {"index.html", "a.html", "d.html", "f.html", "g.html"}
    assert _paths(savoir.store.live_ids("intranet")) == current
    with savoir.open_index().searcher() as searcher:
        assert _paths(f["id"] for f in searcher.all_stored_fields()) == current
    assert second.mode == ("full" if full else "incremental")
    assert second.status == "success", (second.summary(), second.failures)
    assert (second.added, second.updated, second.deleted, second.failed) == (2, 2, 3, 0), second.summary()
    run = savoir.store.runs("intranet")[0]
    assert (run["added"], run["updated"], run["deleted"]) == (2, 2, 3)

    # and a third run over the unchanged site changes nothing
    (third,) = savoir.crawl(full=full)
    assert (third.added, third.updated, third.deleted, third.failed) == (0, 0, 0, 0), third.summary()
    # every page answered 304 (the sitemap and robots.txt too, but those are not pages)
    run = savoir.store.runs("intranet")[0]
    assert run["not_modified"] == run["fetched"] == third.unchanged, (dict(run), third.summary())
    assert _paths(savoir.store.live_ids("intranet")) == current
    savoir.close()


def test_a_timeout_or_5xx_never_deletes(tmp_path):
    """A page that fails for now (5xx) stays, even on a full run; a 404 for it deletes it."""
    from tests.faultserver import FaultConfig, FaultServer

    home = page("Home", "Intranet home.", ["/page/one.html", "/down/two.html"])
    with FaultServer(FaultConfig(pages={"/": home})) as server:
        source = SourceConfig(
            id="faulty",
            kind="web",
            agency="records",
            settings={"start_urls": [f"{server.base}/"], "sitemaps": []},
        )
        http = {"min_delay": 0.0, "jitter": 0.0, "max_retries": 0}
        savoir = Savoir(make_settings(tmp_path, http=http), [source])
        (first,) = savoir.crawl()
        assert first.failed == 1  # /down/ never answered
        # pretend /down/two.html was indexed before it started failing
        doc = savoir.store.documents_by_id([f"faulty:{server.base}/page/one.html"])
        assert doc
        from connectors.base import Document

        ghost = Document(
            id=f"faulty:{server.base}/down/two.html",
            url=f"{server.base}/down/two.html",
            title="Two",
            text="Guide two.",
        )
        ghost.source, ghost.agency, ghost.acl = "faulty", "records", ("public",)
        savoir.store.commit_batch(run_id=first.run_id, source_id="faulty", upserts=[(ghost, "x")])
        (again,) = savoir.crawl(full=True)
        assert again.deleted == 0 and ghost.id in savoir.store.live_ids("faulty"), again.summary()
        savoir.close()


def test_robots_exclusions_do_not_make_a_run_partial(tmp_path):
    from tests.faultserver import FaultConfig, FaultServer

    home = page("Home", "Intranet home.", ["/page/one.html", "/private/payroll.html", "/page/two.html"])
    with FaultServer(FaultConfig(pages={"/": home})) as server:
        source = SourceConfig(
            id="site",
            kind="web",
            agency="records",
            settings={"start_urls": [f"{server.base}/"], "sitemaps": []},
        )
        savoir = Savoir(make_settings(tmp_path, http={"min_delay": 0.0, "jitter": 0.0}), [source])
        (report,) = savoir.crawl()
        run = savoir.store.runs("site")[0]
        savoir.close()
    assert report.status == "success" and report.failed == 0, report.summary()
    assert report.excluded == {"robots": 1} and run["excluded"] == {"robots": 1}
    assert "(excluded: 1 robots)" in report.summary()
    assert server.hits.get("/private/payroll.html", 0) == 0
