"""A folder tree (a mounted file share): one document per supported file.

Client part: a sorted, deterministic walk with include/exclude globs and a size limit.
Mapping part: :mod:`connectors.extract` (HTML, text, Markdown, PDF, Word, PowerPoint,
Excel, OpenDocument) returns title, text, authors, dates and language; the file's mtime
fills gaps. Limits (size, pages, characters, zip expansion, time) are settings.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

from connectors.base import (
    Checkpoint,
    Connector,
    ConnectorConfigError,
    Contribution,
    Document,
    Exclusion,
    Failure,
    Item,
    Role,
    SourceUnavailableError,
    register,
    setting,
)
from connectors.extract import SUFFIXES, FileError, Limits, Parsed, extract, one_line

log = logging.getLogger(__name__)


DEFAULT_INCLUDE = ("*.html", "*.htm", "*.txt", "*.md", "*.pdf", "*.docx", "*.odt", "*.pptx", "*.xlsx")


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
    max_pages: int = setting(
        2000, label="Maximum PDF pages", help="PDFs declaring more pages are reported, not read."
    )
    max_chars: int = setting(
        2_000_000,
        label="Maximum characters",
        help="Text beyond this many characters per file is not indexed.",
    )
    max_zip_ratio: int = setting(
        100,
        label="Maximum zip expansion",
        help="An Office or OpenDocument part expanding more than this many times (past 1 MB) is a zip bomb.",
    )
    max_unpacked: int = setting(
        200 * 1024 * 1024,
        label="Maximum unpacked size",
        help="All the parts of one Office or OpenDocument file together unpack to at most this many bytes.",
    )
    max_seconds: float = setting(30.0, label="Time per file", help="Seconds one file may take to read.")
    ignore_authors: list[str] = setting(
        default_factory=list,
        label="Names that are not authors",
        help="Author names in file metadata to ignore (a template's owner, a shared account).",
    )
    kind: str = setting("file", label="Document kind", help="What the files are: file, page or post.")
    base_url: str = setting(
        "",
        label="Base URL",
        help="When set, a file's link is this URL followed by its path; else a file:// link.",
    )


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
        if stat.st_size == 0:
            return Failure(doc_id, f"{rel}: empty file (0 bytes)")
        if stat.st_size > self.settings.max_bytes:
            return Failure(
                doc_id,
                f"{rel}: {stat.st_size} bytes is over the {self.settings.max_bytes}-byte limit (max_bytes)",
            )
        try:
            with path.open("rb") as handle:  # a file growing since stat() is still cut at the limit
                data = handle.read(self.settings.max_bytes + 1)
        except OSError as exc:
            return Failure(doc_id, f"{rel}: cannot read ({exc.strerror})")
        try:
            parsed = extract(data, path.suffix, Limits.of(self.settings))
        except FileError as exc:
            return Failure(doc_id, f"{rel}: {one_line(exc)}")
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


READERS = SUFFIXES


def _glob(rel: str, pattern: str) -> bool:
    rel, pattern = rel.lower(), pattern.lower()
    return fnmatchcase(rel, pattern) or ("/" not in pattern and fnmatchcase(rel.rsplit("/", 1)[-1], pattern))


def _join(folder: str, name: str) -> str:
    return name if folder in ("", ".") else f"{folder}/{name}"


def _one_line(value: object) -> str:
    return " ".join(str(value).split())
