"""A re-run over an unchanged web site costs 304s and changes nothing."""

from __future__ import annotations

import functools
import http.server
import threading

import pytest

from config.loader import SourceConfig
from crawler.runner import Savoir
from tests.conftest import make_settings

PAGES = 20


@pytest.fixture
def site(tmp_path):
    root = tmp_path / "site"
    root.mkdir()
    links = "".join(f'<li><a href="p{i}.html">Page {i}</a></li>' for i in range(PAGES))
    (root / "index.html").write_text(
        f"<html lang='en'><title>Home</title><main><ul>{links}</ul></main></html>"
    )
    for i in range(PAGES):
        (root / f"p{i}.html").write_text(
            f"<html lang='en'><head><title>Guide {i}</title><meta name='author' content='Ana Lopez'></head>"
            f"<body><nav>Menu</nav><main><h1>Guide {i}</h1><p>Procurement guidance number {i} for"
            f" contracting officers in every region.</p></main></body></html>"
        )
    (root / "robots.txt").write_text("User-agent: *\nAllow: /\n")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_unchanged_site_rerun_is_mostly_304s(site, tmp_path):
    source = SourceConfig(
        id="intranet",
        kind="web",
        agency="records",
        settings={"start_urls": [f"{site}/index.html"], "sitemaps": []},
    )
    savoir = Savoir(make_settings(tmp_path, http={"min_delay": 0.0, "jitter": 0.0}), [source])
    (first,) = savoir.crawl()
    # the index page is a hub (all links): followed, not indexed
    assert first.status == "success" and first.added == PAGES
    assert not any(i.endswith("/index.html") for i in savoir.store.live_ids("intranet"))
    (again,) = savoir.crawl()
    run = savoir.store.runs("intranet")[0]
    assert (again.added, again.updated, again.deleted) == (0, 0, 0)
    assert again.unchanged == PAGES or again.fetched == 0
    page_requests = sum(run["requests"].values())
    # every page answered 304; the hub page (no document) and robots.txt are not counted
    assert run["not_modified"] == again.unchanged == PAGES, (run["not_modified"], page_requests)
    assert run["not_modified"] <= run["fetched"]
    savoir.close()
