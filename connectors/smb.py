"""A Windows or Samba file share over SMB 2/3: one document per file.

Client part: ``smbprotocol``'s ``smbclient`` (SMB 2/3 with signing and encryption, NTLM or
Kerberos), with a connection pool private to one connector, closed when a walk or run
ends. The share is walked one folder at a time; each file's last-write time and size
make its signature. An incremental run reads only the files whose signature changed,
and re-extracts only those whose content hash changed too (a file touched or copied
back in place is not parsed again); files gone are :class:`Deletion`s, unless a folder
could not be listed (then nothing beneath it is deleted).
Mapping part: :mod:`connectors.extract`, the same as the ``files`` and ``webdav``
connectors.

ACLs: the share's own permissions are NT security descriptors naming SIDs, which only
the server's domain can turn into group names; Savoir does not guess. A source names
its restricted folders in ``folder_acl`` (folder -> Savoir groups), as for WebDAV; a file
takes the groups of the deepest folder listed above it, else the source's ACL.

The crawler's HTTP session cannot carry SMB, so this connector opens its own
connections, to the one server its settings name (declared by :meth:`own_connections`
for the conformance suite's network guard).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import quote, unquote, urlsplit

from connectors import docstore
from connectors.base import (
    Checkpoint,
    Connector,
    ConnectorConfigError,
    ConnectorError,
    CredentialError,
    Document,
    Failure,
    Item,
    SourceUnavailableError,
    register,
    setting,
)
from connectors.extract import SUFFIXES, ExtractionSettings, FileError, IsolatedExtractor, Limits, one_line

log = logging.getLogger(__name__)

DEFAULT_INCLUDE = tuple(f"*{suffix}" for suffix in sorted(SUFFIXES))
#: folders deeper than this are reported, not walked (a junction loop, a runaway tree)
MAX_DEPTH = 40
#: NT status codes, by name (``smbprotocol.header.NtStatus``)
ACCESS_DENIED, LOGON_FAILURE = 0xC0000022, 0xC000006D
#: bad network name (Windows), not found (Samba 4.17 answers a tree connect to no share so)
NO_SHARE = (0xC00000CC, 0xC0000225)
NOT_FOUND = (0xC0000034, 0xC000003A, 0xC0000033)  # name not found, path not found, name invalid


@dataclass
class SmbPlace:
    """Where the share is and who reads it: the first fields of the form."""

    share: str = setting(
        label="Share",
        help=r"The share and, optionally, a folder in it: \\files.example.gc.ca\policies\guides "
        "or smb://files.example.gc.ca/policies/guides.",
    )
    port: int = setting(445, label="Port", help="The server's SMB port (445 unless told otherwise).")
    user: str = setting(
        "", label="User name", help=r"The account the crawler signs in with (DOMAIN\name or name)."
    )
    password: str = setting("", label="Password", help="That account's password.", secret=True)
    include: list[str] = setting(
        default_factory=lambda: list(DEFAULT_INCLUDE),
        label="Include",
        help="Glob patterns of the files to read, matched against the path inside the share's folder.",
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
class SmbSettings(ExtractionSettings, SmbPlace):
    kind: str = setting("file", label="Document kind", help="What the files are: file, page or post.")


@dataclass(frozen=True)
class Entry:
    """One file a folder listing gave."""

    rel: str
    modified: datetime
    size: int

    @property
    def signature(self) -> str:
        return f"{self.modified.isoformat()}|{self.size}"


@register("smb")
class SmbConnector(Connector):
    """Read the documents of a folder tree on an SMB share."""

    Settings = SmbSettings
    document_kinds = ("file", "page", "post")
    #: a Checkpoint after this many files read, or a twentieth of the files if more: each
    #: holds every file's signature, so a big share must not write it every 50 files
    checkpoint_every: ClassVar[int] = 50

    # -- settings -------------------------------------------------------------------
    def _place(self) -> tuple[str, str, str]:
        """(server, share, folder inside the share with / separators)."""
        raw = (self.settings.share or "").strip()
        if raw.lower().startswith("smb://"):
            parts = urlsplit(raw)
            if "@" in parts.netloc:
                raise ConnectorConfigError(
                    "share carries a user name or password: put them in user and password instead"
                )
            server, path = parts.hostname or "", unquote(parts.path)
        elif raw.startswith(("\\\\", "//")):
            server, _, path = raw.replace("\\", "/").lstrip("/").partition("/")
        else:
            server, path = "", ""
        names = [p for p in path.split("/") if p]
        if not server or not names:
            raise ConnectorConfigError(
                rf"share must name a server and a share, e.g. \\files.example.gc.ca\policies: check share (got {raw!r})"
            )
        if self.settings.kind not in self.document_kinds:
            kinds = ", ".join(self.document_kinds)
            raise ConnectorConfigError(f"kind {self.settings.kind!r} is not one of {kinds}: check kind")
        if not 0 < int(self.settings.port) < 65536:
            raise ConnectorConfigError(f"port {self.settings.port} is not a TCP port: check port")
        self._acl = docstore.folder_rules(self.settings.folder_acl, "folder_acl")
        self._tags = docstore.folder_rules(self.settings.folder_tags, "folder_tags", "tag")
        return server, names[0], "/".join(names[1:])

    def own_connections(self) -> list[tuple[str, int]]:
        """The (host, port) this connector connects to itself, outside the HTTP session."""
        server, _, _ = self._place()
        return [(server, int(self.settings.port))]

    def acl_for(self, rel: str) -> tuple[str, ...] | None:
        self._place()
        return docstore.deepest(self._acl, rel)

    def _unc(self, rel: str = "") -> str:
        server, share, folder = self._place()
        inside = "/".join(p for p in (folder, rel) if p)
        return "\\\\" + "\\".join([server, share, *[p for p in inside.split("/") if p]])

    def _where(self) -> str:
        return self._unc().rstrip("\\")

    # -- client ---------------------------------------------------------------------
    @contextmanager
    def _session(self) -> Iterator[dict[str, Any]]:
        """Keyword arguments for ``smbclient`` calls over a pool of connections that is
        closed on leaving, whatever happens."""
        import smbclient

        cache: dict[str, Any] = {}
        kwargs = {
            "port": int(self.settings.port),
            "username": self.settings.user or None,
            "password": self.settings.password or None,
            "connection_cache": cache,
            "connection_timeout": 30,
        }
        try:
            yield kwargs
        finally:
            try:
                smbclient.reset_connection_cache(connection_cache=cache)
            except Exception:  # noqa: BLE001 - a connection that died is closed already
                log.debug("closing SMB connections failed", exc_info=True)

    def _error(self, exc: Exception) -> ConnectorError:
        """What an admin should do about *exc*, raised opening the share or its folder."""
        where, user = self._where(), self.settings.user
        status = _status(exc)
        if status == LOGON_FAILURE or type(exc).__name__ in ("LogonFailure", "SMBAuthenticationError"):
            if not user:
                return CredentialError(f"{where} needs a user name and password: set user and password")
            return CredentialError(f"{where} refused user {user!r} (logon failure): check user and password")
        if status in NO_SHARE:
            return ConnectorConfigError(f"the server has no share named as in {where}: check share")
        if status == ACCESS_DENIED:
            return CredentialError(
                f"{where}: user {user!r} may not open it (access denied): ask the share's admin for read access"
            )
        if status in NOT_FOUND:
            return ConnectorConfigError(f"no folder at {where}: check share")
        if isinstance(exc, ValueError) and "Failed to connect" in str(exc):
            server, _, _ = self._place()
            return SourceUnavailableError(
                f"cannot connect to {server} port {self.settings.port} ({_cause(exc)}): "
                "the server may be down or the port wrong; try again later"
            )
        return SourceUnavailableError(f"{where}: {_reason(exc)}; try again later")

    def check(self) -> None:
        import smbclient

        self._place()
        with self._session() as kwargs:
            try:
                smbclient.listdir(self._unc(), **kwargs)
            except Exception as exc:  # noqa: BLE001 - every SMB failure becomes an admin's message
                raise self._error(exc) from None

    def _walk(
        self, kwargs: dict[str, Any]
    ) -> tuple[list[Entry], list[tuple[str, str]], list[tuple[str, str, str]]]:
        """(files to read, sorted), (folder, reason) not listed, (rel, kind, why) left out."""
        import smbclient

        files: list[Entry] = []
        unlisted: list[tuple[str, str]] = []
        left_out: list[tuple[str, str, str]] = []
        pending = [""]
        walked: set[int] = set()  # folders' file ids: a link or junction back up is walked once
        while pending:
            folder = pending.pop()
            try:
                entries = list(smbclient.scandir(self._unc(folder), **kwargs))
            except Exception as exc:  # noqa: BLE001
                if folder == "":
                    raise self._error(exc) from None
                reason = _reason(exc)
                if _status(exc) == ACCESS_DENIED:
                    reason += f": user {self.settings.user!r} may not list it"
                unlisted.append((folder + "/", reason))
                continue
            for entry in entries:
                name = entry.name
                rel = f"{folder}/{name}" if folder else name
                if name.startswith((".", "~$")):
                    continue
                info = entry.smb_info
                if entry.is_dir():
                    if docstore.excluded(rel, self.settings.exclude, folder=True):
                        continue
                    if info.file_id and info.file_id in walked:
                        left_out.append(
                            (rel, "scope", "a folder already walked (a link back up), not walked again")
                        )
                    elif rel.count("/") >= MAX_DEPTH - 1:
                        unlisted.append((rel + "/", f"deeper than {MAX_DEPTH} folders"))
                    else:
                        walked.add(info.file_id)
                        pending.append(rel)
                    continue
                if entry.is_symlink():  # a link the server did not resolve itself
                    left_out.append((rel, "scope", "a symbolic link, not followed"))
                    continue
                if _suffix(name) not in SUFFIXES:
                    left_out.append((rel, "type", "no reader for this type of file"))
                elif not docstore.in_scope(rel, self.settings.include, self.settings.exclude):
                    left_out.append((rel, "scope", "left out by include/exclude"))
                else:
                    files.append(Entry(rel, info.last_write_time.astimezone(UTC), int(info.end_of_file)))
        return sorted(files, key=lambda e: e.rel), sorted(unlisted), sorted(left_out)

    def ids(self) -> Iterable[str]:
        with self._session() as kwargs:
            files, unlisted, _ = self._walk(kwargs)
        if unlisted:  # a partial listing must not turn into deletions
            folder, reason = unlisted[0]
            raise SourceUnavailableError(f"cannot list folder {folder!r} ({reason}): try again later")
        return [self.doc_id(entry.rel) for entry in files]

    # -- the run --------------------------------------------------------------------
    def documents(self, checkpoint: Checkpoint | None = None) -> Iterator[Item]:
        # a file that hangs its parser is killed, not waited for
        with self._session() as kwargs, IsolatedExtractor() as self._reader:
            files, unlisted, left_out = self._walk(kwargs)
            yield from docstore.run(
                self,
                checkpoint,
                files,
                unlisted,
                left_out,
                lambda entry, known_hash: self._read(entry, kwargs, known_hash),
            )

    def _read(
        self, entry: Entry, kwargs: dict[str, Any], known_hash: str | None
    ) -> Failure | tuple[Document | None, str]:
        """A Failure, or (the document, or None when the bytes are unchanged; their hash)."""
        import smbclient

        doc_id, rel = self.doc_id(entry.rel), entry.rel
        limits = Limits.of(self.settings)
        if entry.size == 0:
            return Failure(doc_id, f"{rel}: empty file (0 bytes)")
        if entry.size > limits.max_bytes:
            return Failure(
                doc_id, f"{rel}: {entry.size} bytes is over the {limits.max_bytes}-byte limit (max_bytes)"
            )
        try:
            with smbclient.open_file(self._unc(rel), mode="rb", share_access="rw", **kwargs) as handle:
                data = handle.read(limits.max_bytes + 1)  # a file growing since it was listed is cut
        except Exception as exc:  # noqa: BLE001 - one unreadable file never stops the run
            status = _status(exc)
            return Failure(
                doc_id,
                f"{rel}: cannot read ({_reason(exc)})",
                transient=status not in (ACCESS_DENIED, *NOT_FOUND),
                gone=status in NOT_FOUND,
            )
        digest = hashlib.sha256(data).hexdigest()
        if digest == known_hash:
            return None, digest
        try:
            parsed = self._reader.extract(data, _suffix(rel), limits)
        except FileError as exc:
            return Failure(doc_id, f"{rel}: {one_line(exc)}")
        created, modified = parsed.created or entry.modified, parsed.modified or entry.modified
        server, share, folder = self._place()
        path = "/".join(p for p in (share, folder, rel) if p)
        return (
            Document(
                id=doc_id,
                url=f"smb://{server}/{quote(path)}",
                title=parsed.title.strip() or rel.rsplit("/", 1)[-1],
                text=parsed.text,
                kind=self.settings.kind,
                language=parsed.language,
                created=created,
                modified=modified,
                contributions=docstore.contributions(parsed, created, modified),
                tags=tuple(dict.fromkeys((*parsed.tags, *(docstore.deepest(self._tags, rel) or ())))),
                acl=docstore.deepest(self._acl, rel),
                source=self.source.id,
                agency=self.source.agency,
            ),
            digest,
        )


def _suffix(name: str) -> str:
    return "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""


def _status(exc: BaseException) -> int | None:
    """The NT status an SMB error carries, looking through the exceptions it wraps."""
    while exc is not None:
        status = getattr(exc, "ntstatus", None) or getattr(exc, "status", None)
        if isinstance(status, int):
            return status
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return None


def _cause(exc: BaseException) -> str:
    inner = exc.__cause__
    return one_line(getattr(inner, "strerror", None) or inner or exc)


def _reason(exc: BaseException) -> str:
    """A short reason for an SMB error: its NT status name, else the error's text."""
    status = _status(exc)
    if status is not None:
        try:
            from smbprotocol.header import NtStatus

            names = {v: k for k, v in vars(NtStatus).items() if k.startswith("STATUS_")}
        except ImportError:
            names = {}
        return f"{names.get(status, 'NT status')} (0x{status:08x})"
    return f"{type(exc).__name__}: {one_line(exc)[:200]}"
