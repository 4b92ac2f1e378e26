"""A folder tree (a mounted file share): one document per supported file.

Client part: a sorted, deterministic walk with include/exclude globs and a size limit.
Mapping part: one reader per format (HTML, text, Markdown, PDF, Word, OpenDocument)
returning title, text, authors, dates and language; the file's mtime fills gaps.
"""

from __future__ import annotations

import io
import logging
import os
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote
from xml.etree import ElementTree

from connectors._text import (
    as_str_list,
    decode_bytes,
    extract_html,
    front_matter,
    join_blocks,
    markdown_blocks,
    normalise_language,
    parse_date,
    split_keywords,
)
from connectors.base import (
    Checkpoint,
    Connector,
    ConnectorConfigError,
    Contribution,
    Document,
    Exclusion,
    Failure,
    Item,
    Person,
    Role,
    SourceUnavailableError,
    register,
    setting,
)

log = logging.getLogger(__name__)


def _quiet_pypdf() -> None:
    """pypdf logs a warning for every oddity of a damaged PDF, mid-crawl, on the terminal.
    Such a file is reported as a failure with its reason; pypdf's own account is
    debug detail, shown with ``-vv`` only."""
    logging.getLogger("pypdf").setLevel(logging.NOTSET if log.isEnabledFor(logging.DEBUG) else logging.ERROR)


DEFAULT_INCLUDE = ("*.html", "*.htm", "*.txt", "*.md", "*.pdf", "*.docx", "*.odt")


@dataclass
class FilesSettings:
    root: str = setting(label="Folder", help="The folder to read, e.g. a mounted file share.")
    include: list[str] = setting(
        default_factory=lambda: list(DEFAULT_INCLUDE),
        label="Include",
        help="Glob patterns of the files to read, matched against the path inside the folder.",
    )
    exclude: list[str] = setting(
        default_factory=list, label="Exclude", help="Glob patterns of files or folders to skip."
    )
    max_bytes: int = setting(
        50 * 1024 * 1024, label="Maximum file size", help="Bigger files are reported, not read."
    )
    kind: str = setting("file", label="Document kind", help="What the files are: file, page or post.")
    base_url: str = setting(
        "",
        label="Base URL",
        help="When set, a file's link is this URL followed by its path; else a file:// link.",
    )


class FileError(Exception):
    """One file cannot be read; the message is the reason an admin sees."""


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


@register("files")
class FilesConnector(Connector):
    """Read the documents of a folder tree."""

    Settings = FilesSettings
    document_kinds = ("file", "page", "post")
    #: a Checkpoint is yielded after this many files read
    checkpoint_every: ClassVar[int] = 50

    # -- client ---------------------------------------------------------------------
    def _root(self) -> Path:
        root = Path(self.settings.root).expanduser()
        if not root.is_dir():
            raise ConnectorConfigError(f"folder {str(root)!r} does not exist or is not a folder: check root")
        if not os.access(root, os.R_OK | os.X_OK):
            raise ConnectorConfigError(
                f"folder {str(root)!r} is not readable by the crawler: check its permissions"
            )
        if self.settings.kind not in self.document_kinds:
            kinds = ", ".join(self.document_kinds)
            raise ConnectorConfigError(f"kind {self.settings.kind!r} is not one of {kinds}: check kind")
        return root

    def check(self) -> None:
        self._root()

    def _walk(self) -> tuple[list[tuple[str, Path]], list[tuple[str, str]]]:
        """(POSIX relative path, path) of every file to read, sorted by relative path,
        and (relative folder, reason) of every folder that could not be listed.

        Files left out on purpose are kept in ``self._left_out`` as (relative path, kind):
        ``type`` (no reader for it) or ``scope`` (include/exclude)."""
        root = self._root()
        real_root = root.resolve()
        found: list[tuple[str, Path]] = []
        unlisted: list[tuple[str, str]] = []
        self._left_out: list[tuple[str, str]] = []

        def onerror(exc: OSError) -> None:
            folder = Path(exc.filename).relative_to(root).as_posix() if exc.filename else "?"
            unlisted.append((folder, exc.strerror or type(exc).__name__))

        for dirpath, dirnames, filenames in os.walk(root, onerror=onerror):
            base = Path(dirpath)
            rel_dir = base.relative_to(root).as_posix()
            dirnames[:] = sorted(
                d
                for d in dirnames
                if not d.startswith(".") and not self._excluded(_join(rel_dir, d), folder=True)
            )
            for name in filenames:
                rel, path = _join(rel_dir, name), base / name
                if name.startswith((".", "~$")):
                    continue
                if path.suffix.lower() not in READERS:
                    self._left_out.append((rel, "type"))
                    continue
                if path.is_symlink() and real_root not in path.resolve().parents:
                    continue  # never read outside the configured folder
                if self._included(rel) and not self._excluded(rel):
                    found.append((rel, path))
                else:
                    self._left_out.append((rel, "scope"))
        return sorted(found), sorted(unlisted)

    def _included(self, rel: str) -> bool:
        return any(_glob(rel, pattern) for pattern in self.settings.include)

    def _excluded(self, rel: str, *, folder: bool = False) -> bool:
        return any(_glob(rel, p) or (folder and _glob(rel + "/", p)) for p in self.settings.exclude)

    def ids(self) -> Iterable[str]:
        files, unlisted = self._walk()
        if unlisted:  # a partial listing must not turn into deletions
            folder, reason = unlisted[0]
            raise SourceUnavailableError(
                f"cannot list folder {folder!r} under root ({reason}): check its permissions"
            )
        return [self.doc_id(rel) for rel, _ in files]

    # -- the run ----------------------------------------------------------------------
    def documents(self, checkpoint: Checkpoint | None = None) -> Iterator[Item]:
        state = checkpoint.state if checkpoint else {}
        if "after" in state:  # resume a run that stopped mid-way
            since, after, newest = state.get("since"), state["after"], int(state.get("max", 0))
        else:
            since, after, newest = state.get("mtime"), None, int(state.get("mtime") or 0)
        # files that failed last time are read again (and reported again) until they are fixed
        retry = set(state.get("retry", []))
        failed: list[str] = list(state.get("failed", []))
        read = 0
        files, unlisted = self._walk()
        for folder, reason in unlisted:
            yield Failure(
                self.doc_id(folder + "/"), f"{folder}/: cannot list folder ({reason})", transient=True
            )
        if after is None:  # counted once per run, not again when a run resumes
            for rel, kind in sorted(self._left_out):
                why = "no reader for this type of file" if kind == "type" else "left out by include/exclude"
                yield Exclusion(self.doc_id(rel), kind, f"{rel}: {why}")
        for rel, path in files:
            if after is not None and rel <= after:
                continue
            try:
                stat = path.stat()
            except OSError as exc:
                yield Failure(self.doc_id(rel), f"{rel}: cannot read ({exc.strerror})")
                continue
            # ctime too: a file copied or moved in with an old mtime is still new here
            changed = max(stat.st_mtime_ns, stat.st_ctime_ns)
            newest = max(newest, changed)
            if since is not None and changed <= int(since) and rel not in retry:
                continue
            item = self._read(rel, path, stat)
            if isinstance(item, Failure):
                failed.append(rel)
            yield item
            read += 1
            if read % self.checkpoint_every == 0:
                yield Checkpoint(
                    {"since": since, "after": rel, "max": newest, "retry": sorted(retry), "failed": failed}
                )
        final: dict[str, Any] = {"mtime": newest}
        if failed:
            final["retry"] = sorted(set(failed))
        yield Checkpoint(final)

    def _read(self, rel: str, path: Path, stat: os.stat_result) -> Document | Failure:
        doc_id = self.doc_id(rel)
        if stat.st_size > self.settings.max_bytes:
            return Failure(
                doc_id,
                f"{rel}: {stat.st_size} bytes is over the {self.settings.max_bytes}-byte limit (max_bytes)",
            )
        try:
            data = path.read_bytes()
        except OSError as exc:
            return Failure(doc_id, f"{rel}: cannot read ({exc.strerror})")
        try:
            parsed = READERS[path.suffix.lower()](data, path, self.settings.max_bytes)
        except FileError as exc:
            return Failure(doc_id, f"{rel}: {_one_line(exc)}")
        except Exception as exc:  # third-party parsers raise anything on damaged files
            log.debug("%s: %s failed to parse", self.source.id, rel, exc_info=True)
            return Failure(
                doc_id,
                f"{rel}: unreadable {path.suffix.lower()} file ({type(exc).__name__}: {_one_line(exc)})",
            )
        if not parsed.text.strip():
            return Failure(doc_id, f"{rel}: no text")
        return self._document(rel, path, stat, parsed)

    # -- mapping ----------------------------------------------------------------------
    def _document(self, rel: str, path: Path, stat: os.stat_result, parsed: Parsed) -> Document:
        mtime = datetime.fromtimestamp(stat.st_mtime_ns // 10**9, UTC).replace(
            microsecond=(stat.st_mtime_ns // 1000) % 10**6
        )
        created, modified = parsed.created or mtime, parsed.modified or mtime
        size = len(parsed.text)
        contributions = [
            Contribution(p, Role.AUTHOR, time=created, size=size) for p in dict.fromkeys(parsed.authors)
        ]
        names = {p.name.casefold() for p in parsed.authors}
        if parsed.editor and parsed.editor.name.casefold() not in names:
            contributions.append(Contribution(parsed.editor, Role.EDITOR, time=modified))
        url = self.settings.base_url + quote(rel) if self.settings.base_url else path.resolve().as_uri()
        return Document(
            id=self.doc_id(rel),
            url=url,
            title=parsed.title.strip() or path.name,
            text=parsed.text,
            kind=self.settings.kind,
            language=parsed.language,
            created=created,
            modified=modified,
            contributions=tuple(contributions),
            tags=parsed.tags,
            source=self.source.id,
            agency=self.source.agency,
        )


# -- readers: bytes -> Parsed ---------------------------------------------------------


def read_html(data: bytes, path: Path, limit: int) -> Parsed:
    page = extract_html(decode_bytes(data, html=True))
    email = page.first("author-email", "author_email")
    authors = [
        Person(n.strip(), email if i == 0 else None)
        for i, n in enumerate(dict.fromkeys(page.meta.get("author", [])))
        if n.strip()
    ]
    return Parsed(
        title=page.title,
        text=page.text,
        language=page.language,
        authors=authors,
        created=parse_date(page.first("dcterms.created", "article:published_time", "date")),
        modified=parse_date(page.first("dcterms.modified", "article:modified_time")),
        tags=split_keywords(page.first("keywords")),
    )


def read_txt(data: bytes, path: Path, limit: int) -> Parsed:
    text = decode_bytes(data).replace("\r\n", "\n").replace("\r", "\n")
    blocks = [
        "\n".join(line.strip() for line in para.strip().split("\n")) for para in re.split(r"\n\s*\n", text)
    ]
    first = next((line.strip() for line in text.split("\n") if line.strip()), "")
    return Parsed(title=first[:200], text=join_blocks(blocks))


def read_markdown(data: bytes, path: Path, limit: int) -> Parsed:
    meta, body = front_matter(decode_bytes(data).replace("\r\n", "\n"))
    blocks, first_heading = markdown_blocks(body)
    authors = [
        Person(name, meta.get("author_email") if i == 0 else None)
        for i, name in enumerate(as_str_list(meta.get("author") or meta.get("authors")))
    ]
    editor = as_str_list(meta.get("last_modified_by") or meta.get("editor"))
    return Parsed(
        title=str(meta.get("title") or first_heading or ""),
        text=join_blocks(blocks),
        language=normalise_language(str(meta.get("lang") or meta.get("language") or "")),
        authors=authors,
        editor=Person(editor[0]) if editor else None,
        created=parse_date(meta.get("date") or meta.get("created")),
        modified=parse_date(meta.get("modified") or meta.get("updated") or meta.get("lastmod")),
        tags=split_keywords([*as_str_list(meta.get("tags")), *as_str_list(meta.get("keywords"))]),
    )


def read_pdf(data: bytes, path: Path, limit: int) -> Parsed:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    _quiet_pypdf()
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise FileError("encrypted PDF: it needs a password")
        pages = [page.extract_text() or "" for page in reader.pages]
    except PdfReadError as exc:
        raise FileError(f"damaged or not a PDF ({_one_line(exc)})") from None
    blocks = [
        "\n".join(" ".join(line.split()) for line in page.split("\n") if line.strip()) for page in pages
    ]
    info = reader.metadata or {}
    root = reader.trailer.get("/Root", {})
    return Parsed(
        title=str(info.get("/Title") or ""),
        text=join_blocks(blocks),
        language=normalise_language(str(root.get("/Lang") or "")) if hasattr(root, "get") else None,
        authors=[Person(str(info["/Author"]).strip())] if str(info.get("/Author") or "").strip() else [],
        created=parse_date(info.get("/CreationDate")),
        modified=parse_date(info.get("/ModDate")),
        tags=split_keywords(str(info.get("/Keywords") or "")),
    )


def read_docx(data: bytes, path: Path, limit: int) -> Parsed:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError) as exc:
        raise FileError(f"not a Word .docx file ({_one_line(exc) or type(exc).__name__})") from None
    blocks: list[str] = []
    for part in document.iter_inner_content():
        if hasattr(part, "rows"):
            for row in part.rows:
                cells = list(dict.fromkeys(cell.text.strip() for cell in row.cells if cell.text.strip()))
                blocks.append(" ".join(cells))
        else:
            blocks.append(" ".join(part.text.split()))
    props = document.core_properties
    return Parsed(
        title=props.title or "",
        text=join_blocks(blocks),
        language=normalise_language(props.language),
        authors=[Person(props.author.strip())] if (props.author or "").strip() else [],
        editor=Person(props.last_modified_by.strip()) if (props.last_modified_by or "").strip() else None,
        created=parse_date(props.created),
        modified=parse_date(props.modified),
        tags=split_keywords(props.keywords),
    )


ODF = {
    "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
    "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
    "meta": "urn:oasis:names:tc:opendocument:xmlns:meta:1.0",
    "dc": "http://purl.org/dc/elements/1.1/",
}


def _odf(name: str) -> str:
    prefix, local = name.split(":")
    return f"{{{ODF[prefix]}}}{local}"


def read_odt(data: bytes, path: Path, limit: int) -> Parsed:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            content, meta = (_zip_xml(archive, name, limit) for name in ("content.xml", "meta.xml"))
    except zipfile.BadZipFile as exc:
        raise FileError(f"not an OpenDocument file ({_one_line(exc)})") from None
    if content is None:
        raise FileError("not an OpenDocument file (no content.xml)")
    blocks = [_odf_text(el) for el in content.iter() if el.tag in (_odf("text:h"), _odf("text:p"))]

    def value(name: str) -> str:
        found = meta.find(f".//{_odf(name)}") if meta is not None else None
        return (found.text or "").strip() if found is not None else ""

    initial, last = value("meta:initial-creator"), value("dc:creator")
    keywords = [k.text or "" for k in meta.iter(_odf("meta:keyword"))] if meta is not None else []
    return Parsed(
        title=value("dc:title"),
        text=join_blocks(blocks),
        language=normalise_language(value("dc:language")),
        authors=[Person(initial or last)] if initial or last else [],
        editor=Person(last) if initial and last else None,
        created=parse_date(value("meta:creation-date")),
        modified=parse_date(value("dc:date")),
        tags=split_keywords(keywords),
    )


def _zip_xml(archive: zipfile.ZipFile, name: str, limit: int) -> ElementTree.Element | None:
    try:
        info = archive.getinfo(name)
    except KeyError:
        return None
    if info.file_size > limit:
        raise FileError(f"{name} unpacks to {info.file_size} bytes, over the limit (max_bytes)")
    try:
        return ElementTree.fromstring(archive.read(info))
    except ElementTree.ParseError as exc:
        raise FileError(f"damaged {name} ({exc})") from None


def _odf_text(element: ElementTree.Element) -> str:
    parts = [element.text or ""]
    for child in element:
        if child.tag == _odf("text:s"):
            parts.append(" " * int(child.get(_odf("text:c"), "1")))
        elif child.tag in (_odf("text:tab"), _odf("text:line-break")):
            parts.append(" ")
        elif child.tag not in (_odf("text:note"), _odf("text:p"), _odf("text:h")):
            parts.append(_odf_text(child))
        parts.append(child.tail or "")
    return " ".join("".join(parts).split())


READERS: dict[str, Callable[[bytes, Path, int], Parsed]] = {
    ".html": read_html,
    ".htm": read_html,
    ".txt": read_txt,
    ".md": read_markdown,
    ".pdf": read_pdf,
    ".docx": read_docx,
    ".odt": read_odt,
}


def _glob(rel: str, pattern: str) -> bool:
    rel, pattern = rel.lower(), pattern.lower()
    return fnmatchcase(rel, pattern) or ("/" not in pattern and fnmatchcase(rel.rsplit("/", 1)[-1], pattern))


def _join(folder: str, name: str) -> str:
    return name if folder in ("", ".") else f"{folder}/{name}"


def _one_line(value: object) -> str:
    return " ".join(str(value).split())
