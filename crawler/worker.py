"""``savoir worker``: runs sources on their schedules and on request; the index writer.

APScheduler 3 runs one job per enabled source (interval or cron), with
``max_instances=1``, coalescing and a misfire grace time. "Run now" requests are rows
in the store (queued by ``savoir crawl --queue`` and by the admin console) that the
worker picks up within ``poll_seconds``. A lease row per source keeps two workers on
one database from running the same source at once; within one worker, whose runs of a
source share one lease owner, a set of the sources it is running (claimed when a run is
queued, released when it ends) does. SIGTERM/SIGINT stop the current
run after its batch (committed, checkpoint kept), then the worker exits; the next
start resumes from the checkpoint.
"""

from __future__ import annotations

import logging
import re
import signal
import threading
from datetime import datetime

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from config.loader import SCHEDULE_RE, SourceConfig
from crawler.runner import Savoir, default_owner

log = logging.getLogger(__name__)
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def trigger_for(source: SourceConfig):
    match = SCHEDULE_RE.match(source.schedule.strip())
    if match:
        return IntervalTrigger(**{UNITS[match.group(2)]: int(match.group(1))}, timezone="UTC")
    return CronTrigger.from_crontab(re.sub(r"\s+", " ", source.schedule.strip()), timezone="UTC")


def next_runs(savoir: Savoir, now: datetime) -> dict[str, datetime | None]:
    """When each enabled, scheduled source runs next (for ``savoir status``)."""
    out: dict[str, datetime | None] = {}
    for source in savoir.sources:
        if source.enabled and source.schedule:
            out[source.id] = trigger_for(source).get_next_fire_time(None, now)
    return out


#: the longest wait, in seconds, between two attempts to start a worker
START_RETRY_MAX = 30.0


class Worker:
    def __init__(self, savoir: Savoir, *, poll_seconds: float = 2.0, threads: int = 2) -> None:
        self.savoir = savoir
        self.poll_seconds = poll_seconds
        self.stop = threading.Event()
        self.owner = default_owner()
        self.scheduler = BackgroundScheduler(
            timezone="UTC", executors={"default": ThreadPoolExecutor(max(1, threads))}
        )
        self.reports: list = []
        self._sources_version: str | None = None
        self._lock = threading.Lock()
        self._busy: set[str] = set()  # sources running or queued to run in this worker

    def claim(self, source_ids: list[str]) -> list[str]:
        """Mark the sources of *source_ids* that this worker is not running (nor about to
        run) as its own; return them. The lease cannot do this within one worker: its runs
        of a source hold the lease under one owner, so a second run would renew it."""
        with self._lock:
            free = [s for s in source_ids if s not in self._busy]
            self._busy.update(free)
        return free

    def release(self, source_ids: list[str]) -> None:
        with self._lock:
            self._busy.difference_update(source_ids)

    def run_sources(self, source_ids: list[str], full: bool = False, claimed: bool = False) -> None:
        """Run *source_ids* (claimed already when *claimed*, else claimed here: a source
        this worker runs already is skipped, as another worker's would be)."""
        mine = list(source_ids) if claimed else self.claim(source_ids)
        for source_id in source_ids:
            if source_id not in mine:
                log.warning("%s is already running in this worker; skipped", source_id)
        try:
            if not mine or self.stop.is_set():
                return
            reports = self.savoir.crawl(mine, full=full, stop=self.stop, owner=f"{self.owner}:{mine[0]}")
            self.reports.extend(reports)  # each run logs its own summary (crawler.sync)
        finally:
            self.release(mine)

    def schedule(self) -> int:
        count = 0
        for source in self.savoir.sources:
            if not source.enabled or not source.schedule:
                continue
            self.scheduler.add_job(
                self.run_sources,
                trigger_for(source),
                args=[[source.id]],
                id=f"sync:{source.id}",
                name=f"sync {source.id}",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=3600,
            )
            count += 1
        return count

    def reschedule_if_changed(self) -> bool:
        """Pick up sources the admin console added, disabled or rescheduled (it bumps the
        store's console version); the running jobs finish as they are."""
        version = self.savoir.store.console_version("sources")
        if version == self._sources_version:
            return False
        self._sources_version = version
        for job in self.scheduler.get_jobs():
            if job.id.startswith("sync:"):
                job.remove()
        self.schedule()
        return True

    def poll_requests(self) -> int:
        """Start the queued "run now" requests; return how many were taken."""
        taken = 0
        known = {s.id for s in self.savoir.sources}
        for request in self.savoir.store.pending_requests():
            if not self.savoir.store.take_request(request["id"]):
                continue  # another worker took it
            taken += 1
            if request["source_id"] not in known:
                log.error("run request %d names unknown source %r", request["id"], request["source_id"])
                continue
            self.scheduler.add_job(
                self.run_sources,
                args=[[request["source_id"]], bool(request["full"])],
                id=f"now:{request['id']}",
                name=f"run now {request['source_id']}",
                misfire_grace_time=None,  # taken from the queue: it runs however late its thread frees
            )
        return taken

    def take_over_interrupted(self) -> list[str]:
        """Resume the sources whose run another worker left unfinished (killed, or its
        host lost): once its lease is gone (a dead process on this host at once, else
        when the lease expires), its run becomes "interrupted" and this worker resumes
        it from its last checkpoint. Returns the sources it resumed."""
        self.savoir.mark_interrupted_runs()
        last = self.savoir.store.last_runs()
        resumed = []
        for source in self.savoir.sources:
            if not source.enabled or last.get(source.id, {}).get("status") != "interrupted":
                continue
            # until the resumed run stores its own row, the last run still reads
            # "interrupted": the claim keeps the next polls from resuming it again
            if not self.claim([source.id]):
                continue
            log.warning("%s: its last run was interrupted; resuming it from its checkpoint", source.id)
            try:
                self.scheduler.add_job(
                    self.run_sources,
                    args=[[source.id], False, True],
                    id=f"resume:{source.id}",
                    misfire_grace_time=None,  # a claimed run must run, or its claim would stay
                )
            except Exception:
                self.release([source.id])
                raise
            resumed.append(source.id)
        return resumed

    def handle_signals(self) -> None:
        def stop(signum, _frame):
            log.info("received %s: finishing the current batch, then stopping", signal.Signals(signum).name)
            self.stop.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)

    def start(self) -> bool:
        """Open the index and read the store's state; a failure (the database down or
        busy, a conflict with another process) is logged and retried until it works or
        the worker is stopped, as the polling loop does: a worker must not die at its
        start. Returns whether it started."""
        delay = min(self.poll_seconds, 1.0)
        while not self.stop.is_set():
            try:
                self.savoir.open_index()
                self.savoir.mark_interrupted_runs()
                self._sources_version = self.savoir.store.console_version("sources")
                return True
            except Exception as exc:  # noqa: BLE001 - retried; the log says why
                log.error("the worker could not start (retried in %gs): %s: %s", delay, type(exc).__name__, exc)
                self.stop.wait(delay)
                delay = min(delay * 2, START_RETRY_MAX)
        return False

    def run(self) -> None:
        if not self.start():
            return
        jobs = self.schedule()
        self.scheduler.start()
        log.info(
            "worker %s started: %d scheduled sources, polling run requests every %gs",
            self.owner,
            jobs,
            self.poll_seconds,
        )
        # sources whose last run was interrupted resume at once, and later whenever
        # another worker dies mid-run
        try:
            while not self.stop.is_set():
                try:
                    self.take_over_interrupted()
                    self.reschedule_if_changed()
                    self.poll_requests()
                except Exception as exc:  # noqa: BLE001 - a database hiccup must not kill the worker
                    log.error("polling run requests failed: %s", exc)
                self.stop.wait(self.poll_seconds)
        finally:
            self.scheduler.shutdown(wait=True)
            log.info("worker stopped")


def run_worker(savoir: Savoir, *, poll_seconds: float = 2.0) -> None:
    worker = Worker(savoir, poll_seconds=poll_seconds)
    worker.handle_signals()
    worker.run()
