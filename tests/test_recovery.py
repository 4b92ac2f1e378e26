"""kill -9 between the store's and the index's commits loses nothing; reindex is faithful."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from crawler.runner import Savoir
from indexer.search import Searcher, SearchRequest
from tests.conftest import ROOT, make_settings, memory_source
from tests.crash_crawl import TOPICS, corpus

QUERIES = ["procurement", "telework region", "fraud OR privacy", "open data", "records -region:3", "staffing"]


def snapshot(savoir: Savoir) -> list[tuple]:
    """Every hit of every query with its score, plus totals and facets.

    Hits with equal scores may come in either order (Whoosh orders ties by its
    internal document number, which depends on how the index was written), so the
    comparison is on (score, id) pairs, not on positions.
    """
    searcher = Searcher(savoir.open_index(), savoir.store)
    out = []
    for query in QUERIES:
        first = searcher.search(SearchRequest(query, page_size=100))
        hits = list(first.hits)
        for page in range(2, first.pages + 1):
            hits += searcher.search(SearchRequest(query, page_size=100, page=page)).hits
        scored = sorted((-round(h.score, 6), h.id) for h in hits)
        out.append((query, first.total, scored, first.facets))
    return out


def test_kill_9_mid_run_then_restart_loses_nothing(tmp_path, memory_content):
    count = 3000
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.crash_crawl", str(tmp_path), str(count)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    settings = make_settings(tmp_path)
    db = settings.data_dir / "savoir.db"
    deadline = time.monotonic() + 60
    from indexer.store import Store

    committed = 0
    while time.monotonic() < deadline and committed < 500:
        time.sleep(0.1)
        if db.exists():
            try:
                committed = Store(settings.database_url).counts()["documents"]
            except Exception:  # noqa: BLE001 - the tables may not exist yet
                committed = 0
    assert proc.poll() is None, proc.stderr.read().decode()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL

    # after the kill, the store is ahead of the index; reopening replays the difference
    memory_content["wiki"] = corpus(count)
    source = memory_source(checkpoint_every=100)
    savoir = Savoir(settings, [source])
    in_store = savoir.store.counts()["documents"]
    assert 0 < in_store < count
    index = savoir.open_index()
    assert index.doc_count() == in_store

    # the killed run is marked interrupted; the next run resumes and finishes
    reports = savoir.crawl()
    runs = savoir.store.runs("wiki")
    assert runs[-1]["status"] == "interrupted"
    assert reports[0].mode == "incremental" and reports[0].status == "success"
    assert savoir.store.counts()["documents"] == count
    assert savoir.open_index().doc_count() == count
    results = Searcher(savoir.open_index(), savoir.store).search(SearchRequest(TOPICS[0], page_size=5))
    assert results.total == count // len(TOPICS)

    # reindex from the store alone reproduces identical search results
    before = snapshot(savoir)
    assert savoir.reindex() == count
    after = snapshot(savoir)
    for b, a in zip(before, after, strict=True):
        assert b == a, (b[0], b[1], a[1], [x for x in zip(b[2], a[2], strict=True) if x[0] != x[1]][:3])
    savoir.close()
