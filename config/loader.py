"""Load and validate settings (TOML + SAVOIR_* environment) and the sources file."""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config import secrets

CONFIG_DIR = Path(__file__).resolve().parent
DEFAULT_FILE = CONFIG_DIR / "default.toml"
SOURCE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


class ConfigError(Exception):
    """A settings or sources file is wrong; the message says where and how."""


@dataclass
class StoreSettings:
    data_dir: str = "savoir-data"
    database_url: str = ""
    index_dir: str = ""
    #: this index's name among the indexes that follow one store (default: host and path)
    replica_name: str = ""
    #: an index that reported nothing for this long no longer holds back the pruning of
    #: the store's change log (when it comes back it rebuilds itself, and says so)
    replica_live_seconds: float = 86400.0
    #: a web node's search-time reads from a PostgreSQL streaming replica of database_url
    #: (empty: from database_url); writes always go to database_url
    read_url: str = ""


@dataclass
class CrawlerSettings:
    batch_size: int = 200
    index_every: int = 10000
    sources_file: str = "sources.toml"
    #: a running source's lease, renewed after every batch: a worker killed on another
    #: host is taken over this long after its last batch (on the same host, at once)
    lease_seconds: float = 600.0


@dataclass
class HttpSettings:
    user_agent: str = "SavoirBot/0.1 (+mailto:savoir-admin@example.org)"
    contact: str = "savoir-admin@example.org"
    min_delay: float = 1.0
    jitter: float = 0.1
    timeout: float = 20.0
    max_bytes: int = 20 * 1024 * 1024
    max_retries: int = 4
    backoff_base: float = 1.0
    backoff_cap: float = 60.0
    max_retry_after: float = 300.0
    max_redirects: int = 5
    obey_robots: bool = True
    per_host_concurrency: int = 1
    # grow the delay when a host slows down (never below min_delay)
    adaptive_delay: bool = True
    # remember ETag/Last-Modified per URL and revalidate: an unchanged page costs a 304
    conditional_get: bool = True


@dataclass
class WebSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    page_size: int = 10
    threads: int = 8
    #: pages and API calls one client address may ask for per minute, counted across
    #: all the server's processes (0: no limit); the server's own machine (loopback,
    #: with no proxy naming another client) is not counted
    requests_per_minute: int = 600
    #: every this many seconds a server process applies the store's new changes to its
    #: own index (0: the worker writes the index these processes read, on a shared disk).
    #: Set it on web hosts that keep a local index and share only the database.
    follow_store_seconds: float = 0.0


@dataclass
class AuthSettings:
    #: "local": accounts made with `savoir users add`; "header": an SSO proxy in front
    #: of Savoir names the user in request headers (accepted from trusted_proxies only)
    mode: str = "local"
    header_user: str = "X-Remote-User"
    header_name: str = "X-Remote-Name"
    header_email: str = "X-Remote-Email"
    header_groups: str = "X-Remote-Groups"  # comma-separated
    trusted_proxies: list[str] = field(default_factory=lambda: ["127.0.0.1", "::1"])
    #: members of this group (header mode) are admins
    admin_group: str = "savoir-admins"
    #: failed sign-ins in a row before an account is locked, and for how long (doubling)
    max_failures: int = 5
    lock_minutes: float = 15.0
    #: sign-in attempts one client address may make per minute
    signins_per_minute: int = 10
    session_hours: float = 12.0
    #: session cookie marked Secure: "auto" (unless the request came over plain http to
    #: a loopback address, as the demo does), "always" or "never"
    secure_cookies: str = "auto"
    #: the key that signs sessions; empty: a random key kept in <data_dir>/secret_key
    secret_key: str = ""


@dataclass
class SearchSettings:
    public_groups: list[str] = field(default_factory=lambda: ["public"])


@dataclass
class MemorySettings:
    """What a process that searches keeps in memory beyond what the collection's size
    dictates (``[memory]``)."""

    #: megabytes of postings (the documents and weights of a word in a field, per
    #: segment) kept across searches, least recently used dropped first
    postings_cache_mb: float = 128.0
    #: Whoosh searchers kept open for reuse, one per concurrent search at most
    searchers: int = 4
    #: searches read the index's segment files through mmap (Whoosh's way): every page
    #: read then counts in the process's RSS, once per open searcher. False (default):
    #: plain reads, and the RSS is what the process allocates (the kernel's page cache
    #: keeps the files either way)
    mmap: bool = False

    @property
    def postings_cache_bytes(self) -> int:
        return int(self.postings_cache_mb * 2**20)


#: the bounds a [memory] setting must keep: (smallest, largest, what it is)
MEMORY_LIMITS = {
    "postings_cache_mb": (1.0, 65536.0, "megabytes"),
    "searchers": (1, 256, "searchers"),
}


def check_memory(memory: MemorySettings, where: str) -> None:
    for name, (low, high, unit) in MEMORY_LIMITS.items():
        value = getattr(memory, name)
        if not low <= value <= high:
            raise ConfigError(
                f"{where}: field {name!r} must be between {low:g} and {high:g} {unit}, got {value:g}"
            )


@dataclass
class PeopleSettings:
    #: the admins' directory of people (aliases, usernames, agencies, opt-outs)
    file: str = "people.toml"
    #: admin opt-out list: emails or names never suggested as experts
    opt_out: list[str] = field(default_factory=list)
    #: the communities of practice
    communities_file: str = "communities.toml"
    #: email domain -> agency id: a person's agency from their address, wherever they write
    agency_domains: dict[str, str] = field(default_factory=dict)


@dataclass
class ExpertSettings:
    top_documents: int = 100  # hits of the query that vote for people
    rank_constant: float = 0  # a hit at rank r weighs 1 / (rank_constant + r) ** rank_exponent
    rank_exponent: float = 3.0
    #: hits scoring within this share of each other share a rank (0: strict ranks)
    tie_margin: float = 0.0
    #: a hit's vote is (its score / the best hit's score) ** score_exponent; 0: by rank
    score_exponent: float = 0.0
    author: float = 1.0
    editor: float = 0.6  # a substantive edit
    last_modifier: float = 0.3  # named as last modifier only, edit size unknown
    commenter: float = 0.3
    translator: float = 0.2  # the author of the later version of an EN/FR pair, times author
    half_life_years: float = 2.0
    recency_floor: float = 0.2
    association_cap: float = 1.5
    prolific_exponent: float = 0.5  # score / (1 + ln(1 + documents))^exponent
    min_documents: int = 2
    focus_exponent: float = 2.0  # score x focus ** this (focus as min_focus measures it)
    min_focus: float = 0.1  # supporting documents / documents the person touched (up to top_documents)
    min_relative_score: float = 0.02  # drop people scoring below this share of the best one
    active_within_years: float = 3.0  # older than this: still named, with the date, after the active
    inactive_weight: float = 0.5  # the score of someone not active within active_within_years
    per_agency_in_top: int = 2  # at most this many people of one agency in the top 5
    mass_editor_share: float = 0.3  # touched this share of a source's pages...
    mass_editor_min_pages: int = 20  # ...of at least this many pages...
    mass_editor_edit_size: int = 100  # ...with a median edit below this many characters
    suggestions: int = 5


@dataclass(frozen=True)
class AgencyNames:
    """An agency's name in each official language (``[agencies.<id>]``); either may be
    missing: a page then shows the other language's name, else the id."""

    name_en: str = ""
    name_fr: str = ""

    def name(self, lang: str) -> str:
        return (self.name_fr if lang == "fr" else self.name_en) or self.name_en or self.name_fr


#: an agency id as sources write it
AGENCY_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def build_agencies(data: Any, source: str) -> dict[str, AgencyNames]:
    """``[agencies.records] name_en = "..." name_fr = "..."`` tables, checked."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: [agencies] must be a table of [agencies.<id>] tables")
    out: dict[str, AgencyNames] = {}
    for agency_id, names in data.items():
        where = f"{source}: [agencies.{agency_id}]"
        if not AGENCY_ID_RE.match(agency_id):
            raise ConfigError(f"{where}: an agency id is letters, digits, '.', '-' and '_' (at most 64)")
        if not isinstance(names, dict):
            raise ConfigError(f"{where}: expected a table with name_en and/or name_fr")
        built = build_dataclass(AgencyNames, names, where)
        if not (built.name_en.strip() or built.name_fr.strip()):
            raise ConfigError(f"{where}: give name_en, name_fr or both")
        out[agency_id] = AgencyNames(built.name_en.strip(), built.name_fr.strip())
    return out


#: the groups a node honours from a peer unless its ``groups`` table says otherwise
DEFAULT_PEER_GROUPS = {"public": "public", "all-government": "all-government"}


@dataclass
class PeerSettings:
    """One peer node (``[[federation.peers]]``): where it answers and the key both share."""

    #: the peer's node name (its own ``[federation] node``): requests from it carry it
    name: str
    #: its base URL, e.g. https://savoir.cra.example
    url: str
    #: the key this pair of nodes signs with (both sides hold it): "env:VARIABLE" keeps it
    #: out of the file
    secret: str = ""
    #: the key being retired during a rollover: accepted from the peer, never used to sign
    previous_secret: str = ""
    agency: str = ""
    #: seconds to wait for its answer (the search's deadline may cut it shorter)
    timeout: float = 2.0
    enabled: bool = True
    #: a group the peer's users have -> the group it stands for here; unlisted groups of
    #: a remote user count for nothing on this node
    groups: dict = field(default_factory=lambda: dict(DEFAULT_PEER_GROUPS))


@dataclass
class FederationSettings:
    """This node's name and its peers (``[federation]``); without a node name, federation is off."""

    node: str = ""
    agency: str = ""
    #: a federated search answers within this many milliseconds, with whoever answered
    deadline_ms: int = 1500
    #: a signed request older or newer than this (clock skew included) is refused
    max_skew_seconds: int = 300
    #: after this many failures in a row a peer is skipped for ``breaker_seconds``
    breaker_failures: int = 3
    breaker_seconds: float = 30.0
    peers: list = field(default_factory=list)

    @property
    def enabled(self) -> bool:
        return bool(self.node) and any(p.enabled for p in self.peers)

    def peer(self, name: str) -> PeerSettings | None:
        return next((p for p in self.peers if p.name == name), None)


NODE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def build_federation(data: Any, source: str, env: dict[str, str]) -> FederationSettings:
    """``[federation]`` and its ``[[federation.peers]]``, secrets resolved and registered."""
    where = f"{source}: [federation]"
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must be a table")
    values = dict(data)
    raw_peers = values.pop("peers", [])
    if not isinstance(raw_peers, list):
        raise ConfigError(f"{where}: 'peers' must be a list of tables ([[federation.peers]])")
    settings = build_dataclass(FederationSettings, values, where)
    if settings.node and not NODE_NAME_RE.match(settings.node):
        raise ConfigError(
            f"{where}: field 'node' must be letters, digits, '.', '_' or '-', got {settings.node!r}"
        )
    if settings.deadline_ms < 50:
        raise ConfigError(f"{where}: field 'deadline_ms' must be at least 50")
    peers, seen = [], set()
    for i, raw in enumerate(raw_peers):
        at = f"{where}: peers[{i}]"
        if not isinstance(raw, dict):
            raise ConfigError(f"{at} must be a table")
        raw = dict(raw)
        for name in ("secret", "previous_secret"):
            value = raw.get(name)
            secrets.register(value)
            if isinstance(value, str) and value.startswith("env:"):
                if value[4:] not in env:
                    raise ConfigError(f"{at}: field {name!r}: environment variable {value[4:]} is not set")
                raw[name] = env[value[4:]]
            elif value is not None and not isinstance(value, str):
                raise ConfigError(f"{at}: field {name!r}: expected text (not shown: it is a secret)")
            secrets.register(raw.get(name))
        try:
            peer = build_dataclass(PeerSettings, raw, at)
        except ConfigError as exc:
            raise ConfigError(secrets.scrub(str(exc))) from None
        if not NODE_NAME_RE.match(peer.name):
            raise ConfigError(f"{at}: field 'name' must be a node name, got {peer.name!r}")
        if peer.name in seen or peer.name == settings.node:
            raise ConfigError(f"{at}: peer {peer.name!r} is listed twice or is this node itself")
        if not peer.url.startswith(("http://", "https://")):
            raise ConfigError(f"{at}: field 'url' must start with http:// or https://, got {peer.url!r}")
        if peer.enabled and len(peer.secret) < 16:
            raise ConfigError(
                f"{at}: peer {peer.name!r} needs a shared secret of at least 16 characters "
                '(write it as "env:VARIABLE")'
            )
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in peer.groups.items()):
            raise ConfigError(f"{at}: field 'groups' maps a remote group name to a local group name")
        seen.add(peer.name)
        peers.append(peer)
    settings.peers = peers
    return settings


@dataclass
class Settings:
    store: StoreSettings = field(default_factory=StoreSettings)
    crawler: CrawlerSettings = field(default_factory=CrawlerSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    web: WebSettings = field(default_factory=WebSettings)
    search: SearchSettings = field(default_factory=SearchSettings)
    memory: MemorySettings = field(default_factory=MemorySettings)
    people: PeopleSettings = field(default_factory=PeopleSettings)
    experts: ExpertSettings = field(default_factory=ExpertSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    #: agency id -> its display names in both languages (``[agencies.<id>]``)
    agencies: dict[str, AgencyNames] = field(default_factory=dict)
    #: this node's name and its peers (``[federation]``)
    federation: FederationSettings = field(default_factory=FederationSettings)
    #: the folder relative paths in the settings file are taken from
    base_dir: Path = field(default_factory=Path.cwd)
    #: the files these settings were read from, for messages
    files: list[str] = field(default_factory=list)

    @property
    def data_dir(self) -> Path:
        return _resolve(Path.cwd(), self.store.data_dir)

    @property
    def database_url(self) -> str:
        if self.store.database_url:
            return self.store.database_url
        return f"sqlite:///{self.data_dir / 'savoir.db'}"

    @property
    def index_dir(self) -> Path:
        if self.store.index_dir:
            return _resolve(Path.cwd(), self.store.index_dir)
        return self.data_dir / "index"

    @property
    def people_path(self) -> Path:
        return _resolve(self.base_dir, self.people.file)

    @property
    def communities_path(self) -> Path:
        return _resolve(self.base_dir, self.people.communities_file)

    @property
    def sources_path(self) -> Path:
        return _resolve(self.base_dir, self.crawler.sources_file)


def _resolve(base: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def coerce(value: Any, annotation: Any, where: str) -> Any:
    """Check *value* against a dataclass field's *annotation*; convert strings from env."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return coerce(value, inner[0], where)
    if annotation is bool:
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            return value.lower() in ("1", "true", "yes", "on")
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if annotation is int:
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected a whole number, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected text, got {value!r}")
        return value
    if origin in (list, tuple):
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        item_type = args[0] if args else Any
        items = [coerce(v, item_type, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict or annotation is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table, got {value!r}")
        return value
    return value


def build_dataclass(cls: type, data: dict[str, Any], where: str) -> Any:
    """Build dataclass *cls* from *data*, rejecting unknown and missing fields."""
    hints = _field_types(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        known = ", ".join(sorted(fields))
        raise ConfigError(f"{where}: unknown field {unknown[0]!r} (known fields: {known})")
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = coerce(data[name], hints[name], f"{where}: field {name!r}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{where}: field {name!r} is required")
    return cls(**kwargs)


SECTIONS = {
    "store": StoreSettings,
    "crawler": CrawlerSettings,
    "http": HttpSettings,
    "web": WebSettings,
    "search": SearchSettings,
    "memory": MemorySettings,
    "people": PeopleSettings,
    "experts": ExpertSettings,
    "auth": AuthSettings,
}


def build_settings(
    data: dict[str, Any],
    *,
    env: dict[str, str] | None = None,
    base_dir: Path | None = None,
    source: str = "settings",
) -> Settings:
    """Settings from a parsed TOML mapping plus SAVOIR_<SECTION>_<KEY> overrides."""
    env = os.environ if env is None else env
    merged: dict[str, dict[str, Any]] = {}
    agencies = build_agencies(data.get("agencies", {}), source)
    federation = build_federation(data.get("federation", {}), source, env)
    for section, values in data.items():
        if section in ("agencies", "federation"):
            continue
        if section not in SECTIONS:
            known = ", ".join([*SECTIONS, "agencies", "federation"])
            raise ConfigError(f"{source}: unknown section [{section}] (known sections: {known})")
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: [{section}] must be a table")
        merged[section] = dict(values)
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            key = f"SAVOIR_{section}_{f.name}".upper()
            if key in env:
                merged.setdefault(section, {})[f.name] = env[key]
    built = {
        section: build_dataclass(cls, merged.get(section, {}), f"{source}: [{section}]")
        for section, cls in SECTIONS.items()
    }
    settings = Settings(**built, agencies=agencies, federation=federation, base_dir=base_dir or Path.cwd())
    if settings.crawler.batch_size < 1:
        raise ConfigError(f"{source}: [crawler]: field 'batch_size' must be at least 1")
    if settings.crawler.lease_seconds < 5:
        raise ConfigError(f"{source}: [crawler]: field 'lease_seconds' must be at least 5")
    if settings.http.per_host_concurrency < 1:
        raise ConfigError(f"{source}: [http]: field 'per_host_concurrency' must be at least 1")
    if settings.http.min_delay < 0:
        raise ConfigError(f"{source}: [http]: field 'min_delay' cannot be negative")
    if not 1 <= settings.web.threads <= 256:
        raise ConfigError(f"{source}: [web]: field 'threads' must be between 1 and 256")
    check_memory(settings.memory, f"{source}: [memory]")
    check_store_urls(settings.store, f"{source}: [store]")
    return settings


def check_store_urls(store: StoreSettings, where: str) -> None:
    """database_url and read_url are database URLs, and a read_url names a PostgreSQL
    replica of a PostgreSQL database_url. Messages never show a password."""
    from sqlalchemy.engine import make_url

    def parsed(name: str, url: str):
        try:
            found = make_url(url)
        except Exception:  # noqa: BLE001 - any parse failure is the same mistake
            raise ConfigError(
                f"{where}: field {name!r} is not a database URL "
                "(expected e.g. postgresql+psycopg://savoir@db-host:5432/savoir)"
            ) from None
        secrets.register(found.password)
        return found

    primary = parsed("database_url", store.database_url) if store.database_url else None
    if not store.read_url:
        return
    replica = parsed("read_url", store.read_url)
    shown = replica.render_as_string(hide_password=True)
    if replica.get_backend_name() != "postgresql":
        raise ConfigError(
            f"{where}: field 'read_url' must be a PostgreSQL streaming replica "
            f"(postgresql+psycopg://...), got {shown}"
        )
    if primary is None:
        raise ConfigError(
            f"{where}: field 'read_url' needs database_url: a replica copies a PostgreSQL "
            "primary, and the default SQLite store has none"
        )
    if primary.get_backend_name() != "postgresql":
        raise ConfigError(
            f"{where}: field 'read_url' needs a PostgreSQL database_url (the primary the "
            f"replica copies), got {primary.render_as_string(hide_password=True)}"
        )


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in base.items()}
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key].update(value)
        else:
            out[key] = value
    return out


def load_settings(path: str | Path | None = None, *, env: dict[str, str] | None = None) -> Settings:
    """Defaults, then the settings file (*path* or $SAVOIR_CONFIG), then the environment."""
    env = os.environ if env is None else env
    data = _read_toml(DEFAULT_FILE)
    files = [str(DEFAULT_FILE)]
    base_dir = CONFIG_DIR
    path = path or env.get("SAVOIR_CONFIG")
    source = str(DEFAULT_FILE)
    if path:
        path = Path(path).expanduser().resolve()
        data = _deep_merge(data, _read_toml(path))
        files.append(str(path))
        base_dir = path.parent
        source = str(path)
    settings = build_settings(data, env=env, base_dir=base_dir, source=source)
    settings.files = files
    return settings


# -- sources -----------------------------------------------------------------

SCHEDULE_RE = re.compile(r"^every\s+(\d+)\s*(s|m|h|d)$")


@dataclass
class SourceConfig:
    """One source as configured by an admin."""

    id: str
    kind: str
    agency: str
    name: str = ""
    schedule: str = ""
    acl: list[str] = field(default_factory=lambda: ["public"])
    enabled: bool = True
    settings: dict[str, Any] = field(default_factory=dict)
    #: where the source is defined: "file" (the sources file) or "console" (the admin
    #: console); not settable from TOML
    defined_in: str = field(default="file", init=False, compare=False)
    #: the fields the console changed on a source of the file ("schedule", "settings.url"...)
    overridden: tuple[str, ...] = field(default=(), init=False, compare=False)


def _check_schedule(value: str, where: str) -> None:
    if not value or SCHEDULE_RE.match(value.strip()):
        return
    parts = value.split()
    if len(parts) != 5:
        raise ConfigError(
            f"{where}: field 'schedule': {value!r} is neither 'every N[s|m|h|d]' nor a 5-field cron expression"
        )
    try:
        from apscheduler.triggers.cron import CronTrigger

        CronTrigger.from_crontab(value)
    except ValueError as exc:
        raise ConfigError(f"{where}: field 'schedule': bad cron expression {value!r}: {exc}") from None


def load_sources(
    path: str | Path,
    *,
    settings_class: Callable[[str], type] | None = None,
    env: dict[str, str] | None = None,
    secrets_required: bool = True,
) -> list[SourceConfig]:
    """Read the sources file; with *settings_class*, validate each source's settings.

    Without *secrets_required*, a secret whose environment variable is unset is not an
    error here: it is one only for a command that uses that source (crawl, check).
    """
    path = Path(path)
    data = _read_toml(path)
    unknown = sorted(set(data) - {"source"})
    if unknown:
        raise ConfigError(f"{path}: unknown top-level key {unknown[0]!r}; sources are [[source]] tables")
    raw_sources = data.get("source", [])
    if not isinstance(raw_sources, list):
        raise ConfigError(f"{path}: 'source' must be written as [[source]] tables")
    sources: list[SourceConfig] = []
    seen: set[str] = set()
    for position, raw in enumerate(raw_sources, start=1):
        label = raw.get("id") if isinstance(raw.get("id"), str) else f"#{position}"
        where = f"{path}: source {label!r}"
        if isinstance(raw.get("id"), str) and raw["id"] in seen:
            raise ConfigError(f"{where}: field 'id': another source already uses this id")
        source = check_source(
            raw, where, settings_class=settings_class, env=env, secrets_required=secrets_required
        )
        seen.add(source.id)
        sources.append(source)
    return sources


def check_source(
    raw: dict[str, Any],
    where: str,
    *,
    settings_class: Callable[[str], type] | None = None,
    env: dict[str, str] | None = None,
    secrets_required: bool = True,
) -> SourceConfig:
    """One source from its TOML table (or the admin console's form), validated."""
    source = build_dataclass(SourceConfig, raw, where)
    if not SOURCE_ID_RE.match(source.id):
        raise ConfigError(f"{where}: field 'id': use letters, digits, '-' and '_' (at most 64)")
    if not source.agency.strip():
        raise ConfigError(f"{where}: field 'agency' must not be empty")
    _check_schedule(source.schedule, where)
    if settings_class is not None:
        try:
            cls = settings_class(source.kind)
        except KeyError as exc:
            raise ConfigError(f"{where}: field 'kind': {exc.args[0]}") from None
        parse_source_settings(source, cls, where=where, env=env, missing_ok=not secrets_required)
    return source


#: the fields of a source the admin console may set, besides its connector's settings
CONSOLE_FIELDS = ("kind", "agency", "name", "schedule", "acl", "enabled")


def source_table(source: SourceConfig) -> dict[str, Any]:
    """*source* as the TOML table (or console record) that defines it."""
    return {
        "id": source.id,
        **{name: getattr(source, name) for name in CONSOLE_FIELDS},
        "settings": dict(source.settings),
    }


def merge_console_sources(
    file_sources: list[SourceConfig],
    records: dict[str, dict[str, Any]],
    *,
    settings_class: Callable[[str], type] | None = None,
    env: dict[str, str] | None = None,
) -> list[SourceConfig]:
    """The sources file with the admin console's records laid over it.

    The rule: **the console wins, field by field**. A record for a source of the file
    holds only the fields the console changed (``enabled``, ``schedule``, one setting...);
    every other field still comes from the file, so later edits of the file still count.
    A record whose id the file does not have is a whole source, defined in the console.
    ``SAVOIR_SOURCE_<ID>_<SECRET>`` variables still win over both for secrets.
    """
    out: list[SourceConfig] = []
    known = {s.id for s in file_sources}
    for source in file_sources:
        record = records.get(source.id)
        if not record:
            out.append(source)
            continue
        raw = source_table(source)
        raw.update({k: v for k, v in record.items() if k in CONSOLE_FIELDS})
        raw["settings"] = {**source.settings, **record.get("settings", {})}
        merged = check_source(
            raw,
            f"console: source {source.id!r}",
            settings_class=settings_class,
            env=env,
            secrets_required=False,
        )
        merged.overridden = tuple(
            [k for k in CONSOLE_FIELDS if k in record]
            + [f"settings.{k}" for k in sorted(record.get("settings", {}))]
        )
        out.append(merged)
    for source_id in sorted(set(records) - known):
        record = records[source_id]
        raw = {"id": source_id, **{k: v for k, v in record.items() if k in CONSOLE_FIELDS}}
        raw["settings"] = dict(record.get("settings", {}))
        merged = check_source(
            raw,
            f"console: source {source_id!r}",
            settings_class=settings_class,
            env=env,
            secrets_required=False,
        )
        merged.defined_in = "console"
        out.append(merged)
    return out


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (int, float)):
        return "a number"
    return {list: "a list", dict: "a table"}.get(type(value), "something else")


def secret_fields(cls: type) -> list[str]:
    """The names of a connector settings class's secret fields."""
    return [f.name for f in dataclasses.fields(cls) if f.metadata.get("secret")]


def parse_source_settings(
    source: SourceConfig,
    cls: type,
    *,
    where: str = "",
    env: dict[str, str] | None = None,
    missing_ok: bool = False,
) -> Any:
    """Build a connector's settings dataclass from *source*, resolving secrets.

    Every secret value met (even a mistyped one) is registered with
    :mod:`config.secrets`, and no message quotes one. With *missing_ok*, a secret
    whose environment variable is unset is left empty instead of being an error.
    """
    env = os.environ if env is None else env
    where = where or f"source {source.id!r}"
    values = dict(source.settings)
    for name in secret_fields(cls):
        env_key = f"SAVOIR_SOURCE_{source.id}_{name}".upper().replace("-", "_")
        value = values.get(name)
        secrets.register(value)
        if env_key in env:
            values[name] = env[env_key]
        elif isinstance(value, str) and value.startswith("env:"):
            var = value[4:]
            if var in env:
                values[name] = env[var]
            elif missing_ok:
                values.pop(name)
            else:
                raise ConfigError(f"{where}: field {name!r}: environment variable {var} is not set")
        elif value is not None and not isinstance(value, str):
            raise ConfigError(
                f"{where}: [source.settings]: field {name!r}: expected text, got {_kind_of(value)} "
                f'(not shown: it is a secret); write it in quotes, or better as "env:VARIABLE"'
            )
        secrets.register(values.get(name))
    try:
        return build_dataclass(cls, values, f"{where}: [source.settings]")
    except ConfigError as exc:
        raise ConfigError(secrets.scrub(str(exc))) from None
