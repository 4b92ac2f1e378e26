"""Run by test_recovery in a subprocess that the test kills with SIGKILL mid-run."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import tests.memory_connector as memory
from tests.conftest import make_settings, memory_source

TOPICS = ["procurement", "telework", "accessibility", "fraud", "records", "privacy", "staffing", "open data"]


def corpus(n: int) -> dict[str, dict]:
    """Distinct documents: topic repeated 1-5 times and 0-96 filler words, so scores rarely tie."""
    return {
        f"doc{i:05d}": {
            "text": f"Note {i} for public servants in region {i % 13}. "
            + " ".join([TOPICS[i % len(TOPICS)]] * (i % 5 + 1))
            + " "
            + " ".join(f"filler{j}" for j in range(i % 97)),
            "version": 1,
        }
        for i in range(n)
    }


class SlowMemory(memory.MemoryConnector):
    def documents(self, checkpoint=None):
        for item in super().documents(checkpoint):
            time.sleep(0.002)  # a slow source, so the test can kill us mid-run
            yield item


memory.register("slow-memory")(SlowMemory)

if __name__ == "__main__":
    workdir, count = Path(sys.argv[1]), int(sys.argv[2])
    from crawler.runner import Savoir

    memory.CONTENT["wiki"] = corpus(count)
    source = memory_source(checkpoint_every=100)
    source.kind = "slow-memory"
    # a huge index_every: the index is only written at the end, so a kill leaves the
    # store ahead of the index
    savoir = Savoir(make_settings(workdir, crawler={"batch_size": 50, "index_every": 10**9}), [source])
    print("started", flush=True)
    savoir.crawl()
    print("finished", flush=True)
