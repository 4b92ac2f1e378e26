"""The webdav connector against a real Apache with mod_dav on loopback (Debian's
``apache2``, started once per session by tests/servers/webdav.py) with Basic auth:
the conformance suite, authors from the files' metadata, incremental runs that GET only
what changed (counted in Apache's access log), deletions, a restricted folder's ACL
from the source's settings, and check()'s messages for a wrong password, a missing
folder and a server that does not speak WebDAV."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from config.loader import HttpSettings
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
from connectors.webdav import WebdavConnector, WebdavSettings
from crawler.http import HttpSession
from tests.servers import webdav as server
from tests.test_connector_files import ATIP_MD, make_docx, make_odt, make_pdf
from tests.test_extract_hostile import pptx_bytes, xlsx_bytes


@pytest.fixture(autouse=True)
def _needs_apache():
    # a missing server fails, never skips (as for the other real servers)
    if not server.installed():
        pytest.fail("Debian's apache2 and apache2-utils are not installed (apt-get install them; .ci/run does)")

CANARY = "canary-webdav-5821 salary review"


def md(title: str, author: str, body: str) -> str:
    return f"---\ntitle: {title}\nauthor: {author}\n---\n# {title}\n\n{body}\n"


def build_share(share: Path) -> None:
    reports = share / "docs" / "reports"
    reports.mkdir(parents=True)
    make_pdf(reports / "annual.pdf")
    make_docx(reports / "policy.docx")
    make_odt(reports / "procedure.odt")
    (reports / "deck.pptx").write_bytes(pptx_bytes())
    (reports / "budget.xlsx").write_bytes(xlsx_bytes())
    (reports / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj <<")
    (share / "docs" / "guides").mkdir()
    (share / "docs" / "guides" / "atip.md").write_text(ATIP_MD, encoding="utf-8")
    notes = share / "docs" / "Notes de réunion"
    notes.mkdir()
    (notes / "été 2024.md").write_text(md("Réunion d'été", "Hélène Côté", "Ordre du jour."), encoding="utf-8")
    (share / "docs" / "restricted" / "cases").mkdir(parents=True)
    (share / "docs" / "restricted" / "cases" / "canary.md").write_text(
        md("Canary", "Priya Singh", CANARY), encoding="utf-8"
    )
    (share / "docs" / "drafts").mkdir()
    (share / "docs" / "drafts" / "draft.md").write_text(md("Draft", "Wei Chen", "Not yet."), encoding="utf-8")
    (share / "docs" / "chart.png").write_bytes(b"\x89PNG\r\n")
    edits = share / "edits"
    edits.mkdir()
    for name in ("a", "b", "c"):
        (edits / f"{name}.md").write_text(md(f"Note {name}", "Wei Chen", f"First text of {name}."), "utf-8")
    (share / "partial" / "locked").mkdir(parents=True)
    (share / "partial" / "open.md").write_text(md("Open", "Wei Chen", "Anyone may read this."), "utf-8")
    (share / "partial" / "locked" / "hidden.md").write_text(md("Hidden", "Wei Chen", "Locked away."), "utf-8")
    for path in share.rglob("*"):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)


@pytest.fixture(scope="session")
def dav():
    running = server.WebdavServer().start()
    try:
        build_share(running.share)
        yield running
    finally:
        running.stop()


@pytest.fixture
def http():
    session = HttpSession(HttpSettings(min_delay=0, jitter=0, max_retries=0))
    yield session
    session.close()


def make(dav, http, folder: str = "docs/", **settings: Any) -> WebdavConnector:
    values = {
        "url": dav.url + folder,
        "user": server.USER,
        "password": server.PASSWORD,
        "exclude": ["drafts/"],
        "folder_acl": {"restricted/cases": ["hr-advisors"], "restricted": "hr-managers"},
        **settings,
    }
    return WebdavConnector(
        SourceContext(id="dav", agency="pspc", kind="webdav"), WebdavSettings(**values), http
    )


def by_rel(run) -> dict[str, Document]:
    return {doc.id.removeprefix("dav:"): doc for doc in run.docs}


class TestWebdavConformance(ConnectorConformance):
    example_settings = {
        "url": "https://files.example.gc.ca/dav/policies/",
        "user": "savoir",
        "password": "secret",
        "folder_acl": {"hr": ["hr-advisors"]},
    }

    @pytest.fixture
    def make_connector(self, dav, http):
        return lambda: make(dav, http)

    @pytest.fixture
    def mutate_source(self, dav):
        path = dav.share / "docs" / "guides" / "atip.md"
        return lambda: path.write_text(ATIP_MD + f"\nRévisé le {time.time()}.\n", encoding="utf-8")


def test_documents_authors_and_urls(dav, http):
    run = run_connector(make(dav, http))
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
    assert policy.url == f"{dav.url}docs/reports/policy.docx"
    assert docs["reports/annual.pdf"].contributions[0].person == Person("Jean Dupuis")
    assert [c.person.name for c in docs["reports/procedure.odt"].contributions] == [
        "Hélène Côté",
        "Priya Natarajan",
    ]
    assert docs["reports/deck.pptx"].contributions[0].person.name == "Amélie Gagnon"
    summer = docs["Notes de réunion/été 2024.md"]
    assert summer.url == f"{dav.url}docs/Notes%20de%20r%C3%A9union/%C3%A9t%C3%A9%202024.md"
    assert summer.contributions[0].person.name == "Hélène Côté"
    assert [(f.ref, f.reason) for f in run.failures] == [
        ("dav:reports/broken.pdf", "reports/broken.pdf: truncated PDF (no %%EOF marker at its end)")
    ]
    assert sorted((e.ref, e.kind) for e in run.items if isinstance(e, Exclusion)) == [
        ("dav:chart.png", "type")
    ]
    # the excluded folder is not even listed
    assert not any("/drafts" in path for _, path in dav.requests_seen())
    assert {method for method, _ in dav.requests_seen()} <= {"OPTIONS", "PROPFIND", "GET"}


def test_walk_is_depth_one(dav, http):
    before = len(dav.requests_seen())
    connector = make(dav, http)
    real = http.request
    depths = []

    def spy(method, url, **kwargs):
        if method == "PROPFIND":
            depths.append(kwargs["headers"]["Depth"])
        return real(method, url, **kwargs)

    http.request = spy
    list(connector.ids())
    assert depths == ["1"] * 6
    # one PROPFIND per folder walked: docs, reports, guides, notes, restricted, cases
    assert sum(1 for m, _ in dav.requests_seen()[before:] if m == "PROPFIND") == 6


def test_restricted_folder_canary_carries_only_its_acl(dav, http):
    docs = by_rel(run_connector(make(dav, http)))
    assert docs["restricted/cases/canary.md"].acl == ("hr-advisors",)
    assert CANARY in docs["restricted/cases/canary.md"].text
    assert all(doc.acl is None for rel, doc in docs.items() if not rel.startswith("restricted/"))
    # a shallower rule covers what the deeper one does not
    assert make(dav, http).acl_for("restricted/memo.md") == ("hr-managers",)
    with pytest.raises(ConnectorConfigError, match=r"folder_acl\['hr'\] must be a list of group names"):
        make(dav, http, folder_acl={"hr": [1]}).check()


def test_incremental_fetches_only_the_edited_file_then_sees_a_deletion(dav, http):
    edits = dav.share / "edits"
    first = run_connector(make(dav, http, folder="edits/"))
    assert sorted(by_rel(first)) == ["a.md", "b.md", "c.md"]
    mark = len(dav.requests_seen())
    (edits / "b.md").write_text(md("Note b", "Wei Chen", "Second text of b, longer."), encoding="utf-8")
    second = run_connector(make(dav, http, folder="edits/"), first.items[-1])
    gets = [path for method, path in dav.requests_seen()[mark:] if method == "GET" and path != "/robots.txt"]
    assert gets == ["/dav/edits/b.md"]
    assert [d.id for d in second.docs] == ["dav:b.md"]
    assert "Second text of b" in second.docs[0].text
    mark = len(dav.requests_seen())
    (edits / "c.md").unlink()
    time.sleep(1.1)  # Apache's weak ETag for b (written less than a second ago) turns strong
    third = run_connector(make(dav, http, folder="edits/"), second.items[-1])
    assert [i for i in third.items if isinstance(i, Deletion)] == [Deletion("dav:c.md")]
    assert third.docs == []
    assert not [p for m, p in dav.requests_seen()[mark:] if m == "GET" and p != "/robots.txt"]
    assert sorted(make(dav, http, folder="edits/").ids()) == ["dav:a.md", "dav:b.md"]


def test_wrong_password_gives_a_clear_message_without_the_password(dav, http):
    connector = make(dav, http, password="not-the-password-42")
    with pytest.raises(CredentialError) as caught:
        connector.check()
    assert str(caught.value) == f"{dav.url}docs/ refused user 'crawler' (HTTP 401): check user and password"
    assert "not-the-password-42" not in str(caught.value)
    with pytest.raises(
        CredentialError, match=r"needs a user name and password \(HTTP 401\): set user and password"
    ):
        make(dav, http, user="", password="").check()


def test_missing_folder_and_not_webdav(dav, http, tmp_path):
    with pytest.raises(ConnectorConfigError) as caught:
        make(dav, http, folder="nowhere/").check()
    assert str(caught.value) == f"no folder at {dav.url}nowhere/ (HTTP 404): check url"
    with pytest.raises(ConnectorConfigError, match=r"is a file, not a folder: check url"):
        make(dav, http, folder="edits/a.md").check()
    with pytest.raises(ConnectorConfigError, match=r"carries a user name or password"):
        make(dav, http, url=f"http://crawler:{server.PASSWORD}@127.0.0.1:{dav.port}/dav/").check()
    (tmp_path / "index.html").write_text("<p>a plain web site</p>", encoding="utf-8")
    with FixtureServer(tmp_path) as plain:  # a fake server for the fault: it knows no PROPFIND
        with pytest.raises(ConnectorConfigError) as caught:
            make(dav, http, url=f"{plain.base}/").check()
    assert str(caught.value).startswith(f"{plain.base}/ is not a WebDAV folder (PROPFIND answered HTTP 50")
    assert "check url; it must be the WebDAV address of a folder" in str(caught.value)


def test_password_is_a_secret_setting():
    import dataclasses

    fields = {f.name: f for f in dataclasses.fields(WebdavSettings)}
    assert fields["password"].metadata["secret"] is True
    assert not fields["user"].metadata["secret"]


def test_oversized_file_is_not_fetched(dav, http):
    mark = len(dav.requests_seen())
    run = run_connector(make(dav, http, folder="edits/", max_bytes=20))
    assert {f.ref for f in run.failures} == {"dav:a.md", "dav:b.md"}
    assert all("over the 20-byte limit (max_bytes)" in f.reason for f in run.failures)
    assert not [p for m, p in dav.requests_seen()[mark:] if m == "GET" and p != "/robots.txt"]


def test_settings_from_toml_register_the_password_as_a_secret(dav, http):
    import tomllib

    from config import secrets
    from config.loader import SourceConfig, parse_source_settings

    table = tomllib.loads(
        'url = "%s"\nuser = "crawler"\npassword = "env:DAV_PASSWORD"\n'
        'folder_acl = { "restricted/cases" = ["hr-advisors"] }\n' % (dav.url + "docs/")
    )
    source = SourceConfig(id="dav", kind="webdav", agency="pspc", settings=table)
    settings = parse_source_settings(source, WebdavSettings, env={"DAV_PASSWORD": server.PASSWORD})
    assert settings.password == server.PASSWORD
    assert secrets.scrub(f"answer echoing {server.PASSWORD}") == f"answer echoing {secrets.MASK}"
    connector = WebdavConnector(SourceContext(id="dav", agency="pspc", kind="webdav"), settings, http)
    connector.check()
    run = run_connector(connector)
    assert by_rel(run)["restricted/cases/canary.md"].acl == ("hr-advisors",)
    assert not any(server.PASSWORD in repr(item) for item in run.items)


def test_a_folder_that_cannot_be_listed_is_reported_and_deletes_nothing(dav, http):
    run = run_connector(make(dav, http, folder="partial/"))
    assert [d.id for d in run.docs] == ["dav:open.md"]
    assert [(f.ref, f.reason, f.transient) for f in run.failures] == [
        # Apache re-challenges (401) an account that a folder's Require does not name
        ("dav:locked/", "locked/: cannot list folder (HTTP 401: user 'crawler' may not read it)", True)
    ]
    with pytest.raises(
        SourceUnavailableError,
        match=r"cannot list folder 'locked/' \(HTTP 401: user 'crawler' may not read it\)",
    ):
        make(dav, http, folder="partial/").ids()
    # a file known from before, under the folder that now cannot be listed, is not deleted
    before = Checkpoint({"sigs": {**run.items[-1].state["sigs"], "locked/hidden.md": "x|1"}})
    again = run_connector(make(dav, http, folder="partial/"), before)
    assert not [i for i in again.items if isinstance(i, Deletion)]
    assert "locked/hidden.md" in again.items[-1].state["sigs"]
