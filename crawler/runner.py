"""Wire settings, store, index, HTTP session and connectors together."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import MISSING, fields
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from config.loader import (
    ConfigError,
    Settings,
    SourceConfig,
    load_sources,
    merge_console_sources,
    parse_source_settings,
)
from connectors.base import Connector, SourceContext, get_connector_class
from crawler.http import HttpCache, HttpSession
from crawler.sync import RunReport, sync_source
from indexer.accel import prepare_flat_postings
from indexer.communities import Communities, load_communities
from indexer.experts import resolve_people
from indexer.index import TEXT_FIELDS, SearchIndex
from indexer.index_lock import IndexBusy
from indexer.people import PeopleDirectory, load_people_directory
from indexer.store import Store, StoreError, now
from indexer.translations import TranslationTable
from indexer.translations import start as start_translations
from indexer.twins import PAIR_AFTER_CRAWL_MAX
from indexer.twins import refresh as refresh_twins

log = logging.getLogger(__name__)

#: a source's run holds its lease this long past each committed batch
LEASE_SECONDS = 600.0  # the default of [crawler] lease_seconds
#: seconds a settings check waits for one answer
CHECK_TIMEOUT = 10.0


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def owner_is_dead(owner: str) -> bool:
    """True when *owner* names a process on this host that no longer exists."""
    host, _, rest = owner.partition(":")
    pid_text = rest.split(":", 1)[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def settings_class_for(kind: str) -> type:
    return get_connector_class(kind).Settings


def merge_console_people(entries: list[dict], console: dict[str, dict]) -> list[dict]:
    """The directory's entries with the console's laid over them: an entry of the file
    with the same key (email, else normalised name) takes the console's fields; the
    others are added."""
    from indexer.people import normalise_name

    def key(entry: dict) -> str:
        email = (entry.get("email") or "").strip().lower()
        return f"email:{email}" if email else f"name:{normalise_name(entry.get('name', ''))}"

    merged = [dict(e) for e in entries]
    where = {key(e): i for i, e in enumerate(merged)}
    for console_key, entry in console.items():
        if console_key in where:
            merged[where[console_key]].update(entry)
        else:
            merged.append(dict(entry))
    return merged


class Savoir:
    """One node's moving parts, opened lazily from its settings."""

    def __init__(self, settings: Settings, sources: Sequence[SourceConfig] | None = None) -> None:
        self.settings = settings
        #: the sources of the file (or given), before the admin console's records
        self._file_sources = list(sources) if sources is not None else None
        self._sources: list[SourceConfig] | None = None
        self._sources_version: str | None = None
        self._directory_version: str | None = None
        self._store: Store | None = None
        self._index: SearchIndex | None = None
        self._index_lock = threading.Lock()
        self._directory: PeopleDirectory | None = None
        self._communities: Communities | None = None
        self._store_lock = threading.Lock()

    # -- parts --------------------------------------------------------------
    @property
    def store(self) -> Store:
        with self._store_lock:
            if self._store is None:
                self._store = Store(self.settings.database_url)
            return self._store

    @property
    def sources(self) -> list[SourceConfig]:
        """The sources file with the admin console's changes laid over it (the console
        wins, field by field: see config.loader.merge_console_sources). Reloaded whenever
        the console changes something, in whichever process that happened."""
        if self._file_sources is None:
            path = self.settings.sources_path
            if not path.exists():
                raise ConfigError(f"{path}: sources file not found (set [crawler] sources_file)")
            # a missing secret is an error for the commands that use its source (connector())
            self._file_sources = load_sources(path, settings_class=settings_class_for, secrets_required=False)
        try:
            version = self.store.console_version("sources")
        except (StoreError, SQLAlchemyError) as exc:
            # no database, no console changes to read: the file alone (a crawl fails anyway)
            log.warning("the admin console's changes cannot be read (%s); using the sources file alone", exc)
            return list(self._file_sources)
        if self._sources is None or version != self._sources_version:
            records = self.store.console_sources() if version != "0" else {}
            self._sources = merge_console_sources(
                self._file_sources, records, settings_class=settings_class_for
            )
            self._sources_version = version
        return self._sources

    def source(self, source_id: str) -> SourceConfig:
        for source in self.sources:
            if source.id == source_id:
                return source
        known = ", ".join(s.id for s in self.sources) or "none"
        raise ConfigError(f"no source with id {source_id!r} in {self.settings.sources_path} (known: {known})")

    def open_index(self, *, progress: Callable[[int], None] | None = None) -> SearchIndex:
        """The index, brought up to date with the store (replays what a crash left out)."""
        with self._index_lock:
            return self._open_index(progress)

    def _open_index(self, progress: Callable[[int], None] | None) -> SearchIndex:
        if self._index is None:
            index = SearchIndex(self.settings.index_dir, self.communities, memory=self.settings.memory)
            index.replica_name = self.settings.store.replica_name or f"{socket.gethostname()}:{index.path}"
            index.replica_live_seconds = self.settings.store.replica_live_seconds
            if index.needs_rebuild:
                try:
                    index.rebuild(self.store, progress=progress)
                except IndexBusy as exc:
                    # another process rebuilds it: the old index answers until that one swaps
                    log.info("index not rebuilt now: %s", exc)
            else:
                try:
                    # never wait: a process holding the index is a writer that catches up itself
                    replayed = index.catch_up(self.store, progress=progress, wait=0)
                except IndexBusy as exc:
                    log.info("index not brought up to date now: %s", exc)
                    replayed = 0
                if replayed:
                    log.info("replayed %d store changes into the index", replayed)
            self._index = index
            self.refresh_people()
        return self._index

    @property
    def communities(self) -> Communities:
        if self._communities is None:
            self._communities = load_communities(self.settings.communities_path)
        return self._communities

    @property
    def directory(self) -> PeopleDirectory:
        """config/people.toml with the admin console's entries laid over it (the console
        wins for the fields it sets: agency, aliases, opt-out)."""
        version = self.store.console_version("people")
        if self._directory is None or version != self._directory_version:
            found = load_people_directory(self.settings.people_path, self.settings.people.opt_out)
            if version != "0":
                found = PeopleDirectory(
                    merge_console_people(found.entries, self.store.console_people()),
                    self.settings.people.opt_out,
                )
            self._directory = found
            self._directory_version = version
        return self._directory

    def refresh_people(self, *, force: bool = False) -> int | None:
        """Re-derive one person per human when contributions or the directory changed."""
        path = self.settings.people_path
        people_version = self.store.console_version("people")
        fingerprint = hashlib.sha256(
            (path.read_bytes() if path.exists() else b"")
            + repr(
                (
                    self.settings.people.opt_out,
                    self.settings.experts.mass_editor_share,
                    self.settings.experts.mass_editor_min_pages,
                    self.settings.experts.mass_editor_edit_size,
                    sorted(self.settings.people.agency_domains.items()),
                    self.store.max_change_seq(),
                    self.store.profiles_fingerprint(),
                    *([people_version] if people_version != "0" else []),  # the console's people
                )
            ).encode()
        ).hexdigest()
        if not force and self.store.get_meta("people_fingerprint") == fingerprint:
            return None
        count = resolve_people(
            self.store,
            self.directory,
            self.settings.experts,
            self.settings.people.opt_out,
            self.settings.people.agency_domains,
        )
        self.store.set_meta("people_fingerprint", fingerprint)
        return count

    def http_session(self, *, checking: bool = False) -> HttpSession:
        """The polite HTTP session of one run; *checking*: of a settings check, which
        answers in seconds (no retries, a short timeout, no cache)."""
        if checking:
            quick = dataclasses.replace(
                self.settings.http, max_retries=0, timeout=min(self.settings.http.timeout, CHECK_TIMEOUT)
            )
            return HttpSession(quick)
        return HttpSession(self.settings.http, cache=HttpCache(self.settings.data_dir / "http-cache"))

    def connector(self, source: SourceConfig, http: HttpSession | None = None) -> Connector:
        cls = get_connector_class(source.kind)
        options = parse_source_settings(source, cls.Settings)
        context = SourceContext(id=source.id, agency=source.agency, kind=source.kind, name=source.name)
        return cls(context, options, http or self.http_session())

    # -- work ---------------------------------------------------------------
    def crawl(
        self,
        source_ids: Sequence[str] = (),
        *,
        full: bool = False,
        on_item_factory: Callable[[SourceConfig], Callable[[str], None]] | None = None,
        include_disabled: bool = False,
        stop: threading.Event | None = None,
        owner: str | None = None,
    ) -> list[RunReport]:
        """Run sources one after the other; a source another process is running is skipped."""
        chosen = (
            [self.source(i) for i in source_ids]
            if source_ids
            else [s for s in self.sources if s.enabled or include_disabled]
        )
        index = self.open_index()
        reports = []
        self.mark_interrupted_runs()
        owner = owner or default_owner()
        for source in chosen:
            if stop is not None and stop.is_set():
                break
            lease = f"source:{source.id}"
            self._clear_dead_lease(lease)
            lease_seconds = self.settings.crawler.lease_seconds
            if not self.store.acquire_lease(lease, owner, lease_seconds):
                holder = self.store.lease_holder(lease) or "another worker"
                log.warning("%s is being run by %s; skipped", source.id, holder)
                reports.append(
                    RunReport(
                        run_id=0,
                        source_id=source.id,
                        mode="-",
                        status="skipped",
                        error=f"already running in {holder}",
                    )
                )
                continue
            http = self.http_session()
            try:
                try:
                    connector = self.connector(source, http)
                except ConfigError as exc:
                    # this source cannot run (e.g. its secret is not set); the others can
                    reports.append(self._refused_run(source, str(exc)))
                    continue
                on_item = on_item_factory(source) if on_item_factory else None
                reports.append(
                    sync_source(
                        self.store,
                        index,
                        source,
                        connector,
                        full=full,
                        batch_size=self.settings.crawler.batch_size,
                        index_every=self.settings.crawler.index_every,
                        on_item=on_item,
                        stop=stop,
                        heartbeat=lambda lease=lease, seconds=lease_seconds: self.store.acquire_lease(
                            lease, owner, seconds
                        ),
                    )
                )
            finally:
                http.close()
                self.store.release_lease(lease, owner)
        if any(r.added or r.updated or r.deleted for r in reports):
            self.refresh_cross_language(
                index,
                sources=[r.source_id for r in reports if r.added or r.updated or r.deleted],
                meanwhile=self.refresh_people,
            )
            self.refresh_flat_postings(index)
        return reports

    def refresh_flat_postings(self, index: SearchIndex) -> None:
        """Write the flat postings of the index's new segments (see indexer.flat_postings),
        after everything that writes segments (the crawl, the twins' rewrite)."""
        try:
            written = prepare_flat_postings(index.ix, TEXT_FIELDS)
        except Exception:  # noqa: BLE001 - searches read the segments' own postings meanwhile
            log.exception("flat postings could not be written; searches read the index's blocks")
            return
        if written:
            log.info("flat postings and positions: %d new file(s)", written)

    def refresh_cross_language(
        self,
        index: SearchIndex,
        *,
        force: bool = False,
        sources: Sequence[str] | None = None,
        meanwhile: Callable[[], object] | None = None,
    ) -> None:
        """Relearn the translations beside the index when the twins grew, then pair the
        EN/FR versions that no link names (of *sources*, or of every source).

        *meanwhile* is done in this process while a forked one learns (a crawl's people
        step: the learner is seconds on one core, and the people do not depend on it);
        what it raises is raised once the learner is done.
        """
        learning = table = None
        try:
            learning = start_translations(self.store, index, force=force, fork=meanwhile is not None)
        except Exception:  # noqa: BLE001 - a search without learned translations still works
            log.exception("translations could not be learned from the twins; searches go on without them")
        try:
            if meanwhile is not None:
                meanwhile()
        finally:
            try:
                table = learning.finish() if learning is not None else None
            except Exception:  # noqa: BLE001 - as above
                log.exception("translations could not be learned from the twins; searches go on without them")
        if table is not None:
            log.info("learned %d translations from %d EN/FR twins", len(table), table.twins)
        try:
            refresh_twins(
                self.store,
                index,
                table or TranslationTable.load(index.path),
                sources=sources,
                max_documents=None if force else PAIR_AFTER_CRAWL_MAX,
            )
        except IndexBusy as exc:
            log.info("twins not paired now: %s", exc)
        except Exception:  # noqa: BLE001 - unpaired twins show as two results, nothing is lost
            log.exception("EN/FR versions could not be paired; they show as separate results")

    def _refused_run(self, source: SourceConfig, reason: str) -> RunReport:
        """A run that could not start, recorded so that ``status`` says why."""
        run_id = self.store.start_run(source.id, "-")
        self.store.update_run(run_id, status="failed", finished_at=now(), error=reason)
        log.error("%s cannot run: %s", source.id, reason)
        return RunReport(run_id=run_id, source_id=source.id, mode="-", status="failed", error=reason)

    def _clear_dead_lease(self, lease: str) -> None:
        holder = self.store.lease_holder(lease)
        if holder and owner_is_dead(holder):
            log.warning("lease %s was held by a process that died (%s); taking it over", lease, holder)
            self.store.release_lease(lease, holder)

    def mark_interrupted_runs(self) -> None:
        """Runs left 'running' by a killed process (whose lease has lapsed) become 'interrupted'."""
        for run in self.store.runs(limit=200):
            if run["status"] != "running":
                continue
            lease = f"source:{run['source_id']}"
            self._clear_dead_lease(lease)
            if self.store.lease_holder(lease) is None:
                self.store.update_run(
                    run["id"],
                    status="interrupted",
                    finished_at=now(),
                    error="the process stopped before the run ended",
                )

    def index_summary(self) -> tuple[int, int] | None:
        """(documents, watermark) of the index, read without writing it; None when absent."""
        if self._index is not None:
            return self._index.doc_count(), self._index.watermark
        return SearchIndex.peek(self.settings.index_dir)

    def reindex(self, progress: Callable[[int], None] | None = None) -> int:
        index = SearchIndex(self.settings.index_dir, self.communities, memory=self.settings.memory)
        count = index.rebuild(self.store, progress=progress)
        self._index = index
        self.refresh_cross_language(index, force=True)
        self.refresh_flat_postings(index)
        return count

    def describe_settings(self, source: SourceConfig) -> list[dict[str, Any]]:
        """The connector's settings with secrets masked (for listings and later the admin form)."""
        cls = get_connector_class(source.kind).Settings
        out = []
        for f in fields(cls):
            default = (
                f.default
                if f.default is not MISSING
                else (f.default_factory() if f.default_factory is not MISSING else None)
            )
            value = source.settings.get(f.name, default)
            if f.metadata.get("secret") and value:
                value = "********"
            out.append({"name": f.name, "label": f.metadata.get("label") or f.name, "value": value})
        return out

    def close(self) -> None:
        if self._index is not None:
            self._index.close()
        if self._store is not None:
            self._store.close()
