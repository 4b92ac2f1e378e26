#!/usr/bin/env python3
"""Build the binary shared-drive documents of the Savoir demo intranet.

Usage:
    python demo/make_documents.py [OUTDIR]

Every Markdown source in demo/files-src/<agency>/<name>.md is converted to
OUTDIR/<agency>/<name>.<format>, where <format> (pdf, docx or odt) comes from
the source's front matter:

    ---
    title: ...
    author: ...
    author_email: ...
    date: 2024-05-01
    lang: fr
    format: pdf
    ---

The document's title, author and creation date are written into its metadata.
OUTDIR defaults to demo/files (the folder the demo crawls).

The output is deterministic: dates come from the front matter, never from the
clock, and ZIP-based formats get fixed entry timestamps, so re-running the
script produces the same bytes.

Needs fpdf2, python-docx and odfpy. For PDF, DejaVuSans is used when found
(so that accents are embedded as Unicode); otherwise the core Helvetica font is
used with Latin-1 text.
"""

from __future__ import annotations

import io
import re
import sys
import zipfile
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE / "files-src"

FONT_DIRS = [
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/share/fonts/TTF"),
    Path("/Library/Fonts"),
]

GENERATOR = "Savoir demo document generator"


# --------------------------------------------------------------------------- parsing


def parse_source(path: Path) -> tuple[dict, str]:
    text = path.read_text(encoding="utf-8")
    m = re.match(r"^---\n(.*?)\n---\n", text, flags=re.S)
    if not m:
        raise ValueError(f"{path}: missing front matter")
    meta = {}
    for line in m.group(1).splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            meta[k.strip()] = v.strip()
    for key in ("title", "author", "date", "lang", "format"):
        if key not in meta:
            raise ValueError(f"{path}: front matter lacks {key!r}")
    return meta, text[m.end() :]


def clean_inline(s: str) -> str:
    s = re.sub(r"\*\*(.+?)\*\*", r"\1", s)
    s = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", s)
    return s


def blocks(body: str):
    """Yield (kind, payload): ('h1'|'h2'|'h3', text), ('p', text), ('ul'|'ol', [items])."""
    for raw in re.split(r"\n\s*\n", body.strip()):
        lines = [line.rstrip() for line in raw.strip().splitlines() if line.strip()]
        while lines and re.match(r"#{1,3} ", lines[0]):
            level = len(lines[0].split(" ", 1)[0])
            yield f"h{level}", clean_inline(lines[0].split(" ", 1)[1])
            lines = lines[1:]
        if not lines:
            continue
        if all(line.startswith("- ") for line in lines):
            yield "ul", [clean_inline(line[2:]) for line in lines]
        elif all(re.match(r"\d+\. ", line) for line in lines):
            yield "ol", [clean_inline(line.split(". ", 1)[1]) for line in lines]
        else:
            yield "p", clean_inline(" ".join(lines))


def doc_datetime(meta: dict) -> datetime:
    d = datetime.strptime(meta["date"], "%Y-%m-%d")
    return d.replace(hour=9, tzinfo=UTC)


# --------------------------------------------------------------------------- zip normalisation


def normalise_zip(data: bytes, when: datetime) -> bytes:
    """Rewrite a ZIP container with fixed timestamps (same entry order and compression)."""
    stamp = (when.year, when.month, when.day, when.hour, 0, 0)
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            zi = zipfile.ZipInfo(info.filename, date_time=stamp)
            zi.compress_type = info.compress_type
            zi.external_attr = 0o644 << 16
            zi.create_system = 0
            dst.writestr(zi, src.read(info.filename))
    return out.getvalue()


# --------------------------------------------------------------------------- PDF

LATIN1_FALLBACK = {
    "œ": "oe",
    "Œ": "OE",
    "’": "'",
    "‘": "'",
    "“": '"',
    "”": '"',
    "—": "-",
    "–": "-",
    "…": "...",
    "•": "-",
    "\u202f": " ",
    "€": "EUR",
}


def find_font(name: str) -> Path | None:
    for d in FONT_DIRS:
        p = d / name
        if p.exists():
            return p
    return None


def make_pdf(meta: dict, body: str, out: Path) -> None:
    from fpdf import FPDF

    regular, bold = find_font("DejaVuSans.ttf"), find_font("DejaVuSans-Bold.ttf")
    pdf = FPDF(format="A4")
    if regular:
        pdf.add_font("DejaVu", "", str(regular))
        pdf.add_font("DejaVu", "B", str(bold or regular))
        family, bullet = "DejaVu", "\u2022"

        def t(s: str) -> str:
            return s
    else:
        family, bullet = "Helvetica", "-"

        def t(s: str) -> str:
            for a, b in LATIN1_FALLBACK.items():
                s = s.replace(a, b)
            return s.encode("latin-1", "replace").decode("latin-1")

    when = doc_datetime(meta)
    pdf.set_title(meta["title"])
    pdf.set_author(meta["author"])
    pdf.set_subject(meta["title"])
    pdf.set_creator(GENERATOR)
    pdf.set_creation_date(when)
    pdf.set_lang("fr-CA" if meta["lang"] == "fr" else "en-CA")
    pdf.set_margins(20, 20, 20)
    pdf.set_auto_page_break(True, margin=20)
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin

    def para(text: str, size: float = 11, style: str = "", gap: float = 3, indent: float = 0) -> None:
        pdf.set_font(family, style, size)
        pdf.set_x(pdf.l_margin + indent)
        pdf.multi_cell(width - indent, size * 0.55, t(text), align="L", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(gap)

    para(meta["title"], size=17, style="B", gap=2)
    para(f"{meta['author']} - {meta['date']}", size=9, gap=6)
    for kind, payload in blocks(body):
        if kind in ("h1", "h2"):
            para(payload, size=14 if kind == "h1" else 13, style="B", gap=2)
        elif kind == "h3":
            para(payload, size=12, style="B", gap=1)
        elif kind == "p":
            para(payload)
        else:
            for i, item in enumerate(payload, 1):
                mark = bullet if kind == "ul" else f"{i}."
                para(f"{mark} {item}", gap=1, indent=4)
            pdf.ln(2)
    out.write_bytes(bytes(pdf.output()))


# --------------------------------------------------------------------------- DOCX


def make_docx(meta: dict, body: str, out: Path) -> None:
    from docx import Document

    when = doc_datetime(meta).replace(tzinfo=None)
    doc = Document()
    cp = doc.core_properties
    cp.author = meta["author"]
    cp.last_modified_by = meta["author"]
    cp.title = meta["title"]
    cp.subject = meta["title"]
    cp.language = "fr-CA" if meta["lang"] == "fr" else "en-CA"
    cp.created = when
    cp.modified = when
    cp.last_printed = when
    cp.revision = 1
    cp.comments = ""
    cp.keywords = ""
    cp.category = ""
    doc.add_heading(meta["title"], level=0)
    for kind, payload in blocks(body):
        if kind in ("h1", "h2", "h3"):
            doc.add_heading(payload, level={"h1": 1, "h2": 1, "h3": 2}[kind])
        elif kind == "p":
            doc.add_paragraph(payload)
        else:
            style = "List Bullet" if kind == "ul" else "List Number"
            for item in payload:
                doc.add_paragraph(item, style=style)
    buf = io.BytesIO()
    doc.save(buf)
    out.write_bytes(normalise_zip(buf.getvalue(), doc_datetime(meta)))


# --------------------------------------------------------------------------- ODT


def make_odt(meta: dict, body: str, out: Path) -> None:
    from odf import dc, style, text
    from odf import meta as odfmeta
    from odf.opendocument import OpenDocumentText

    when = doc_datetime(meta).strftime("%Y-%m-%dT%H:%M:%S")
    doc = OpenDocumentText()
    doc.meta.addElement(dc.Title(text=meta["title"]))
    doc.meta.addElement(dc.Subject(text=meta["title"]))
    doc.meta.addElement(dc.Creator(text=meta["author"]))
    doc.meta.addElement(odfmeta.InitialCreator(text=meta["author"]))
    doc.meta.addElement(odfmeta.CreationDate(text=when))
    doc.meta.addElement(dc.Date(text=when))
    doc.meta.addElement(dc.Language(text="fr-CA" if meta["lang"] == "fr" else "en-CA"))

    def pstyle(name: str, size: str, bold: bool = False) -> style.Style:
        st = style.Style(name=name, family="paragraph")
        props = {"fontsize": size}
        if bold:
            props["fontweight"] = "bold"
        st.addElement(style.TextProperties(**props))
        st.addElement(style.ParagraphProperties(marginbottom="0.2cm", margintop="0.2cm"))
        doc.styles.addElement(st)
        return st

    title_st = pstyle("Title", "18pt", True)
    h1_st = pstyle("Heading 1", "14pt", True)
    h2_st = pstyle("Heading 2", "12pt", True)
    body_st = pstyle("Text body", "11pt")

    bullets = text.ListStyle(name="Bullets")
    bullets.addElement(text.ListLevelStyleBullet(level=1, bulletchar="\u2022"))
    numbers = text.ListStyle(name="Numbers")
    numbers.addElement(text.ListLevelStyleNumber(level=1, numformat="1", numsuffix="."))
    doc.automaticstyles.addElement(bullets)
    doc.automaticstyles.addElement(numbers)

    doc.text.addElement(text.P(stylename=title_st, text=meta["title"]))
    for kind, payload in blocks(body):
        if kind in ("h1", "h2"):
            doc.text.addElement(text.H(outlinelevel=1, stylename=h1_st, text=payload))
        elif kind == "h3":
            doc.text.addElement(text.H(outlinelevel=2, stylename=h2_st, text=payload))
        elif kind == "p":
            doc.text.addElement(text.P(stylename=body_st, text=payload))
        else:
            lst = text.List(stylename=bullets if kind == "ul" else numbers)
            for item in payload:
                li = text.ListItem()
                li.addElement(text.P(stylename=body_st, text=item))
                lst.addElement(li)
            doc.text.addElement(lst)
    buf = io.BytesIO()
    doc.write(buf)
    out.write_bytes(normalise_zip(buf.getvalue(), doc_datetime(meta)))


MAKERS = {"pdf": make_pdf, "docx": make_docx, "odt": make_odt}


def main(argv: list[str]) -> int:
    outdir = Path(argv[1]) if len(argv) > 1 else HERE / "files"
    sources = sorted(SRC.glob("*/*.md"))
    if not sources:
        print(f"no sources under {SRC}", file=sys.stderr)
        return 1
    for src in sources:
        meta, body = parse_source(src)
        fmt = meta["format"].lower()
        if fmt not in MAKERS:
            print(f"{src}: unknown format {fmt!r}", file=sys.stderr)
            return 1
        dest = outdir / src.parent.name / f"{src.stem}.{fmt}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        MAKERS[fmt](meta, body, dest)
        print(f"{dest} ({dest.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
