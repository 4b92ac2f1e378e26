"""A crawl over a misbehaving site records every fault and carries on."""

from __future__ import annotations

from config.loader import SourceConfig
from crawler.runner import Savoir
from tests.conftest import make_settings
from tests.faultserver import FaultConfig, FaultServer

BAD = ["/down/a.html", "/truncated/b.html", "/loop/0", "/huge/c.html", "/private/d.html", "/storm/e.html"]
GOOD = ["/page/one.html", "/page/two.html", "/page/three.html"]


def sitemap(paths: list[str]) -> str:
    urls = "".join(f"<url><loc>{{{{BASE}}}}{p}</loc></url>" for p in paths)
    return f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'


def test_faults_become_failed_items_and_good_pages_land(tmp_path):
    config = FaultConfig(
        storm_count=100,
        retry_after="0",
        huge_bytes=3 * 1024 * 1024,
        pages={
            "/sitemap.xml": sitemap(GOOD[:1] + BAD + GOOD[1:]),
            "/": "<html lang='en'><title>Home</title><main><p>Intranet home page for staff.</p></main></html>",
        },
    )
    with FaultServer(config) as server:
        source = SourceConfig(
            id="faulty",
            kind="web",
            agency="records",
            settings={
                "start_urls": [f"{server.base}/"],
                "sitemaps": [f"{server.base}/sitemap.xml"],
                "follow_links": False,
            },
        )
        http = {
            "min_delay": 0.0,
            "jitter": 0.0,
            "max_retries": 1,
            "backoff_base": 0.05,
            "timeout": 2.0,
            "max_bytes": 1024 * 1024,
            "max_redirects": 3,
        }
        savoir = Savoir(make_settings(tmp_path, http=http), [source])
        (report,) = savoir.crawl()
        assert report.status == "partial", (report.summary(), report.failures)
        assert report.added == len(GOOD) + 1  # and the home page
        failures = {
            f["ref"].rsplit("/", 2)[-2]: f["reason"] for f in savoir.store.run_failures(report.run_id)
        }
        assert "HTTP 503" in failures["down"]
        assert "truncated" in failures["truncated"]
        assert "redirects" in failures["loop"]
        assert "limit" in failures["huge"]
        # robots.txt's refusal is an exclusion, counted apart, not a failure
        assert "private" not in failures and report.excluded == {"robots": 1}
        assert "HTTP 429" in failures["storm"]
        # retried once (max_retries=1), never hammered; the disallowed page never fetched
        assert server.hits["/down/a.html"] == 2 and server.hits["/storm/e.html"] == 2
        assert server.hits.get("/private/d.html", 0) == 0
        run = savoir.store.runs("faulty")[0]
        assert run["failed"] == len(BAD) - 1 and sum(run["requests"].values()) > 0
        assert run["excluded"] == {"robots": 1}
        savoir.close()
