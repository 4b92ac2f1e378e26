"""Sync one source: connector items -> content-hash skip -> store batches -> index.

A checkpoint is saved in the same transaction as the batch before it, so a crash
never skips work. A full run that completes tombstones the ids the source no longer
has, and says so in the run's counts. The index is brought up to date from the
store (its watermark makes that safe to repeat).
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from config.loader import SourceConfig
from connectors.base import (
    Checkpoint,
    Connector,
    ConnectorError,
    Deletion,
    Document,
    Exclusion,
    Failure,
    Profile,
)
from crawler.http import FetchError
from crawler.url_owners import UrlOwners
from indexer.index import SearchIndex
from indexer.index_lock import IndexBusy
from indexer.store import Store, now

log = logging.getLogger(__name__)

#: the first catch-up of a run comes after ``index_every // FIRST_CATCH_UP_SHARE`` documents
FIRST_CATCH_UP_SHARE = 4

ItemCallback = Callable[[str], None]


@dataclass
class RunReport:
    run_id: int
    source_id: str
    mode: str
    status: str = "running"
    fetched: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    failed: int = 0
    error: str | None = None
    seconds: float = 0.0
    failures: list[tuple[str, str]] = field(default_factory=list)
    #: items left out on purpose, per kind (robots, scope, type): not failures
    excluded: dict[str, int] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """The counts as the runs table stores them."""
        return {
            "fetched": self.fetched,
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deleted": self.deleted,
            "failed": self.failed,
            "excluded": dict(self.excluded),
        }

    def summary(self) -> str:
        text = (
            f"{self.source_id}: {self.status} ({self.mode}) in {self.seconds:.1f}s: "
            f"{self.fetched} fetched, {self.added} added, {self.updated} updated, "
            f"{self.unchanged} unchanged, {self.deleted} deleted, {self.failed} failed"
        )
        if self.excluded:
            text += " (excluded: " + ", ".join(f"{n} {k}" for k, n in sorted(self.excluded.items())) + ")"
        if self.error:
            text += f" - {self.error}"
        return text


class _Batch:
    def __init__(self) -> None:
        self.docs: dict[str, Document] = {}
        self.deletions: dict[str, str] = {}
        self.failures: list[tuple[str, str, bool]] = []
        #: 404/410 answers: deletions of documents the store has, dead links otherwise
        self.gone: dict[str, str] = {}
        #: who the source's accounts are (signatures, user pages), by username
        self.profiles: dict[str, Profile] = {}

    def __len__(self) -> int:
        return len(self.docs) + len(self.deletions) + len(self.failures) + len(self.gone) + len(self.profiles)


class SourceSync:
    """One run of one source. Use :func:`sync_source`."""

    def __init__(
        self,
        store: Store,
        index: SearchIndex | None,
        source: SourceConfig,
        connector: Connector,
        *,
        full: bool = False,
        batch_size: int = 200,
        index_every: int = 10000,
        on_item: ItemCallback | None = None,
        stop: threading.Event | None = None,
        heartbeat: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.index = index
        self.source = source
        self.connector = connector
        self.full = full
        self.batch_size = batch_size
        self.index_every = index_every
        self.on_item = on_item or (lambda kind: None)
        self.stop = stop or threading.Event()
        self.heartbeat = heartbeat or (lambda: None)
        self.seen: set[str] = set()
        self.failed_refs: set[str] = set()
        self._since_index = 0
        #: whether this run has caught the index up once (the first catch-up comes early)
        self._caught_up = False
        #: why a mid-run index update failed (its changes are replayed by the next one)
        self._index_failure: str | None = None
        #: a post both crawled as a page and read through its site's API or feed: one copy
        self.url_owners = UrlOwners(store, source.id, connector)

    def run(self) -> RunReport:
        started = time.perf_counter()
        store, source = self.store, self.source
        store.upsert_source(source.id, source.kind, source.agency, source.name, source.acl)
        state = None if self.full else store.checkpoint(source.id)
        mode = "incremental" if state is not None else "full"
        report = RunReport(run_id=store.start_run(source.id, mode), source_id=source.id, mode=mode)
        log.info("run %d of %s started (%s)", report.run_id, source.id, mode)
        completed = False
        try:
            self._consume(Checkpoint(state) if state is not None else None, report)
            completed = not self.stop.is_set()
            if completed and mode == "full" and self.connector.full_run_lists_everything:
                self._tombstone_missing(report)
        except ConnectorError as exc:
            report.error = str(exc)
            store.add_failures(report.run_id, [(source.id, str(exc), exc.transient)])
            report.failed += 1
        except FetchError as exc:
            report.error = f"{exc.url}: {exc.reason}"
            store.add_failures(report.run_id, [(exc.url, exc.reason, exc.transient)])
            report.failed += 1
        except Exception as exc:  # noqa: BLE001 - a bug in one connector never kills the worker
            log.error("run %d of %s crashed:\n%s", report.run_id, source.id, traceback.format_exc())
            report.error = f"internal error: {type(exc).__name__}: {exc}"
            store.add_failures(report.run_id, [(source.id, report.error, False)])
            report.failed += 1
        finally:
            if report.error:
                report.status = "failed"
            elif not completed:
                report.status = "interrupted"
            else:
                report.status = "partial" if report.failed else "success"
            if self.index is not None:
                self._last_catch_up(report)
            report.seconds = time.perf_counter() - started
            http = getattr(self.connector, "http", None)
            stats = getattr(http, "stats", None)
            store.update_run(
                report.run_id,
                status=report.status,
                finished_at=now(),
                fetched=report.fetched,
                added=report.added,
                updated=report.updated,
                unchanged=report.unchanged,
                deleted=report.deleted,
                failed=report.failed,
                excluded=dict(report.excluded),
                error=report.error,
                not_modified=getattr(stats, "not_modified", 0) if stats else 0,
                bytes=getattr(stats, "bytes", 0) if stats else 0,
                requests=dict(stats.requests) if stats else {},
            )
            log.info("%s", report.summary())
        return report

    def _consume(self, checkpoint: Checkpoint | None, report: RunReport) -> None:
        self._batch = _Batch()
        try:
            for item in self.connector.documents(checkpoint):
                self._take(item, report)
                if self.stop.is_set():
                    break
        except Exception:
            # the source failed mid-way: what it gave so far is kept (without moving
            # the checkpoint, so the next run reads it again and finds it unchanged)
            self._flush(self._batch, report)
            raise
        self._flush(self._batch, report)

    def _take(self, item: object, report: RunReport) -> None:
        batch = self._batch
        if isinstance(item, Document):
            self._add_document(item, batch, report)
            self.on_item("document")
        elif isinstance(item, Deletion):
            batch.deletions[item.id] = item.reason
            batch.docs.pop(item.id, None)
            self.on_item("deletion")
        elif isinstance(item, Failure) and item.gone:
            batch.gone[item.ref] = item.reason
            batch.docs.pop(item.ref, None)
            self.on_item("deletion")
        elif isinstance(item, Failure):
            batch.failures.append((item.ref, item.reason, item.transient))
            self.failed_refs.add(item.ref)
            report.failed += 1
            report.failures.append((item.ref, item.reason))
            self.on_item("failure")
        elif isinstance(item, Exclusion):
            report.excluded[item.kind] = report.excluded.get(item.kind, 0) + 1
            self.on_item("exclusion")
        elif isinstance(item, Profile):
            if item.username.strip():
                batch.profiles[item.username.strip()] = item
        elif isinstance(item, Checkpoint):
            self._flush(batch, report, checkpoint=item.state)
            self._batch = _Batch()
            return
        if len(batch) >= self.batch_size:
            self._flush(batch, report)
            self._batch = _Batch()

    def _add_document(self, doc: Document, batch: _Batch, report: RunReport) -> None:
        prefix = self.source.id + ":"
        if not doc.id.startswith(prefix):
            reason = f"connector returned id {doc.id!r} outside this source"
            batch.failures.append((doc.id, reason, False))
            report.failed += 1
            return
        doc.source = self.source.id
        doc.agency = doc.agency or self.source.agency
        if doc.acl is None:
            doc.acl = tuple(self.source.acl)
        doc.title = doc.title.strip() or doc.url or doc.id
        if doc.id not in batch.docs:  # counted once, as the flush counts it once
            report.fetched += 1
        self.seen.add(doc.id)
        batch.deletions.pop(doc.id, None)
        batch.docs[doc.id] = doc

    def _flush(self, batch: _Batch, report: RunReport, checkpoint: dict | None = None) -> None:
        if not len(batch) and checkpoint is None:
            return
        if batch.docs:
            self.url_owners.apply(batch, report, report.run_id)
        known = self.store.hashes(list(batch.docs) + list(batch.deletions) + list(batch.gone))
        for ref, reason in batch.gone.items():
            if ref in known and not known[ref][1]:
                batch.deletions[ref] = reason  # the source says it no longer exists
            elif ref not in known:  # never indexed: a dead link, reported
                batch.failures.append((ref, reason, False))
                report.failed += 1
                report.failures.append((ref, reason))
        if batch.profiles:
            self.store.save_profiles(self.source.id, list(batch.profiles.values()))
        upserts = []
        for doc in batch.docs.values():
            digest = doc.content_hash()
            previous = known.get(doc.id)
            if previous is None:
                report.added += 1
            elif previous[0] == digest and not previous[1]:
                report.unchanged += 1
                continue
            else:
                report.updated += 1
            upserts.append((doc, digest))
        deletions = [(i, r) for i, r in batch.deletions.items() if i in known and not known[i][1]]
        report.deleted += len(deletions)
        self.store.commit_batch(
            run_id=report.run_id,
            source_id=self.source.id,
            upserts=upserts,
            deletions=deletions,
            failures=batch.failures,
            checkpoint=checkpoint,
            run_counts=report.counts(),
        )
        self.heartbeat()
        self._since_index += len(upserts) + len(deletions)
        # the run's first catch-up comes after a quarter of index_every: until it the
        # writer processes have nothing to do and one core idles while the run reads
        due = self.index_every if self._caught_up else max(self.index_every // FIRST_CATCH_UP_SHARE, 1)
        if self.index is not None and self._since_index >= due:
            self._caught_up = True
            try:
                # the index's writer processes go on while this run reads on; the next
                # catch-up (or the run's last) waits for them first
                self.index.catch_up(self.store, background=True)
            except IndexBusy as exc:  # another process writes the index; the store has the batch
                log.info("index not updated mid-run (replayed later): %s", exc)
            except Exception as exc:  # noqa: BLE001 - the store has the batches; replayed later
                log.error("index update during run %d failed (replayed later): %s", report.run_id, exc)
                self._index_failure = self._index_failure or str(exc)
            self._since_index = 0

    def _last_catch_up(self, report: RunReport) -> None:
        """Bring the index up to date before the run reports done (a failed update is
        reported; the store holds its changes and the next catch-up replays them)."""
        assert self.index is not None
        try:
            self.index.finish_catch_up()  # the last mid-run one, still indexing
        except Exception as exc:  # noqa: BLE001 - replayed by the catch-up below
            log.error("index update during run %d failed (replayed now): %s", report.run_id, exc)
            self._index_failure = self._index_failure or str(exc)
        try:
            self.index.catch_up(self.store)
        except Exception as exc:  # noqa: BLE001 - the store holds the truth; replayed later
            log.error("index update after run %d failed: %s", report.run_id, exc)
            report.error = report.error or f"index update failed (will be replayed): {exc}"
            return
        if self._index_failure:
            report.error = report.error or (
                f"an index update failed during the run (replayed at its end): {self._index_failure}"
            )

    def _tombstone_missing(self, report: RunReport) -> None:
        missing = self.store.live_ids(self.source.id) - self.seen - self.failed_refs
        if not missing:
            return
        log.info("%s: %d documents are no longer at the source", self.source.id, len(missing))
        batch = _Batch()
        for doc_id in sorted(missing):
            batch.deletions[doc_id] = "no longer at the source (full run)"
        self._flush(batch, report)


def sync_source(
    store: Store, index: SearchIndex | None, source: SourceConfig, connector: Connector, **options
) -> RunReport:
    """Run *source* once and return what the run did (never raises for source faults)."""
    return SourceSync(store, index, source, connector, **options).run()
