"""The wordpress connector against a real WordPress (Debian's package) with MariaDB.

The site (tests/servers/wordpress.py) holds tests/fixtures/wordpress/site.json: EN and
FR posts by three authors (two paired as translations by the site's language plugin),
a page, a private post, a draft, comments by a registered reader, guests and an author,
and a comment held for moderation. Its clock is UTC-5. Tests that change the site edit
posts no other test asserts on, or posts they add themselves.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from config import secrets
from config.loader import HttpSettings, SourceConfig, parse_source_settings
from connectors._text import parse_date
from connectors.base import (
    Checkpoint,
    ConnectorConfigError,
    CredentialError,
    Deletion,
    Document,
    Exclusion,
    Person,
    Role,
    SourceContext,
    SourceUnavailableError,
)
from connectors.testing import ConnectorConformance, FixtureServer, run_connector
from connectors.wordpress import WordPressConnector, WordPressSettings
from crawler.http import HttpSession
from crawler.runner import Savoir
from indexer.search import Searcher, SearchRequest
from indexer.store import documents
from tests.conftest import make_settings
from tests.servers import wordpress as server

MISSING = server.missing()


@pytest.fixture(autouse=True)
def _needs_wordpress():
    # like PostgreSQL, MediaWiki and DokuWiki: a missing server fails, never skips, so a
    # broken install in CI cannot pass as skipped tests
    if MISSING:
        pytest.fail(MISSING)


@pytest.fixture(scope="session")
def wp(request):
    return server.shared(request)


class RecordingSession(HttpSession):
    """The crawler's session, remembering each REST route it was asked for."""

    def __init__(self) -> None:
        super().__init__(HttpSettings(min_delay=0, jitter=0, max_retries=0))
        self.asked: list[str] = []

    def request(self, method: str, url: str, **kwargs: Any):
        if not url.endswith("/robots.txt"):
            params = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
            params.update(kwargs.get("params") or {})
            route = params.get("rest_route", "site")
            marks = [k for k in ("modified_after", "after", "include", "post", "_embed") if k in params]
            self.asked.append(" ".join([route, *marks]))
        return super().request(method, url, **kwargs)


@pytest.fixture
def http():
    session = RecordingSession()
    yield session
    session.close()


def make(wp, http, **settings: Any) -> WordPressConnector:
    values = {"site_url": f"{wp.base}/", **settings}
    return WordPressConnector(
        SourceContext(id="blog", agency="pspc", kind="wordpress"), WordPressSettings(**values), http
    )


def crawler_login(wp, **more: Any) -> dict[str, Any]:
    return {"user": server.CRAWLER, "application_password": wp.app_passwords[server.CRAWLER], **more}


def docs_of(run) -> dict[str, Document]:
    return {doc.id: doc for doc in run.docs}


def next_second() -> None:
    """WordPress keeps times to the second: make the next edit fall in a later one."""
    time.sleep(1.05 - (time.time() % 1))


class TestWordPressConformance(ConnectorConformance):
    example_settings = {"site_url": "https://blog.example.gc.ca/", "private_acl": ["fraud-unit"]}

    @pytest.fixture
    def make_connector(self, wp, http):
        return lambda: make(wp, http)

    @pytest.fixture
    def mutate_source(self, wp):
        post = wp.post_id("consultations-fr")
        return lambda: wp.update_post(
            post, post_content=f"<p>Le délai de réponse reste de trente jours ({time.time()}).</p>"
        )


def test_finds_the_api_from_the_site_address(wp, http):
    connector = make(wp, http)
    connector.check()
    # plain permalinks: the site's Link header names the ?rest_route= form
    assert connector.api.root == f"{wp.base}/index.php?rest_route=/"
    assert connector.api.index["name"] == "Procurement and Access Lessons"


def test_posts_pages_authors_categories_languages_and_twins(wp, http):
    docs = docs_of(run_connector(make(wp, http)))
    ids = wp.ids["posts"]
    offers_en, offers_fr = docs[f"blog:post-{ids['offers-en']}"], docs[f"blog:post-{ids['offers-fr']}"]
    assert offers_en.url == f"{wp.base}/?p={ids['offers-en']}"
    assert (offers_en.kind, offers_en.title) == ("post", "Standing offers explained")
    assert offers_en.text == (
        "A standing offer is not a contract until a call-up is issued.\n\n"
        "Check the ceiling before every call-up, and record each one in the register."
    )
    assert offers_en.tags == ("Procurement", "call-ups", "standing offers")
    # the site runs five hours behind UTC; the documents' times are UTC
    assert offers_en.created == offers_en.modified == datetime(2024, 3, 5, 19, 0, tzinfo=UTC)
    author = offers_en.contributions[0]
    assert (author.person, author.role) == (Person("Wei Chen", username="wchen"), Role.AUTHOR)
    assert author.size == len(offers_en.text)
    # the language plugin's fields: the language, and the French version paired with the English
    assert (offers_en.language, offers_fr.language) == ("en", "fr")
    assert offers_fr.translation_of == offers_en.id and offers_en.translation_of is None
    assert offers_fr.contributions[0].person.name == "Marc-André Roy"
    # no language field: left to the indexer's detection
    flags = docs[f"blog:post-{ids['red-flags']}"]
    assert flags.language is None and flags.tags == ("Fraud", "Procurement", "invoices", "red flags")
    about = docs[f"blog:page-{ids['about']}"]
    assert (about.kind, about.url) == ("page", f"{wp.base}/?page_id={ids['about']}")
    assert about.contributions[0].person.username == "gtremblay"
    # without an application password: no private post, no draft
    assert f"blog:post-{ids['private-case']}" not in docs and f"blog:post-{ids['draft-idea']}" not in docs
    assert all(doc.acl is None for doc in docs.values())


def test_commenters_and_comment_documents(wp, http):
    docs = docs_of(run_connector(make(wp, http)))
    posts, comments = wp.ids["posts"], wp.ids["comments"]
    offers = docs[f"blog:post-{posts['offers-en']}"]
    commenters = {c.person.name: c for c in offers.contributions if c.role is Role.COMMENTER}
    # the post's author answering in the thread stays its author, not a commenter
    assert set(commenters) == {"Priya Singh", "Jean Dupont"}
    assert commenters["Priya Singh"].time == datetime(2024, 3, 7, 10, 0, tzinfo=UTC)
    assert commenters["Jean Dupont"].size == len("Merci, très utile!")
    # a substantive comment is a document of its own, authored by the commenter
    priya = docs[f"blog:comment-{comments['priya-on-offers']}"]
    assert priya.kind == "comment" and priya.title == "Re: Standing offers explained"
    assert priya.url == f"{wp.base}/?p={posts['offers-en']}#comment-{comments['priya-on-offers']}"
    assert priya.text.startswith("We ran into the same ceiling problem at Employment and Social Development.")
    assert [(c.person.name, c.role) for c in priya.contributions] == [("Priya Singh", Role.AUTHOR)]
    assert priya.created == datetime(2024, 3, 7, 10, 0, tzinfo=UTC)
    amelie = docs[f"blog:comment-{comments['amelie-on-flags']}"]
    assert amelie.contributions[0].person.name == "Amélie Roux" and amelie.language is None
    # a thank-you is no document; a comment held for moderation is nowhere
    assert f"blog:comment-{comments['guest-on-offers']}" not in docs
    assert f"blog:comment-{comments['spam-pending']}" not in docs
    flags = docs[f"blog:post-{posts['red-flags']}"]
    assert "Cheap Pills" not in {c.person.name for c in flags.contributions}
    # fewer words than asked: only commenters
    strict = docs_of(run_connector(make(wp, http, comment_min_words=1000)))
    assert not [d for d in strict.values() if d.kind == "comment"]
    assert {c.person.name for c in strict[offers.id].contributions} == {
        "Wei Chen",
        "Priya Singh",
        "Jean Dupont",
    }


def test_incremental_run_after_an_edit_reads_only_that_post(wp, http):
    # overlap 0: a change in the second the last run saw is left to the overlap test below
    full = run_connector(make(wp, http, overlap_seconds=0))
    checkpoint = full.items[-1]
    next_second()
    post = wp.post_id("telework")
    wp.update_post(post, post_content="<p>Requests did not slow down; scanning came first.</p>")
    http.asked.clear()
    again = run_connector(make(wp, http, overlap_seconds=0), checkpoint)
    assert again.doc_ids == [f"blog:post-{post}"]
    assert again.docs[0].text == "Requests did not slow down; scanning came first."
    assert again.docs[0].modified > parse_date(checkpoint.state["since"]) and again.deletions == []
    # the site, its API, what changed (posts, pages, new comments), the edited post's
    # comments, then the cheap id listings that find deletions: nothing per untouched post
    assert http.asked == [
        "site",
        "/",
        "/wp/v2/posts modified_after _embed",
        "/wp/v2/pages modified_after _embed",
        "/wp/v2/comments after",
        "/wp/v2/comments post _embed",
        "/wp/v2/posts",
        "/wp/v2/pages",
        "/wp/v2/comments",
    ]
    assert again.items[-1].state["since"] > checkpoint.state["since"]
    # nothing changed since: no document at all
    assert run_connector(make(wp, http, overlap_seconds=0), again.items[-1]).docs == []


def test_overlap_rereads_changes_just_before_the_checkpoint(wp, http):
    post = wp.post_id("telework")
    next_second()
    wp.update_post(post, post_title="What two years of telework taught our ATIP office")
    full = run_connector(make(wp, http))
    # the newest change seen is re-read (a save committed while the last run listed)
    again = run_connector(make(wp, http), full.items[-1])
    assert f"blog:post-{post}" in again.doc_ids


def test_a_new_comment_refetches_its_post(wp, http):
    post = wp.post_id("red-flags")
    full = run_connector(make(wp, http, overlap_seconds=0))
    next_second()
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    wp.add_comment(
        post, "Luc Girard", "luc.girard@ssc.example", "<p>Seen the same at Shared Services.</p>", now
    )
    again = run_connector(make(wp, http, overlap_seconds=0), full.items[-1])
    # the post and its comment documents (unchanged ones cost the store nothing)
    assert again.doc_ids == [f"blog:post-{post}", f"blog:comment-{wp.ids['comments']['amelie-on-flags']}"]
    commenters = {c.person.name for c in again.docs[0].contributions if c.role is Role.COMMENTER}
    assert "Luc Girard" in commenters


def test_a_trashed_post_is_deleted(wp, http):
    (post,) = wp.add_posts(
        [{"title": "Short-lived", "content": "<p>Posted by mistake.</p>", "date": "2024-05-01 12:00:00"}]
    )
    full = run_connector(make(wp, http, overlap_seconds=0))
    assert f"blog:post-{post}" in full.doc_ids
    wp.trash_post(post)
    again = run_connector(make(wp, http, overlap_seconds=0), full.items[-1])
    assert again.deletions == [Deletion(f"blog:post-{post}")]
    assert post not in again.items[-1].state["posts"]
    assert f"blog:post-{post}" not in set(make(wp, http).ids())


def test_private_post_needs_the_application_password_and_private_acl(wp, http):
    ids = wp.ids["posts"]
    private = f"blog:post-{ids['private-case']}"
    with_acl = run_connector(make(wp, http, **crawler_login(wp, private_acl=["fraud-unit"])))
    doc = docs_of(with_acl)[private]
    assert doc.title == "Case notes: the shared bank account"
    assert doc.acl == ("fraud-unit",)
    assert "Wei Chen" in {c.person.name for c in doc.contributions if c.role is Role.COMMENTER}
    assert docs_of(with_acl)[f"blog:post-{ids['offers-en']}"].acl is None
    assert private in set(make(wp, http, **crawler_login(wp, private_acl=["fraud-unit"])).ids())
    # the draft stays out unless asked for, and then only for the same groups
    assert f"blog:post-{ids['draft-idea']}" not in docs_of(with_acl)
    drafts = docs_of(
        run_connector(make(wp, http, **crawler_login(wp, private_acl=["fraud-unit"], include_drafts=True)))
    )
    assert drafts[f"blog:post-{ids['draft-idea']}"].acl == ("fraud-unit",)
    # read with the password but no groups for it: left out, never public
    no_acl = run_connector(make(wp, http, **crawler_login(wp)))
    assert private not in no_acl.doc_ids
    excluded = [i for i in no_acl.items if isinstance(i, Exclusion) and i.ref == private]
    assert excluded and "set private_acl" in excluded[0].reason
    assert private not in set(make(wp, http, **crawler_login(wp)).ids())


def test_a_wrong_application_password_is_an_error_not_a_public_crawl(wp, http):
    connector = make(wp, http, user=server.CRAWLER, application_password="abcd efgh ijkl mnop qrst uvwx")
    with pytest.raises(CredentialError, match="refused the application password of 'savoircrawler'"):
        connector.check()
    with pytest.raises(CredentialError, match="check user .* and application_password"):
        list(make(wp, http, user=server.CRAWLER, application_password="abcd efgh").documents())


def test_the_application_password_is_a_secret(wp):
    source = SourceConfig(
        id="blog", kind="wordpress", agency="pspc", settings={"site_url": wp.base, **crawler_login(wp)}
    )
    settings = parse_source_settings(source, WordPressSettings)
    assert settings.application_password == wp.app_passwords[server.CRAWLER]
    assert secrets.scrub(f"failed with {settings.application_password}") == f"failed with {secrets.MASK}"


def test_bad_settings_are_config_errors(wp, http):
    with pytest.raises(ConnectorConfigError, match="is not an http"):
        make(wp, http, site_url="blog.example").check()
    with pytest.raises(ConnectorConfigError, match="set both user and application_password"):
        make(wp, http, user="savoircrawler").check()
    with pytest.raises(ConnectorConfigError, match="choose among posts, pages"):
        make(wp, http, content=["media"]).check()
    with pytest.raises(ConnectorConfigError, match="include_drafts needs user"):
        make(wp, http, include_drafts=True).check()


def test_paging_checkpoints_and_resume(wp, http):
    def small_pages() -> WordPressConnector:
        connector = make(wp, http)
        connector.api.per_page = 2
        return connector

    full = run_connector(small_pages())
    assert full.doc_ids == run_connector(make(wp, http)).doc_ids
    middle = [i for i, item in enumerate(full.items[:-1]) if isinstance(item, Checkpoint)]
    assert len(middle) >= 2 and full.items[middle[0]].state["page"] == 2
    position = middle[1]
    before = [d.id for d in full.items[:position] if isinstance(d, Document)]
    resumed = run_connector(small_pages(), full.items[position])
    assert before + resumed.doc_ids == full.doc_ids
    # the resumed run lists the ids it did not see, so the next incremental finds deletions
    assert resumed.items[-1].state["posts"] == full.items[-1].state["posts"]


# -- sites that are not (readable) WordPress -------------------------------------------------


@pytest.fixture
def pages(tmp_path):
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "index.html").write_text("<html><head><title>A site</title></head></html>")
    (tmp_path / "hidden").mkdir()
    (tmp_path / "hidden" / "index.html").write_text(
        '<html><head><meta name="generator" content="WordPress 6.1.9"></head></html>'
    )
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "index.html").write_text("<html><head></head></html>")
    (tmp_path / "broken" / "api").mkdir()
    (tmp_path / "broken" / "api" / "index.html").write_text("<b>Fatal error</b>: out of memory")
    (tmp_path / "cut").mkdir()
    (tmp_path / "cut" / "index.html").write_text("<html><head></head></html>")
    (tmp_path / "cut" / "api.json").write_text('{"name": "A blog", "namespaces": ["wp/v2", "oembed')
    with FixtureServer(tmp_path) as served:
        for folder, api in (("broken", "broken/api/"), ("cut", "cut/api.json"), ("busy", "busy/api/")):
            served.headers[f"/{folder}/"] = {"Link": f'<{served.base}/{api}>; rel="https://api.w.org/"'}
        (tmp_path / "busy").mkdir()
        (tmp_path / "busy" / "index.html").write_text("<html><head></head></html>")
        served.status["/busy/api/"] = 429
        yield served


def test_not_wordpress_rest_api_hidden_and_garbage_answers(pages, http):
    def at(path: str) -> WordPressConnector:
        return WordPressConnector(
            SourceContext(id="blog", agency="pspc", kind="wordpress"),
            WordPressSettings(site_url=f"{pages.base}/{path}"),
            http,
        )

    with pytest.raises(ConnectorConfigError, match="does not look like a WordPress site"):
        at("plain/").check()
    with pytest.raises(ConnectorConfigError, match="is a WordPress site but does not announce its REST API"):
        at("hidden/").check()
    with pytest.raises(SourceUnavailableError, match="answered text/html that is not JSON"):
        at("broken/").check()
    with pytest.raises(
        SourceUnavailableError,
        match=r"api.json\?_fields=\S+ answered application/octet-stream that is not JSON",
    ):
        at("cut/").check()
    # still 429 after the session's retries: try later (a run resumes from its checkpoint)
    with pytest.raises(
        SourceUnavailableError, match="busy/api/: HTTP 429; the site may be down, try again later"
    ):
        at("busy/").check()
    with pytest.raises(ConnectorConfigError, match="nowhere/ answered HTTP 404"):
        at("nowhere/").check()


# -- one post through two doors --------------------------------------------------------------


def live_by_url(savoir) -> dict[str, list[str]]:
    query = select(documents.c.url, documents.c.source_id).where(documents.c.deleted.is_(False))
    out: dict[str, list[str]] = {}
    with savoir.store.engine.connect() as conn:
        for row in conn.execute(query):
            out.setdefault(row.url, []).append(row.source_id)
    return out


@pytest.mark.parametrize("order", [("site", "news", "blog"), ("blog", "site", "news")])
def test_a_post_crawled_as_a_page_and_read_through_feed_and_api_is_indexed_once(wp, tmp_path, order):
    site = SourceConfig(
        id="site",
        kind="web",
        agency="pspc",
        settings={"start_urls": [f"{wp.base}/"], "max_pages": 60, "max_depth": 2},
    )
    news = SourceConfig(id="news", kind="feed", agency="pspc", settings={"url": f"{wp.base}/?feed=rss2"})
    blog = SourceConfig(id="blog", kind="wordpress", agency="pspc", settings={"site_url": f"{wp.base}/"})
    savoir = Savoir(make_settings(tmp_path, http={"min_delay": 0, "jitter": 0}), [site, news, blog])
    posts = [f"{wp.base}/?p={wp.post_id(k)}" for k in ("offers-en", "offers-fr", "red-flags", "telework")]
    # the API knows most (authors, commenters, categories, language), then the feed, then the page
    rank = {"blog": 2, "news": 1, "site": 0}
    try:
        done: list[str] = []
        for source in order:
            (report,) = savoir.crawl([source])
            assert report.status == "success", report.summary()
            done.append(source)
            best = max(done, key=rank.get)
            live = live_by_url(savoir)
            assert {url: live.get(url) for url in posts} == {url: [best] for url in posts}, done
            if best != source:  # this run met URLs a better source holds: left out, counted
                assert report.excluded.get("duplicate", 0) >= len(posts)
        assert not [url for url, holders in live.items() if len(holders) > 1]
        # the web crawl still indexes what the API does not give (its own pages)
        assert "site" in {s for holders in live.values() for s in holders}
        # a second crawl of the site leaves the posts to the API as well
        (again,) = savoir.crawl(["site"], full=True)
        assert again.status == "success" and again.excluded.get("duplicate", 0) >= len(posts)
        assert {url: live_by_url(savoir).get(url) for url in posts} == {url: ["blog"] for url in posts}
    finally:
        savoir.close()


def test_sync_indexes_the_blog_and_follows_an_edit_and_a_trashed_post(wp, tmp_path):
    blog = SourceConfig(
        id="blog",
        kind="wordpress",
        agency="pspc",
        settings={"site_url": f"{wp.base}/", **crawler_login(wp, private_acl=["fraud-unit"])},
    )
    savoir = Savoir(make_settings(tmp_path, http={"min_delay": 0, "jitter": 0}), [blog])
    try:
        (post,) = wp.add_posts(
            [
                {
                    "title": "Carpool pilot",
                    "content": "<p>The Gatineau carpool pilot ends.</p>",
                    "date": "2024-06-01 12:00:00",
                }
            ]
        )
        (first,) = savoir.crawl()
        assert (first.status, first.mode, first.failed) == ("success", "full", 0)
        search = Searcher(savoir.open_index(), savoir.store)
        assert [h.id for h in search.search(SearchRequest("carpool Gatineau")).hits] == [f"blog:post-{post}"]
        # the private post: found by its group only
        private = f"blog:post-{wp.post_id('private-case')}"
        assert private not in [h.id for h in search.search(SearchRequest("shared bank account")).hits]
        fraud = SearchRequest("shared bank account", groups=("public", "fraud-unit"))
        assert private in [h.id for h in search.search(fraud).hits]
        wp.trash_post(post)
        (second,) = savoir.crawl()
        assert (second.status, second.mode, second.deleted) == ("success", "incremental", 1)
        search = Searcher(savoir.open_index(), savoir.store)
        assert search.search(SearchRequest("carpool Gatineau")).total == 0
        # the application password is in no run record
        secret = wp.app_passwords[server.CRAWLER]
        assert all(secret not in str(run) for run in savoir.store.runs("blog"))
    finally:
        savoir.close()
