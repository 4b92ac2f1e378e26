"""Run by test_worker: a real worker process over a slow in-memory source.

python -m tests.worker_main WORKDIR COUNT [DATABASE_URL]
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import tests.crash_crawl as crash  # noqa: F401 - registers "slow-memory"
import tests.memory_connector as memory
from crawler.runner import Savoir
from crawler.worker import run_worker
from tests.conftest import make_settings, memory_source

if __name__ == "__main__":
    workdir, count = Path(sys.argv[1]), int(sys.argv[2])
    database_url = sys.argv[3] if len(sys.argv) > 3 else ""  # a shared database: several workers
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    memory.CONTENT["wiki"] = crash.corpus(count)
    source = memory_source(checkpoint_every=100)
    source.kind = "slow-memory"
    savoir = Savoir(make_settings(workdir, database_url, crawler={"batch_size": 50}), [source])
    print("worker ready", flush=True)
    run_worker(savoir, poll_seconds=0.2)
    print("worker exited cleanly", flush=True)
