"""The store: the source of truth (SQL via SQLAlchemy Core).

SQLite in WAL mode by default; PostgreSQL when ``database_url`` says so. The index
is derived from this and can be rebuilt from it at any time. Every change to a
document appends a row to ``changes``; the index replays rows past its watermark.

A web node may read from a PostgreSQL streaming replica (``[store] read_url``); see
:class:`Store` for what goes where and why following a replica misses nothing.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from config import secrets
from connectors.base import Document, Person, Profile, Role
from indexer.people import normalise_name, person_key

log = logging.getLogger(__name__)

metadata = MetaData()

T = TypeVar("T")

#: how long store reads stay on the primary after the replica failed, before it is tried again
READ_RETRY_SECONDS = 10.0
#: the PostgreSQL advisory lock that makes change-log rows commit in sequence order
CHANGE_LOG_LOCK = 0x5A564F4952  # "SAVOIR", more or less


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes in and out, on SQLite too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


sources = Table(
    "sources",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("agency", String(64), nullable=False),
    Column("name", Text, nullable=False, default=""),
    Column("acl", JSON, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

documents = Table(
    "documents",
    metadata,
    Column("id", String(600), primary_key=True),
    Column("source_id", String(64), nullable=False),  # see ix_documents_source_doc
    Column("agency", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("url", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("language", String(16)),
    Column("created", UTCDateTime()),
    Column("modified", UTCDateTime()),
    Column("tags", JSON, nullable=False),
    Column("communities", JSON, nullable=False),
    Column("acl", JSON, nullable=False),
    Column("translation_of", String(600)),
    Column("alternates", JSON, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("deleted_reason", Text),
    Column("first_seen", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("last_run_id", Integer),
    # the experts find a page's other-language versions by it
    Index("ix_documents_translation_of", "translation_of"),
    # a source's documents, and one source's in id order (read in batches: twin pairing)
    Index("ix_documents_source_doc", "source_id", "id"),
    # one post through two doors (crawler.url_owners) looks live copies up by URL; a hash
    # index on PostgreSQL, where a btree refuses keys over ~2.7 KB and URLs can be longer
    Index("ix_documents_url", "url", postgresql_using="hash"),
)

people = Table(
    "people",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(400), nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("email", String(320)),
    Column("agency", String(64), nullable=False),
    Column("username", Text),
    Column("name_norm", String(300), nullable=False, default=""),
    Column("source_id", String(64), nullable=False, default=""),
    # the resolved person this identity belongs to (derived: see indexer.experts)
    Column("person_id", Integer, index=True),
    Index("ix_people_email", "email"),
    Index("ix_people_agency_name", "agency", "name_norm"),
)

#: resolved people: one row per human, recomputed from `people` and the directory
persons = Table(
    "persons",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", Text, nullable=False),
    Column("email", String(320)),
    Column("agency", String(64), nullable=False),
    Column("languages", JSON, nullable=False),
    Column("topics", JSON, nullable=False),
    Column("opted_out", Boolean, nullable=False, default=False),
    Column("is_bot", Boolean, nullable=False, default=False),
    Column("mass_editor", Boolean, nullable=False, default=False),
    Column("doc_count", Integer, nullable=False, default=0),
    Column("last_active", UTCDateTime()),
    #: how the agency is known: "directory", "email" (its domain) or "source"
    Column("agency_from", String(16)),
)

#: people who sign in to Savoir itself (local accounts; see webui/accounts.py)
users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(100), nullable=False, unique=True),  # case-folded
    Column("display_name", Text, nullable=False, default=""),
    Column("email", String(320), nullable=False, default=""),
    Column("password_hash", Text, nullable=False, default=""),  # argon2id; empty: no local password
    Column("groups", JSON, nullable=False),
    Column("admin", Boolean, nullable=False, default=False),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("failed_signins", Integer, nullable=False, default=0),
    Column("locked_until", UTCDateTime()),
    Column("last_signin", UTCDateTime()),
)

#: every sign-in and admin action: who, what, on what, when, from where
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("time", UTCDateTime(), nullable=False, index=True),
    Column("actor", String(100), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", Text, nullable=False, default=""),
    Column("address", String(64), nullable=False, default=""),
    Column("detail", Text, nullable=False, default=""),
)

#: who a source's accounts are, as the source says (signatures, user pages): the
#: latest non-empty facts per (source, username); see connectors.base.Profile
profiles = Table(
    "profiles",
    metadata,
    Column("source_id", String(64), primary_key=True),
    Column("username", String(300), primary_key=True),
    Column("name", Text, nullable=False, default=""),
    Column("email", String(320), nullable=False, default=""),
    Column("evidence", Text, nullable=False, default=""),
    Column("updated_at", UTCDateTime(), nullable=False),
)

#: people who opted out themselves (the self-service seam until sign-in exists)
opt_outs = Table(
    "opt_outs",
    metadata,
    Column("person_id", Integer, primary_key=True),
    Column("time", UTCDateTime(), nullable=False),
)

contributions = Table(
    "contributions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("document_id", String(600), ForeignKey("documents.id", ondelete="CASCADE"), nullable=False),
    Column("person_id", Integer, ForeignKey("people.id"), nullable=False),
    Column("role", String(16), nullable=False),
    Column("time", UTCDateTime()),
    Column("size", Integer, nullable=False, default=0),
    Column("minor", Boolean, nullable=False, default=False),
    Index("ix_contributions_document", "document_id"),
    Index("ix_contributions_person", "person_id"),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source_id", String(64), nullable=False, index=True),
    Column("mode", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime()),
    Column("fetched", Integer, nullable=False, default=0),
    Column("added", Integer, nullable=False, default=0),
    Column("updated", Integer, nullable=False, default=0),
    Column("unchanged", Integer, nullable=False, default=0),
    Column("deleted", Integer, nullable=False, default=0),
    Column("failed", Integer, nullable=False, default=0),
    Column("not_modified", Integer, nullable=False, default=0),
    Column("bytes", Integer, nullable=False, default=0),
    Column("requests", JSON, nullable=False),
    Column("error", Text),
    #: items left out on purpose, per kind (robots, scope, type): not failures
    Column("excluded", JSON),
)

#: columns added after a table was first created: (table, column, SQL type)
ADDED_COLUMNS = (("runs", "excluded", "JSON"), ("persons", "agency_from", "VARCHAR(16)"))

run_failures = Table(
    "run_failures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("ref", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("transient", Boolean, nullable=False, default=False),
    Column("time", UTCDateTime(), nullable=False),
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("source_id", String(64), primary_key=True),
    Column("state", JSON, nullable=False),
    Column("run_id", Integer),
    Column("updated_at", UTCDateTime(), nullable=False),
)

changes = Table(
    "changes",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("document_id", String(600), nullable=False),
    Column("time", UTCDateTime(), nullable=False),
)


run_requests = Table(
    "run_requests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source_id", String(64), nullable=False),
    Column("full", Boolean, nullable=False, default=False),
    Column("requested_by", Text, nullable=False, default=""),
    Column("requested_at", UTCDateTime(), nullable=False),
    Column("taken_at", UTCDateTime()),
    Column("run_id", Integer),
)

leases = Table(
    "leases",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("owner", String(200), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
)


#: sources added or changed in the admin console: one JSON record per source id, laid
#: over the sources file field by field (config.loader.merge_console_sources says how)
console_sources = Table(
    "console_sources",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("record", JSON, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("updated_by", String(100), nullable=False, default=""),
)

#: what admins set on people in the console (agency, aliases, opt-out), laid over
#: config/people.toml: one entry per person, keyed by email or normalised name
console_people = Table(
    "console_people",
    metadata,
    Column("key", String(400), primary_key=True),
    Column("entry", JSON, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("updated_by", String(100), nullable=False, default=""),
)

#: small key/value facts about derived data (e.g. which people directory was applied)
#: every index that follows this store, and the last change it holds: the change log is
#: pruned only below the slowest live one
index_replicas = Table(
    "index_replicas",
    metadata,
    Column("name", String(300), primary_key=True),
    Column("watermark", Integer, nullable=False),
    Column("seen_at", UTCDateTime(), nullable=False),
)

#: the nonces of signed requests from peer nodes, kept while their timestamps are fresh
#: (a replayed request carries a nonce already here and is refused)
federation_nonces = Table(
    "federation_nonces",
    metadata,
    Column("node", String(64), primary_key=True),
    Column("nonce", String(64), primary_key=True),
    Column("seen_at", UTCDateTime(), nullable=False, index=True),
)

meta = Table(
    "meta",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("value", Text, nullable=False),
)


class StoreError(Exception):
    """The database could not be reached or written; the message says which."""


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class StoredDocument:
    """A document as the store keeps it (what the index and the UI read)."""

    id: str
    source_id: str
    agency: str
    kind: str
    url: str
    title: str
    text: str
    language: str | None
    created: datetime | None
    modified: datetime | None
    tags: list[str]
    communities: list[str]
    acl: list[str]
    translation_of: str | None
    alternates: dict[str, str]
    content_hash: str
    deleted: bool
    authors: list[str]
    contributors: list[str]


def _set_sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def redact_url(url: str) -> str:
    """A database URL without its password, for messages and logs."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a malformed URL is reported as such
        return "<malformed database URL>"


def _url_password(url: str) -> str | None:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).password
    except Exception:  # noqa: BLE001 - a malformed URL has no password to hide
        return None


class Store:
    """The store, on one database (``database_url``), optionally read from a replica.

    **Reads from a streaming replica.** A web node given ``read_url`` (a PostgreSQL hot
    standby of the primary) sends there what a search reads and may see a little late:
    documents by id, the change log and the documents its index replays or rebuilds
    from, counts. Everything that writes or must read its own writes stays on the
    primary (``engine``): leases, runs, checkpoints, :meth:`commit_batch`, nonces,
    console edits, replica watermarks, pruning the change log, accounts. Code outside
    the store that only reads for a search uses :meth:`read_connection` (or
    :attr:`read_engine`, which does not fall back by itself).

    **Why following a replica misses nothing.** An index replays ``changes`` past its
    watermark, then reads those documents. Three things make that safe on a replica:

    1. *Change rows commit in sequence order.* A sequence hands out numbers when rows
       are inserted, not when they commit: a worker could take seq 10, another 11 and
       commit first, and a follower that saw 11 would move its watermark past 10 for
       good (on the primary as much as on a replica). :meth:`commit_batch` therefore
       takes :data:`CHANGE_LOG_LOCK` (a transaction-scoped advisory lock) just before
       it inserts its change rows, so numbers are taken and committed one transaction
       at a time; a gap left in the log is a rolled-back transaction, never one still
       to come. (SQLite has one writer at a time, so the order holds there already.)
    2. *A change row and its document row are one transaction*, and a standby replays
       whole transactions in the primary's commit order: a change visible on the
       replica comes with its document, and with every change numbered before it.
    3. *The change log and the documents come from the same engine*, and one engine
       only moves forward: documents read after the changes are as new or newer
       (a newer version is harmless: its own change is replayed later). Reads that
       fell back to the primary return to the replica only once the replica has
       replayed every change this process has seen (:meth:`_replica_caught_up`), so
       switching back never steps into the past. Rebuilds follow the same rule: the
       starting watermark and the documents come from one engine.

    Lag is tolerated, not hidden: a replica behind the primary gives an index that is
    behind as much, and a hit whose row the replica does not have yet shows no snippet.

    **When the replica is down**, reads go to the primary with one warning line (the
    URL without its password) and the replica is tried again every
    :data:`READ_RETRY_SECONDS`; :attr:`reads_from` says where reads come from now.
    """

    def __init__(self, database_url: str, read_url: str = "") -> None:
        self.url = database_url
        self.read_url = ""
        self._replica: Engine | None = None
        self._replica_lock = threading.Lock()
        #: monotonic time until which reads stay on the primary (0: the replica is in use)
        self._replica_down_until = 0.0
        #: the newest change seq this process has read (from either engine)
        self._seen_seq = 0
        secrets.register(_url_password(database_url))
        if database_url.startswith("sqlite:///"):
            Path(database_url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.engine: Engine = create_engine(database_url, future=True, pool_pre_ping=True)
        except (SQLAlchemyError, ImportError, ValueError) as exc:
            raise StoreError(f"cannot use database {redact_url(database_url)}: {exc}") from None
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _set_sqlite_pragmas)
        try:
            try:
                metadata.create_all(self.engine)
            except SQLAlchemyError:
                # another process may have created the tables at the same moment
                time.sleep(0.2)
                metadata.create_all(self.engine)
            self._add_new_columns()
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
            raise StoreError(f"cannot open database {redact_url(database_url)}: {reason}") from None
        if read_url:
            self.read_from_replica(read_url)

    @property
    def forkable(self) -> bool:
        """Whether a forked child can reach this store on connections of its own (not a
        SQLite database in memory, which only the connection that made it sees)."""
        url = self.url
        return not (url in ("sqlite://", "sqlite:///") or ":memory:" in url or "mode=memory" in url)

    def after_fork(self) -> None:
        """In a forked child, before it uses the store: its own connections from now on.

        The parent's pooled connections are left alone, neither used nor closed: one
        closed here would end the parent's PostgreSQL session, or let SQLite take this
        process for the database's last user. Their old pools are kept referenced, so
        that no garbage collection closes them either (the child leaves by ``os._exit``).
        """
        engines = [self.engine] + ([self._replica] if self._replica is not None else [])
        self._inherited_pools = [engine.pool for engine in engines]
        for engine in engines:
            engine.dispose(close=False)
        self._replica_lock = threading.Lock()

    # -- reads from a replica -----------------------------------------------------
    def read_from_replica(self, read_url: str) -> None:
        """Send this store's search-time reads to the PostgreSQL replica at *read_url*.

        Nothing is connected yet: a replica that is down now is found out (and fallen
        back from) at the first read.
        """
        if not read_url or read_url == self.read_url:
            return
        secrets.register(_url_password(read_url))
        if self.dialect != "postgresql" or not read_url.startswith("postgresql"):
            raise StoreError(
                f"cannot read from {redact_url(read_url)}: reads from a replica need PostgreSQL "
                "for both database_url and read_url"
            )
        try:
            replica = create_engine(
                read_url,
                future=True,
                pool_pre_ping=True,
                # a replica that is down must not hold a search for long; the name (with
                # this process's pid) shows in the replica's pg_stat_activity
                connect_args={"connect_timeout": 3, "application_name": f"savoir reads {os.getpid()}"},
            )
        except (SQLAlchemyError, ImportError, ValueError) as exc:
            raise StoreError(f"cannot use read database {redact_url(read_url)}: {exc}") from None
        old, self._replica, self.read_url = self._replica, replica, read_url
        self._replica_down_until = 0.0
        if old is not None:
            old.dispose()

    @property
    def reads_from(self) -> str:
        """Where search-time reads go now: "primary" (no replica set), "replica", or
        "primary (replica unavailable)"."""
        if self._replica is None:
            return "primary"
        return "primary (replica unavailable)" if self._replica_down_until else "replica"

    @property
    def read_engine(self) -> Engine:
        """The engine for reads that may lag a little (the replica when it is up)."""
        if self._replica is None:
            return self.engine
        with self._replica_lock:
            down_until = self._replica_down_until
            if not down_until:
                return self._replica
            if time.monotonic() < down_until:
                return self.engine
            # time to try the replica again; until then (and if it fails) the primary
            self._replica_down_until = time.monotonic() + READ_RETRY_SECONDS
        if self._replica_caught_up():
            with self._replica_lock:
                self._replica_down_until = 0.0
            log.info("store reads come from the replica %s again", redact_url(self.read_url))
            return self._replica
        return self.engine

    @contextmanager
    def read_connection(self) -> Iterator[Connection]:
        """A connection for search-time reads that may lag a little (experts, pages):
        to the replica when it answers, else to the primary. A replica that fails while
        it is used raises this once; the next reads go to the primary."""
        engine = self.read_engine
        conn: Connection | None = None
        if engine is not self.engine:
            try:
                conn = engine.connect()
            except DBAPIError as exc:
                self._replica_failed(exc)
                engine = self.engine
        if conn is None:
            conn = self.engine.connect()
        with conn:
            try:
                yield conn
            except DBAPIError as exc:
                if engine is not self.engine:
                    self._replica_failed(exc)
                raise

    def _replica_caught_up(self) -> bool:
        """Whether the replica answers and has replayed every change this process saw."""
        assert self._replica is not None
        try:
            with self._replica.connect() as conn:
                newest = int(conn.execute(select(func.coalesce(func.max(changes.c.seq), 0))).scalar_one())
        except DBAPIError:
            return False
        return newest >= self._seen_seq

    def _replica_failed(self, exc: Exception) -> None:
        with self._replica_lock:
            first = not self._replica_down_until
            self._replica_down_until = time.monotonic() + READ_RETRY_SECONDS
        if first:
            said = str(getattr(exc, "orig", None) or exc).strip()
            reason = secrets.scrub(said.splitlines()[0]) if said else type(exc).__name__
            log.warning(
                "store reads fall back to the primary: the replica %s failed (%s); trying it "
                "again every %g s",
                redact_url(self.read_url),
                reason,
                READ_RETRY_SECONDS,
            )

    def _read(self, work: Callable[[Connection], T]) -> T:
        """*work* on a connection to the read engine, or the primary if the replica fails."""
        engine = self.read_engine
        if engine is not self.engine:
            try:
                with engine.connect() as conn:
                    return work(conn)
            except DBAPIError as exc:  # down, not caught up with the schema, a replay conflict
                self._replica_failed(exc)
        with self.engine.connect() as conn:
            return work(conn)

    def _saw(self, seq: int) -> int:
        if seq > self._seen_seq:
            self._seen_seq = seq
        return seq

    def _add_new_columns(self) -> None:
        """Bring a store created by an older Savoir up to this schema (nullable columns and
        indexes only)."""
        from sqlalchemy import inspect, text

        inspector = inspect(self.engine)
        for table_obj in metadata.sorted_tables:
            have = {ix["name"] for ix in inspector.get_indexes(table_obj.name)}
            for index in table_obj.indexes:
                if index.name not in have:
                    try:
                        index.create(self.engine, checkfirst=True)
                    except SQLAlchemyError:
                        log.info("index %s not created now (another process may be creating it)", index.name)
        for table, column, sql_type in ADDED_COLUMNS:
            if column not in {c["name"] for c in inspector.get_columns(table)}:
                try:
                    with self.engine.begin() as conn:
                        conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {sql_type}"))
                except SQLAlchemyError:
                    # another process added it at the same moment
                    if column not in {c["name"] for c in inspect(self.engine).get_columns(table)}:
                        raise

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()
        if self._replica is not None:
            self._replica.dispose()

    def begin(self):
        return self.engine.begin()

    # -- sources ----------------------------------------------------------------
    def upsert_source(self, source_id: str, kind: str, agency: str, name: str, acl: Sequence[str]) -> None:
        values = {"kind": kind, "agency": agency, "name": name, "acl": list(acl), "updated_at": now()}
        with self.begin() as conn:
            exists = conn.execute(select(sources.c.id).where(sources.c.id == source_id)).first()
            if exists:
                conn.execute(update(sources).where(sources.c.id == source_id).values(**values))
            else:
                conn.execute(insert(sources).values(id=source_id, **values))

    # -- runs -------------------------------------------------------------------
    def start_run(self, source_id: str, mode: str) -> int:
        with self.begin() as conn:
            result = conn.execute(
                insert(runs).values(
                    source_id=source_id, mode=mode, status="running", started_at=now(), requests={}
                )
            )
            return int(result.inserted_primary_key[0])

    def update_run(self, run_id: int, **values: Any) -> None:
        if values.get("error"):
            values["error"] = secrets.scrub(values["error"])
        with self.begin() as conn:
            conn.execute(update(runs).where(runs.c.id == run_id).values(**values))

    def add_failures(
        self, run_id: int, failures: Iterable[tuple[str, str, bool]], conn: Connection | None = None
    ) -> None:
        # what a source answered may quote the credentials it was sent
        rows = [
            {
                "run_id": run_id,
                "ref": secrets.scrub(ref),
                "reason": secrets.scrub(reason),
                "transient": transient,
                "time": now(),
            }
            for ref, reason, transient in failures
        ]
        if not rows:
            return
        if conn is not None:
            conn.execute(insert(run_failures), rows)
        else:
            with self.begin() as c:
                c.execute(insert(run_failures), rows)

    def runs(self, source_id: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        query = select(runs).order_by(runs.c.id.desc()).limit(limit)
        if source_id:
            query = query.where(runs.c.source_id == source_id)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def runs_page(
        self, source_id: str, *, offset: int = 0, limit: int = 20
    ) -> tuple[int, list[dict[str, Any]]]:
        """(how many runs *source_id* has had, one page of them, newest first)."""
        query = (
            select(runs)
            .where(runs.c.source_id == source_id)
            .order_by(runs.c.id.desc())
            .offset(offset)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            total = conn.execute(
                select(func.count()).select_from(runs).where(runs.c.source_id == source_id)
            ).scalar_one()
            return int(total), [dict(r._mapping) for r in conn.execute(query)]

    def run(self, run_id: int) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(runs).where(runs.c.id == run_id)).first()
            return dict(row._mapping) if row else None

    def failure_counts(self, run_ids: Sequence[int]) -> dict[int, int]:
        if not run_ids:
            return {}
        query = (
            select(run_failures.c.run_id, func.count())
            .where(run_failures.c.run_id.in_(list(run_ids)))
            .group_by(run_failures.c.run_id)
        )
        with self.engine.connect() as conn:
            return {r[0]: int(r[1]) for r in conn.execute(query)}

    def last_runs(self) -> dict[str, dict[str, Any]]:
        latest = (
            select(runs.c.source_id, func.max(runs.c.id).label("id")).group_by(runs.c.source_id).subquery()
        )
        query = select(runs).join(latest, runs.c.id == latest.c.id)
        with self.engine.connect() as conn:
            return {r.source_id: dict(r._mapping) for r in conn.execute(query)}

    def run_failures(self, run_id: int, *, offset: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        query = (
            select(run_failures)
            .where(run_failures.c.run_id == run_id)
            .order_by(run_failures.c.id)
            .offset(offset)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def count_failures(self, run_id: int) -> int:
        query = select(func.count()).select_from(run_failures).where(run_failures.c.run_id == run_id)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    # -- "run now" requests and leases ------------------------------------------
    def request_run(self, source_id: str, *, full: bool = False, requested_by: str = "") -> int:
        with self.begin() as conn:
            result = conn.execute(
                insert(run_requests).values(
                    source_id=source_id, full=full, requested_by=requested_by, requested_at=now()
                )
            )
            return int(result.inserted_primary_key[0])

    def pending_requests(self) -> list[dict[str, Any]]:
        query = select(run_requests).where(run_requests.c.taken_at.is_(None)).order_by(run_requests.c.id)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def take_request(self, request_id: int) -> bool:
        """Mark a request taken; False when another worker took it first."""
        with self.begin() as conn:
            result = conn.execute(
                update(run_requests)
                .where(run_requests.c.id == request_id, run_requests.c.taken_at.is_(None))
                .values(taken_at=now())
            )
            return bool(result.rowcount)

    def acquire_lease(self, name: str, owner: str, seconds: float) -> bool:
        """Hold *name* for *seconds* unless someone else holds an unexpired lease."""
        from datetime import timedelta

        stamp = now()
        expires = stamp + timedelta(seconds=seconds)
        with self.begin() as conn:
            result = conn.execute(
                update(leases)
                .where(leases.c.name == name, (leases.c.owner == owner) | (leases.c.expires_at < stamp))
                .values(owner=owner, expires_at=expires)
            )
            if result.rowcount:
                return True
            if conn.execute(select(leases.c.name).where(leases.c.name == name)).first():
                return False
        try:
            with self.begin() as conn:
                conn.execute(insert(leases).values(name=name, owner=owner, expires_at=expires))
            return True
        except SQLAlchemyError:  # another worker inserted it first
            return False

    def release_lease(self, name: str, owner: str) -> None:
        with self.begin() as conn:
            conn.execute(delete(leases).where(leases.c.name == name, leases.c.owner == owner))

    def lease_holder(self, name: str) -> str | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(leases.c.owner, leases.c.expires_at).where(leases.c.name == name)
            ).first()
        return row.owner if row and row.expires_at > now() else None

    def first_use_of_nonce(self, node: str, nonce: str, keep_seconds: float) -> bool:
        """Record a peer's request *nonce*; False when it was seen already (a replay).

        Nonces older than *keep_seconds* are forgotten: a request that old is refused for
        its timestamp before its nonce is looked at. Every web process shares the table,
        so a replay sent to another worker process is refused too.
        """
        from datetime import timedelta

        stamp = now()
        try:
            with self.begin() as conn:
                conn.execute(insert(federation_nonces).values(node=node, nonce=nonce, seen_at=stamp))
        except SQLAlchemyError:
            return False
        if random.random() < 0.02:  # now and then, not on every request
            with self.begin() as conn:
                conn.execute(
                    delete(federation_nonces).where(
                        federation_nonces.c.seen_at < stamp - timedelta(seconds=keep_seconds)
                    )
                )
        return True

    def opt_out(self, person_id: int) -> None:
        with self.begin() as conn:
            if not conn.execute(
                select(opt_outs.c.person_id).where(opt_outs.c.person_id == person_id)
            ).first():
                conn.execute(insert(opt_outs).values(person_id=person_id, time=now()))

    def opt_in(self, person_id: int) -> None:
        """Undo a person's own opt-out (the admin console's people directory)."""
        with self.begin() as conn:
            conn.execute(delete(opt_outs).where(opt_outs.c.person_id == person_id))

    def self_opted_out(self) -> set[int]:
        with self.engine.connect() as conn:
            return {r.person_id for r in conn.execute(select(opt_outs.c.person_id))}

    # -- what the admin console changed ------------------------------------------
    def console_version(self, what: str) -> str:
        """A counter bumped by every console change to *what* ("sources" or "people"), so
        that other processes (the worker, other web workers) notice and reload."""
        return self.get_meta(f"console_{what}_version") or "0"

    def _bump(self, conn: Connection, what: str) -> None:
        key = f"console_{what}_version"
        row = conn.execute(select(meta.c.value).where(meta.c.key == key)).first()
        if row is None:
            conn.execute(insert(meta).values(key=key, value="1"))
        else:
            conn.execute(update(meta).where(meta.c.key == key).values(value=str(int(row.value) + 1)))

    def console_sources(self) -> dict[str, dict[str, Any]]:
        with self.engine.connect() as conn:
            return {r.id: dict(r.record) for r in conn.execute(select(console_sources))}

    def save_console_source(self, source_id: str, record: dict[str, Any] | None, *, by: str = "") -> None:
        """Store the console's record for *source_id*; None (or empty) forgets it."""
        with self.begin() as conn:
            conn.execute(delete(console_sources).where(console_sources.c.id == source_id))
            if record:
                conn.execute(
                    insert(console_sources).values(
                        id=source_id, record=record, updated_at=now(), updated_by=by
                    )
                )
            self._bump(conn, "sources")

    def console_people(self) -> dict[str, dict[str, Any]]:
        with self.engine.connect() as conn:
            return {r.key: dict(r.entry) for r in conn.execute(select(console_people))}

    def save_console_person(self, key: str, entry: dict[str, Any] | None, *, by: str = "") -> None:
        with self.begin() as conn:
            conn.execute(delete(console_people).where(console_people.c.key == key))
            if entry:
                conn.execute(
                    insert(console_people).values(key=key, entry=entry, updated_at=now(), updated_by=by)
                )
            self._bump(conn, "people")

    # -- meta -------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(meta.c.value).where(meta.c.key == key)).first()
            return row.value if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.begin() as conn:
            if conn.execute(select(meta.c.key).where(meta.c.key == key)).first():
                conn.execute(update(meta).where(meta.c.key == key).values(value=value))
            else:
                conn.execute(insert(meta).values(key=key, value=value))

    # -- checkpoints ------------------------------------------------------------
    def checkpoint(self, source_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(checkpoints.c.state).where(checkpoints.c.source_id == source_id)
            ).first()
            return row.state if row else None

    def _save_checkpoint(self, conn: Connection, source_id: str, state: dict[str, Any], run_id: int) -> None:
        values = {"state": state, "run_id": run_id, "updated_at": now()}
        exists = conn.execute(
            select(checkpoints.c.source_id).where(checkpoints.c.source_id == source_id)
        ).first()
        if exists:
            conn.execute(update(checkpoints).where(checkpoints.c.source_id == source_id).values(**values))
        else:
            conn.execute(insert(checkpoints).values(source_id=source_id, **values))

    def hashes(self, ids: Sequence[str]) -> dict[str, tuple[str, bool]]:
        """Current (content hash, deleted) of the given ids that the store has."""
        out: dict[str, tuple[str, bool]] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(list(ids), 500):
                query = select(documents.c.id, documents.c.content_hash, documents.c.deleted).where(
                    documents.c.id.in_(chunk)
                )
                for row in conn.execute(query):
                    out[row.id] = (row.content_hash, row.deleted)
        return out

    def live_ids(self, source_id: str) -> set[str]:
        query = select(documents.c.id).where(
            documents.c.source_id == source_id, documents.c.deleted.is_(False)
        )
        with self.engine.connect() as conn:
            return {r.id for r in conn.execute(query)}

    def commit_batch(
        self,
        *,
        run_id: int,
        source_id: str,
        upserts: Sequence[tuple[Document, str]],
        deletions: Sequence[tuple[str, str]] = (),
        failures: Sequence[tuple[str, str, bool]] = (),
        checkpoint: dict[str, Any] | None = None,
        run_counts: dict[str, int] | None = None,
    ) -> None:
        """Write documents, tombstones, failures, the checkpoint and the run's counts so far
        in one transaction (a run killed later still says what it committed)."""
        stamp = now()
        with self.begin() as conn:
            existing = (
                {
                    r.id
                    for r in conn.execute(
                        select(documents.c.id).where(documents.c.id.in_([d.id for d, _ in upserts]))
                    )
                }
                if upserts
                else set()
            )
            new_rows, contribution_rows, change_rows, updated = [], [], [], []
            person_ids, keys = self._person_ids(conn, upserts, source_id)
            next_key = iter(keys).__next__  # each contribution's key, in the batch's order
            for doc, digest in upserts:
                values = {
                    "source_id": source_id,
                    "agency": doc.agency,
                    "kind": doc.kind,
                    "url": doc.url,
                    "title": doc.title,
                    "text": doc.text,
                    "language": doc.language,
                    "created": doc.created,
                    "modified": doc.modified,
                    "tags": list(doc.tags),
                    "communities": list(doc.communities),
                    "acl": list(doc.acl or ()),
                    "translation_of": doc.translation_of,
                    "alternates": dict(doc.alternates),
                    "content_hash": digest,
                    "deleted": False,
                    "deleted_reason": None,
                    "updated_at": stamp,
                    "last_run_id": run_id,
                }
                if doc.id in existing:
                    conn.execute(update(documents).where(documents.c.id == doc.id).values(**values))
                    updated.append(doc.id)
                else:
                    new_rows.append({"id": doc.id, "first_seen": stamp, **values})
                for contribution in doc.contributions:
                    contribution_rows.append(
                        {
                            "document_id": doc.id,
                            "person_id": person_ids[next_key()],
                            "role": contribution.role.value,
                            "time": contribution.time,
                            "size": contribution.size,
                            "minor": contribution.minor,
                        }
                    )
                change_rows.append({"document_id": doc.id, "time": stamp})
            # one statement per kind of row, not per document
            if change_rows or deletions:
                self._order_changes(conn)
            if updated:
                conn.execute(delete(contributions).where(contributions.c.document_id.in_(updated)))
            if new_rows:
                conn.execute(insert(documents), new_rows)
            if contribution_rows:
                conn.execute(insert(contributions), contribution_rows)
            if change_rows:
                conn.execute(insert(changes), change_rows)
            for doc_id, reason in deletions:
                result = conn.execute(
                    update(documents)
                    .where(documents.c.id == doc_id, documents.c.deleted.is_(False))
                    .values(deleted=True, deleted_reason=reason, updated_at=stamp, last_run_id=run_id)
                )
                if result.rowcount:
                    conn.execute(insert(changes).values(document_id=doc_id, time=stamp))
            self.add_failures(run_id, failures, conn)
            if checkpoint is not None:
                self._save_checkpoint(conn, source_id, checkpoint, run_id)
            if run_counts:
                conn.execute(update(runs).where(runs.c.id == run_id).values(**run_counts))

    def _order_changes(self, conn: Connection) -> None:
        """Hold the change log until this transaction ends, so that change rows commit in
        the order of their numbers (see :class:`Store`: a follower never skips one)."""
        if self.dialect == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHANGE_LOG_LOCK})

    def save_profiles(self, source_id: str, found: Sequence[Profile]) -> int:
        """Keep what a source says about its accounts; a fact is never erased by an empty one.

        Returns how many profiles changed (the expert model re-derives people then).
        """
        changed = 0
        stamp = now()
        with self.engine.begin() as conn:
            for profile in found:
                username = profile.username.strip()[:300]
                if not username or not (profile.name or profile.email):
                    continue
                row = conn.execute(
                    select(profiles).where(profiles.c.source_id == source_id, profiles.c.username == username)
                ).first()
                values = {
                    "name": profile.name or (row.name if row else ""),
                    "email": profile.email or (row.email if row else ""),
                    "evidence": profile.evidence[:1000] or (row.evidence if row else ""),
                }
                if row is None:
                    conn.execute(
                        insert(profiles).values(
                            source_id=source_id, username=username, updated_at=stamp, **values
                        )
                    )
                elif (row.name, row.email) != (values["name"], values["email"]):
                    conn.execute(
                        update(profiles)
                        .where(profiles.c.source_id == source_id, profiles.c.username == username)
                        .values(updated_at=stamp, **values)
                    )
                else:
                    continue
                changed += 1
        return changed

    def profiles_fingerprint(self) -> str:
        """Changes whenever a profile does (for the people refresh)."""
        with self.engine.connect() as conn:
            count, last = conn.execute(select(func.count(), func.max(profiles.c.updated_at))).one()
        return f"{count}:{last}"

    def _person_ids(
        self, conn: Connection, upserts: Sequence[tuple[Document, str]], source_id: str
    ) -> tuple[dict[str, int], list[str]]:
        """The raw identity row of each name the batch's contributions give (merging is
        derived later), by key: the known ones read, the new ones inserted, a few
        statements a batch (a query a person and batch before: 9 s of a 30k crawl).
        Also each contribution's key, in the batch's order."""
        wanted: dict[str, tuple[Person, str]] = {}
        keys = []
        for doc, _ in upserts:
            for contribution in doc.contributions:
                person = contribution.person
                key = person_key(person.name, person.email, doc.agency, person.username, source_id)
                keys.append(key)
                wanted.setdefault(key, (person, doc.agency))
        found: dict[str, int] = {}

        def read(keys: list[str]) -> None:
            for chunk in _chunks(keys, 500):
                for row in conn.execute(select(people.c.key, people.c.id).where(people.c.key.in_(chunk))):
                    found[row.key] = row.id

        read(list(wanted))
        missing = [key for key in wanted if key not in found]
        if missing:
            conn.execute(
                insert(people),
                [
                    {
                        "key": key,
                        "name": person.name.strip() or person.username or person.email or "?",
                        "email": person.email,
                        "agency": agency,
                        "username": person.username,
                        "name_norm": normalise_name(person.name) or (person.username or "").casefold(),
                        "source_id": source_id,
                    }
                    for key in missing
                    for person, agency in [wanted[key]]
                ],
            )
            read(missing)
        return found, keys

    def documents_by_id(
        self, ids: Sequence[str], *, include_deleted: bool = False
    ) -> dict[str, StoredDocument]:
        """The documents with these ids (from the read engine: see :class:`Store`)."""

        def read(conn: Connection) -> dict[str, StoredDocument]:
            out: dict[str, StoredDocument] = {}
            for chunk in _chunks(list(ids), 500):
                query = select(documents).where(documents.c.id.in_(chunk))
                if not include_deleted:
                    query = query.where(documents.c.deleted.is_(False))
                rows = list(conn.execute(query))
                people_by_doc = self._people_for(conn, [r.id for r in rows])
                for row in rows:
                    authors, contributors = people_by_doc.get(row.id, ([], []))
                    out[row.id] = _stored(row, authors, contributors)
            return out

        return self._read(read)

    def _people_for(self, conn: Connection, doc_ids: Sequence[str]) -> dict[str, tuple[list[str], list[str]]]:
        out: dict[str, tuple[list[str], list[str]]] = {}
        if not doc_ids:
            return out
        query = (
            select(contributions.c.document_id, contributions.c.role, people.c.name)
            .join(people, people.c.id == contributions.c.person_id)
            .where(contributions.c.document_id.in_(list(doc_ids)))
            .order_by(contributions.c.id)
        )
        for row in conn.execute(query):
            authors, contributors = out.setdefault(row.document_id, ([], []))
            if row.role == Role.AUTHOR.value and row.name not in authors:
                authors.append(row.name)
            if row.name not in contributors:
                contributors.append(row.name)
        return out

    def iter_documents(
        self, *, batch: int = 500, sources: Sequence[str] | None = None
    ) -> Iterator[StoredDocument]:
        """Every live document in id order (for a reindex); with *sources*, those of each
        source in turn, each source's in id order.

        Each batch is one range read of an index (the primary key, or source and id), so
        reading a million documents costs the same for every batch.
        """
        if sources is not None:
            for source in dict.fromkeys(sources):
                yield from self._iter_documents(batch, source)
        else:
            yield from self._iter_documents(batch, None)

    def _iter_documents(self, batch: int, source: str | None) -> Iterator[StoredDocument]:
        last = ""
        while True:

            def read(conn: Connection, last: str = last) -> tuple[list[Any], dict]:
                query = select(documents).where(documents.c.deleted.is_(False), documents.c.id > last)
                if source is not None:
                    query = query.where(documents.c.source_id == source)
                rows = list(conn.execute(query.order_by(documents.c.id).limit(batch)))
                return rows, self._people_for(conn, [r.id for r in rows])

            rows, people_by_doc = self._read(read)
            if not rows:
                return
            for row in rows:
                authors, contributors = people_by_doc.get(row.id, ([], []))
                yield _stored(row, authors, contributors)
            last = rows[-1].id

    def max_change_seq(self) -> int:
        """The newest change (read engine: where an index rebuilt now starts from)."""
        query = select(func.coalesce(func.max(changes.c.seq), 0))
        return self._saw(self._read(lambda conn: int(conn.execute(query).scalar_one())))

    def oldest_change_seq(self) -> int:
        """The first change still kept (0 when none is), as the read engine has it."""
        query = select(func.coalesce(func.min(changes.c.seq), 0))
        return self._read(lambda conn: int(conn.execute(query).scalar_one()))

    def prune_changes(self, upto: int) -> int:
        """Forget changes up to *upto* (an index holds them), always keeping the newest.

        The newest row stays so that sequence numbers never restart: SQLite hands out
        max(seq) + 1, and an empty table would reuse numbers an index already passed.
        """
        with self.engine.begin() as conn:
            newest = int(conn.execute(select(func.coalesce(func.max(changes.c.seq), 0))).scalar_one())
            limit = min(upto + 1, newest)
            return conn.execute(delete(changes).where(changes.c.seq < limit)).rowcount or 0

    def report_replica(self, name: str, watermark: int) -> None:
        """Record that the index *name* holds every change up to *watermark* (and lives)."""
        stamp = now()
        with self.begin() as conn:
            done = conn.execute(
                update(index_replicas)
                .where(index_replicas.c.name == name)
                .values(watermark=watermark, seen_at=stamp)
            ).rowcount
        if not done:
            try:
                with self.begin() as conn:
                    conn.execute(insert(index_replicas).values(name=name, watermark=watermark, seen_at=stamp))
            except SQLAlchemyError:  # inserted by another process of the same index meanwhile
                with self.begin() as conn:
                    conn.execute(
                        update(index_replicas)
                        .where(index_replicas.c.name == name)
                        .values(watermark=watermark, seen_at=stamp)
                    )

    def replicas(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(index_replicas).order_by(index_replicas.c.name))
            return [dict(r._mapping) for r in rows]

    def prune_floor(self, upto: int, live_seconds: float) -> int:
        """How far the change log may be pruned: *upto*, or the watermark of the slowest
        index seen within *live_seconds* when that is lower."""
        from datetime import timedelta

        since = now() - timedelta(seconds=live_seconds)
        with self.engine.connect() as conn:
            slowest = conn.execute(
                select(func.min(index_replicas.c.watermark)).where(index_replicas.c.seen_at >= since)
            ).scalar_one()
        return upto if slowest is None else min(upto, int(slowest))

    def changes_since(self, seq: int, limit: int = 1000) -> list[tuple[int, str]]:
        """Changes past *seq*, oldest first, from the read engine: the documents an index
        then reads for them come from the same engine, never an older one (see
        :class:`Store` for why a replica can be followed without missing a change)."""
        query = (
            select(changes.c.seq, changes.c.document_id)
            .where(changes.c.seq > seq)
            .order_by(changes.c.seq)
            .limit(limit)
        )
        found = self._read(lambda conn: [(r.seq, r.document_id) for r in conn.execute(query)])
        if found:
            self._saw(found[-1][0])
        return found

    def counts(self) -> dict[str, Any]:
        """Live documents (per source) and people, from the read engine."""
        return self._read(self._counts)

    @staticmethod
    def _counts(conn: Connection) -> dict[str, Any]:
        per_source = {
            r.source_id: r.n
            for r in conn.execute(
                select(documents.c.source_id, func.count().label("n"))
                .where(documents.c.deleted.is_(False))
                .group_by(documents.c.source_id)
            )
        }
        n_people = conn.execute(select(func.count()).select_from(persons)).scalar_one()
        if not n_people:
            n_people = conn.execute(select(func.count()).select_from(people)).scalar_one()
        return {"documents": sum(per_source.values()), "per_source": per_source, "people": n_people}


def _stored(row: Any, authors: list[str], contributors: list[str]) -> StoredDocument:
    return StoredDocument(
        id=row.id,
        source_id=row.source_id,
        agency=row.agency,
        kind=row.kind,
        url=row.url,
        title=row.title,
        text=row.text,
        language=row.language,
        created=row.created,
        modified=row.modified,
        tags=list(row.tags or []),
        communities=list(row.communities or []),
        acl=list(row.acl or []),
        translation_of=row.translation_of,
        alternates=dict(row.alternates or {}),
        content_hash=row.content_hash,
        deleted=bool(row.deleted),
        authors=authors,
        contributors=contributors,
    )


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


__all__ = ["Store", "StoreError", "StoredDocument", "redact_url"]
