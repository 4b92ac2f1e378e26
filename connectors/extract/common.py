"""What every reader shares: the limits, the running budget of one file, the result,
the error, and the filter of author names that are not people."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import datetime

from connectors.base import Person, setting

MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """How much one file may cost. Every connector that reads files exposes these as
    settings (same names) and builds one of these from them."""

    #: bigger files are reported, never read
    max_bytes: int = 50 * MB
    #: PDFs declaring more pages are reported (their text would swamp the index)
    max_pages: int = 2000
    #: text beyond this many characters is cut (the rest of a huge sheet is not searchable)
    max_chars: int = 2_000_000
    #: a zip member (Office/OpenDocument part) expanding more than this many times its
    #: compressed size, past 1 MB, is a zip bomb
    max_zip_ratio: int = 100
    #: all the parts of one Office/OpenDocument file together unpack to at most this
    max_unpacked: int = 200 * MB
    #: wall time for one file, checked between pages, parts and chunks
    max_seconds: float = 30.0
    #: extra author names to ignore (a template's owner, a shared account)
    ignore_authors: tuple[str, ...] = ()

    @classmethod
    def of(cls, settings: object) -> Limits:
        """The limits a connector's settings set (fields of the same names), defaults else."""
        values = {f: getattr(settings, f) for f in cls.__dataclass_fields__ if hasattr(settings, f)}
        if "ignore_authors" in values:
            values["ignore_authors"] = tuple(values["ignore_authors"] or ())
        return cls(**values)


@dataclass
class ExtractionSettings:
    """The settings of :class:`Limits`, declared once for every connector that reads files.

    A connector's settings inherit them *after* the fields that say where the files are,
    so that the admin form (which follows field order) shows the folder or server first::

        @dataclass
        class FilesSettings(ExtractionSettings, FilesPlace):  # FilesPlace: root, include...
            kind: str = ...

    (A dataclass takes its bases' fields in reverse method-resolution order: the place's
    fields, then these, then the class's own.) Defaults come from :class:`Limits`.
    """

    max_bytes: int = setting(
        Limits.max_bytes, label="Maximum file size", help="Bigger files are reported, not read."
    )
    max_pages: int = setting(
        Limits.max_pages, label="Maximum PDF pages", help="PDFs declaring more pages are reported, not read."
    )
    max_chars: int = setting(
        Limits.max_chars,
        label="Maximum characters",
        help="Text beyond this many characters per file is not indexed.",
    )
    max_zip_ratio: int = setting(
        Limits.max_zip_ratio,
        label="Maximum zip expansion",
        help="An Office or OpenDocument part expanding more than this many times (past 1 MB) is a zip bomb.",
    )
    max_unpacked: int = setting(
        Limits.max_unpacked,
        label="Maximum unpacked size",
        help="All the parts of one Office or OpenDocument file together unpack to at most this many bytes.",
    )
    max_seconds: float = setting(
        Limits.max_seconds, label="Time per file", help="Seconds one file may take to read."
    )
    ignore_authors: list[str] = setting(
        default_factory=list,
        label="Names that are not authors",
        help="Author names in file metadata to ignore (a template's owner, a shared account).",
    )


class FileError(Exception):
    """One file cannot be read; the message is the reason an admin sees."""


@dataclass
class Budget:
    """The limits of one file and its deadline; readers call :meth:`check` in loops."""

    limits: Limits
    deadline: float
    unpacked: int = 0

    def check(self) -> None:
        if time.monotonic() > self.deadline:
            raise FileError(f"took longer than {self.limits.max_seconds:g}s to read (max_seconds)")

    def clip(self, text: str) -> str:
        return text[: self.limits.max_chars]

    def person(self, name: object, email: str | None = None) -> Person | None:
        """A :class:`Person` for a metadata name, or None when it names software or a
        placeholder account rather than someone."""
        cleaned = " ".join(str(name or "").split())
        if not cleaned or is_junk_author(cleaned, self.limits.ignore_authors):
            return None
        return Person(cleaned, email)


@dataclass
class Parsed:
    title: str = ""
    text: str = ""
    language: str | None = None
    authors: list[Person] = field(default_factory=list)
    editor: Person | None = None
    created: datetime | None = None
    modified: datetime | None = None
    tags: tuple[str, ...] = ()


#: names office suites, generators and shared accounts write when they know no person
JUNK_AUTHORS = frozenset(
    {
        "administrator",
        "administrateur",
        "admin",
        "root",
        "user",
        "utilisateur",
        "usager",
        "owner",
        "propriétaire",
        "author",
        "auteur",
        "unknown",
        "inconnu",
        "anonymous",
        "anonyme",
        "default",
        "guest",
        "invité",
        "test",
        "windows user",
        "utilisateur windows",
        "microsoft office user",
        "utilisateur de microsoft office",
        "office",
        "word",
        "excel",
        "powerpoint",
        "writer",
        "calc",
        "impress",
        "python-docx",
        "python-pptx",
        "openpyxl",
        "apache poi",
        "libreoffice",
        "openoffice",
        "openoffice.org",
        "acrobat",
        "pdfcreator",
        "fpdf",
        "fpdf2",
        "pypdf",
        "reportlab",
        "ghostscript",
        "wkhtmltopdf",
        "chrome",
        "chromium",
        "skia",
        "tcpdf",
        "dompdf",
        "itext",
        "none",
        "n/a",
        "s.o.",
    }
)
_SOFTWARE_RE = re.compile(
    r"(microsoft|adobe|acrobat|libreoffice|openoffice|pdf|distiller|latex|\btex\b|"
    r"\bword\s*\d|office\s*\d|version|\bv\d+\.\d|\d+\.\d+\.\d+|"
    r"\.(dotx?|dotm|ott|potx|xltx)$|template|modèle|gabarit|^normal$)",
    re.IGNORECASE,
)


def is_junk_author(name: str, extra: tuple[str, ...] = ()) -> bool:
    """Whether a metadata author value names software, a placeholder account or a
    template rather than a person. ``/Creator`` and ``/Producer`` never reach here."""
    folded = " ".join(name.casefold().split())
    if not folded or len(folded) < 2 or not any(c.isalpha() for c in folded):
        return True
    if folded in JUNK_AUTHORS:
        return True
    if any(folded == " ".join(e.casefold().split()) for e in extra):
        return True
    return bool(_SOFTWARE_RE.search(folded))


def one_line(value: object) -> str:
    return " ".join(str(value).split())
