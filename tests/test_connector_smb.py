"""The smb connector against a real Samba on loopback (Debian's ``samba``, started once
per session by tests/servers/samba.py) with a user and password: the conformance suite,
authors from the files' metadata, incremental runs by last-write time and size then
content hash, deletions, a folder the account may not list, a restricted folder's
canary through search, and check()'s messages for a wrong password, a missing share or
folder and a server that is not there."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from config.loader import SourceConfig
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
from connectors.extract import IsolatedExtractor
from connectors.smb import SmbConnector, SmbSettings
from connectors.testing import ConnectorConformance, guarded, run_connector
from crawler.runner import Savoir
from indexer.search import Searcher, SearchRequest
from tests.conftest import free_port, make_settings
from tests.servers import samba as server
from tests.test_connector_files import ATIP_MD
from tests.test_connector_webdav import CANARY, build_share, md


@pytest.fixture(autouse=True)
def _needs_samba():
    # a missing server fails, never skips (as for the other real servers)
    if not server.installed():
        pytest.fail(f"Debian's samba is not installed: {server.INSTALL}")


@pytest.fixture(scope="session")
def smb():
    running = server.SambaServer().start()
    try:
        build_share(running.share)
        # the account maps to Unix nobody: a folder only root may enter cannot be listed
        os.chmod(running.share / "partial" / "locked", 0o700)
        yield running
    finally:
        running.stop()


def make(smb, folder: str = "docs", **settings: Any) -> SmbConnector:
    values = {
        "share": rf"{smb.unc}\{folder}" if folder else smb.unc,
        "port": smb.port,
        "user": server.USER,
        "password": server.PASSWORD,
        "exclude": ["drafts/"],
        "folder_acl": {"restricted/cases": ["hr-advisors"], "restricted": "hr-managers"},
        **settings,
    }
    return SmbConnector(SourceContext(id="smb", agency="pspc", kind="smb"), SmbSettings(**values), None)


def by_rel(run) -> dict[str, Document]:
    return {doc.id.removeprefix("smb:"): doc for doc in run.docs}


class TestSmbConformance(ConnectorConformance):
    example_settings = {
        "share": r"\\files.example.gc.ca\policies\guides",
        "user": r"PSPC\savoir",
        "password": "secret",
        "folder_acl": {"hr": ["hr-advisors"]},
    }

    @pytest.fixture
    def make_connector(self, smb):
        return lambda: make(smb)

    @pytest.fixture
    def mutate_source(self, smb):
        path = smb.share / "docs" / "guides" / "atip.md"
        return lambda: path.write_text(ATIP_MD + f"\nRévisé le {time.time()}.\n", encoding="utf-8")


def test_documents_authors_urls_and_failures(smb):
    run = run_connector(make(smb))
    docs = by_rel(run)
    assert sorted(docs) == [
        "Notes de réunion/été 2024.md",
        "guides/atip.md",
        "reports/annual.pdf",
        "reports/budget.xlsx",
        "reports/deck.pptx",
        "reports/policy.docx",
        "reports/procedure.odt",
        "restricted/cases/canary.md",
    ]
    policy = docs["reports/policy.docx"]
    assert [(c.person.name, c.role) for c in policy.contributions] == [
        ("Wei Chen", Role.AUTHOR),
        ("Samira Haddad", Role.EDITOR),
    ]
    assert policy.url == "smb://127.0.0.1/docs/docs/reports/policy.docx"
    assert docs["reports/annual.pdf"].contributions[0].person == Person("Jean Dupuis")
    assert [c.person.name for c in docs["reports/procedure.odt"].contributions] == [
        "Hélène Côté",
        "Priya Natarajan",
    ]
    summer = docs["Notes de réunion/été 2024.md"]
    assert summer.url == "smb://127.0.0.1/docs/docs/Notes%20de%20r%C3%A9union/%C3%A9t%C3%A9%202024.md"
    assert summer.contributions[0].person.name == "Hélène Côté"
    assert [(f.ref, f.reason) for f in run.failures] == [
        ("smb:reports/broken.pdf", "reports/broken.pdf: truncated PDF (no %%EOF marker at its end)")
    ]
    assert sorted((e.ref, e.kind) for e in run.items if isinstance(e, Exclusion)) == [
        ("smb:chart.png", "type")
    ]
    # modified times come from the file when its metadata has none
    mtime = (smb.share / "docs" / "restricted" / "cases" / "canary.md").stat().st_mtime
    assert abs(docs["restricted/cases/canary.md"].modified.timestamp() - mtime) < 0.01


def test_restricted_folder_acl_and_folder_tags(smb):
    connector = make(smb, folder_tags={"reports": ["rapports", "annual-cycle"]})
    docs = by_rel(run_connector(connector))
    assert docs["restricted/cases/canary.md"].acl == ("hr-advisors",)
    assert all(doc.acl is None for rel, doc in docs.items() if not rel.startswith("restricted/"))
    assert connector.acl_for("restricted/memo.md") == ("hr-managers",)
    assert set(docs["reports/annual.pdf"].tags) >= {"rapports", "annual-cycle"}
    assert "rapports" not in docs["guides/atip.md"].tags
    with pytest.raises(ConnectorConfigError, match=r"folder_acl\['hr'\] must be a list of group names"):
        make(smb, folder_acl={"hr": [1]}).check()


def test_restricted_canary_reaches_only_its_group_through_search(smb, tmp_path):
    source = SourceConfig(
        id="share",
        kind="smb",
        agency="pspc",
        acl=["public"],
        settings={
            "share": rf"{smb.unc}\docs",
            "port": smb.port,
            "user": server.USER,
            "password": server.PASSWORD,
            "folder_acl": {"restricted/cases": ["hr-advisors"]},
        },
    )
    savoir = Savoir(make_settings(tmp_path), [source])
    try:
        (report,) = savoir.crawl()
        assert report.status in ("success", "partial"), report.summary()
        canary = "share:restricted/cases/canary.md"
        assert canary in savoir.store.live_ids("share")
        searcher = Searcher(savoir.open_index(), savoir.store)

        def ids(query: str, groups: tuple[str, ...]) -> set[str]:
            return {hit.id for hit in searcher.search(SearchRequest(query, groups=groups, page_size=50)).hits}

        assert canary not in ids("salary review", ("public",))
        assert canary not in ids("salary review", ("public", "hr-managers"))
        assert canary in ids("salary review", ("hr-advisors",))
        assert "share:guides/atip.md" in ids("demande", ("public",))
        assert server.PASSWORD not in report.summary()
    finally:
        savoir.close()
    assert CANARY  # the same canary text as the WebDAV share's


def test_incremental_reads_only_changed_files_then_sees_a_deletion(smb, monkeypatch):
    edits = smb.share / "edits"
    first = run_connector(make(smb, folder="edits"))
    assert sorted(by_rel(first)) == ["a.md", "b.md", "c.md"]
    (edits / "b.md").write_text(md("Note b", "Wei Chen", "Second text of b, longer."), encoding="utf-8")
    # a file touched without a change of content is read (its signature moved) but not re-extracted
    stat = (edits / "a.md").stat()
    os.utime(edits / "a.md", ns=(stat.st_atime_ns, stat.st_mtime_ns + 5 * 10**9))
    extracted: list[str] = []
    real = IsolatedExtractor.extract

    def counting(self, data, suffix, limits):
        extracted.append(suffix)
        return real(self, data, suffix, limits)

    monkeypatch.setattr(IsolatedExtractor, "extract", counting)
    second = run_connector(make(smb, folder="edits"), first.items[-1])
    assert [d.id for d in second.docs] == ["smb:b.md"]
    assert "Second text of b" in second.docs[0].text
    assert extracted == [".md"]
    third = run_connector(make(smb, folder="edits"), second.items[-1])
    assert third.docs == [] and extracted == [".md"]  # nothing read at all
    (edits / "c.md").unlink()
    fourth = run_connector(make(smb, folder="edits"), third.items[-1])
    assert [i for i in fourth.items if isinstance(i, Deletion)] == [Deletion("smb:c.md")]
    assert fourth.docs == []
    assert sorted(make(smb, folder="edits").ids()) == ["smb:a.md", "smb:b.md"]
    (edits / "c.md").write_text(md("Note c", "Wei Chen", "First text of c."), encoding="utf-8")


def test_a_folder_that_cannot_be_listed_is_reported_and_deletes_nothing(smb):
    run = run_connector(make(smb, folder="partial"))
    assert [d.id for d in run.docs] == ["smb:open.md"]
    assert [(f.ref, f.transient) for f in run.failures] == [("smb:locked/", True)]
    assert run.failures[0].reason == (
        "locked/: cannot list folder (STATUS_ACCESS_DENIED (0xc0000022): user 'crawler' may not list it)"
    )
    with pytest.raises(SourceUnavailableError, match=r"cannot list folder 'locked/'"):
        make(smb, folder="partial").ids()
    before = Checkpoint(
        {**run.items[-1].state, "sigs": {**run.items[-1].state["sigs"], "locked/hidden.md": "x|1"}}
    )
    again = run_connector(make(smb, folder="partial"), before)
    assert not [i for i in again.items if isinstance(i, Deletion)]
    assert "locked/hidden.md" in again.items[-1].state["sigs"]


def test_oversized_file_is_not_read(smb):
    run = run_connector(make(smb, folder="edits", max_bytes=20))
    assert {f.ref for f in run.failures} == {"smb:a.md", "smb:b.md", "smb:c.md"}
    assert all("over the 20-byte limit (max_bytes)" in f.reason for f in run.failures)


def test_wrong_password_gives_a_clear_message_without_the_password(smb):
    with pytest.raises(CredentialError) as caught:
        make(smb, password="not-the-password-42").check()
    assert str(caught.value) == (
        rf"{smb.unc}\docs refused user 'crawler' (logon failure): check user and password"
    )
    assert "not-the-password-42" not in repr(caught.value)
    with pytest.raises(CredentialError, match=r"docs needs a user name and password: set user and password$"):
        make(smb, user="", password="").check()


def test_missing_share_folder_or_server(smb):
    with pytest.raises(ConnectorConfigError, match=r"the server has no share named as in .*: check share"):
        make(smb, share=r"\\127.0.0.1\nosuchshare").check()
    with pytest.raises(ConnectorConfigError) as caught:
        make(smb, folder="nowhere").check()
    assert str(caught.value) == rf"no folder at {smb.unc}\nowhere: check share"
    with pytest.raises(ConnectorConfigError, match="share must name a server and a share"):
        make(smb, share="files.example.gc.ca").check()
    with pytest.raises(ConnectorConfigError, match="carries a user name or password"):
        make(smb, share=f"smb://crawler:{server.PASSWORD}@127.0.0.1/docs").check()
    nobody = free_port()  # nothing listens there
    with pytest.raises(SourceUnavailableError) as caught:
        make(smb, port=nobody).check()
    assert str(caught.value).startswith(f"cannot connect to 127.0.0.1 port {nobody} (")
    assert "try again later" in str(caught.value)


def test_smb_url_form_and_the_guard_lets_only_the_share_through(smb):
    connector = make(smb, folder="", share="smb://127.0.0.1/docs/edits")
    assert connector.own_connections() == [("127.0.0.1", smb.port)]
    assert sorted(connector.ids()) == ["smb:a.md", "smb:b.md", "smb:c.md"]
    with guarded() as violations, pytest.raises(SourceUnavailableError):
        connector.check()  # undeclared, the same connection is caught
    assert violations and "direct socket connection" in violations[0]


def test_password_is_a_secret_setting_and_fields_follow_the_share():
    import dataclasses

    fields = [f.name for f in dataclasses.fields(SmbSettings)]
    assert fields[:4] == ["share", "port", "user", "password"]
    assert fields.index("folder_acl") < fields.index("max_bytes") < fields.index("kind")
    meta = {f.name: f.metadata for f in dataclasses.fields(SmbSettings)}
    assert meta["password"]["secret"] is True and not meta["user"]["secret"]


def test_settings_from_toml_register_the_password_as_a_secret(smb):
    import tomllib

    from config import secrets
    from config.loader import parse_source_settings

    table = tomllib.loads(
        f'share = "smb://127.0.0.1/docs/edits"\nport = {smb.port}\nuser = "crawler"\n'
        'password = "env:SMB_PASSWORD"\n'
    )
    source = SourceConfig(id="smb", kind="smb", agency="pspc", settings=table)
    settings = parse_source_settings(source, SmbSettings, env={"SMB_PASSWORD": server.PASSWORD})
    assert settings.password == server.PASSWORD
    assert secrets.scrub(f"echo {server.PASSWORD}") == f"echo {secrets.MASK}"
    connector = SmbConnector(SourceContext(id="smb", agency="pspc", kind="smb"), settings, None)
    run = run_connector(connector)
    assert sorted(by_rel(run)) == ["a.md", "b.md", "c.md"]
    assert not any(server.PASSWORD in repr(item) for item in run.items)


def test_a_link_back_up_the_tree_is_walked_once(smb):
    loopy = smb.share / "loopy"
    (loopy / "inner").mkdir(parents=True)
    (loopy / "inner" / "note.md").write_text(md("Loop note", "Wei Chen", "Only once."), encoding="utf-8")
    (loopy / "inner" / "back").symlink_to(loopy, target_is_directory=True)  # Samba follows it
    for path in (loopy, loopy / "inner"):
        os.chmod(path, 0o755)
    run = run_connector(make(smb, folder="loopy"))
    assert run.doc_ids == ["smb:inner/note.md"]
    assert not run.failures
    excluded = {e.ref: e.reason for e in run.items if isinstance(e, Exclusion)}
    assert excluded == {
        "smb:inner/back/inner": "inner/back/inner: a folder already walked (a link back up), not walked again"
    }
