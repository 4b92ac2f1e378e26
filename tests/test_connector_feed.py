"""The feed connector against a real HTTP server on loopback serving RSS and Atom files."""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from config.loader import HttpSettings
from connectors.base import Checkpoint, ConnectorConfigError, Person, Role, SourceContext
from connectors.feed import FeedConnector, FeedSettings
from connectors.testing import ConnectorConformance, FixtureServer, run_connector
from crawler.http import HttpCache, HttpSession
from tests.servers import wordpress

FIXTURE = Path(__file__).parent / "fixtures" / "connectors" / "feeds"


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "feeds"
    shutil.copytree(FIXTURE, root)
    with FixtureServer(root) as served:
        yield served


@pytest.fixture
def http():
    session = HttpSession(HttpSettings(min_delay=0, jitter=0, max_retries=0))
    yield session
    session.close()


def make(server, http, path: str, **settings) -> FeedConnector:
    values = {"url": f"{server.base}/{path}", **settings}
    return FeedConnector(SourceContext(id="blog", agency="pspc", kind="feed"), FeedSettings(**values), http)


def add_rss_item(server) -> None:
    feed = server.root / "blog.rss"
    when = format_datetime(datetime.now(UTC) + timedelta(minutes=1))
    item = f"""<item>
      <title>Green procurement</title>
      <link>{{{{BASE}}}}/blog/green</link>
      <guid isPermaLink="false">blog-post-102</guid>
      <dc:creator>Wei Chen</dc:creator>
      <pubDate>{when}</pubDate>
      <description>Environmental criteria now apply to every solicitation.</description>
    </item>
    <item>"""
    feed.write_text(feed.read_text().replace("<item>", item, 1))


def add_atom_entry(server) -> None:
    feed = server.root / "news.atom"
    when = (datetime.now(UTC) + timedelta(minutes=1)).isoformat(timespec="seconds")
    entry = f"""<entry xml:lang="fr">
    <title>Nouvelle politique</title>
    <id>urn:uuid:news-3-fr</id>
    <link href="{{{{BASE}}}}/nouvelles/politique"/>
    <updated>{when}</updated>
    <summary>Une nouvelle politique entre en vigueur.</summary>
  </entry>
  <entry>"""
    feed.write_text(feed.read_text().replace("<entry>", entry, 1))


class TestRssConformance(ConnectorConformance):
    example_settings = {"url": "https://blog.example.org/feed/", "kind": "post"}

    @pytest.fixture
    def make_connector(self, server, http):
        return lambda: make(server, http, "blog.rss")

    @pytest.fixture
    def mutate_source(self, server):
        return lambda: add_rss_item(server)


class TestAtomConformance(ConnectorConformance):
    example_settings = {"url": "https://news.example.org/atom.xml", "kind": "news"}

    @pytest.fixture
    def make_connector(self, server, http):
        return lambda: make(server, http, "news.atom", kind="news")

    @pytest.fixture
    def mutate_source(self, server):
        return lambda: add_atom_entry(server)


def test_rss_entries(server, http):
    run = run_connector(make(server, http, "blog.rss"))
    docs = {doc.id: doc for doc in run.docs}
    base = server.base
    assert list(docs) == ["blog:blog-post-101", f"blog:{base}/blog/red-flags", "blog:blog-post-099"]
    offers = docs["blog:blog-post-101"]
    assert offers.url == f"{base}/blog/standing-offers"
    assert offers.kind == "post" and offers.language == "en"
    assert offers.title == "Standing offers explained"
    assert offers.text == (
        "Standing offers explained\n\n"
        "A standing offer is not a contract until a call-up is issued.\n\n"
        "Check the ceiling.\n\n"
        "Record each call-up."
    )
    assert offers.tags == ("procurement", "standing offers")
    assert offers.created == offers.modified == datetime(2024, 3, 5, 19, 0, tzinfo=UTC)
    assert offers.contributions[0].person == Person("Wei Chen")
    assert offers.contributions[0].role is Role.AUTHOR
    assert offers.contributions[0].size == len(offers.text)
    flags = docs[f"blog:{base}/blog/red-flags"]
    assert flags.contributions[0].person == Person("Marc-André Roy", "marc-andre.roy@cra.example")
    assert (
        flags.text
        == "Invoices split just under the approval limit are a classic sign.\n\nSo are round amounts."
    )
    assert docs["blog:blog-post-099"].contributions[0].person.name == "Tremblay, Geneviève"


def test_rss_entry_without_id_is_a_failure(server, http):
    (failure,) = run_connector(make(server, http, "blog.rss")).failures
    assert failure.ref == "blog:entry-4"
    assert failure.reason == (
        f"{server.base}/blog.rss: entry 4 ('A post with no address') has neither id/guid nor link, so no stable id"
    )


def test_atom_entries_languages_and_twins(server, http):
    run = run_connector(make(server, http, "news.atom", kind="news"))
    docs = {doc.id: doc for doc in run.docs}
    en, fr, report = (
        docs["blog:urn:uuid:news-1-en"],
        docs["blog:urn:uuid:news-1-fr"],
        docs["blog:urn:uuid:news-2-fr"],
    )
    assert (en.language, fr.language, report.language) == ("en", "fr", "fr")
    assert en.kind == "news"
    assert fr.translation_of == en.id and en.translation_of is None
    assert en.alternates == {"fr": f"{server.base}/nouvelles/consultations"}
    assert fr.alternates == {"en": f"{server.base}/news/consultations"}
    assert (
        en.text
        == "Third-party consultations now use a single form.\n\nThe deadline extension notice is unchanged."
    )
    assert fr.text.startswith("Les consultations de tiers utilisent désormais un seul formulaire.")
    assert en.created == datetime(2024, 3, 1, 14, 0, tzinfo=UTC)
    assert en.modified == datetime(2024, 3, 4, 15, 0, tzinfo=UTC)
    assert en.contributions[0].person == Person("Tremblay, Geneviève", "genevieve.tremblay@atip.example")
    assert en.tags == ("access to information", "consultations")
    # no author on the entry: the feed's author speaks for it; no content: the summary
    assert report.contributions[0].person == Person("ATIP Secretariat", "atip@tbs.example")
    assert report.text == "Le rapport annuel sur l'application de la Loi a été déposé au Parlement."
    assert report.created == report.modified == datetime(2024, 2, 20, 15, 0, tzinfo=UTC)


def test_incremental_yields_only_newer_entries(server, http):
    full = run_connector(make(server, http, "news.atom"))
    checkpoint = full.items[-1]
    feed = f"{server.base}/news.atom"
    assert checkpoint.state == {"feeds": {feed: {"updated": "2024-03-04T15:05:00+00:00"}}}
    assert run_connector(make(server, http, "news.atom"), checkpoint).docs == []
    # a checkpoint saved before a source could read several feeds still works
    one_feed = Checkpoint({"updated": "2024-03-04T15:05:00+00:00"})
    assert run_connector(make(server, http, "news.atom"), one_feed).docs == []
    add_atom_entry(server)
    again = run_connector(make(server, http, "news.atom"), checkpoint)
    assert [doc.id for doc in again.docs] == ["blog:urn:uuid:news-3-fr"]
    assert again.items[-1].state["feeds"][feed]["updated"] > checkpoint.state["feeds"][feed]["updated"]


def test_not_a_feed_is_a_config_error(server, http):
    with pytest.raises(
        ConnectorConfigError, match=r"not-a-feed.html is not a readable RSS or Atom feed .*: check url"
    ):
        list(make(server, http, "not-a-feed.html").documents())


def test_missing_feed_and_bad_settings(server, http):
    with pytest.raises(ConnectorConfigError, match=r"nowhere.rss answered HTTP 404: check url"):
        make(server, http, "nowhere.rss").check()
    with pytest.raises(ConnectorConfigError, match="kind 'file' is not one of"):
        make(server, http, "blog.rss", kind="file").check()


# -- the feeds of a real WordPress (tests/servers/wordpress.py) -------------------------------


@pytest.fixture(scope="session")
def wp(request):
    reason = wordpress.missing()
    if reason:
        pytest.fail(reason)  # as for the other real servers: never a silent skip
    return wordpress.shared(request)


def wp_feed(wp, http, feed: str = "rss2", **settings) -> FeedConnector:
    values = {"url": f"{wp.base}/?feed={feed}", **settings}
    return FeedConnector(SourceContext(id="blog", agency="pspc", kind="feed"), FeedSettings(**values), http)


class TestWordPressAtomConformance(ConnectorConformance):
    example_settings = {
        "url": "https://blog.example.gc.ca/?feed=atom",
        "urls": ["https://blog.example.gc.ca/?feed=rss2"],
    }

    @pytest.fixture
    def make_connector(self, wp, http):
        return lambda: wp_feed(wp, http, "atom")

    @pytest.fixture
    def mutate_source(self, wp):
        post = wp.post_id("offers-fr")
        return lambda: wp.update_post(post, post_content=f"<p>Vérifiez le plafond ({time.time()}).</p>")


def test_wordpress_feed_authors_categories_and_commenters(wp, http):
    run = run_connector(wp_feed(wp, http))
    docs = {doc.url: doc for doc in run.docs}
    posts = wp.ids["posts"]
    offers = docs[f"{wp.base}/?p={posts['offers-en']}"]
    assert (
        offers.id == f"blog:{wp.base}/?p={posts['offers-en']}" and offers.title == "Standing offers explained"
    )
    assert offers.tags == ("Procurement", "call-ups", "standing offers")
    assert [(c.person, c.role) for c in offers.contributions if c.role is Role.AUTHOR] == [
        (Person("Wei Chen"), Role.AUTHOR)
    ]
    # the comment feed (wfw:commentRss) names the commenters; the author's reply is no comment of a commenter
    commenters = {c.person.name: c for c in offers.contributions if c.role is Role.COMMENTER}
    assert set(commenters) == {"Priya Singh", "Jean Dupont"}
    assert commenters["Priya Singh"].time == datetime(2024, 3, 7, 10, 0, tzinfo=UTC)
    assert commenters["Jean Dupont"].size == len("Merci, très utile!")
    flags = docs[f"{wp.base}/?p={posts['red-flags']}"]
    assert "Cheap Pills" not in {c.person.name for c in flags.contributions}  # held for moderation
    assert f"{wp.base}/?p={posts['private-case']}" not in docs
    assert docs[f"{wp.base}/?p={posts['offers-fr']}"].contributions[0].person.name == "Marc-André Roy"


def test_wordpress_atom_feed_replies_links_give_the_commenters(wp, http):
    docs = {doc.url: doc for doc in run_connector(wp_feed(wp, http, "atom")).docs}
    offers = docs[f"{wp.base}/?p={wp.post_id('offers-en')}"]
    assert [c.person.name for c in offers.contributions if c.role is Role.AUTHOR] == ["Wei Chen"]
    commenters = {c.person.name for c in offers.contributions if c.role is Role.COMMENTER}
    assert commenters == {"Priya Singh", "Jean Dupont"}


def test_wordpress_feed_unchanged_costs_one_304(wp, tmp_path):
    session = HttpSession(HttpSettings(min_delay=0, jitter=0, max_retries=0), cache=HttpCache(tmp_path))
    try:
        full = run_connector(wp_feed(wp, session))
        assert full.docs
        host = wp.base.split("//")[1]
        before = session.stats.requests[host]
        again = run_connector(wp_feed(wp, session), full.items[-1])
        # the feed answered 304: no entry, no comment feed, the same checkpoint
        assert again.docs == [] and session.stats.requests[host] - before == 1
        assert session.stats.not_modified == 1
        assert again.items[-1] == full.items[-1]
    finally:
        session.close()


def test_wordpress_several_feeds_are_one_source(wp, http):
    alone = run_connector(wp_feed(wp, http))
    feeds = [f"{wp.base}/?feed=atom", f"{wp.base}/?feed=rss2&tag=standing-offers"]
    together = run_connector(wp_feed(wp, http, urls=feeds))
    # the same posts through three feeds: each one document, once
    assert sorted(together.doc_ids) == sorted(alone.doc_ids)
    assert set(together.items[-1].state["feeds"]) == {f"{wp.base}/?feed=rss2", *feeds}
    assert set(wp_feed(wp, http, urls=feeds).ids()) == set(alone.doc_ids)


def test_wordpress_new_comment_found_by_the_comment_count(wp, http):
    full = run_connector(wp_feed(wp, http))
    telework = wp.post_id("telework")
    wp.add_comment(
        telework, "Luc Girard", "luc.girard@ssc.example", "<p>Same here.</p>", "2024-05-02 10:00:00"
    )
    # the post did not change, but its slash:comments did: it is read again, with its commenter
    again = run_connector(wp_feed(wp, http), full.items[-1])
    assert [d.url for d in again.docs] == [f"{wp.base}/?p={telework}"]
    commenters = [c.person.name for c in again.docs[0].contributions if c.role is Role.COMMENTER]
    assert commenters == ["Luc Girard"]
    assert run_connector(wp_feed(wp, http), again.items[-1]).docs == []
