"""The connector contract.

A connector maps one kind of source (a wiki, a blog, a folder tree...) to a stream
of items: :class:`Document`, :class:`Deletion`, :class:`Checkpoint`,
:class:`Failure`, :class:`Exclusion` and :class:`Profile` (who an account is). It
knows its source and nothing else: it never sleeps, retries, reads robots.txt or
touches the store or the index. The crawler hands it an HTTP
session that does all of that for every connector at once.

Connectors register themselves under a kind name with :func:`register`; built-in
connectors are found through the ``savoir.connectors`` entry-point group exactly
like third-party ones.
"""

from __future__ import annotations

import abc
import contextvars
import dataclasses
import enum
import hashlib
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:  # pragma: no cover
    from crawler.http import HttpSession

__all__ = [
    "Role",
    "Person",
    "Contribution",
    "Document",
    "Deletion",
    "Checkpoint",
    "Failure",
    "Exclusion",
    "EXCLUSION_KINDS",
    "Profile",
    "Item",
    "ConnectorError",
    "FetchError",
    "RobotsDisallowed",
    "IN_CRAWLER_SESSION",
    "ConnectorConfigError",
    "CredentialError",
    "SourceUnavailableError",
    "SourceContext",
    "Connector",
    "setting",
    "register",
    "get_connector_class",
    "connector_kinds",
    "utc",
]


class Role(enum.StrEnum):
    """What a person did to a document; the expert model weighs roles differently."""

    AUTHOR = "author"
    EDITOR = "editor"
    COMMENTER = "commenter"


def utc(value: datetime | None) -> datetime | None:
    """Return *value* as an aware UTC datetime (naive values are taken as UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


@dataclass(frozen=True)
class Person:
    """Someone a source names. Identity across sources is resolved by the store."""

    name: str
    email: str | None = None
    username: str | None = None

    def __post_init__(self) -> None:
        if self.email:
            object.__setattr__(self, "email", self.email.strip().lower())


@dataclass(frozen=True)
class Contribution:
    """One person's part in a document: who, which role, when, how much."""

    person: Person
    role: Role
    time: datetime | None = None
    size: int = 0
    minor: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "role", Role(self.role))
        object.__setattr__(self, "time", utc(self.time))


@dataclass
class Document:
    """One searchable unit from a source (a page, a post, a comment, a file).

    ``id`` is stable across runs: ``"<source id>:<native id>"`` (use
    :meth:`Connector.doc_id`). ``text`` is plain text with blank lines between
    paragraphs. ``acl`` is the groups allowed to see it; ``None`` means the source's
    default ACL. Times are aware UTC datetimes.
    """

    id: str
    url: str
    title: str
    text: str
    kind: str = "page"
    language: str | None = None
    created: datetime | None = None
    modified: datetime | None = None
    contributions: tuple[Contribution, ...] = ()
    tags: tuple[str, ...] = ()
    communities: tuple[str, ...] = ()
    acl: tuple[str, ...] | None = None
    translation_of: str | None = None
    alternates: dict[str, str] = field(default_factory=dict)
    source: str = ""
    agency: str = ""

    def __post_init__(self) -> None:
        self.created = utc(self.created)
        self.modified = utc(self.modified)
        self.contributions = tuple(self.contributions)
        self.tags = tuple(self.tags)
        self.communities = tuple(self.communities)
        if self.acl is not None:
            self.acl = tuple(self.acl)

    def content_hash(self) -> str:
        """A deterministic hash of everything the store keeps about the document."""
        payload = {
            "url": self.url,
            "title": self.title,
            "text": self.text,
            "kind": self.kind,
            "language": self.language,
            "created": self.created.isoformat() if self.created else None,
            "modified": self.modified.isoformat() if self.modified else None,
            "contributions": [
                [
                    c.person.name,
                    c.person.email,
                    c.person.username,
                    c.role.value,
                    c.time.isoformat() if c.time else None,
                    c.size,
                    c.minor,
                ]
                for c in self.contributions
            ],
            "tags": sorted(self.tags),
            "communities": sorted(self.communities),
            "acl": sorted(self.acl) if self.acl is not None else None,
            "translation_of": self.translation_of,
            "alternates": dict(sorted(self.alternates.items())),
        }
        blob = json.dumps(payload, ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Deletion:
    """The source says this document is gone."""

    id: str
    reason: str = "deleted at source"


@dataclass(frozen=True)
class Checkpoint:
    """Resume state. The crawler saves it only once every item before it is committed."""

    state: dict[str, Any]


@dataclass(frozen=True)
class Failure:
    """One item could not be read. Yielded, never raised: the run goes on.

    ``transient``: a later try may work (a timeout, a 5xx); the document is kept.
    ``gone``: the source answered that the item does not exist (HTTP 404 or 410): a
    document the store has is deleted (tombstoned and counted), an unknown one is
    reported as a dead link.
    """

    ref: str
    reason: str
    transient: bool = False
    gone: bool = False


#: why an item was left out on purpose (see :class:`Exclusion`)
EXCLUSION_KINDS = ("robots", "scope", "type")


@dataclass(frozen=True)
class Exclusion:
    """An item left out on purpose, not a failure: robots.txt forbids it, it is out of
    the source's scope, or it is of a type Savoir does not index. Counted apart."""

    ref: str
    kind: str
    reason: str = ""


@dataclass(frozen=True)
class Profile:
    """What a source says about one of its accounts, beyond the login its history gives.

    A wiki's signatures and user pages name the person behind a login and often their
    email; the store keeps the latest facts per (source, username) and the expert
    model uses them for display names, merging across sources and agencies.
    *evidence* says where the facts were read (a page URL, "signature on <page>").
    """

    username: str
    name: str = ""
    email: str = ""
    evidence: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "email", (self.email or "").strip().lower())
        object.__setattr__(self, "name", " ".join((self.name or "").split()))


Item = Document | Deletion | Checkpoint | Failure | Exclusion | Profile


class FetchError(Exception):
    """The crawler's HTTP session could not fetch a URL (raised to connectors).

    ``transient`` says whether a later try may work; ``status`` is the HTTP status
    when there was one. Part of the contract so connectors need not import the crawler.
    """

    def __init__(self, url: str, reason: str, *, status: int | None = None, transient: bool = False):
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason
        self.status = status
        self.transient = transient


class RobotsDisallowed(FetchError):
    def __init__(self, url: str):
        super().__init__(url, "disallowed by robots.txt")


#: Set while a request goes through the crawler's HTTP session; the conformance
#: suite checks that no connector reaches the network any other way.
IN_CRAWLER_SESSION: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "savoir_in_crawler_session", default=False
)


class ConnectorError(Exception):
    """The whole source cannot be read; the message tells an admin what to do."""

    transient = False


class ConnectorConfigError(ConnectorError):
    """The source's settings are wrong (bad URL, missing field, wrong kind of server)."""


class CredentialError(ConnectorError):
    """The source refused our credentials."""


class SourceUnavailableError(ConnectorError):
    """The source is down or unreachable; trying later may work."""

    transient = True


def setting(
    default: Any = dataclasses.MISSING,
    *,
    label: str = "",
    help: str = "",
    secret: bool = False,
    default_factory: Any = dataclasses.MISSING,
) -> Any:
    """A settings-dataclass field with what the admin form and the validator need."""
    meta = {"label": label, "help": help, "secret": secret}
    if default_factory is not dataclasses.MISSING:
        return field(default_factory=default_factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class SourceContext:
    """What a connector knows about the source it reads."""

    id: str
    agency: str
    kind: str
    name: str = ""


class Connector(abc.ABC):
    """Base class of every connector.

    Subclasses set ``kind``, a ``Settings`` dataclass, and implement
    :meth:`documents` (and usually :meth:`check` and :meth:`ids`).
    """

    kind: ClassVar[str] = ""
    Settings: ClassVar[type] = object
    #: kinds of documents this connector yields, for the admin UI.
    document_kinds: ClassVar[tuple[str, ...]] = ("page",)
    #: whether a full run lists everything the source has, so that ids missing from
    #: it may be tombstoned. False for feeds, whose old entries merely fall off.
    full_run_lists_everything: ClassVar[bool] = True

    def __init__(self, source: SourceContext, settings: Any, http: HttpSession | None) -> None:
        self.source = source
        self.settings = settings
        self.http = http

    def doc_id(self, native_id: str) -> str:
        return f"{self.source.id}:{native_id}"

    def check(self) -> None:  # noqa: B027 - optional: a source with nothing to check passes
        """Raise :class:`ConnectorError` if the source cannot be read as configured."""

    @abc.abstractmethod
    def documents(self, checkpoint: Checkpoint | None = None) -> Iterator[Item]:
        """Yield every item (no checkpoint) or what changed since *checkpoint*."""

    def ids(self) -> Iterable[str]:
        """Every document id the source still has (used to find deletions)."""
        for item in self.documents(None):
            if isinstance(item, Document):
                yield item.id


_REGISTRY: dict[str, type[Connector]] = {}
_BROKEN: dict[str, str] = {}
_ENTRY_POINTS_LOADED = False


def register(kind: str):
    """Class decorator: make a connector available under *kind*."""

    def decorate(cls: type[Connector]) -> type[Connector]:
        existing = _REGISTRY.get(kind)
        if existing is not None and existing is not cls:
            raise ValueError(f"connector kind {kind!r} is already registered by {existing!r}")
        cls.kind = kind
        _REGISTRY[kind] = cls
        return cls

    return decorate


def _load_entry_points() -> None:
    global _ENTRY_POINTS_LOADED
    if _ENTRY_POINTS_LOADED:
        return
    _ENTRY_POINTS_LOADED = True
    for ep in metadata.entry_points(group="savoir.connectors"):
        if ep.name in _REGISTRY:
            continue
        try:
            ep.load()
        except Exception as exc:  # noqa: BLE001 - one broken plugin must not stop the others
            _BROKEN[ep.name] = f"{type(exc).__name__}: {exc}"
            logging.getLogger(__name__).error("connector %r (%s) failed to load: %s", ep.name, ep.value, exc)


def get_connector_class(kind: str) -> type[Connector]:
    if kind not in _REGISTRY:
        _load_entry_points()
    try:
        return _REGISTRY[kind]
    except KeyError:
        if kind in _BROKEN:
            raise KeyError(
                f"connector kind {kind!r} is installed but failed to load ({_BROKEN[kind]})"
            ) from None
        known = ", ".join(sorted(connector_kinds())) or "none"
        raise KeyError(f"unknown connector kind {kind!r} (known kinds: {known})") from None


def connector_kinds() -> list[str]:
    _load_entry_points()
    return sorted(_REGISTRY)
