"""Hostile and broken files, made here, through the shared extraction and a ``files`` run.

Each bad file must come back as a Failure whose reason names what is wrong with it;
every good file beside them must be indexed. A property-based test then mutates valid
files (bytes flipped, cut short, zip members replaced) and requires a document or a
:class:`FileError` from every one, never another exception, within a time bound.
"""

from __future__ import annotations

import io
import re
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.base import Role, SourceContext
from connectors.extract import FileError, Limits, extract
from connectors.extract.common import is_junk_author
from connectors.files import FilesConnector, FilesSettings
from connectors.testing import run_connector
from tests.test_connector_files import make_docx, make_odt, make_pdf

MAX_BYTES = 5 * 1024 * 1024

CORE = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties"
 xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<dc:title>{title}</dc:title><dc:creator>{creator}</dc:creator>
<cp:lastModifiedBy>{editor}</cp:lastModifiedBy>
<dcterms:created xsi:type="dcterms:W3CDTF">2024-03-01T09:00:00Z</dcterms:created>
<dcterms:modified xsi:type="dcterms:W3CDTF">2024-03-04T15:00:00Z</dcterms:modified>
</cp:coreProperties>"""
P = "http://schemas.openxmlformats.org/presentationml/2006/main"
A = "http://schemas.openxmlformats.org/drawingml/2006/main"
R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
S = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELS = "http://schemas.openxmlformats.org/package/2006/relationships"


def _slide(title: str, body: str) -> str:
    return (
        f'<p:sld xmlns:p="{P}" xmlns:a="{A}"><p:cSld><p:spTree>'
        f'<p:sp><p:nvSpPr><p:nvPr><p:ph type="title"/></p:nvPr></p:nvSpPr><p:txBody><a:p><a:r><a:t>{title}</a:t></a:r></a:p></p:txBody></p:sp>'
        f"<p:sp><p:txBody><a:p><a:r><a:t>{body}</a:t></a:r><a:r><a:t> en bref</a:t></a:r></a:p></p:txBody></p:sp>"
        "</p:spTree></p:cSld></p:sld>"
    )


def pptx_bytes(creator: str = "Amélie Gagnon", editor: str = "Tom Wright") -> bytes:
    """A minimal PowerPoint file: two slides listed in reverse file order."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr(
            "ppt/presentation.xml",
            f'<p:presentation xmlns:p="{P}" xmlns:r="{R}"><p:sldIdLst>'
            '<p:sldId id="256" r:id="rId3"/><p:sldId id="257" r:id="rId2"/></p:sldIdLst></p:presentation>',
        )
        z.writestr(
            "ppt/_rels/presentation.xml.rels",
            f'<Relationships xmlns="{RELS}"><Relationship Id="rId2" Target="slides/slide1.xml"/>'
            '<Relationship Id="rId3" Target="slides/slide2.xml"/></Relationships>',
        )
        z.writestr("ppt/slides/slide2.xml", _slide("Plan de continuité", "Sites de relève"))
        z.writestr("ppt/slides/slide1.xml", _slide("Next steps", "Exercise in June"))
        z.writestr("docProps/core.xml", CORE.format(title="", creator=creator, editor=editor))
    return buf.getvalue()


def xlsx_bytes(rows: int = 3, creator: str = "Wei Chen") -> bytes:
    """A minimal Excel file: shared strings, numbers, an inline string, two sheets."""
    buf = io.BytesIO()
    cells = "".join(
        f'<row r="{i + 2}"><c r="A{i + 2}" t="s"><v>1</v></c><c r="B{i + 2}"><v>{1000 + i}</v></c></row>'
        for i in range(rows)
    )
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(
            "xl/workbook.xml",
            f'<workbook xmlns="{S}" xmlns:r="{R}"><sheets><sheet name="Budget" sheetId="1" r:id="rId1"/>'
            '<sheet name="Notes" sheetId="2" r:id="rId2"/></sheets></workbook>',
        )
        z.writestr(
            "xl/_rels/workbook.xml.rels",
            f'<Relationships xmlns="{RELS}"><Relationship Id="rId1" Target="worksheets/sheet1.xml"/>'
            '<Relationship Id="rId2" Target="worksheets/sheet2.xml"/></Relationships>',
        )
        z.writestr(
            "xl/sharedStrings.xml",
            f'<sst xmlns="{S}"><si><t>Poste</t></si><si><t>Déplacements</t></si></sst>',
        )
        z.writestr(
            "xl/worksheets/sheet1.xml",
            f'<worksheet xmlns="{S}"><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c>'
            f'<c r="B1" t="inlineStr"><is><t>Montant</t></is></c></row>{cells}</sheetData></worksheet>',
        )
        z.writestr(
            "xl/worksheets/sheet2.xml",
            f'<worksheet xmlns="{S}"><sheetData><row r="1"><c t="inlineStr"><is><t>Approved by finance</t></is></c></row></sheetData></worksheet>',
        )
        z.writestr(
            "docProps/core.xml", CORE.format(title="Budget 2024", creator=creator, editor="Administrator")
        )
    return buf.getvalue()


def docx_bomb() -> bytes:
    """A Word file whose document.xml expands 50 MB from about 50 kB."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", b"<w:document>" + b" " * (50 * 1024 * 1024) + b"</w:document>")
    return buf.getvalue()


def odt_invalid_xml() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.text")
        z.writestr(
            "content.xml",
            '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0">'
            "<p>unclosed</office:document-content>",
        )
    return buf.getvalue()


def pdf_bytes(tmp: Path) -> bytes:
    path = tmp / "good.pdf"
    make_pdf(path)
    return path.read_bytes()


def huge_page_count_pdf(good: bytes) -> bytes:
    """A valid PDF whose page tree claims ten million pages."""
    return re.sub(rb"/Count \d+", b"/Count 10000000", good, count=1)


def make_hostile_tree(root: Path) -> None:
    good, bad = root / "good", root / "bad"
    good.mkdir(parents=True)
    bad.mkdir()
    make_pdf(good / "report.pdf")
    make_docx(good / "policy.docx")
    make_odt(good / "procedure.odt")
    (good / "deck.pptx").write_bytes(pptx_bytes())
    (good / "budget.xlsx").write_bytes(xlsx_bytes())
    (good / "latin1.txt").write_bytes("Réunion du comité à Québec : procès-verbal.\n".encode("latin-1"))
    pdf = (good / "report.pdf").read_bytes()
    (bad / "truncated.pdf").write_bytes(pdf[: len(pdf) // 2])
    (bad / "many-pages.pdf").write_bytes(huge_page_count_pdf(pdf))
    (bad / "bomb.docx").write_bytes(docx_bomb())
    (bad / "invalid.odt").write_bytes(odt_invalid_xml())
    (bad / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    (bad / "empty.md").write_bytes(b"")
    (bad / "encrypted.docx").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)
    with open(bad / "huge.txt", "wb") as sparse:  # 200 MB that cost no disk
        sparse.truncate(200 * 1024 * 1024)


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    make_hostile_tree(root)
    settings = FilesSettings(root=str(root), max_bytes=MAX_BYTES)
    connector = FilesConnector(SourceContext(id="share", agency="test", kind="files"), settings, None)
    started = time.monotonic()
    run = run_connector(connector)
    return run, time.monotonic() - started


def test_run_completes_and_every_good_file_is_indexed(hostile_run):
    run, seconds = hostile_run
    assert sorted(d.id for d in run.docs) == [
        f"share:good/{name}"
        for name in ("budget.xlsx", "deck.pptx", "latin1.txt", "policy.docx", "procedure.odt", "report.pdf")
    ]
    assert seconds < 20


def test_each_bad_file_gets_a_precise_reason(hostile_run):
    run, _ = hostile_run
    reasons = {f.ref.removeprefix("share:bad/"): f.reason.split(": ", 1)[1] for f in run.failures}
    # the compressed size depends on zlib's version; the rest of the reason does not
    assert re.fullmatch(
        r"zip bomb: word/document\.xml expands 10\d\d times \(5\d{4} to 52428825 bytes\), "
        r"over the 100x limit \(max_zip_ratio\)",
        reasons.pop("bomb.docx"),
    )
    assert reasons == {
        "truncated.pdf": "truncated PDF (no %%EOF marker at its end)",
        "many-pages.pdf": "PDF declares 10000000 pages, over the 2000-page limit (max_pages)",
        "invalid.odt": "damaged OpenDocument file: invalid XML in content.xml (mismatched tag: line 1, column 102)",
        "binary.txt": "binary data, not text (it contains NUL bytes)",
        "empty.md": "empty file (0 bytes)",
        "encrypted.docx": (
            "encrypted or old-format Word .docx file (an OLE compound file, not a zip): "
            "save it without a password in the current format"
        ),
        "huge.txt": f"209715200 bytes is over the {MAX_BYTES}-byte limit (max_bytes)",
    }
    assert all(not f.transient for f in run.failures)


def test_pptx_and_xlsx_text_and_authors(hostile_run):
    run, _ = hostile_run
    docs = {d.id.removeprefix("share:good/"): d for d in run.docs}
    deck = docs["deck.pptx"]
    # slides in the presentation's order, not the files' numbers
    assert deck.text == "Plan de continuité\nSites de relève en bref\n\nNext steps\nExercise in June en bref"
    assert deck.title == "Plan de continuité"
    assert [(c.person.name, c.role) for c in deck.contributions] == [
        ("Amélie Gagnon", Role.AUTHOR),
        ("Tom Wright", Role.EDITOR),
    ]
    assert deck.created == datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
    sheet = docs["budget.xlsx"]
    assert sheet.title == "Budget 2024"
    assert sheet.text == (
        "Budget\nPoste Montant\nDéplacements 1000\nDéplacements 1001\nDéplacements 1002\n\n"
        "Notes\nApproved by finance"
    )
    # "Administrator" as last editor is nobody
    assert [(c.person.name, c.role) for c in sheet.contributions] == [("Wei Chen", Role.AUTHOR)]
    assert "Québec" in docs["latin1.txt"].text


def test_sheet_text_is_bounded():
    parsed = extract(xlsx_bytes(rows=5000), ".xlsx", Limits(max_chars=1000))
    assert len(parsed.text) == 1000
    assert parsed.text.startswith("Budget\nPoste Montant\nDéplacements 1000")


def test_junk_authors_are_not_people():
    for name in (
        "Administrator",
        "User",
        "Microsoft Office User",
        "Utilisateur Windows",
        "python-docx",
        "LibreOffice 7.4",
        "Adobe Acrobat Pro DC",
        "Normal.dotm",
        "Modèle de rapport",
        "1234",
    ):
        assert is_junk_author(name), name
    for name in ("Geneviève Tremblay", "Wei Chen", "Marc-André Roy", "Tremblay, Geneviève"):
        assert not is_junk_author(name), name
    assert is_junk_author("Communications Branch", ("communications  branch",))
    # a Word file whose author is the template's placeholder names no author
    buf = io.BytesIO(xlsx_bytes(creator="Microsoft Office User"))
    assert extract(buf.getvalue(), ".xlsx").authors == []


def test_pdf_author_from_xmp_when_info_has_none_and_never_from_creator(tmp_path):
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_bytes(tmp_path))))
    writer.add_metadata({"/Author": "", "/Creator": "Jean Dupuis", "/Producer": "Marie Curie"})
    out = io.BytesIO()
    writer.write(out)
    parsed = extract(out.getvalue(), ".pdf")
    assert parsed.authors == []  # /Creator and /Producer are software fields, even when they name someone
    xmp = (
        '<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator><rdf:Seq><rdf:li>Hélène Côté</rdf:li>'
        '</rdf:Seq></dc:creator></rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    ).encode()
    writer.xmp_metadata = xmp  # pypdf 7: bytes become the /Metadata stream
    out = io.BytesIO()
    writer.write(out)
    assert [p.name for p in extract(out.getvalue(), ".pdf").authors] == ["Hélène Côté"]


def test_time_limit_is_a_failure():
    with pytest.raises(FileError, match=r"took longer than 0s to read \(max_seconds\)"):
        extract(xlsx_bytes(rows=2000), ".xlsx", Limits(max_seconds=0))


# -- mutations ---------------------------------------------------------------------------

SEEDS: dict[str, bytes] = {}


def seeds(tmp: Path) -> dict[str, bytes]:
    if not SEEDS:
        make_docx(tmp / "s.docx")
        make_odt(tmp / "s.odt")
        SEEDS.update(
            {
                ".pdf": pdf_bytes(tmp),
                ".docx": (tmp / "s.docx").read_bytes(),
                ".odt": (tmp / "s.odt").read_bytes(),
                ".pptx": pptx_bytes(),
                ".xlsx": xlsx_bytes(),
                ".html": b"<html><head><title>T</title><meta name=author content='Wei Chen'></head><body><p>x</p></body></html>",
                ".md": "---\ntitle: T\nauthor: Wei Chen\n---\n# Titre\n\nÉté.\n".encode(),
            }
        )
    return SEEDS


def _replace_member(data: bytes, index: int, junk: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as src:
        infos = src.infolist()
        victim = infos[index % len(infos)].filename
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
            for info in infos:
                dst.writestr(info.filename, junk if info.filename == victim else src.read(info))
    return out.getvalue()


@st.composite
def mutated(draw):
    suffix = draw(st.sampled_from(sorted(SEEDS)))
    data = bytearray(SEEDS[suffix])
    how = draw(
        st.sampled_from(
            ["flip", "truncate", "member"]
            if suffix in (".docx", ".odt", ".pptx", ".xlsx")
            else ["flip", "truncate"]
        )
    )
    if how == "flip":
        for _ in range(draw(st.integers(1, 20))):
            pos = draw(st.integers(0, len(data) - 1))
            data[pos] = draw(st.integers(0, 255))
    elif how == "truncate":
        data = data[: draw(st.integers(0, len(data) - 1))]
    else:
        junk = draw(
            st.one_of(
                st.binary(max_size=200),
                st.sampled_from(
                    [b"<a>", b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'aaaa'>]><x>&a;</x>", b""]
                ),
            )
        )
        data = bytearray(_replace_member(bytes(data), draw(st.integers(0, 50)), junk))
    return suffix, bytes(data)


@pytest.fixture(scope="module", autouse=True)
def _seeds(tmp_path_factory):
    seeds(tmp_path_factory.mktemp("seeds"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=mutated())
def test_mutated_files_give_a_document_or_a_failure(case):
    suffix, data = case
    started = time.monotonic()
    try:
        parsed = extract(data, suffix, Limits(max_seconds=5))
    except FileError as exc:
        assert str(exc).strip() and "\n" not in str(exc)
    else:
        assert parsed.text.strip()
    assert time.monotonic() - started < 5


LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol%s;" % (i - 1 if i > 1 else "")) * 10}">' for i in range(1, 10))
    + ']><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
    + "<w:body><w:p><w:r><w:t>&lol9;</w:t></w:r></w:p></w:body></w:document>"
)


def test_billion_laughs_in_a_part_is_refused_quickly(tmp_path):
    make_docx(tmp_path / "s.docx")
    make_odt(tmp_path / "s.odt")
    laughs = LAUGHS.replace("&lol0;", "&lol;")
    started = time.monotonic()
    with zipfile.ZipFile(io.BytesIO((tmp_path / "s.docx").read_bytes())) as z:
        names = z.namelist()
    docx = _replace_member(
        (tmp_path / "s.docx").read_bytes(), names.index("word/document.xml"), laughs.encode()
    )
    with pytest.raises(FileError, match=r"^hostile Word \.docx file: word/document\.xml declares a DTD$"):
        extract(docx, ".docx")
    with zipfile.ZipFile(io.BytesIO((tmp_path / "s.odt").read_bytes())) as z:
        names = z.namelist()
    odt = _replace_member((tmp_path / "s.odt").read_bytes(), names.index("content.xml"), laughs.encode())
    with pytest.raises(
        FileError, match=r"hostile OpenDocument file: content\.xml uses XML entities or a DTD"
    ):
        extract(odt, ".odt")
    assert time.monotonic() - started < 5


def crashing_extract(data: bytes, suffix: str, limits):
    """A reader that dies on files saying CRASH, as a segfaulting C parser would."""
    import os

    if b"CRASH" in data:
        os._exit(139)
    return extract(data, suffix, limits)


def test_the_isolated_reader_survives_a_crash_and_a_hang():
    from connectors.extract import IsolatedExtractor

    with IsolatedExtractor("tests.test_extract_hostile:crashing_extract", grace=0.5) as reader:
        assert reader.extract(b"# Before\n\nFine text.\n", ".md").title == "Before"
        with pytest.raises(FileError, match=r"^its reader died while reading it \(exit code 139\)$"):
            reader.extract(b"CRASH now", ".txt")
        # a fresh child reads the next file, and the in-process errors keep their reasons
        assert "after" in reader.extract(b"Text after the crash.", ".txt").text
        with pytest.raises(FileError, match=r"truncated PDF"):
            reader.extract(b"%PDF-1.4\n1 0 obj <<", ".pdf")


def test_the_limit_settings_are_declared_once_and_follow_the_place_in_the_forms():
    import dataclasses

    from connectors.extract import ExtractionSettings
    from connectors.smb import SmbSettings
    from connectors.webdav import WebdavSettings
    from webui.admin_forms import field_specs

    limits = [f.name for f in dataclasses.fields(ExtractionSettings)]
    assert set(limits) == set(Limits.__dataclass_fields__)
    for cls, first in ((FilesSettings, "root"), (WebdavSettings, "url"), (SmbSettings, "share")):
        assert issubclass(cls, ExtractionSettings)
        names = [spec.name for spec in field_specs(cls)]
        assert names[0] == first and names[-1 - (cls is FilesSettings)] == "kind"
        start = names.index("max_bytes")
        assert names[start : start + len(limits)] == limits
        assert "folder_acl" in names[:start] and "include" in names[:start]
        assert Limits.of(cls(**{first: "x"})) == Limits()
