"""Office Open XML: Word (.docx), PowerPoint (.pptx) and Excel (.xlsx).

Every part goes through :class:`~connectors.extract.zipsafe.SafeZip` first (zip bombs,
encrypted files, invalid XML). Word's body is then read by python-docx (tables in
document order); PowerPoint and Excel are small enough formats to read straight from
their XML parts, which also lets a huge sheet stop at the character limit instead of
being loaded whole. Authorship comes from ``docProps/core.xml`` for all three:
``dc:creator`` is the author, ``cp:lastModifiedBy`` the last editor.
"""

from __future__ import annotations

import io
import posixpath
import re
from xml.etree.ElementTree import Element

from connectors._text import join_blocks, normalise_language, parse_date, split_keywords
from connectors.extract.common import Budget, FileError, Parsed, one_line
from connectors.extract.zipsafe import SafeZip

NS = {
    "cp": "http://schemas.openxmlformats.org/package/2006/metadata/core-properties",
    "dc": "http://purl.org/dc/elements/1.1/",
    "dcterms": "http://purl.org/dc/terms/",
    "a": "http://schemas.openxmlformats.org/drawingml/2006/main",
    "p": "http://schemas.openxmlformats.org/presentationml/2006/main",
    "s": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
    "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    "rel": "http://schemas.openxmlformats.org/package/2006/relationships",
}


def q(name: str) -> str:
    prefix, local = name.split(":")
    return f"{{{NS[prefix]}}}{local}"


def _core(archive: SafeZip, budget: Budget, parsed: Parsed) -> Parsed:
    core = archive.xml("docProps/core.xml")

    def value(name: str) -> str:
        found = core.find(q(name)) if core is not None else None
        return " ".join((found.text or "").split()) if found is not None else ""

    author = budget.person(value("dc:creator"))
    editor = budget.person(value("cp:lastModifiedBy"))
    parsed.title = parsed.title or value("dc:title")
    parsed.language = normalise_language(value("dc:language"))
    parsed.authors = [author] if author else []
    parsed.editor = editor
    parsed.created = parse_date(value("dcterms:created"))
    parsed.modified = parse_date(value("dcterms:modified"))
    parsed.tags = split_keywords(value("cp:keywords"))
    return parsed


def _numbered(names: list[str], pattern: str) -> list[str]:
    found = [(int(m.group(1)), n) for n in names if (m := re.fullmatch(pattern, n))]
    return [n for _, n in sorted(found)]


# -- Word ---------------------------------------------------------------------------


def read_docx(data: bytes, budget: Budget) -> Parsed:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    with SafeZip(data, budget, "Word .docx file") as archive:
        if "word/document.xml" not in archive.names():
            raise FileError("damaged or not a Word .docx file (no word/document.xml)")
        # every part unpacked once under the limits before python-docx reads them unbounded;
        # python-docx's lxml parser does not resolve entities, so the XML is not re-parsed here
        for name in archive.names():
            part = archive.read(name) or b""
            if name.endswith((".xml", ".rels")) and b"<!DOCTYPE" in part[:4096]:
                # Office never writes a DTD; one in a part is there for entity tricks
                raise FileError(f"hostile Word .docx file: {name} declares a DTD")
        parsed = _core(archive, budget, Parsed())
    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, KeyError, ValueError) as exc:
        raise FileError(f"damaged or not a Word .docx file ({one_line(exc) or type(exc).__name__})") from None
    blocks: list[str] = []
    chars = 0
    for part in document.iter_inner_content():
        if hasattr(part, "rows"):
            for row in part.rows:
                cells = list(dict.fromkeys(cell.text.strip() for cell in row.cells if cell.text.strip()))
                blocks.append(" ".join(cells))
        else:
            blocks.append(" ".join(part.text.split()))
        chars += len(blocks[-1])
        if chars > budget.limits.max_chars:
            break
        budget.check()
    parsed.text = join_blocks(blocks)
    return parsed


# -- PowerPoint -----------------------------------------------------------------------


def _paragraphs(root: Element) -> list[str]:
    out = []
    for para in root.iter(q("a:p")):
        text = " ".join("".join(t.text or "" for t in para.iter(q("a:t"))).split())
        if text:
            out.append(text)
    return out


def read_pptx(data: bytes, budget: Budget) -> Parsed:
    with SafeZip(data, budget, "PowerPoint .pptx file") as archive:
        archive.xml("ppt/presentation.xml", required=True)
        slides = _ordered_parts(archive, "ppt/presentation.xml", "ppt/_rels/presentation.xml.rels", "slide")
        blocks: list[str] = []
        first_title = ""
        chars = 0
        for name in slides:
            slide = archive.xml(name)
            if slide is None:
                continue
            paras = _paragraphs(slide)
            if not first_title:
                first_title = _slide_title(slide)
            notes = _notes_of(archive, name)
            blocks.append("\n".join(paras + notes))
            chars += len(blocks[-1])
            if chars > budget.limits.max_chars:
                break
            budget.check()
        parsed = _core(archive, budget, Parsed())
    parsed.title = parsed.title or first_title
    parsed.text = join_blocks(blocks)
    return parsed


def _slide_title(slide: Element) -> str:
    for shape in slide.iter(q("p:sp")):
        ph = shape.find(f".//{q('p:ph')}")
        if ph is not None and ph.get("type") in ("title", "ctrTitle"):
            return " ".join(_paragraphs(shape))
    return ""


def _rels(archive: SafeZip, path: str) -> dict[str, str]:
    root = archive.xml(path)
    if root is None:
        return {}
    base = posixpath.dirname(posixpath.dirname(path))
    out = {}
    for rel in root.iter(q("rel:Relationship")):
        target = rel.get("Target") or ""
        out[rel.get("Id") or ""] = (
            target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join(base, target))
        )
    return out


def _notes_of(archive: SafeZip, slide: str) -> list[str]:
    rels = _rels(
        archive, posixpath.join(posixpath.dirname(slide), "_rels", posixpath.basename(slide) + ".rels")
    )
    for target in rels.values():
        if "/notesSlides/" in f"/{target}":
            notes = archive.xml(target)
            if notes is not None:
                # the notes page repeats the slide number; keep the speaker's text
                return [p for p in _paragraphs(notes) if not p.isdigit()]
    return []


def _ordered_parts(archive: SafeZip, main: str, rels_path: str, kind: str) -> list[str]:
    """The slides (or sheets) in the order the presentation (workbook) lists them;
    falls back to their numbers when the list is missing."""
    rels = _rels(archive, rels_path)
    root = archive.xml(main)
    tag = q("p:sldId") if kind == "slide" else q("s:sheet")
    ordered = []
    if root is not None:
        for entry in root.iter(tag):
            target = rels.get(entry.get(q("r:id")) or "")
            if target and target in archive.names():
                ordered.append(target)
    if ordered:
        return list(dict.fromkeys(ordered))
    folder = "ppt/slides" if kind == "slide" else "xl/worksheets"
    return _numbered(archive.names(), rf"{folder}/{kind}(\d+)\.xml")


# -- Excel ------------------------------------------------------------------------------


def read_xlsx(data: bytes, budget: Budget) -> Parsed:
    limit = budget.limits.max_chars
    with SafeZip(data, budget, "Excel .xlsx file") as archive:
        workbook = archive.xml("xl/workbook.xml", required=True)
        names = [s.get("name") or "" for s in workbook.iter(q("s:sheet"))]
        shared = _shared_strings(archive, budget)
        sheets = _ordered_parts(archive, "xl/workbook.xml", "xl/_rels/workbook.xml.rels", "sheet")
        blocks: list[str] = []
        chars = 0
        for index, part in enumerate(sheets):
            lines = [names[index]] if index < len(names) and names[index] else []
            for row in archive.iter_xml(part, q("s:row"), q("s:sheetData")):
                cells = [v for c in row.iter(q("s:c")) if (v := _cell(c, shared))]
                if cells:
                    lines.append(" ".join(cells))
                    chars += len(lines[-1]) + 1
                    if chars > limit:
                        break
            blocks.append("\n".join(lines))
            budget.check()
            if chars > limit:
                break
        parsed = _core(archive, budget, Parsed())
    parsed.text = join_blocks(blocks)
    return parsed


def _shared_strings(archive: SafeZip, budget: Budget) -> list[str]:
    root = archive.xml("xl/sharedStrings.xml")
    if root is None:
        return []
    return [" ".join("".join(t.text or "" for t in si.iter(q("s:t"))).split()) for si in root.iter(q("s:si"))]


def _cell(cell: Element, shared: list[str]) -> str:
    kind = cell.get("t")
    if kind == "inlineStr":
        return " ".join("".join(t.text or "" for t in cell.iter(q("s:t"))).split())
    value = cell.find(q("s:v"))
    text = (value.text or "").strip() if value is not None else ""
    if kind == "s":
        try:
            return shared[int(text)]
        except (ValueError, IndexError):
            return ""
    if kind == "b":
        return ""
    return text
