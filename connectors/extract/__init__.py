"""Text and authorship out of a file's bytes, shared by every connector that reads files
(``files``, ``webdav``, ``smb``).

One module per format family: :mod:`.pdf`, :mod:`.ooxml` (Word, PowerPoint, Excel),
:mod:`.odf` (OpenDocument), :mod:`.plain` (HTML, text, Markdown). :func:`extract` picks
the reader by the file's suffix, applies the :class:`Limits` and turns every way a file
can be broken into a :class:`FileError` whose message is the reason an admin sees.
Connectors turn that into a :class:`~connectors.base.Failure`; nothing here raises
anything else (third-party parsers raise anything on damaged files, so they are
wrapped once, here).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from connectors.extract.common import Budget, ExtractionSettings, FileError, Limits, Parsed, one_line
from connectors.extract.isolate import IsolatedExtractor

__all__ = [
    "Budget",
    "ExtractionSettings",
    "FileError",
    "IsolatedExtractor",
    "Limits",
    "Parsed",
    "READERS",
    "SUFFIXES",
    "extract",
    "one_line",
]

log = logging.getLogger(__name__)


def _readers() -> dict[str, Callable[[bytes, Budget], Parsed]]:
    from connectors.extract import odf, ooxml, pdf, plain

    return {
        ".html": plain.read_html,
        ".htm": plain.read_html,
        ".txt": plain.read_txt,
        ".md": plain.read_markdown,
        ".pdf": pdf.read_pdf,
        ".docx": ooxml.read_docx,
        ".pptx": ooxml.read_pptx,
        ".xlsx": ooxml.read_xlsx,
        ".odt": odf.read_odt,
    }


READERS = _readers()
#: the suffixes Savoir can read, lower case with the dot
SUFFIXES = frozenset(READERS)


def extract(data: bytes, suffix: str, limits: Limits | None = None) -> Parsed:
    """Read *data* as a file ending in *suffix*; raise :class:`FileError` with the reason.

    The returned text is at most ``limits.max_chars`` characters; a file with no text
    at all is an error ("no text"), an empty file too ("empty file").
    """
    limits = limits or Limits()
    suffix = suffix.lower()
    reader = READERS.get(suffix)
    if reader is None:
        raise FileError(f"no reader for {suffix or 'files without a suffix'}")
    if not data:
        raise FileError("empty file (0 bytes)")
    if len(data) > limits.max_bytes:
        raise FileError(f"{len(data)} bytes is over the {limits.max_bytes}-byte limit (max_bytes)")
    budget = Budget(limits, time.monotonic() + limits.max_seconds)
    try:
        parsed = reader(data, budget)
    except FileError:
        raise
    except RecursionError:
        raise FileError(f"unreadable {suffix} file (nested too deeply)") from None
    except MemoryError:
        raise FileError(f"unreadable {suffix} file (ran out of memory)") from None
    except Exception as exc:  # noqa: BLE001 - a damaged file makes parsers raise anything
        log.debug("%s reader failed", suffix, exc_info=True)
        raise FileError(f"unreadable {suffix} file ({type(exc).__name__}: {one_line(exc)[:200]})") from None
    budget.check()
    parsed.text = budget.clip(parsed.text)
    if not parsed.text.strip():
        raise FileError("no text")
    return parsed
