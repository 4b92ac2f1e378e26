"""PDF through pypdf: text page by page, ``/Author`` from the Info dictionary, else the
XMP ``dc:creator``. ``/Creator`` and ``/Producer`` name the software that made the file,
never a person, and are not read."""

from __future__ import annotations

import io
import logging

from connectors._text import join_blocks, normalise_language, parse_date, split_keywords
from connectors.extract.common import Budget, FileError, Parsed, one_line

log = logging.getLogger(__name__)


def _quiet_pypdf() -> None:
    """pypdf logs a warning for every oddity of a damaged PDF, mid-crawl, on the terminal.
    Such a file is reported as a failure with its reason; pypdf's own account is
    debug detail, shown with ``-vv`` only."""
    logging.getLogger("pypdf").setLevel(logging.NOTSET if log.isEnabledFor(logging.DEBUG) else logging.ERROR)


def read_pdf(data: bytes, budget: Budget) -> Parsed:
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PdfReadError

    _quiet_pypdf()
    if not data.lstrip()[:1024].find(b"%PDF-") >= 0:
        raise FileError("not a PDF (no %PDF- header)")
    if b"%%EOF" not in data[-2048:]:
        raise FileError("truncated PDF (no %%EOF marker at its end)")
    limits = budget.limits
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")
            except (NotImplementedError, FileNotDecryptedError):
                opened = 0
            if not opened:
                raise FileError("encrypted PDF: it needs a password")
        try:
            declared = int(reader.root_object["/Pages"].get("/Count", 0))
        except (KeyError, TypeError, ValueError, AttributeError):
            declared = 0
        if declared > limits.max_pages:
            raise FileError(
                f"PDF declares {declared} pages, over the {limits.max_pages}-page limit (max_pages)"
            )
        pages: list[str] = []
        chars = 0
        for index, page in enumerate(reader.pages):
            if index >= limits.max_pages:
                raise FileError(f"PDF has more than {limits.max_pages} pages (max_pages)")
            budget.check()
            text = page.extract_text() or ""
            pages.append(text)
            chars += len(text)
            if chars > limits.max_chars:
                break
        info = reader.metadata or {}
        root = reader.root_object
        xmp_creators = _xmp_creators(reader)
    except FileError:
        raise
    except (FileNotDecryptedError, NotImplementedError) as exc:
        raise FileError(f"encrypted PDF ({one_line(exc)})") from None
    except PdfReadError as exc:
        raise FileError(f"damaged or not a PDF ({one_line(exc)})") from None
    blocks = [
        "\n".join(" ".join(line.split()) for line in page.split("\n") if line.strip()) for page in pages
    ]
    authors = [p for p in (budget.person(n) for n in _split_authors(str(info.get("/Author") or ""))) if p]
    if not authors:
        authors = [p for p in (budget.person(n) for n in xmp_creators) if p]
    lang = root.get("/Lang") if hasattr(root, "get") else None
    return Parsed(
        title=" ".join(str(info.get("/Title") or "").split()),
        text=join_blocks(blocks),
        language=normalise_language(str(lang or "")),
        authors=list(dict.fromkeys(authors)),
        created=parse_date(info.get("/CreationDate")),
        modified=parse_date(info.get("/ModDate")),
        tags=split_keywords(str(info.get("/Keywords") or "")),
    )


def _split_authors(value: str) -> list[str]:
    """``"A; B"`` names two people; ``"Tremblay, Geneviève"`` one."""
    return [part for part in value.split(";") if part.strip()]


def _xmp_creators(reader) -> list[str]:
    try:
        xmp = reader.xmp_metadata
        return [str(c) for c in (xmp.dc_creator or [])] if xmp is not None else []
    except Exception:  # noqa: BLE001 - a broken XMP packet only loses the fallback
        log.debug("unreadable XMP metadata", exc_info=True)
        return []
