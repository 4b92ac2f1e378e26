"""A folder tree (a mounted file share): one document per supported file.

Client part: a sorted, deterministic walk with include/exclude globs. Symbolic links
never lead out of the folder: a link to a file is read only when its target is inside
the folder, a link to a folder is never followed (no loops, no file read twice), and a
broken link or a link loop is left out with its reason. Each file's mtime, ctime and
size make its signature; an incremental run reads only the files whose signature
changed and re-extracts only those whose bytes hash differently, and yields a
:class:`Deletion` for files gone (unless a folder could not be listed).
Mapping part: :mod:`connectors.extract` (HTML, text, Markdown, PDF, Word, PowerPoint,
Excel, OpenDocument) returns title, text, authors, dates and language; the file's mtime
fills gaps. Limits (size, pages, characters, zip expansion, time) are settings, and the
time limit is hard: extraction runs in a child process killed when a file hangs.
ACLs and tags per folder come from the settings (``folder_acl``, ``folder_tags``).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar
from urllib.parse import quote

from connectors import docstore
from connectors.base import (
    Checkpoint,
    Connector,
    ConnectorConfigError,
    Document,
    Failure,
    Item,
    SourceUnavailableError,
    register,
    setting,
)
from connectors.extract import (
    SUFFIXES,
    ExtractionSettings,
    FileError,
    IsolatedExtractor,
    Limits,
    Parsed,
    one_line,
)

log = logging.getLogger(__name__)

DEFAULT_INCLUDE = ("*.html", "*.htm", "*.txt", "*.md", "*.pdf", "*.docx", "*.odt", "*.pptx", "*.xlsx")


@dataclass
class FilesPlace:
    """Which files: the first fields of the form."""

    root: str = setting(label="Folder", help="The folder to read, e.g. a mounted file share.")
    include: list[str] = setting(
        default_factory=lambda: list(DEFAULT_INCLUDE),
        label="Include",
        help="Glob patterns of the files to read, matched against the path inside the folder.",
    )
    exclude: list[str] = setting(
        default_factory=list, label="Exclude", help="Glob patterns of files or folders to skip."
    )
    folder_acl: dict = setting(
        default_factory=dict,
        label="Folder ACLs",
        help='Folders whose files only some groups may see, e.g. {"hr/cases" = ["hr-advisors"]}. '
        "A file takes the groups of the deepest listed folder above it, else the source's ACL.",
    )
    folder_tags: dict = setting(
        default_factory=dict,
        label="Folder tags",
        help='Tags for every file under a folder, e.g. {"policies" = ["policy"]}.',
    )


@dataclass
class FilesSettings(ExtractionSettings, FilesPlace):
    """The place's fields first in the form, then the extraction limits, then these."""

    kind: str = setting("file", label="Document kind", help="What the files are: file, page or post.")
    base_url: str = setting(
        "",
        label="Base URL",
        help="When set, a file's link is this URL followed by its path; else a file:// link.",
    )


@dataclass(frozen=True)
class Entry:
    """One file to read: its path inside the folder, the real file, and its stat."""

    rel: str
    path: Path
    stat: os.stat_result

    @property
    def signature(self) -> str:
        # ctime too: a file copied or moved in with an old mtime is still new here
        return f"{self.stat.st_mtime_ns}|{self.stat.st_ctime_ns}|{self.stat.st_size}"


@register("files")
class FilesConnector(Connector):
    """Read the documents of a folder tree."""

    Settings = FilesSettings
    document_kinds = ("file", "page", "post")
    #: a Checkpoint after this many files read, or a twentieth of the files if more: each
    #: holds every file's signature, so a big share must not write it every 50 files
    checkpoint_every: ClassVar[int] = 50
    #: the function extraction children call (tests swap in a reader that hangs)
    extract_target: ClassVar[str] = "connectors.extract:extract"

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
        self._acl = docstore.folder_rules(self.settings.folder_acl, "folder_acl")
        self._tags = docstore.folder_rules(self.settings.folder_tags, "folder_tags", "tag")
        return root

    def check(self) -> None:
        self._root()

    def acl_for(self, rel: str) -> tuple[str, ...] | None:
        self._root()
        return docstore.deepest(self._acl, rel)

    def _walk(self) -> tuple[list[Entry], list[tuple[str, str]], list[tuple[str, str, str]]]:
        """(files to read, sorted by path), (folder, reason) of folders that could not be
        listed, and (path, exclusion kind, why) of what was left out on purpose."""
        root = self._root()
        real_root = root.resolve()
        found: list[Entry] = []
        unlisted: list[tuple[str, str]] = []
        left_out: list[tuple[str, str, str]] = []

        def onerror(exc: OSError) -> None:
            folder = Path(exc.filename).relative_to(root).as_posix() if exc.filename else "?"
            unlisted.append((folder, exc.strerror or type(exc).__name__))

        for dirpath, dirnames, filenames in os.walk(root, onerror=onerror):
            base = Path(dirpath)
            rel_dir = base.relative_to(root).as_posix()
            kept = []
            for name in sorted(dirnames):
                rel = _join(rel_dir, name)
                if name.startswith(".") or docstore.excluded(rel, self.settings.exclude, folder=True):
                    continue
                if (base / name).is_symlink():
                    left_out.append((rel, "scope", "a symbolic link to a folder, not followed"))
                    continue
                kept.append(name)
            dirnames[:] = kept
            for name in filenames:
                rel, path = _join(rel_dir, name), base / name
                if name.startswith((".", "~$")):
                    continue
                if path.suffix.lower() not in SUFFIXES:
                    left_out.append((rel, "type", "no reader for this type of file"))
                    continue
                if not docstore.in_scope(rel, self.settings.include, self.settings.exclude):
                    left_out.append((rel, "scope", "left out by include/exclude"))
                    continue
                try:
                    real = path.resolve(strict=True) if path.is_symlink() else path
                    if real is not path and not real.is_relative_to(real_root):
                        left_out.append((rel, "scope", "a symbolic link to outside the folder, not followed"))
                        continue
                    stat = real.stat()
                except (OSError, RuntimeError):  # a broken link, a link loop
                    left_out.append((rel, "scope", "a symbolic link that leads nowhere (broken or a loop)"))
                    continue
                if not os.path.isfile(real):
                    left_out.append((rel, "type", "not a regular file"))
                    continue
                found.append(Entry(rel, real, stat))
        return sorted(found, key=lambda e: e.rel), sorted(unlisted), sorted(left_out)

    def ids(self) -> Iterable[str]:
        files, unlisted, _ = self._walk()
        if unlisted:  # a partial listing must not turn into deletions
            folder, reason = unlisted[0]
            raise SourceUnavailableError(
                f"cannot list folder {folder!r} under root ({reason}): check its permissions"
            )
        return [self.doc_id(entry.rel) for entry in files]

    # -- the run ----------------------------------------------------------------------
    def documents(self, checkpoint: Checkpoint | None = None) -> Iterator[Item]:
        files, unlisted, left_out = self._walk()
        with IsolatedExtractor(self.extract_target) as reader:  # a hanging reader is killed
            yield from docstore.run(
                self,
                checkpoint,
                files,
                [(folder + "/", reason) for folder, reason in unlisted],
                left_out,
                lambda entry, known_hash: self._read(entry, reader, known_hash),
            )

    def _read(
        self, entry: Entry, reader: IsolatedExtractor, known_hash: str | None
    ) -> Failure | tuple[Document | None, str]:
        """A Failure, or (the document, or None when the bytes are unchanged; their hash)."""
        doc_id, rel = self.doc_id(entry.rel), entry.rel
        limits = Limits.of(self.settings)
        if entry.stat.st_size == 0:
            return Failure(doc_id, f"{rel}: empty file (0 bytes)")
        if entry.stat.st_size > limits.max_bytes:
            return Failure(
                doc_id,
                f"{rel}: {entry.stat.st_size} bytes is over the {limits.max_bytes}-byte limit (max_bytes)",
            )
        try:
            with entry.path.open("rb") as handle:  # a file growing since stat() is still cut at the limit
                data = handle.read(limits.max_bytes + 1)
        except OSError as exc:
            return Failure(doc_id, f"{rel}: cannot read ({exc.strerror})")
        digest = hashlib.sha256(data).hexdigest()
        if digest == known_hash:
            return None, digest
        try:
            parsed = reader.extract(data, entry.path.suffix, limits)
        except FileError as exc:
            return Failure(doc_id, f"{rel}: {one_line(exc)}")
        return self._document(entry, parsed), digest

    # -- mapping ----------------------------------------------------------------------
    def _document(self, entry: Entry, parsed: Parsed) -> Document:
        ns = entry.stat.st_mtime_ns
        mtime = datetime.fromtimestamp(ns // 10**9, UTC).replace(microsecond=(ns // 1000) % 10**6)
        created, modified = parsed.created or mtime, parsed.modified or mtime
        rel = entry.rel
        url = self.settings.base_url + quote(rel) if self.settings.base_url else entry.path.resolve().as_uri()
        folder_tags = docstore.deepest(self._tags, rel) or ()
        return Document(
            id=self.doc_id(rel),
            url=url,
            title=parsed.title.strip() or rel.rsplit("/", 1)[-1],
            text=parsed.text,
            kind=self.settings.kind,
            language=parsed.language,
            created=created,
            modified=modified,
            contributions=docstore.contributions(parsed, created, modified),
            tags=tuple(dict.fromkeys((*parsed.tags, *folder_tags))),
            acl=docstore.deepest(self._acl, rel),
            source=self.source.id,
            agency=self.source.agency,
        )


#: kept for callers that asked which suffixes the files connector reads
READERS = SUFFIXES


def _join(folder: str, name: str) -> str:
    return name if folder in ("", ".") else f"{folder}/{name}"
