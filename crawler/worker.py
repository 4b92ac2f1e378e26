"""``savoir worker``: run every enabled source on its schedule.

APScheduler 3 with one job per enabled source, ``max_instances=1`` and coalescing.
The worker is the only index writer. (Queued "run now" requests, leases between
workers and graceful SIGTERM come with the crawling issue.)
"""

from __future__ import annotations

import logging
import re

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from config.loader import SCHEDULE_RE, SourceConfig
from crawler.runner import Savoir

log = logging.getLogger(__name__)
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def trigger_for(source: SourceConfig):
    match = SCHEDULE_RE.match(source.schedule.strip())
    if match:
        return IntervalTrigger(**{UNITS[match.group(2)]: int(match.group(1))}, timezone="UTC")
    return CronTrigger.from_crontab(re.sub(r"\s+", " ", source.schedule.strip()), timezone="UTC")


def build_scheduler(savoir: Savoir, scheduler=None):
    scheduler = scheduler or BlockingScheduler(timezone="UTC")
    for source in savoir.sources:
        if not source.enabled or not source.schedule:
            continue
        scheduler.add_job(
            savoir.crawl,
            trigger_for(source),
            args=[[source.id]],
            id=source.id,
            name=f"sync {source.id}",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=3600,
        )
    return scheduler


def run_worker(savoir: Savoir) -> None:
    savoir.open_index()
    scheduler = build_scheduler(savoir)
    jobs = scheduler.get_jobs()
    log.warning("worker started with %d scheduled sources", len(jobs))
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        log.warning("worker stopping")
