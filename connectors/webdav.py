"""A WebDAV folder (Apache mod_dav, Nextcloud, SharePoint...): one document per file.

Client part: the folder tree is walked one ``PROPFIND`` with ``Depth: 1`` per folder
(never ``Depth: infinity``, which servers refuse or answer with the whole share at once),
through the crawler's polite HTTP session with Basic auth. Each file's ``getetag`` (else
``getlastmodified``) and ``getcontentlength`` make its signature: an incremental run GETs
only the files whose signature changed and yields a :class:`Deletion` for those gone.
Mapping part: :mod:`connectors.extract`, the same as the ``files`` connector.

ACLs: WebDAV does not tell a client who else may read a folder, so a source names its
restricted folders in ``folder_acl`` (folder -> groups); a file takes the groups of the
deepest folder listed above it, else the source's default ACL.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar
from urllib.parse import quote, unquote, urljoin, urlsplit

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

from connectors import docstore
from connectors.base import (
    Checkpoint,
    Connector,
    ConnectorConfigError,
    ConnectorError,
    CredentialError,
    Document,
    Failure,
    FetchError,
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

DAV = "{DAV:}"
PROPFIND_BODY = (
    b'<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop>'
    b"<D:resourcetype/><D:getetag/><D:getlastmodified/><D:getcontentlength/>"
    b"</D:prop></D:propfind>"
)
DEFAULT_INCLUDE = tuple(f"*{suffix}" for suffix in sorted(SUFFIXES))
#: folders deeper than this are reported, not walked (a server loop, a runaway tree)
MAX_DEPTH = 40


@dataclass
class WebdavPlace:
    url: str = setting(
        label="WebDAV folder URL",
        help="The folder to read, e.g. https://files.example.gc.ca/dav/policies/ "
        "(Nextcloud: https://HOST/remote.php/dav/files/USER/FOLDER/).",
    )
    user: str = setting("", label="User name", help="The account the crawler signs in with (Basic auth).")
    password: str = setting("", label="Password", help="That account's password.", secret=True)
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


@dataclass
class WebdavSettings(ExtractionSettings, WebdavPlace):
    """The place's fields first in the form, then the extraction limits, then the kind."""

    kind: str = setting("file", label="Document kind", help="What the files are: file, page or post.")


@dataclass(frozen=True)
class Entry:
    """One file a PROPFIND listed."""

    rel: str
    url: str
    etag: str
    modified: datetime | None
    size: int | None

    @property
    def signature(self) -> str:
        when = self.modified.isoformat() if self.modified else ""
        # Apache calls an ETag weak (W/"...") while the file is less than a second old and
        # the same ETag strong later: the same file, not a change
        etag = self.etag.removeprefix("W/")
        return f"{etag or when}|{self.size if self.size is not None else ''}"


class NotWebdav(ConnectorError):
    pass


@register("webdav")
class WebdavConnector(Connector):
    """Read the documents of a WebDAV folder tree."""

    Settings = WebdavSettings
    document_kinds = ("file", "page", "post")
    #: a Checkpoint after this many files read, or a twentieth of the files if more: each
    #: holds every file's signature, so a big share must not write it every 50 files
    checkpoint_every: ClassVar[int] = 50

    def __init__(self, source, settings, http) -> None:
        super().__init__(source, settings, http)
        if http is not None and settings.user:
            http.auth = (settings.user, settings.password)

    # -- settings ---------------------------------------------------------------------
    def _root_url(self) -> str:
        url = (self.settings.url or "").strip()
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConnectorConfigError("url must be an http(s) address of a WebDAV folder: check url")
        if "@" in parts.netloc:
            raise ConnectorConfigError(
                "url carries a user name or password: put them in user and password instead"
            )
        if self.settings.kind not in self.document_kinds:
            kinds = ", ".join(self.document_kinds)
            raise ConnectorConfigError(f"kind {self.settings.kind!r} is not one of {kinds}: check kind")
        self._acl_rules()
        return url if url.endswith("/") else url + "/"

    def _acl_rules(self) -> list[tuple[str, tuple[str, ...]]]:
        return docstore.folder_rules(self.settings.folder_acl, "folder_acl")

    def acl_for(self, rel: str) -> tuple[str, ...] | None:
        return docstore.deepest(self._acl_rules(), rel)

    # -- client -------------------------------------------------------------------------
    def _propfind(self, url: str, depth: str) -> list[tuple[str, dict[str, Any]]]:
        """(unquoted path, properties) of every response of a PROPFIND on *url*."""
        if self.http is None:
            raise ConnectorConfigError("the webdav connector needs the crawler's HTTP session")
        resp = self.http.request(
            "PROPFIND",
            url,
            data=PROPFIND_BODY,
            headers={"Depth": depth, "Content-Type": 'application/xml; charset="utf-8"'},
        )
        if resp.status_code != 207:
            raise NotWebdav(f"PROPFIND answered HTTP {resp.status_code}, not 207 Multi-Status")
        try:
            root = fromstring(resp.content)
        except (ParseError, DefusedXmlException) as exc:
            raise NotWebdav(f"its PROPFIND answer is not valid WebDAV XML ({one_line(exc)})") from None
        if root.tag != f"{DAV}multistatus":
            raise NotWebdav("its PROPFIND answer is not a DAV:multistatus")
        out = []
        for response in root.iter(f"{DAV}response"):
            href = (response.findtext(f"{DAV}href") or "").strip()
            if not href:
                continue
            props: dict[str, Any] = {}
            for propstat in response.iter(f"{DAV}propstat"):
                if " 200 " not in f" {propstat.findtext(f'{DAV}status') or ''} ":
                    continue
                for prop in propstat.iter(f"{DAV}prop"):
                    for child in prop:
                        props[child.tag.removeprefix(DAV)] = child
            out.append((unquote(urlsplit(urljoin(url, href)).path), props))
        return out

    def _raise_for(self, url: str, exc: Exception) -> ConnectorError:
        where = "check url"
        if isinstance(exc, NotWebdav):
            return ConnectorConfigError(
                f"{url} is not a WebDAV folder ({exc}): check url; it must be the WebDAV address of a "
                "folder (Nextcloud: https://HOST/remote.php/dav/files/USER/)"
            )
        assert isinstance(exc, FetchError)
        if exc.status == 401:
            return CredentialError(
                f"{url} refused user {self.settings.user!r} (HTTP 401): check user and password"
                if self.settings.user
                else f"{url} needs a user name and password (HTTP 401): set user and password"
            )
        if exc.status == 403:
            return CredentialError(
                f"{url} forbids user {self.settings.user!r} to list it (HTTP 403): ask the server's admin for read access"
            )
        if exc.status == 404:
            return ConnectorConfigError(f"no folder at {url} (HTTP 404): {where}")
        if exc.status in (400, 405, 501):
            return self._raise_for(url, NotWebdav(f"PROPFIND answered HTTP {exc.status}"))
        if exc.transient:
            return SourceUnavailableError(f"{url}: {exc.reason}; the server may be down, try again later")
        return ConnectorConfigError(f"{url}: {exc.reason}: {where}")

    def check(self) -> None:
        url = self._root_url()
        if not self.settings.url.strip().endswith("/"):
            url = self.settings.url.strip()  # as given: a file's URL must not become a folder's
        try:
            responses = self._propfind(url, "0")
        except (FetchError, NotWebdav) as exc:
            raise self._raise_for(url, exc) from None
        if not responses:
            raise self._raise_for(url, NotWebdav("its PROPFIND answer lists nothing"))
        kind = responses[0][1].get("resourcetype")
        if kind is None or kind.find(f"{DAV}collection") is None:
            raise ConnectorConfigError(f"{url} is a file, not a folder: check url")

    def _walk(self) -> tuple[list[Entry], list[tuple[str, str]], list[tuple[str, str]]]:
        """(files to read, sorted), (folder, reason) not listed, (rel, kind) left out."""
        root = self._root_url()
        root_path = unquote(urlsplit(root).path)
        files: list[Entry] = []
        unlisted: list[tuple[str, str]] = []
        left_out: list[tuple[str, str]] = []
        seen: set[str] = set()
        pending = [""]
        while pending:
            folder = pending.pop()
            if folder in seen:
                continue
            seen.add(folder)
            url = root + quote(folder)
            try:
                responses = self._propfind(url, "1")
            except (FetchError, NotWebdav) as exc:
                if folder == "":
                    raise self._raise_for(url, exc) from None
                reason = exc.reason if isinstance(exc, FetchError) else str(exc)
                if isinstance(exc, FetchError) and exc.status in (401, 403):
                    reason += f": user {self.settings.user!r} may not read it"
                unlisted.append((folder, reason))
                continue
            for path, props in responses:
                if not path.startswith(root_path):
                    continue  # a server answering for somewhere else is not followed
                rel = path[len(root_path) :].strip("/")
                if not rel or rel == folder.strip("/"):
                    continue
                name = rel.rsplit("/", 1)[-1]
                kind = props.get("resourcetype")
                is_folder = kind is not None and kind.find(f"{DAV}collection") is not None
                if name.startswith((".", "~$")):
                    continue
                if is_folder:
                    if rel.count("/") >= MAX_DEPTH:
                        unlisted.append((rel + "/", f"deeper than {MAX_DEPTH} folders"))
                    elif not self._excluded(rel, folder=True):
                        pending.append(rel + "/")
                    continue
                suffix = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
                if suffix not in SUFFIXES:
                    left_out.append((rel, "type"))
                    continue
                if not self._included(rel) or self._excluded(rel):
                    left_out.append((rel, "scope"))
                    continue
                files.append(
                    Entry(
                        rel=rel,
                        url=root + quote(rel),
                        etag=_text(props.get("getetag")),
                        modified=_http_date(_text(props.get("getlastmodified"))),
                        size=_int(_text(props.get("getcontentlength"))),
                    )
                )
        return sorted(files, key=lambda e: e.rel), sorted(unlisted), sorted(left_out)

    def _included(self, rel: str) -> bool:
        return any(docstore.glob(rel, pattern) for pattern in self.settings.include)

    def _excluded(self, rel: str, *, folder: bool = False) -> bool:
        return docstore.excluded(rel, self.settings.exclude, folder=folder)

    def ids(self) -> Iterable[str]:
        files, unlisted, _ = self._walk()
        if unlisted:  # a partial listing must not turn into deletions
            folder, reason = unlisted[0]
            raise SourceUnavailableError(f"cannot list folder {folder!r} ({reason}): try again later")
        return [self.doc_id(entry.rel) for entry in files]

    # -- the run --------------------------------------------------------------------------
    def documents(self, checkpoint: Checkpoint | None = None) -> Iterator[Item]:
        files, unlisted, left_out = self._walk()
        reasons = {"type": "no reader for this type of file"}
        with IsolatedExtractor() as reader:  # a file that hangs its parser is killed, not waited for
            yield from docstore.run(
                self,
                checkpoint,
                files,
                unlisted,
                [(rel, kind, reasons.get(kind, "left out by include/exclude")) for rel, kind in left_out],
                lambda entry, _hash: self._read(entry, reader),
                hashes=False,  # an ETag or a date and size say whether the bytes changed
            )

    def _read(self, entry: Entry, reader: IsolatedExtractor) -> Document | Failure:
        doc_id, rel = self.doc_id(entry.rel), entry.rel
        limits = Limits.of(self.settings)
        if entry.size == 0:
            return Failure(doc_id, f"{rel}: empty file (0 bytes)")
        if entry.size is not None and entry.size > limits.max_bytes:
            return Failure(
                doc_id, f"{rel}: {entry.size} bytes is over the {limits.max_bytes}-byte limit (max_bytes)"
            )
        try:
            resp = self.http.get(entry.url)  # type: ignore[union-attr]
        except FetchError as exc:
            return Failure(
                doc_id, f"{rel}: {exc.reason}", transient=exc.transient, gone=exc.status in (404, 410)
            )
        try:
            parsed = reader.extract(resp.content, "." + rel.rsplit(".", 1)[-1], limits)
        except FileError as exc:
            return Failure(doc_id, f"{rel}: {one_line(exc)}")
        return self._document(entry, parsed)

    def _document(self, entry: Entry, parsed: Parsed) -> Document:
        fallback = entry.modified or datetime.now(UTC)
        created, modified = parsed.created or fallback, parsed.modified or fallback
        return Document(
            id=self.doc_id(entry.rel),
            url=entry.url,
            title=parsed.title.strip() or entry.rel.rsplit("/", 1)[-1],
            text=parsed.text,
            kind=self.settings.kind,
            language=parsed.language,
            created=created,
            modified=modified,
            contributions=docstore.contributions(parsed, created, modified),
            tags=parsed.tags,
            acl=self.acl_for(entry.rel),
            source=self.source.id,
            agency=self.source.agency,
        )


def _text(element: Any) -> str:
    return (element.text or "").strip() if element is not None else ""


def _int(value: str) -> int | None:
    return int(value) if value.isdigit() else None


def _http_date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).astimezone(UTC)
    except (TypeError, ValueError, IndexError):
        return None
