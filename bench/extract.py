"""Extraction speed per format and peak memory on the largest allowed file.

    .venv/bin/python bench/extract.py [--files 40] [--big-mb 50]

Generates a set of documents per format (PDF with fpdf2, DOCX with python-docx, ODT with
odfpy, PPTX and XLSX written part by part, HTML, TXT, Markdown), a few pages of prose
each, and times :func:`connectors.extract.extract` over them (files/s, MB/s of input),
then the same files through :class:`~connectors.extract.IsolatedExtractor`, the child
process the connectors read with (its pipe and pickling cost; child start-up excluded).
Then, in a fresh process each, extracts the largest files the default limits allow: a
text file of ``--big-mb`` MB (``max_bytes``), an Excel file whose sheet unpacks to about
three times that, and a PDF of ``max_pages`` pages, and reports the process's peak RSS
above what it used before reading. It is not a test.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connectors.extract import IsolatedExtractor, Limits, extract  # noqa: E402

WORDS = (
    "demande accès information délai réponse consultation programme politique request access "
    "information deadline answer consultation program policy fraud audit budget contract "
    "travail télétravail équipe team procurement approvisionnement rapport report annual"
).split()


def prose(rng: random.Random, paragraphs: int) -> list[str]:
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(40, 90))) + "." for _ in range(paragraphs)]


def make_pdf(rng, paras) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_author("Wei Chen")
    pdf.add_font("dejavu", fname="/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    pdf.set_font("dejavu", size=11)
    for i in range(0, len(paras), 4):
        pdf.add_page()
        pdf.multi_cell(0, 6, "\n\n".join(paras[i : i + 4]))
    return bytes(pdf.output())


def make_docx(rng, paras) -> bytes:
    import docx

    document = docx.Document()
    document.core_properties.author = "Wei Chen"
    for para in paras:
        document.add_paragraph(para)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def make_odt(rng, paras) -> bytes:
    from odf import meta
    from odf.opendocument import OpenDocumentText
    from odf.text import P

    document = OpenDocumentText()
    document.meta.addElement(meta.InitialCreator(text="Hélène Côté"))
    for para in paras:
        document.text.addElement(P(text=para))
    out = io.BytesIO()
    document.write(out)
    return out.getvalue()


def make_pptx(rng, paras) -> bytes:
    from tests.test_extract_hostile import CORE, RELS, A, P, R

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        ids = "".join(f'<p:sldId id="{256 + i}" r:id="rId{i + 1}"/>' for i in range(len(paras)))
        z.writestr(
            "ppt/presentation.xml",
            f'<p:presentation xmlns:p="{P}" xmlns:r="{R}"><p:sldIdLst>{ids}</p:sldIdLst></p:presentation>',
        )
        rels = "".join(
            f'<Relationship Id="rId{i + 1}" Target="slides/slide{i + 1}.xml"/>' for i in range(len(paras))
        )
        z.writestr("ppt/_rels/presentation.xml.rels", f'<Relationships xmlns="{RELS}">{rels}</Relationships>')
        for i, para in enumerate(paras):
            z.writestr(
                f"ppt/slides/slide{i + 1}.xml",
                f'<p:sld xmlns:p="{P}" xmlns:a="{A}"><p:cSld><p:spTree><p:sp><p:txBody>'
                f"<a:p><a:r><a:t>{para}</a:t></a:r></a:p></p:txBody></p:sp></p:spTree></p:cSld></p:sld>",
            )
        z.writestr("docProps/core.xml", CORE.format(title="Deck", creator="Wei Chen", editor=""))
    return out.getvalue()


def make_xlsx(rng, paras, rows: int | None = None) -> bytes:
    from tests.test_extract_hostile import CORE, RELS, R, S

    rows = rows or len(paras) * 20
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(
            "xl/workbook.xml",
            f'<workbook xmlns="{S}" xmlns:r="{R}"><sheets><sheet name="Data" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )
        z.writestr(
            "xl/_rels/workbook.xml.rels",
            f'<Relationships xmlns="{RELS}"><Relationship Id="rId1" Target="worksheets/sheet1.xml"/></Relationships>',
        )
        z.writestr(
            "xl/sharedStrings.xml",
            f'<sst xmlns="{S}">' + "".join(f"<si><t>{w}</t></si>" for w in WORDS) + "</sst>",
        )
        with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(f'<worksheet xmlns="{S}"><sheetData>'.encode())
            for r in range(rows):
                sheet.write(
                    (
                        f'<row r="{r + 1}"><c t="s"><v>{rng.randrange(len(WORDS))}</v></c>'
                        f"<c><v>{rng.randrange(10**6)}</v></c><c><v>{rng.random():.4f}</v></c></row>"
                    ).encode()
                )
            sheet.write(b"</sheetData></worksheet>")
        z.writestr("docProps/core.xml", CORE.format(title="Sheet", creator="Wei Chen", editor=""))
    return out.getvalue()


def make_html(rng, paras) -> bytes:
    body = "".join(f"<p>{p}</p>" for p in paras)
    return f'<html lang="fr"><head><title>Page</title><meta name="author" content="Wei Chen"></head><body><main>{body}</main></body></html>'.encode()


def make_txt(rng, paras) -> bytes:
    return "\n\n".join(paras).encode("latin-1")  # undeclared latin-1: charset detection runs


def make_md(rng, paras) -> bytes:
    return ("---\ntitle: Note\nauthor: Wei Chen\n---\n# Note\n\n" + "\n\n".join(paras)).encode()


MAKERS = {
    ".pdf": make_pdf,
    ".docx": make_docx,
    ".odt": make_odt,
    ".pptx": make_pptx,
    ".xlsx": make_xlsx,
    ".html": make_html,
    ".txt": make_txt,
    ".md": make_md,
}


def peak_rss(path: Path) -> dict:
    """Extract *path* in a fresh process; its peak RSS (VmHWM: ru_maxrss would carry the
    forking parent's peak across exec) after the imports, and after extracting."""
    code = (
        "import json, sys, time\n"
        "def hwm():\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith('VmHWM:'):\n"
        "            return int(line.split()[1])\n"
        "sys.path.insert(0, sys.argv[2])\n"
        "from connectors.extract import extract\n"
        "import pypdf, docx, defusedxml.ElementTree, bs4, charset_normalizer\n"
        "before = hwm()\n"
        "data = open(sys.argv[1], 'rb').read()\n"
        "t = time.perf_counter(); parsed = extract(data, '.' + sys.argv[1].rsplit('.', 1)[1])\n"
        "seconds = time.perf_counter() - t\n"
        "after = hwm()\n"
        "print(json.dumps({'before_kb': before, 'after_kb': after, 'seconds': seconds, 'chars': len(parsed.text)}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path), str(Path(__file__).resolve().parent.parent)],
        capture_output=True,
        text=True,
    )
    if out.returncode:
        raise SystemExit(f"extracting {path.name} failed: {out.stderr.strip().splitlines()[-1]}")
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=40, help="documents per format")
    parser.add_argument("--paragraphs", type=int, default=24, help="paragraphs per document")
    parser.add_argument("--big-mb", type=int, default=50, help="size of the big text file (MB)")
    parser.add_argument(
        "--pdf-pages", type=int, default=Limits.max_pages, help="pages of the big PDF (0: none)"
    )
    args = parser.parse_args()
    rng = random.Random(21)
    limits = Limits()
    print(
        f"{'format':<6} {'files':>5} {'MB':>7} {'files/s':>9} {'MB/s':>7}   isolated: {'files/s':>8} {'MB/s':>7}"
    )
    with IsolatedExtractor() as isolated:
        isolated.extract(b"warm up: the child loads its readers", ".txt", limits)
        for suffix, make in MAKERS.items():
            blobs = [make(rng, prose(rng, args.paragraphs)) for _ in range(args.files)]
            size = sum(map(len, blobs))
            rates = []
            for read in (extract, isolated.extract):
                started = time.perf_counter()
                for blob in blobs:
                    read(blob, suffix, limits)
                seconds = time.perf_counter() - started
                rates.append((len(blobs) / seconds, size / 1e6 / seconds))
            (fps, mbps), (ifps, imbps) = rates
            print(
                f"{suffix[1:]:<6} {len(blobs):>5} {size / 1e6:>7.2f} {fps:>9.1f} {mbps:>7.2f}"
                f"             {ifps:>8.1f} {imbps:>7.2f}"
            )
    with tempfile.TemporaryDirectory() as tmp:
        big_txt = Path(tmp) / "big.txt"
        line = " ".join(WORDS) + "\n"
        target = args.big_mb * 1024 * 1024 - 1
        with big_txt.open("w", encoding="utf-8") as handle:
            written = 0
            while written + len(line.encode()) <= target:
                handle.write(line)
                written += len(line.encode())
        big_xlsx = Path(tmp) / "big.xlsx"
        big_xlsx.write_bytes(make_xlsx(rng, [], rows=1_400_000))
        big_pdf = Path(tmp) / "big.pdf"
        if args.pdf_pages:
            big_pdf.write_bytes(make_pdf(rng, prose(rng, 4 * args.pdf_pages)))
        for path in (big_txt, big_xlsx, big_pdf) if args.pdf_pages else (big_txt, big_xlsx):
            with zipfile.ZipFile(path) if path.suffix == ".xlsx" else open(path, "rb") as handle:
                unpacked = (
                    sum(i.file_size for i in handle.infolist())
                    if path.suffix == ".xlsx"
                    else path.stat().st_size
                )
            rss = peak_rss(path)
            print(
                f"peak RSS extracting {path.name} ({path.stat().st_size / 1e6:.1f} MB on disk, "
                f"{unpacked / 1e6:.1f} MB unpacked): {rss['after_kb'] / 1024:.0f} MB "
                f"({(rss['after_kb'] - rss['before_kb']) / 1024:.0f} MB above the {rss['before_kb'] / 1024:.0f} MB "
                f"after imports, file read included), {rss['seconds']:.1f}s, {rss['chars']} characters kept"
            )


if __name__ == "__main__":
    main()
