"""The mediawiki connector against a real MediaWiki (Debian's package) on loopback.

The wiki (tests/servers/mediawiki.py) holds the pages of tests/fixtures/mediawiki,
edited by four people, a bot and an anonymous visitor, with one page moved and one
deleted. Tests that change the wiki change pages no other test looks at, or create
their own.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest

from config.loader import HttpSettings, SourceConfig
from connectors.base import (
    Checkpoint,
    ConnectorConfigError,
    CredentialError,
    Document,
    Person,
    Profile,
    Role,
    SourceContext,
    SourceUnavailableError,
)
from connectors.mediawiki import MediaWikiConnector, MediaWikiSettings
from connectors.testing import ConnectorConformance, FixtureServer, run_connector
from crawler.http import HttpSession
from crawler.runner import Savoir
from indexer.search import Searcher, SearchRequest
from tests.conftest import free_port, make_settings
from tests.servers import mediawiki as server

COMMUNITIES = {
    "Access to information": "atip",
    "Procurement": "procurement",
    "Approvisionnement": "procurement",
}
BOT_LOGIN = {"username": server.CRAWLER_LOGIN, "password": server.CRAWLER_PASSWORD}


@pytest.fixture(scope="session")
def wiki():
    if not server.installed():
        pytest.fail(
            "MediaWiki is not installed: apt-get install mediawiki php-cli php-sqlite3 sqlite3 (.ci/run does)"
        )
    wiki = server.MediaWiki.with_test_pages()
    yield wiki
    wiki.stop()


class RecordingSession(HttpSession):
    """The crawler's session, remembering what each API request asked for."""

    def __init__(self) -> None:
        super().__init__(HttpSettings(min_delay=0, jitter=0, max_retries=0))
        self.asked: list[str] = []

    def request(self, method: str, url: str, **kwargs: Any):
        if url.endswith("/robots.txt"):  # the session's own politeness, not an API request
            return super().request(method, url, **kwargs)
        params = kwargs.get("params") or kwargs.get("data") or {}
        action = params.get("action", "?")
        what = [params[k] for k in ("meta", "list", "generator", "prop") if k in params and action == "query"]
        self.asked.append(" ".join([action, *what[:1]]))
        return super().request(method, url, **kwargs)


@pytest.fixture
def http():
    session = RecordingSession()
    yield session
    session.close()


def make(api: str, http: HttpSession, **settings: Any) -> MediaWikiConnector:
    values = {"api_url": api, "communities": COMMUNITIES, **settings}
    context = SourceContext(id="wiki", agency="records", kind="mediawiki")
    return MediaWikiConnector(context, MediaWikiSettings(**values), http)


def by_title(docs: list[Document]) -> dict[str, Document]:
    return {doc.title: doc for doc in docs}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class TestMediaWikiConformance(ConnectorConformance):
    example_settings = {
        "api_url": "https://wiki.example.org/w/api.php",
        "namespaces": ["0", "Help"],
        "username": "Savoir@crawler",
        "password": "a bot password",
        "communities": {"Access to information": "atip"},
    }

    @pytest.fixture
    def make_connector(self, wiki, http):
        # small batches, so that the full run has mid-run checkpoints to resume from
        return lambda: make(wiki.api, http, batch_size=4)

    @pytest.fixture
    def mutate_source(self, wiki):
        return lambda: wiki.edit("Security screening", f"Reliability status: {time.time_ns()}", "Wei Chen")


def test_full_load_maps_pages(wiki, http):
    run = run_connector(make(wiki.api, http))
    docs = by_title(run.docs)
    assert not run.failures and not run.deletions
    assert {
        "Access to information requests",
        "Demandes d'accès à l'information",
        "Telework agreements",
        "Télétravail : foire aux questions",
        "Procurement thresholds",
        "Procurement fraud red flags",
        "Official languages checklist",
    } <= set(docs)
    # deleted, moved away (a redirect is left), another namespace: not documents
    assert not {"Obsolete travel directive", "Fraud red flags", "Template:Notice"} & set(docs)
    assert not [t for t in docs if t.startswith("Talk:")]

    atip = docs["Access to information requests"]
    assert atip.id == f"wiki:{wiki.page_id(atip.title)}"
    assert atip.url == f"{wiki.base}/index.php/Access_to_information_requests"
    assert atip.kind == "page" and atip.language is None
    assert atip.text == (
        "An access to information request must be acknowledged within 30 days of receipt.\n\n"
        "Receiving a request\n\n"
        "Log the request in the case management system on the day it arrives and note the date of receipt.\n\n"
        "Consultations\n\n"
        "When records contain third-party information, send a notice to the third party and extend "
        "the deadline only as the Act allows."
    )
    assert atip.tags == ("Access to information", "Guides")
    assert atip.communities == ("atip",)
    assert atip.created == at("2023-02-06T14:05:00") and atip.modified == at("2023-04-02T03:00:00")
    # the creator is the author (her later minor edit adds to her share); the bot is left out
    author, editor = atip.contributions
    assert (author.person, author.role, author.time, author.minor) == (
        Person("Geneviève Tremblay", username="Geneviève Tremblay"),
        Role.AUTHOR,
        at("2023-03-15T08:00:00"),
        False,
    )
    assert (editor.person.name, editor.role, editor.time, editor.size) == (
        "Wei Chen",
        Role.EDITOR,
        at("2023-03-14T10:20:00"),
        168,
    )
    assert author.size == 244 + 3

    # the anonymous edit is ignored, the bot's too; a minor-only editor is flagged minor
    telework = docs["Telework agreements"]
    assert [(c.person.name, c.role, c.minor) for c in telework.contributions] == [
        ("Priya Singh", Role.AUTHOR, False),
        ("Wei Chen", Role.EDITOR, True),
    ]
    assert telework.text.endswith("Offer an ergonomic assessment of the home workstation.")

    # the wiki sets the French pages' language; English pages follow the wiki's own
    assert docs["Demandes d'accès à l'information"].language == "fr"
    assert docs["Télétravail : foire aux questions"].language == "fr"
    assert docs["Demandes d'accès à l'information"].tags == ("Accès à l'information", "Guides")

    # templates are expanded by the parser; categories -> tags and communities
    thresholds = docs["Procurement thresholds"]
    assert thresholds.text.startswith("This page is maintained by the procurement community of practice.\n\n")
    assert "Seuils d'approvisionnement\n\nLes contrats de biens" in thresholds.text
    assert thresholds.tags == ("Approvisionnement", "Procurement")
    assert thresholds.communities == ("procurement",)

    # the moved page keeps its page id; the admin's move is a minor, zero-byte contribution
    moved = docs["Procurement fraud red flags"]
    assert moved.id == f"wiki:{wiki.moved_id}" != f"wiki:{wiki.page_id('Fraud red flags')}"
    assert [(c.person.name, c.role, c.size, c.minor) for c in moved.contributions][-1] == (
        server.ADMIN,
        Role.EDITOR,
        0,
        True,
    )


def test_requests_per_page(wiki, http):
    run = run_connector(make(wiki.api, http))
    pages = len(run.docs)
    # siteinfo, the whole history in one request, the bots, one listing batch, one parse
    # per page, and the people's user pages, 50 a request
    assert http.asked.count("parse") == pages
    assert sorted(set(http.asked)) == [
        "parse",
        "query allpages",
        "query allrevisions",
        "query allusers",
        "query revisions",
        "query siteinfo",
    ]
    assert http.asked.count("query revisions") == 1  # fewer than 50 people
    assert len(http.asked) == pages + 5


def test_bots_included_when_asked(wiki, http):
    docs = by_title(run_connector(make(wiki.api, http, exclude_bots=False)).docs)
    names = [c.person.name for c in docs["Access to information requests"].contributions]
    assert names == ["Geneviève Tremblay", "Wei Chen", server.BOT]


def test_incremental_run_fetches_only_changed_pages(wiki, http):
    time.sleep(1.1)  # changes are timed to the second: keep earlier tests' edits out of this run
    full = run_connector(make(wiki.api, http))
    wiki.edit("Records retention schedule", "Transitory records are destroyed.", "Priya Singh", minor=True)
    wiki.edit("Standing offers", "A standing offer is not a contract.", "Marc-André Roy")
    http.asked.clear()
    again = run_connector(make(wiki.api, http), full.items[-1])
    titles = by_title(again.docs)
    assert sorted(titles) == ["Records retention schedule", "Standing offers"]
    assert http.asked.count("parse") == 2
    # siteinfo, revisions + log, pages, history + parse, bots, the changed pages' people's user pages
    assert len(http.asked) == 1 + 2 + 1 + 2 * 2 + 1 + 1
    records = titles["Records retention schedule"]
    assert records.text == "Transitory records are destroyed."
    assert [(c.person.name, c.role, c.minor) for c in records.contributions] == [
        ("Geneviève Tremblay", Role.AUTHOR, False),
        ("Priya Singh", Role.EDITOR, True),
    ]
    assert (
        isinstance(again.items[-1], Checkpoint)
        and again.items[-1].state["since"] >= full.items[-1].state["since"]
    )


def test_incremental_run_sees_moves_and_deletions(wiki, http):
    wiki.edit("Parking permits", "Permits are renewed every April.", "Priya Singh")
    wiki.edit("Bike storage", "Bike rooms are on level P1.", "Wei Chen")
    time.sleep(1.1)  # changes are timed to the second: keep the edits above out of the next run
    full = run_connector(make(wiki.api, http))
    parking, bikes = by_title(full.docs)["Parking permits"], by_title(full.docs)["Bike storage"]
    wiki.move("Parking permits", "Parking permits and passes", "Broader scope")
    wiki.delete("Bike storage", "Merged into Facilities")
    again = run_connector(make(wiki.api, http), full.items[-1])
    assert [(d.id, d.title) for d in again.docs] == [(parking.id, "Parking permits and passes")]
    assert bikes.id in {d.id for d in again.deletions}
    assert bikes.id not in set(make(wiki.api, http).ids())


def test_private_wiki_needs_the_bot_password(wiki, http):
    private = wiki.serve("private")
    with pytest.raises(CredentialError, match="requires login to read: set username and password"):
        make(private, http).check()
    with pytest.raises(CredentialError, match=r"refused the login of 'Savoir@crawler' \(Incorrect username"):
        make(private, http, username=server.CRAWLER_LOGIN, password="wrong" * 7).check()
    connector = make(private, http, **BOT_LOGIN)
    connector.check()
    run = run_connector(connector)
    public = run_connector(make(wiki.api, http))
    assert sorted(run.doc_ids) == sorted(public.doc_ids)
    # the wiki forgets the session (expiry, restart): requests carry assert=user, so the
    # connector notices, logs in once more and goes on instead of reading as anonymous
    http._session.cookies.clear()
    http.asked.clear()
    assert sorted(run_connector(connector).doc_ids) == sorted(public.doc_ids)
    assert http.asked.count("login") == 1


def test_check_messages(wiki, http, tmp_path):
    with pytest.raises(
        ConnectorConfigError, match=r"/w/api.php answered HTTP 404: there is no MediaWiki API"
    ):
        make(f"{wiki.base}/w/api.php", http).check()
    with pytest.raises(
        ConnectorConfigError, match=rf"is a page of a MediaWiki wiki, not its API: set api_url to {wiki.api}$"
    ):
        make(f"{wiki.base}/index.php/Main_Page", http).check()
    with pytest.raises(
        ConnectorConfigError, match=r"\"query\" module has been disabled.* ask the wiki's admins"
    ):
        make(wiki.serve("noquery"), http).check()
    with pytest.raises(
        ConnectorConfigError,
        match=r"namespace 'recipes' does not exist .*; it has 0 \(Main\), 1 \(Talk\), 2 \(User\)",
    ):
        make(wiki.api, http, namespaces=["Recipes"]).check()
    with pytest.raises(ConnectorConfigError, match="is not an http"):
        make("wiki.example.org/api.php", http).check()
    with pytest.raises(SourceUnavailableError, match="connection failed"):
        make(f"http://127.0.0.1:{free_port()}/api.php", http).check()
    (tmp_path / "index.html").write_text("<html><body><h1>Intranet</h1></body></html>")
    (tmp_path / "api.php").write_text('{"status": "ok"}')
    with FixtureServer(tmp_path) as other:
        with pytest.raises(
            ConnectorConfigError, match=r"index.html is not a MediaWiki API \(it answered text/html"
        ):
            make(f"{other.base}/index.html", http).check()
        with pytest.raises(ConnectorConfigError, match="answered JSON but is not a MediaWiki API"):
            make(f"{other.base}/api.php", http).check()
        other.status["/api.php"] = 403  # a web server that blocks the API
        with pytest.raises(ConnectorConfigError, match="HTTP 403: the web server refuses API requests"):
            make(f"{other.base}/api.php", http).check()


def test_namespaces_by_name_or_number(wiki, http):
    docs = run_connector(make(wiki.api, http, namespaces=["Talk", "10"])).docs
    assert sorted(d.title for d in docs) == ["Talk:Access to information requests", "Template:Notice"]


def test_maxlag_stops_the_run_and_it_resumes(wiki, http):
    wiki.lag(12)
    try:
        with pytest.raises(
            SourceUnavailableError, match=r"database lags behind .*maxlag is 5s.*wait 5s: try later"
        ) as info:
            make(wiki.api, http).check()
        assert info.value.transient
    finally:
        wiki.lag(None)
    full = run_connector(make(wiki.api, http, batch_size=3))
    items = make(wiki.api, http, batch_size=3).documents()
    before = []
    for item in items:
        if isinstance(item, Checkpoint):
            checkpoint = item
            break
        before.append(item.id)
    wiki.lag(30)
    try:
        with pytest.raises(SourceUnavailableError, match="lags behind"):
            next(items)
    finally:
        wiki.lag(None)
    resumed = run_connector(make(wiki.api, http, batch_size=3), checkpoint)
    assert set(before) | set(resumed.doc_ids) == set(full.doc_ids)


def test_sync_deletes_what_the_wiki_deleted(wiki, tmp_path):
    source = SourceConfig(
        id="wiki",
        kind="mediawiki",
        agency="records",
        settings={"api_url": wiki.serve("private"), **BOT_LOGIN, "communities": COMMUNITIES},
    )
    savoir = Savoir(make_settings(tmp_path, http={"min_delay": 0, "jitter": 0}), [source])
    try:
        (first,) = savoir.crawl()
        assert (first.status, first.mode, first.failed) == ("success", "full", 0)
        carpool = f"wiki:{wiki.page_id('Carpool pilot')}"
        search = Searcher(savoir.open_index(), savoir.store)
        assert [hit.id for hit in search.search(SearchRequest("carpool Gatineau")).hits] == [carpool]
        wiki.delete("Carpool pilot", "Pilot ended")
        (second,) = savoir.crawl()
        assert (second.status, second.mode, second.deleted, second.fetched) == (
            "success",
            "incremental",
            1,
            0,
        )
        assert savoir.store.runs("wiki")[0]["deleted"] == 1
        search = Searcher(savoir.open_index(), savoir.store)
        assert search.search(SearchRequest("carpool Gatineau")).total == 0
    finally:
        savoir.close()


def test_namespace_acl_restricts_a_namespace_read_with_a_privileged_account(wiki, http):
    """MediaWiki's API does not say who may read a page: the settings do, per namespace."""
    private = wiki.serve("private")
    connector = make(
        private, http, **BOT_LOGIN, namespaces=["0", "Talk"], namespace_acl={"talk": "wiki-editors"}
    )
    docs = {d.title: d for d in run_connector(connector).docs}
    assert docs["Talk:Access to information requests"].acl == ("wiki-editors",)
    assert all(d.acl is None for title, d in docs.items() if not title.startswith("Talk:"))


def test_a_misspelt_namespace_acl_refuses_to_run(wiki, http):
    with pytest.raises(ConnectorConfigError, match="namespace_acl names 'Tlak', which does not exist"):
        make(wiki.api, http, namespace_acl={"Tlak": "x"}).check()


def test_talk_pages_make_commenters_and_user_pages_name_people(wiki, http):
    wiki.edit(
        "Talk:Standing offers",
        "== Renewal ==\nWhen is the next renewal? [[User:Wei Chen|Wei Chen]] 10:00, 2 January 2024 (UTC)\n",
        "Wei Chen",
    )
    wiki.edit("User:Wei Chen", "= Wei Chen =\nProcurement officer.\n\nEmail: wei.chen@ssc.example\n", "Wei Chen")
    run = run_connector(make(wiki.api, http, namespaces=["1"]))
    talk = by_title(run.docs)["Talk:Standing offers"]
    assert [(c.person.name, c.role) for c in talk.contributions] == [("Wei Chen", Role.COMMENTER)]
    profiles = {p.username: p for p in run.items if isinstance(p, Profile)}
    assert profiles["Wei Chen"].email == "wei.chen@ssc.example"
    assert "user page" in profiles["Wei Chen"].evidence
