"""The files connector over a real folder tree built by the test: Markdown, text (UTF-8
and latin-1), HTML, PDF (fpdf2), Word (python-docx) and OpenDocument (odfpy) files with
author metadata, plus a corrupt PDF, an oversized file, an empty file and files to skip."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from config.loader import SourceConfig
from connectors.base import (
    ConnectorConfigError,
    Deletion,
    Exclusion,
    Person,
    Role,
    SourceContext,
    SourceUnavailableError,
)
from connectors.extract import IsolatedExtractor, isolate
from connectors.files import FilesConnector, FilesSettings
from connectors.testing import ConnectorConformance, run_connector
from crawler.runner import Savoir
from indexer.search import Searcher, SearchRequest
from tests.conftest import make_settings

MAX_BYTES = 100_000

ATIP_MD = """---
title: "Guide de l'AIPRP"
author: Tremblay, Geneviève
author_email: Genevieve.Tremblay@atip.example
date: 2024-02-28T10:00:00-05:00
lang: fr-CA
tags: [aiprp, consultations]
---
# Traiter une demande

Chaque demande reçoit un **accusé de réception** dans les _30 jours_.
Voir la [politique](https://example.org/politique) et `le formulaire`.

- Consulter le secteur de programme
- Appliquer les exceptions

```
code_sample = 1
```
"""


def build_tree(root: Path) -> None:
    (root / "guides").mkdir(parents=True)
    (root / "guides" / "atip.md").write_text(ATIP_MD, encoding="utf-8")
    (root / "notes").mkdir()
    (root / "notes" / "meeting-latin1.txt").write_bytes(
        "Réunion à Montréal\n\nOrdre du jour : procès-verbal, décisions, été.\n".encode("latin-1")
    )
    (root / "notes" / "empty.txt").write_text("  \n\n ", encoding="utf-8")
    (root / "web").mkdir()
    (root / "web" / "page.html").write_text(
        '<html lang="en"><head><title>Fraud notes</title><meta name="author" content="Marc-André Roy">'
        '<meta name="author-email" content="marc-andre.roy@cra.example"></head>'
        "<body><nav>Menu link</nav><main><h1>Fraud notes</h1><p>Check split invoices.</p></main></body></html>",
        encoding="utf-8",
    )
    reports = root / "reports"
    reports.mkdir()
    make_pdf(reports / "annual.pdf")
    make_docx(reports / "policy.docx")
    make_odt(reports / "procedure.odt")
    (reports / "corrupt-report.pdf").write_bytes(b"%PDF-1.4\nthis is not really a pdf\n")
    (root / "big").mkdir()
    (root / "big" / "huge.txt").write_text("x" * (MAX_BYTES + 1), encoding="utf-8")
    # skipped: hidden, Office lock files, unsupported types
    (root / ".hidden").mkdir()
    (root / ".hidden" / "secret.md").write_text("# secret\n", encoding="utf-8")
    (reports / "~$policy.docx").write_bytes(b"lock")
    (reports / "chart.png").write_bytes(b"\x89PNG")


def make_pdf(path: Path) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_author("Jean Dupuis")
    pdf.set_title("Annual report on fraud prevention")
    pdf.set_keywords("fraud, annual report")
    pdf.set_creation_date(datetime(2024, 1, 31, 12, 0, tzinfo=UTC))
    pdf.set_lang("en-CA")
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(text="Annual report on fraud prevention")
    pdf.ln()
    pdf.cell(text="Losses fell by a third this year.")
    pdf.add_page()
    pdf.cell(text="Second page: recommendations.")
    pdf.output(str(path))


def make_docx(path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_heading("Procurement policy", level=1)
    document.add_paragraph("Sole-source contracts need a justification memo.")
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "Threshold"
    table.rows[0].cells[1].text = "$25,000"
    props = document.core_properties
    props.author = "Wei Chen"
    props.last_modified_by = "Samira Haddad"
    props.title = "Procurement policy"
    props.created = datetime(2024, 2, 1, 9, 0)
    props.modified = datetime(2024, 2, 5, 16, 30)
    props.keywords = "procurement; contracting"
    document.save(str(path))


def make_odt(path: Path) -> None:
    from odf import dc, meta
    from odf.opendocument import OpenDocumentText
    from odf.text import H, P, Span

    document = OpenDocumentText()
    document.meta.addElement(dc.Title(text="Procédure de médiation"))
    document.meta.addElement(meta.InitialCreator(text="Hélène Côté"))
    document.meta.addElement(dc.Creator(text="Priya Natarajan"))
    document.meta.addElement(meta.CreationDate(text="2023-11-02T08:00:00"))
    document.meta.addElement(dc.Date(text="2024-01-20T10:30:00"))
    document.meta.addElement(dc.Language(text="fr-CA"))
    document.text.addElement(H(outlinelevel=1, text="Procédure de médiation"))
    paragraph = P(text="La médiation précède ")
    paragraph.addElement(Span(text="toute plainte formelle."))
    document.text.addElement(paragraph)
    document.save(str(path))


@pytest.fixture
def tree(tmp_path) -> Path:
    root = tmp_path / "share"
    build_tree(root)
    return root


def make(root: Path, **settings) -> FilesConnector:
    values = {"root": str(root), "max_bytes": MAX_BYTES, **settings}
    return FilesConnector(
        SourceContext(id="share", agency="tbs", kind="files"), FilesSettings(**values), None
    )


class TestFilesConformance(ConnectorConformance):
    expects_authors = False  # plain-text files name nobody
    example_settings = {
        "root": "/srv/shares/policy",
        "exclude": ["archive/*"],
        "base_url": "https://files.example/",
    }

    @pytest.fixture
    def make_connector(self, tree):
        def factory() -> FilesConnector:
            connector = make(tree)
            connector.checkpoint_every = 2
            return connector

        return factory

    @pytest.fixture
    def mutate_source(self, tree):
        return lambda: (tree / "guides" / "new.md").write_text(
            "# New guide\n\nFresh text.\n", encoding="utf-8"
        )


def docs_by_path(run) -> dict:
    return {doc.id.removeprefix("share:"): doc for doc in run.docs}


def test_documents_and_skipped_files(tree):
    run = run_connector(make(tree))
    assert sorted(docs_by_path(run)) == [
        "guides/atip.md",
        "notes/meeting-latin1.txt",
        "reports/annual.pdf",
        "reports/policy.docx",
        "reports/procedure.odt",
        "web/page.html",
    ]
    assert all(doc.kind == "file" and doc.url.startswith("file:///") for doc in run.docs)


def test_failures_have_clear_reasons(tree):
    failures = {f.ref: f.reason for f in run_connector(make(tree)).failures}
    assert failures == {
        "share:big/huge.txt": f"big/huge.txt: {MAX_BYTES + 1} bytes is over the {MAX_BYTES}-byte limit (max_bytes)",
        "share:notes/empty.txt": "notes/empty.txt: no text",
        "share:reports/corrupt-report.pdf": "reports/corrupt-report.pdf: truncated PDF (no %%EOF marker at its end)",
    }


def test_markdown_front_matter_and_body(tree):
    doc = docs_by_path(run_connector(make(tree)))["guides/atip.md"]
    assert doc.title == "Guide de l'AIPRP"
    assert doc.language == "fr"
    assert doc.tags == ("aiprp", "consultations")
    assert doc.created == datetime(2024, 2, 28, 15, 0, tzinfo=UTC)
    assert doc.contributions[0].person == Person("Tremblay, Geneviève", "genevieve.tremblay@atip.example")
    assert doc.contributions[0].size == len(doc.text)
    assert doc.text == (
        "Traiter une demande\n\n"
        "Chaque demande reçoit un accusé de réception dans les 30 jours. Voir la politique et le formulaire.\n\n"
        "Consulter le secteur de programme\n\n"
        "Appliquer les exceptions\n\n"
        "code_sample = 1"
    )


def test_text_files_and_charsets(tree):
    doc = docs_by_path(run_connector(make(tree)))["notes/meeting-latin1.txt"]
    assert doc.title == "Réunion à Montréal"
    assert doc.text == "Réunion à Montréal\n\nOrdre du jour : procès-verbal, décisions, été."
    assert doc.contributions == () and doc.language is None
    mtime = os.stat(tree / "notes" / "meeting-latin1.txt").st_mtime_ns
    assert doc.modified == doc.created
    assert abs(doc.modified.timestamp() - mtime / 1e9) < 1e-3


def test_html_file_main_content_and_author(tree):
    doc = docs_by_path(run_connector(make(tree)))["web/page.html"]
    assert doc.text == "Fraud notes\n\nCheck split invoices."
    assert doc.language == "en"
    assert doc.contributions[0].person == Person("Marc-André Roy", "marc-andre.roy@cra.example")


def test_pdf_metadata(tree):
    doc = docs_by_path(run_connector(make(tree)))["reports/annual.pdf"]
    assert doc.title == "Annual report on fraud prevention"
    assert doc.contributions[0].person == Person("Jean Dupuis")
    assert doc.created == datetime(2024, 1, 31, 12, 0, tzinfo=UTC)
    assert doc.language == "en"
    assert doc.tags == ("fraud", "annual report")
    assert doc.text.split("\n\n") == [
        "Annual report on fraud prevention\nLosses fell by a third this year.",
        "Second page: recommendations.",
    ]


def test_docx_author_and_editor(tree):
    doc = docs_by_path(run_connector(make(tree)))["reports/policy.docx"]
    assert doc.title == "Procurement policy"
    assert (
        doc.text
        == "Procurement policy\n\nSole-source contracts need a justification memo.\n\nThreshold $25,000"
    )
    author, editor = doc.contributions
    assert (author.person.name, author.role, author.time) == (
        "Wei Chen",
        Role.AUTHOR,
        datetime(2024, 2, 1, 9, 0, tzinfo=UTC),
    )
    assert (editor.person.name, editor.role, editor.time) == ("Samira Haddad", Role.EDITOR, doc.modified)
    assert doc.modified == datetime(2024, 2, 5, 16, 30, tzinfo=UTC)
    assert doc.tags == ("procurement", "contracting")


def test_odt_text_and_creators(tree):
    doc = docs_by_path(run_connector(make(tree)))["reports/procedure.odt"]
    assert doc.title == "Procédure de médiation"
    assert doc.text == "Procédure de médiation\n\nLa médiation précède toute plainte formelle."
    assert doc.language == "fr"
    assert [(c.person.name, c.role) for c in doc.contributions] == [
        ("Hélène Côté", Role.AUTHOR),
        ("Priya Natarajan", Role.EDITOR),
    ]
    assert doc.created == datetime(2023, 11, 2, 8, 0, tzinfo=UTC)
    assert doc.modified == datetime(2024, 1, 20, 10, 30, tzinfo=UTC)


def test_incremental_by_signature_then_hash_and_deletions(tree, monkeypatch):
    full = run_connector(make(tree))
    checkpoint = full.items[-1]
    assert set(checkpoint.state) == {"sigs", "hashes"}
    # unchanged files are not read again; those that failed are, and fail again, visibly
    again = run_connector(make(tree), checkpoint)
    assert again.docs == [] and not [i for i in again.items if isinstance(i, Deletion)]
    assert sorted(f.ref for f in again.failures) == sorted(f.ref for f in full.failures)
    page = tree / "web" / "page.html"
    page.write_text(page.read_text().replace("split invoices", "split invoices twice"), encoding="utf-8")
    # touched, same bytes: read and hashed, not extracted again
    atip = tree / "guides" / "atip.md"
    os.utime(atip, ns=(atip.stat().st_atime_ns, atip.stat().st_mtime_ns + 7 * 10**9))
    extracted: list[str] = []
    real = IsolatedExtractor.extract
    monkeypatch.setattr(
        IsolatedExtractor,
        "extract",
        lambda self, data, suffix, limits: extracted.append(suffix) or real(self, data, suffix, limits),
    )
    second = run_connector(make(tree), checkpoint)
    assert [doc.id for doc in second.docs] == ["share:web/page.html"]
    assert ".md" not in extracted and ".html" in extracted
    (tree / "reports" / "procedure.odt").unlink()
    third = run_connector(make(tree), second.items[-1])
    assert [i for i in third.items if isinstance(i, Deletion)] == [Deletion("share:reports/procedure.odt")]
    assert third.docs == []


def test_include_exclude_and_base_url(tree):
    run = run_connector(
        make(tree, include=["*.md", "reports/*.docx"], base_url="https://files.example/share/")
    )
    assert sorted(docs_by_path(run)) == ["guides/atip.md", "reports/policy.docx"]
    assert docs_by_path(run)["reports/policy.docx"].url == "https://files.example/share/reports/policy.docx"
    run = run_connector(make(tree, exclude=["reports", "*.txt"]))
    assert sorted(docs_by_path(run)) == ["guides/atip.md", "web/page.html"]
    assert sorted(make(tree, exclude=["reports/*"]).ids()) == [
        "share:big/huge.txt",
        "share:guides/atip.md",
        "share:notes/empty.txt",
        "share:notes/meeting-latin1.txt",
        "share:web/page.html",
    ]


def test_missing_root_is_a_config_error(tmp_path):
    connector = make(tmp_path / "nowhere")
    with pytest.raises(ConnectorConfigError, match=r"nowhere' does not exist or is not a folder: check root"):
        connector.check()
    with pytest.raises(ConnectorConfigError, match="check root"):
        list(connector.documents())


def test_unreadable_folder_is_reported_and_blocks_deletions(tree, monkeypatch):
    # fault injection: the tests may run as root, who can read a chmod-0 folder
    real_scandir = os.scandir

    def scandir(path):
        if Path(path).name == "reports":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    run = run_connector(make(tree))
    assert [(f.ref, f.reason, f.transient) for f in run.failures if f.ref == "share:reports/"] == [
        ("share:reports/", "reports/: cannot list folder (Permission denied)", True)
    ]
    with pytest.raises(SourceUnavailableError, match="cannot list folder 'reports' under root"):
        make(tree).ids()


def test_symlinks_never_lead_out_of_the_root(tree, tmp_path):
    outside = tmp_path / "outside.md"
    outside.write_text("# Private\n\nNot part of the share.\n", encoding="utf-8")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "secret.md").write_text("# Elsewhere\n\nNot ours.\n", encoding="utf-8")
    guides = tree / "guides"
    (guides / "link.md").symlink_to(outside)  # a file outside
    (guides / "inside.md").symlink_to(guides / "atip.md")  # a file inside: read
    (guides / "away").symlink_to(tmp_path / "elsewhere", target_is_directory=True)  # a folder outside
    (guides / "again").symlink_to(guides, target_is_directory=True)  # a folder loop
    (guides / "loop-a.md").symlink_to(guides / "loop-b.md")  # a link loop
    (guides / "loop-b.md").symlink_to(guides / "loop-a.md")
    (guides / "dangling.md").symlink_to(tmp_path / "gone.md")
    run = run_connector(make(tree))
    ids = set(run.doc_ids)
    assert "share:guides/inside.md" in ids and "share:guides/atip.md" in ids
    assert not any(
        "link.md" in i or "away" in i or "again" in i or "loop" in i or "dangling" in i for i in ids
    )
    assert not any("Not part of the share" in d.text or "Not ours" in d.text for d in run.docs)
    excluded = {e.ref: e.reason for e in run.items if isinstance(e, Exclusion)}
    assert (
        excluded["share:guides/link.md"]
        == "guides/link.md: a symbolic link to outside the folder, not followed"
    )
    assert excluded["share:guides/away"] == "guides/away: a symbolic link to a folder, not followed"
    assert excluded["share:guides/again"] == "guides/again: a symbolic link to a folder, not followed"
    for name in ("loop-a.md", "loop-b.md", "dangling.md"):
        assert (
            excluded[f"share:guides/{name}"]
            == f"guides/{name}: a symbolic link that leads nowhere (broken or a loop)"
        )
    assert "share:guides/link.md" not in make(tree).ids()


def test_folder_tags_and_acl(tree):
    run = run_connector(
        make(
            tree,
            folder_tags={"reports": ["rapports"]},
            folder_acl={"reports": ["finance"], "reports/x": "hr"},
        )
    )
    docs = docs_by_path(run)
    assert "rapports" in docs["reports/annual.pdf"].tags
    assert docs["reports/annual.pdf"].acl == ("finance",)
    assert docs["guides/atip.md"].acl is None and "rapports" not in docs["guides/atip.md"].tags
    with pytest.raises(ConnectorConfigError, match=r"folder_tags\['a'\] must be a list of tag names"):
        make(tree, folder_tags={"a": 3}).check()


def test_restricted_folder_canary_reaches_only_its_group_through_search(tree, tmp_path):
    cases = tree / "restricted" / "cases"
    cases.mkdir(parents=True)
    (cases / "canary.md").write_text(
        "---\ntitle: Case\nauthor: Priya Singh\n---\n# Case\n\ncanary-files-7730 grievance hearing\n",
        encoding="utf-8",
    )
    source = SourceConfig(
        id="share",
        kind="files",
        agency="tbs",
        acl=["public"],
        settings={
            "root": str(tree),
            "max_bytes": MAX_BYTES,
            "folder_acl": {"restricted/cases": ["hr-advisors"]},
        },
    )
    savoir = Savoir(make_settings(tmp_path / "savoir"), [source])
    try:
        savoir.crawl()
        canary = "share:restricted/cases/canary.md"
        assert canary in savoir.store.live_ids("share")
        searcher = Searcher(savoir.open_index(), savoir.store)

        def ids(groups: tuple[str, ...]) -> set[str]:
            return {
                h.id
                for h in searcher.search(SearchRequest("grievance hearing", groups=groups, page_size=50)).hits
            }

        assert canary not in ids(("public",))
        assert canary not in ids(("public", "hr-managers"))
        assert canary in ids(("hr-advisors",))
    finally:
        savoir.close()


def hanging_extract(data: bytes, suffix: str, limits):
    """A reader that never returns on files saying HANG (in the extraction child)."""
    import time

    from connectors.extract import extract

    if b"HANG" in data:
        while True:
            time.sleep(1)
    return extract(data, suffix, limits)


def test_a_file_that_hangs_its_reader_is_a_failure_and_the_run_goes_on(tree, monkeypatch):
    import time

    (tree / "guides" / "stuck.md").write_text("# Stuck\n\nHANG here.\n", encoding="utf-8")
    monkeypatch.setattr(FilesConnector, "extract_target", "tests.test_connector_files:hanging_extract")
    monkeypatch.setattr(isolate, "GRACE", 0.5)
    started = time.monotonic()
    run = run_connector(make(tree, max_seconds=1.0))
    assert time.monotonic() - started < 30
    failures = {f.ref: f.reason for f in run.failures}
    assert failures["share:guides/stuck.md"] == (
        "guides/stuck.md: took longer than 1s to read (max_seconds): its reader was stopped"
    )
    # the files after it, read by a fresh child, are all there
    assert {"share:notes/meeting-latin1.txt", "share:reports/policy.docx", "share:web/page.html"} <= set(
        run.doc_ids
    )


def test_symlink_out_of_root_is_not_followed(tree, tmp_path):
    outside = tmp_path / "outside.md"
    outside.write_text("# Private\n\nNot part of the share.\n", encoding="utf-8")
    (tree / "guides" / "link.md").symlink_to(outside)
    assert "share:guides/link.md" not in make(tree).ids()


def test_a_big_folder_writes_about_twenty_mid_run_checkpoints(tmp_path):
    root = tmp_path / "big-share"
    root.mkdir()
    for i in range(100):
        (root / f"note-{i:03}.md").write_text(f"# Note {i}\n\nText {i}.\n", encoding="utf-8")
    connector = make(root)
    connector.checkpoint_every = 2  # a twentieth of 100 files is more: every 5 files
    run = run_connector(connector)
    assert len(run.docs) == 100
    assert len(run.checkpoints) == 20 + 1
    assert len(run.checkpoints[0].state["sigs"]) == 5
