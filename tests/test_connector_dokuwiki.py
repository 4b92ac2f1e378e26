"""The dokuwiki connector against a real DokuWiki (Debian's package) on loopback.

The wiki is started once for the module and loaded with tests/fixtures/dokuwiki: pages
in English, French and both, edited through the API by several people, with minor
edits, a revert, an edit made on disk, a deleted page and a page the crawler's account
may not read. Tests that change the wiki work in the ``sandbox`` namespace.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from config.loader import HttpSettings, SourceConfig
from connectors import dokuwiki
from connectors.base import (
    Checkpoint,
    ConnectorConfigError,
    CredentialError,
    Deletion,
    Person,
    Profile,
    Role,
    SourceContext,
)
from connectors.dokuwiki import DokuWikiConnector, DokuWikiSettings
from connectors.testing import ConnectorConformance, FixtureServer, run_connector
from crawler.http import HttpSession
from crawler.runner import Savoir
from indexer.search import Searcher, SearchRequest
from tests.conftest import free_port, make_settings
from tests.servers.dokuwiki import DOKUWIKI_CODE, DokuWiki

FIXTURE = Path(__file__).parent / "fixtures" / "dokuwiki"
BOT = ("savoirbot", "bot-pass-1")
WIKI_PAGES = {
    "start",
    "official_languages:active_offer",
    "langues_officielles:offre_active",
    "accessibility:plain_language",
    "accessibilite:documents_accessibles",
    "records:retention_schedules",
    "records:file_naming",
    "records:meeting_notes",
    "atip:consultations",
    "community:news",
}


@pytest.fixture(scope="session")
def wiki():
    if not (DOKUWIKI_CODE / "doku.php").exists() or shutil.which("php") is None:
        pytest.fail(
            "DokuWiki is not installed: apt-get install dokuwiki php-cli php-xml (the .ci/run script does)"
        )
    server = DokuWiki(free_port())
    server.start()
    try:
        server.load_history(FIXTURE)
        yield server
    finally:
        server.stop()


@pytest.fixture
def http():
    session = HttpSession(HttpSettings(min_delay=0, jitter=0, max_retries=0))
    yield session
    session.close()


def make(wiki, http, **settings) -> DokuWikiConnector:
    values = {"url": wiki.base, "username": BOT[0], "password": BOT[1], **settings}
    context = SourceContext(id="dw", agency="lac", kind="dokuwiki")
    return DokuWikiConnector(context, DokuWikiSettings(**values), http)


def people(doc) -> list[tuple[str, Role, bool]]:
    return [(c.person.name, c.role, c.minor) for c in doc.contributions]


class TestDokuWikiConformance(ConnectorConformance):
    example_settings = {
        "url": "https://wiki.records.example.gc.ca/dokuwiki/",
        "username": "savoir",
        "password": "secret",
        "namespaces": ["records", "atip"],
        "communities": {"atip": "access-to-information"},
    }

    @pytest.fixture(autouse=True)
    def checkpoint_often(self, monkeypatch):
        """A checkpoint every 4 pages, so that the resume test runs on this small wiki."""
        monkeypatch.setattr(dokuwiki, "CHECKPOINT_EVERY", 4)

    @pytest.fixture
    def make_connector(self, wiki, http):
        return lambda: make(wiki, http)

    @pytest.fixture
    def mutate_source(self, wiki):
        def mutate() -> None:
            text = wiki.text("community:news")
            wiki.edit(
                "community:news", text + "\nThe spring meeting moves to the Gatineau office.\n", "mtremblay"
            )

        return mutate


def test_pages_text_titles_and_urls(wiki, http):
    run = run_connector(make(wiki, http))
    docs = {d.id.removeprefix("dw:"): d for d in run.docs if not d.id.startswith("dw:sandbox:")}
    # the deleted page is gone and the restricted one is invisible to the crawler's account
    assert set(docs) == WIKI_PAGES
    assert not run.failures and not run.deletions
    offer = docs["official_languages:active_offer"]
    assert offer.url == f"{wiki.base}/doku.php?id=official_languages:active_offer"
    assert offer.title == "Active offer of service in both official languages"
    assert offer.kind == "page" and offer.language is None and offer.acl is None
    assert offer.text.startswith(
        "Active offer of service in both official languages\n\nAn active offer means letting the public know"
    )
    assert "At the counter\n\nGreet every visitor" in offer.text
    assert "Reply in the language the person used." in offer.text  # the minor edit
    assert "On the telephone\n\nRecord the voicemail greeting" in offer.text  # jsingh's edit
    french = docs["langues_officielles:offre_active"]
    assert french.title == "L'offre active de services dans les deux langues officielles"
    assert "transfère l'appel immédiatement à un collègue" in french.text
    assert "Par écrit\n\nRépondez dans la langue employée" in french.text
    mixed = docs["records:file_naming"]
    assert mixed.title == "File naming conventions / Conventions de nommage des fichiers"
    assert "Start with the date in ISO format" in mixed.text and "Commencez par la date" in mixed.text
    retention = docs["records:retention_schedules"]
    assert "destroyed as soon as the file is closed" not in retention.text  # reverted
    plain = docs["accessibility:plain_language"]
    assert "Use short sentences, everyday words and the active voice." in plain.text  # edited on disk
    assert "See also Produire des documents accessibles." in plain.text
    assert "\n\n\n" not in plain.text


def test_contributions_roles_and_minor_edits(wiki, http):
    docs = {d.id.removeprefix("dw:"): d for d in run_connector(make(wiki, http)).docs}
    author, editor = Role.AUTHOR, Role.EDITOR
    assert people(docs["official_languages:active_offer"]) == [
        ("mtremblay", author, False),
        ("jsingh", editor, False),
        ("agagnon", editor, True),  # a minor edit weighs nothing
    ]
    assert people(docs["langues_officielles:offre_active"]) == [
        ("agagnon", author, False),
        ("mtremblay", editor, False),
        ("jsingh", editor, True),
    ]
    # the edit made on disk has no user and is ignored; the author's own later edit adds nothing
    assert people(docs["accessibility:plain_language"]) == [
        ("lchen", author, False),
        ("mtremblay", editor, False),
    ]
    # a revert weighs nothing; the reverted edit still shows who worked on the page
    assert people(docs["records:retention_schedules"]) == [
        ("jsingh", author, False),
        ("lchen", editor, False),
        ("wikiadmin", editor, True),
    ]
    assert people(docs["records:file_naming"]) == [("agagnon", author, False), ("lchen", editor, False)]
    assert people(docs["atip:consultations"]) == [("lchen", author, False)]
    offer = docs["official_languages:active_offer"]
    assert offer.contributions[0].person == Person("mtremblay", username="mtremblay")
    times = [c.time for c in offer.contributions]
    assert offer.created == times[0] < times[1] < times[2] == offer.modified
    assert offer.created.tzinfo is UTC and offer.created > datetime(2020, 1, 1, tzinfo=UTC)


def test_namespaces_communities_and_ids(wiki, http):
    connector = make(
        wiki,
        http,
        namespaces=["records", "atip:"],
        communities={"records": "records-management", "atip": ["access-to-information", "privacy"]},
    )
    run = run_connector(connector)
    by_id = {d.id: d for d in run.docs}
    assert set(by_id) == {
        "dw:records:retention_schedules",
        "dw:records:file_naming",
        "dw:records:meeting_notes",
        "dw:atip:consultations",
    }
    assert by_id["dw:records:file_naming"].communities == ("records-management",)
    assert by_id["dw:atip:consultations"].communities == ("access-to-information", "privacy")
    assert sorted(connector.ids()) == sorted(by_id)
    connector.check()


def test_check_says_what_to_fix(wiki, http, tmp_path):
    make(wiki, http).check()
    with pytest.raises(
        ConnectorConfigError, match=r"xmlrpc.php answered HTTP 404: no DokuWiki API there; check url"
    ):
        make(wiki, http, url=f"{wiki.base}/nowiki").check()
    with (
        FixtureServer(tmp_path) as not_a_wiki,
        pytest.raises(ConnectorConfigError, match="HTTP 501: check url"),
    ):
        make(wiki, http, url=not_a_wiki.base).check()
    with pytest.raises(ConnectorConfigError, match="is not an http"):
        make(wiki, http, url="wiki.example/dokuwiki").check()
    with pytest.raises(
        CredentialError, match="refused the login of 'savoirbot': check username and password"
    ):
        make(wiki, http, password="wrong").check()
    with pytest.raises(
        CredentialError, match=r"refused dokuwiki.getVersion to anonymous clients \(HTTP 401\)"
    ):
        make(wiki, http, username="", password="").check()
    with pytest.raises(CredentialError, match=r"user 'visitor' may not call .*'remoteuser' setting"):
        make(wiki, http, username="visitor", password="visitor-pass-1").check()
    with pytest.raises(
        ConnectorConfigError, match=r"namespace 'finance'; top namespaces it can read: .*records"
    ):
        make(wiki, http, namespaces=["finance"]).check()
    wiki.set_config(remote=0)
    try:
        with pytest.raises(
            ConnectorConfigError, match=r"the wiki's API is disabled: an admin must turn on 'remote'"
        ):
            make(wiki, http).check()
    finally:
        wiki.set_config(remote=1)
    # the URL of a page or of doku.php is taken to mean the wiki
    assert make(wiki, http, url=f"{wiki.base}/doku.php?id=start")._client().base == wiki.base


def test_incremental_fetches_changes_and_deletions_only(wiki, http):
    ns = "sandbox:incremental"
    for name, user in (("one", "lchen"), ("two", "jsingh"), ("three", "agagnon")):
        wiki.edit(f"{ns}:{name}", f"====== Page {name} ======\n\nFirst text of page {name}.\n", user)
    full = run_connector(make(wiki, http, namespaces=[ns]))
    assert sorted(full.doc_ids) == [f"dw:{ns}:one", f"dw:{ns}:three", f"dw:{ns}:two"]
    end = full.items[-1]

    wiki.edit(f"{ns}:one", "====== Page one ======\n\nSecond text of page one.\n", "mtremblay")
    wiki.edit(f"{ns}:two", "====== Page two ======\n\nFirst text of page two!\n", "lchen", minor=True)
    wiki.delete(f"{ns}:three", "wikiadmin")
    before = sum(http.stats.requests.values())
    incremental = run_connector(make(wiki, http, namespaces=[ns]), end)
    requests_made = sum(http.stats.requests.values()) - before
    assert sorted(incremental.doc_ids) == [f"dw:{ns}:one", f"dw:{ns}:two"]
    assert incremental.deletions == [Deletion(f"dw:{ns}:three")]
    # login, time, recent changes, then a history and a page for each changed page, and
    # the user page of the one newcomer (mtremblay): the others' were read by the full run
    assert requests_made == 3 + 2 * 2 + 1
    docs = {d.id: d for d in incremental.docs}
    assert people(docs[f"dw:{ns}:one"]) == [("lchen", Role.AUTHOR, False), ("mtremblay", Role.EDITOR, False)]
    assert people(docs[f"dw:{ns}:two"]) == [("jsingh", Role.AUTHOR, False), ("lchen", Role.EDITOR, True)]

    # nothing new: nothing fetched, and the pages read at the checkpoint's second are not read again
    checkpoint = incremental.items[-1]
    assert isinstance(checkpoint, Checkpoint) and checkpoint.state["since"] >= end.state["since"]
    again = run_connector(make(wiki, http, namespaces=[ns]), checkpoint)
    assert again.docs == [] and again.deletions == []
    assert again.items[-1].state["since"] == checkpoint.state["since"]

    # DokuWiki trims its recent changes after a week: an older checkpoint walks every page
    stale = Checkpoint({"since": checkpoint.state["since"] - 8 * 86400, "done": []})
    walked = run_connector(make(wiki, http, namespaces=[ns]), stale)
    assert sorted(walked.doc_ids) == [f"dw:{ns}:one", f"dw:{ns}:two"]
    assert walked.items[-1].state["since"] >= checkpoint.state["since"]


def test_resumed_walk_catches_edits_behind_its_cursor(wiki, http, monkeypatch):
    monkeypatch.setattr(dokuwiki, "CHECKPOINT_EVERY", 2)
    ns = "sandbox:resume"
    for name in ("a", "b", "c", "d", "e"):
        wiki.edit(f"{ns}:{name}", f"====== Memo {name} ======\n\nFirst memo {name}.\n", "agagnon")
    full = run_connector(make(wiki, http, namespaces=[ns]))
    cursors = [item for item in full.items[:-1] if isinstance(item, Checkpoint)]
    assert [c.state["after"] for c in cursors] == [f"{ns}:b", f"{ns}:d"]
    # the run stopped after b; then someone edits a, behind the cursor
    wiki.edit(f"{ns}:a", "====== Memo a ======\n\nSecond memo a.\n", "lchen")
    resumed = run_connector(make(wiki, http, namespaces=[ns]), cursors[0])
    # the rest of the walk, and a; b is read again only if it changed in the second the walk began
    assert {f"dw:{ns}:{n}" for n in "acde"} <= set(resumed.doc_ids) <= {f"dw:{ns}:{n}" for n in "abcde"}
    assert len(resumed.doc_ids) == len(set(resumed.doc_ids))
    assert resumed.items[-1].state["since"] >= cursors[0].state["since"]
    assert "after" not in resumed.items[-1].state


def test_page_written_on_disk_is_read_without_author(wiki, http):
    page = "sandbox:disk:only"
    wiki.external_edit(page, "====== Server notice ======\n\nWritten on the server, not in the wiki.\n")
    try:
        connector = make(wiki, http, namespaces=["sandbox:disk"])
        (doc,) = run_connector(connector).docs
        assert (doc.id, doc.title, doc.contributions) == (f"dw:{page}", "Server notice", ())
        assert doc.created is not None and list(connector.ids()) == [f"dw:{page}"]
    finally:
        (wiki.data / "pages" / "sandbox" / "disk" / "only.txt").unlink()


def test_recreated_page_belongs_to_its_new_author(wiki, http):
    page = "sandbox:recreated"
    wiki.edit(page, "====== Old memo ======\n\nOld text.\n", "jsingh")
    wiki.delete(page, "wikiadmin")
    wiki.edit(page, "====== New memo ======\n\nNew text by someone else.\n", "agagnon")
    wiki.edit(page, "====== New memo ======\n\nNew text by someone else, reviewed.\n", "lchen")
    (doc,) = [d for d in run_connector(make(wiki, http, namespaces=["sandbox"])).docs if d.id == f"dw:{page}"]
    assert doc.title == "New memo"
    assert people(doc) == [("agagnon", Role.AUTHOR, False), ("lchen", Role.EDITOR, False)]


def test_sync_deletes_and_updates_what_changed(wiki, tmp_path):
    ns = "sandbox:sync"
    for name in ("procurement", "telework", "obsolete"):
        text = f"====== {name.title()} memo ======\n\nThe {name} memo of the records team, zorblax edition.\n"
        wiki.edit(f"{ns}:{name}", text, "jsingh")
    source = SourceConfig(
        id="lacwiki",
        kind="dokuwiki",
        agency="lac",
        settings={"url": wiki.base, "username": BOT[0], "password": BOT[1]},
    )
    savoir = Savoir(make_settings(tmp_path, http={"min_delay": 0, "jitter": 0, "max_retries": 0}), [source])
    try:

        def found(query: str) -> set[str]:
            request = SearchRequest(query, groups=("public",), page_size=50)
            return {hit.id for hit in Searcher(savoir.open_index(), savoir.store).search(request).hits}

        (first,) = savoir.crawl()
        assert (first.mode, first.status, first.failed) == ("full", "success", 0)
        assert first.added == first.fetched >= len(WIKI_PAGES) + 3
        assert found("zorblax") == {
            f"lacwiki:{ns}:procurement",
            f"lacwiki:{ns}:telework",
            f"lacwiki:{ns}:obsolete",
        }

        wiki.delete(f"{ns}:obsolete", "wikiadmin", "No longer applies")
        (second,) = savoir.crawl()
        assert (second.mode, second.status, second.deleted, second.fetched) == (
            "incremental",
            "success",
            1,
            0,
        )
        assert found("zorblax") == {f"lacwiki:{ns}:procurement", f"lacwiki:{ns}:telework"}
        assert f"lacwiki:{ns}:obsolete" not in savoir.store.live_ids("lacwiki")
        assert savoir.store.runs("lacwiki")[0]["deleted"] == 1

        wiki.edit(
            f"{ns}:procurement", "====== Procurement memo ======\n\nStanding offers, zorblax.\n", "lchen"
        )
        wiki.edit(
            f"{ns}:telework", "====== Telework memo ======\n\nTelework agreements, zorblax.\n", "agagnon"
        )
        (third,) = savoir.crawl()
        assert (third.mode, third.fetched, third.updated, third.added, third.deleted) == (
            "incremental",
            2,
            2,
            0,
            0,
        )
        run = savoir.store.runs("lacwiki")[0]
        # robots.txt, login, time, recent changes, then a history and a page for each changed page
        assert sum(run["requests"].values()) == 4 + 2 * 2
        assert found("standing offers") == {f"lacwiki:{ns}:procurement"}
    finally:
        savoir.close()


ADMIN = ("wikiadmin", "admin-pass-1")


def test_privileged_account_with_the_wikis_acl_keeps_restricted_pages_restricted(wiki, http):
    """A superuser crawl reads private:* too; the wiki's ACL says only @admin may read it."""
    groups = {"user": "staff", "admin": ["wiki-admins"]}
    run = run_connector(make(wiki, http, username=ADMIN[0], password=ADMIN[1], acl_groups=groups))
    docs = {d.id.removeprefix("dw:"): d for d in run.docs}
    assert docs["private:salaries"].acl == ("wiki-admins",)
    assert all(d.acl == ("staff",) for page, d in docs.items() if not page.startswith("private:"))


def test_a_namespace_acl_in_the_settings_wins(wiki, http):
    settings = {"namespace_acl": {"private": ["hr"], "records": "records-team"}}
    run = run_connector(make(wiki, http, username=ADMIN[0], password=ADMIN[1], **settings))
    docs = {d.id.removeprefix("dw:"): d for d in run.docs}
    assert docs["private:salaries"].acl == ("hr",)
    assert docs["records:file_naming"].acl == ("records-team",)
    assert docs["official_languages:active_offer"].acl is None  # the source's acl


def test_reading_the_acl_needs_a_superuser_and_says_so(wiki, http):
    with pytest.raises(ConnectorConfigError, match="acl_groups is set but the wiki's ACL cannot be read"):
        make(wiki, http, acl_groups={"user": "public"}).check()


def test_restricted_canary_reaches_only_its_group_through_search(wiki, tmp_path):
    source = SourceConfig(
        id="lacwiki",
        kind="dokuwiki",
        agency="lac",
        settings={
            "url": wiki.base,
            "username": ADMIN[0],
            "password": ADMIN[1],
            "acl_groups": {"user": "public", "admin": "wiki-admins"},
        },
    )
    savoir = Savoir(make_settings(tmp_path, http={"min_delay": 0, "jitter": 0, "max_retries": 0}), [source])
    try:
        (report,) = savoir.crawl()
        assert report.status == "success", report.summary()
        canary = "lacwiki:private:salaries"
        assert canary in savoir.store.live_ids("lacwiki")
        searcher = Searcher(savoir.open_index(), savoir.store)

        def ids(groups: tuple[str, ...]) -> set[str]:
            request = SearchRequest("salaries", groups=groups, page_size=50)
            return {hit.id for hit in searcher.search(request).hits}

        assert canary not in ids(("public",))
        assert canary in ids(("wiki-admins",))
    finally:
        savoir.close()


def test_signatures_and_user_pages_name_the_people_behind_logins(wiki, http):
    ns = "sandbox:identity"
    signed = (
        "====== Retention questions ======\n\nHow long do we keep drafts?\n\n"
        " --- //[[marie.tremblay@clo.example|Marie Tremblay]] 2024/01/02 10:00//\n\n"
        # a quoted signature of someone who never edited this page says nothing about them
        "As [[li.chen@ssc.example|Li Chen]] wrote last year, two years.\n"
    )
    wiki.edit(f"{ns}:retention", signed, "mtremblay")
    wiki.edit(f"{ns}:retention", signed + "\nDrafts: see the schedule.\n", "jsingh")
    wiki.edit("user:jsingh", "====== Jasdeep Singh ======\n\nEmail: jasdeep.singh@lac.example\n", "jsingh")
    # a user page headed with something other than its owner's name gives no name
    wiki.edit("user:mtremblay", "====== About me ======\n\nRecords and archives.\n", "mtremblay")
    run = run_connector(make(wiki, http, namespaces=[ns]))
    profiles = {p.username: p for p in run.items if isinstance(p, Profile)}
    assert profiles["mtremblay"].name == "Marie Tremblay"
    assert profiles["mtremblay"].email == "marie.tremblay@clo.example"
    assert profiles["mtremblay"].evidence.startswith("signature on ")
    assert (profiles["jsingh"].name, profiles["jsingh"].email) == ("Jasdeep Singh", "jasdeep.singh@lac.example")
    assert profiles["jsingh"].evidence.endswith("user:jsingh")
    assert "lchen" not in profiles
    # without user pages, only signatures speak
    quiet = run_connector(make(wiki, http, namespaces=[ns], user_namespace=""))
    assert {p.username for p in quiet.items if isinstance(p, Profile)} == {"mtremblay"}


def test_people_on_discussion_pages_are_commenters(wiki, http):
    wiki.edit("discussion:retention", "====== Retention talk ======\n\nShould drafts be kept?\n", "lchen")
    wiki.edit("discussion:retention", "====== Retention talk ======\n\nShould drafts be kept?\n\nNo.\n", "jsingh")
    run = run_connector(make(wiki, http, namespaces=["discussion"]))
    talk = next(d for d in run.docs if d.id == "dw:discussion:retention")
    assert {(c.person.username, c.role) for c in talk.contributions} == {
        ("lchen", Role.COMMENTER),
        ("jsingh", Role.COMMENTER),
    }
    plain = run_connector(make(wiki, http, namespaces=["discussion"], discussion_namespaces=[]))
    assert Role.AUTHOR in {c.role for d in plain.docs for c in d.contributions}
