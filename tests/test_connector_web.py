"""The web connector against a real HTTP server on loopback serving a small site.

The site (tests/fixtures/connectors/site) has a sitemap index with a gzipped sitemap,
navigation boilerplate, an EN/FR twin pair linked by hreflang, canonical and content
duplicates, out-of-scope links, a malformed page, windows-1252 and latin-1 pages, a
dead link and a non-HTML file.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from config.loader import HttpSettings
from connectors.base import (
    ConnectorConfigError,
    Contribution,
    Document,
    Person,
    Role,
    SourceContext,
    SourceUnavailableError,
)
from connectors.testing import ConnectorConformance, FixtureServer, run_connector
from connectors.web import WebConnector, WebSettings, normalise_url
from crawler.http import HttpSession

FIXTURE = Path(__file__).parent / "fixtures" / "connectors" / "site"

PAGES = [
    "/docs/",
    "/docs/access-to-information.html",
    "/docs/fr/acces-information.html",
    "/docs/procurement.html",
    "/docs/fraud.html",
    "/docs/legacy.html",
    "/docs/notes-latin1.html",
    "/docs/orphan.html",
    "/docs/broken.html",
]


@pytest.fixture
def site(tmp_path):
    root = tmp_path / "site"
    shutil.copytree(FIXTURE, root)
    with FixtureServer(root) as server:
        server.headers["/docs/notes-latin1.html"] = {"Content-Type": "text/html; charset=ISO-8859-1"}
        yield server


@pytest.fixture
def http():
    session = HttpSession(HttpSettings(min_delay=0, jitter=0, max_retries=0))
    yield session
    session.close()


def make(site, http, **settings) -> WebConnector:
    # the fixture's home page is a link list kept as a document here (skip_hubs is tested
    # in test_web_rerun and test_hub_pages_are_followed_not_indexed)
    values = {"start_urls": [f"{site.base}/docs/"], "skip_hubs": False, **settings}
    return WebConnector(SourceContext(id="hub", agency="tbs", kind="web"), WebSettings(**values), http)


def by_path(run, site) -> dict:
    return {doc.url.removeprefix(site.base): doc for doc in run.docs}


class TestWebConformance(ConnectorConformance):
    example_settings = {
        "start_urls": ["https://intranet.example.org/"],
        "sitemaps": ["https://intranet.example.org/sitemap.xml"],
        "exclude": ["/archive/", r"\?print=1"],
        "max_depth": 3,
    }

    @pytest.fixture
    def make_connector(self, site, http):
        def factory() -> WebConnector:
            connector = make(site, http)
            connector.checkpoint_every = 3  # the fixture site is small: checkpoint often
            return connector

        return factory

    @pytest.fixture
    def mutate_source(self, site):
        def mutate() -> None:
            page = site.root / "docs" / "procurement.html"
            page.write_text(
                page.read_text().replace("justification memo.", "justification memo signed by a director.")
            )
            sitemap = site.root / "sitemaps" / "pages.xml"
            when = (datetime.now(UTC) + timedelta(minutes=1)).isoformat(timespec="seconds")
            sitemap.write_text(sitemap.read_text().replace("2024-02-10T09:00:00-05:00", when))

        return mutate


# -- what a full crawl finds -----------------------------------------------------------


def test_full_crawl_finds_exactly_the_in_scope_html_pages(site, http):
    run = run_connector(make(site, http))
    assert sorted(by_path(run, site)) == sorted(PAGES)
    assert all(doc.id == f"hub:{doc.url}" and doc.kind == "page" for doc in run.docs)
    assert all(doc.source == "hub" and doc.agency == "tbs" for doc in run.docs)
    requested = set(site.requests)
    assert "/other/outside.html" not in requested, "out-of-scope page fetched"
    assert "/sitemaps/more.xml.gz" in requested
    assert "/docs/data.txt" in requested  # fetched, but not HTML: no document


def test_gzipped_sitemap_reveals_unlinked_page(site, http):
    docs = by_path(run_connector(make(site, http)), site)
    assert docs["/docs/orphan.html"].title == "Official languages checklist"
    assert docs["/docs/orphan.html"].modified == datetime(2024, 4, 1, 8, 0, tzinfo=UTC)  # sitemap lastmod


def test_main_content_only(site, http):
    docs = by_path(run_connector(make(site, http)), site)
    everything = "\n".join(doc.text for doc in docs.values())
    for boilerplate in (
        "Home navigation link",
        "Footer boilerplate",
        "Skip to main content",
        "Share this page",
        "We use cookies",
        "sidebar",
        "Related articles",
        "Accueil",
    ):
        assert boilerplate not in everything
    assert docs["/docs/procurement.html"].text == (
        "Procurement guide\n\n"
        "Sole-source contracts above the threshold need a justification memo.\n\n"
        "Define the requirement.\n\n"
        "Choose the method of supply."
    )
    assert docs["/docs/fraud.html"].text.startswith("Fraud case notes\n\nLook for invoices")


def test_metadata_authors_dates_tags(site, http):
    docs = by_path(run_connector(make(site, http)), site)
    ati = docs["/docs/access-to-information.html"]
    assert ati.title == "Handling access to information requests"
    assert ati.created == datetime(2024, 2, 27, 19, 0, tzinfo=UTC)
    assert ati.modified == datetime(2024, 3, 1, 14, 15, tzinfo=UTC)
    assert ati.contributions == (
        Contribution(
            Person("Tremblay, Geneviève", "genevieve.tremblay@atip.example"),
            Role.AUTHOR,
            time=ati.created,
            size=len(ati.text),
        ),
    )
    assert ati.tags == ("access to information", "ATIP", "FOI")
    fraud = docs["/docs/fraud.html"]
    assert fraud.created == datetime(2024, 1, 10, 8, 0, tzinfo=UTC)  # article:published_time
    assert fraud.modified == datetime(2024, 1, 15, 12, 30, tzinfo=UTC)  # sitemap lastmod
    assert fraud.tags == ("fraud", "investigation")
    assert docs["/docs/procurement.html"].tags == ("procurement", "contracting")
    home = docs["/docs/"]
    assert home.contributions[0].person == Person("Samira Haddad", "samira.haddad@agency.example")


def test_languages_and_twins(site, http):
    docs = by_path(run_connector(make(site, http)), site)
    en, fr = docs["/docs/access-to-information.html"], docs["/docs/fr/acces-information.html"]
    assert (en.language, fr.language) == ("en", "fr")
    assert en.alternates == {"fr": f"{site.base}/docs/fr/acces-information.html"}
    assert fr.alternates == {"en": f"{site.base}/docs/access-to-information.html"}
    assert fr.translation_of == en.id
    assert en.translation_of is None
    assert docs["/docs/broken.html"].language == "en"
    assert docs["/docs/orphan.html"].translation_of is None


def test_untranslated_fallback_is_a_french_twin_not_a_duplicate(site, http):
    # a /fr/ page that declares French and hreflang, whose body is still the English text
    root = site.root / "docs"
    english = (root / "access-to-information.html").read_text("utf-8")
    french = (root / "fr" / "acces-information.html").read_text("utf-8")
    fallback = french[: french.index("<body>")] + english[english.index("<body>") :]
    (root / "fr" / "acces-information.html").write_text(fallback.replace('href="index.html"', 'href="../index.html"'), "utf-8")
    docs = by_path(run_connector(make(site, http)), site)
    en, fr = docs["/docs/access-to-information.html"], docs["/docs/fr/acces-information.html"]
    assert en.text == fr.text
    assert fr.language == "fr" and fr.translation_of == en.id


def test_canonical_and_content_duplicates_collapse(site, http):
    run = run_connector(make(site, http))
    urls = [doc.url for doc in run.docs]
    assert urls.count(f"{site.base}/docs/procurement.html") == 1
    assert not [u for u in urls if "print" in u or "mirror" in u or "utm_" in u or u.endswith("index.html")]
    assert site.requests.count("/docs/procurement.html") == 1  # the utm_ link normalises to the same URL


def test_legacy_charsets(site, http):
    docs = by_path(run_connector(make(site, http)), site)
    legacy = docs["/docs/legacy.html"]
    assert legacy.title == "Médiation : l’été des dossiers"
    assert "Les frais de 5 € sont remboursés; l’œuvre du comité « équité » continue." in legacy.text
    assert legacy.contributions[0].person.name == "Hélène Côté"
    latin1 = docs["/docs/notes-latin1.html"]
    assert latin1.text == "Réunion à Montréal : ordre du jour, procès-verbal et décisions."
    assert latin1.contributions[0].person.name == "François Bélanger"


def test_malformed_page_still_read(site, http):
    broken = by_path(run_connector(make(site, http)), site)["/docs/broken.html"]
    assert broken.title == "An old page"
    assert broken.text.split("\n\n") == [
        "Unclosed paragraph about records retention",
        "Second paragraph with a stray closing tag",
        "first item",
        "second item",
    ]


def test_dead_link_is_a_failure_not_an_error(site, http):
    run = run_connector(make(site, http))
    (failure,) = run.failures
    assert failure.ref == f"hub:{site.base}/docs/missing.html"
    assert failure.reason == f"{site.base}/docs/missing.html: HTTP 404"
    assert not failure.transient


# -- incremental and limits ------------------------------------------------------------


def test_incremental_fetches_only_pages_newer_than_last_run(site, http):
    full = run_connector(make(site, http))
    checkpoint = full.items[-1]
    assert set(checkpoint.state) == {"since", "hashes"}
    site.requests.clear()
    incremental = run_connector(make(site, http), checkpoint)
    # pages listed with an old lastmod are not even fetched; unlisted pages always are
    assert sorted(by_path(incremental, site)) == ["/docs/", "/docs/broken.html"]
    for old in (
        "/docs/fraud.html",
        "/docs/access-to-information.html",
        "/docs/orphan.html",
        "/docs/legacy.html",
    ):
        assert old not in site.requests
    assert "/docs/mirror.html" in site.requests  # fetched, recognised as fraud.html's text: skipped


def test_date_only_lastmod_covers_its_whole_day(site, http):
    full = run_connector(make(site, http))
    sitemap = site.root / "sitemaps" / "more.xml"
    today = datetime.now(UTC).date().isoformat()
    sitemap.write_text(sitemap.read_text().replace("2023-11-01", today))
    incremental = run_connector(make(site, http), full.items[-1])
    assert "/docs/legacy.html" in by_path(incremental, site)


def test_follow_links_off_reads_start_pages_and_sitemaps_only(site, http):
    docs = by_path(run_connector(make(site, http, follow_links=False)), site)
    assert "/docs/broken.html" not in docs
    assert "/docs/orphan.html" in docs and "/docs/" in docs


def test_max_pages_and_exclude(site, http):
    assert len(run_connector(make(site, http, max_pages=2)).docs) == 2
    docs = by_path(run_connector(make(site, http, exclude=[r"/fr/", r"legacy"])), site)
    assert "/docs/fr/acces-information.html" not in docs and "/docs/legacy.html" not in docs
    docs = by_path(run_connector(make(site, http, include=[r"/docs/$", r"fraud"])), site)
    assert sorted(docs) == ["/docs/", "/docs/fraud.html"]


# -- whole-source errors ---------------------------------------------------------------


def test_start_url_404_is_a_config_error(site, http):
    connector = make(site, http, start_urls=[f"{site.base}/nowhere/"])
    message = f"{site.base}/nowhere/ answered HTTP 404: check start_urls"
    with pytest.raises(ConnectorConfigError, match=message):
        connector.check()
    with pytest.raises(ConnectorConfigError, match=message):
        list(connector.documents())


def test_configured_sitemap_404_is_a_config_error(site, http):
    connector = make(site, http, sitemaps=[f"{site.base}/no-sitemap.xml"])
    with pytest.raises(ConnectorConfigError, match=r"no-sitemap.xml answered HTTP 404: check sitemaps"):
        list(connector.documents())
    not_a_sitemap = make(site, http, sitemaps=[f"{site.base}/docs/data.txt"])
    with pytest.raises(ConnectorConfigError, match="is not a sitemap"):
        not_a_sitemap.check()


def test_server_error_on_start_url_is_transient(site, http):
    site.status["/docs/"] = 503
    with pytest.raises(SourceUnavailableError, match="HTTP 503"):
        list(make(site, http).documents())


def test_bad_settings(site, http):
    with pytest.raises(ConnectorConfigError, match=r"exclude: '\(' is not a valid regular expression"):
        make(site, http, exclude=["("]).check()
    with pytest.raises(ConnectorConfigError, match="is not an http"):
        make(site, http, start_urls=["ftp://example.org/"]).check()


def test_normalise_url():
    assert (
        normalise_url("HTTP://Example.ORG:80/a/b?utm_source=x&b=2&a=1#frag")
        == "http://example.org/a/b?a=1&b=2"
    )
    assert normalise_url("https://example.org:443") == "https://example.org/"
    assert normalise_url("https://example.org:8443/x") == "https://example.org:8443/x"
    assert normalise_url("mailto:someone@example.org") is None
    assert normalise_url("javascript:void(0)") is None


def test_page_failing_for_now_stays_listed(site, http):
    site.status["/docs/broken.html"] = 503
    connector = make(site, http)
    run = run_connector(connector)
    (transient,) = [f for f in run.failures if f.transient]
    assert transient.reason == f"{site.base}/docs/broken.html: HTTP 503"
    listed = set(connector.ids())
    assert transient.ref in listed  # not tombstoned because the server hiccuped
    assert f"hub:{site.base}/docs/missing.html" not in listed  # a 404 is gone


def test_hub_pages_are_followed_not_indexed(site, http):
    docs = [i for i in make(site, http, skip_hubs=True).documents() if isinstance(i, Document)]
    urls = {d.url.replace(site.base, "") for d in docs}
    assert "/docs/" not in urls  # the home page is 54% link text over 11 links
    assert "/docs/fraud.html" in urls  # its links were still followed
