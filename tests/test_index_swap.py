"""An index built with another schema or communities is rebuilt beside itself.

Until the fresh copy is swapped in, the old index keeps answering searches, in this
process and in any other. A rebuild that dies (an exception, ``kill -9``) leaves the
old index usable, and the next open does the rebuild again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from indexer.index import WATERMARK_FILE, SearchIndex
from indexer.search import Searcher, SearchRequest
from tests.conftest import ROOT, memory_source

DOCS = 150  # the rebuild reports progress every 100 documents

REBUILDER = """
import sys, time, pathlib
from indexer.index import SearchIndex
from indexer.store import Store

store, index = Store(sys.argv[1]), SearchIndex(sys.argv[2])
assert index.needs_rebuild

def progress(count):
    pathlib.Path(sys.argv[3]).write_text("building")
    time.sleep(120)  # killed here

index.rebuild(store, progress=progress)
"""


class Interrupted(BaseException):
    """Stands for a death in the middle of the rebuild."""


@pytest.fixture
def crawled(savoir_factory, memory_content):
    memory_content["wiki"] = {
        f"p{i:03d}": {"title": f"Note {i}", "text": f"Telework note {i} for region {i % 7}."}
        for i in range(DOCS)
    }
    savoir = savoir_factory([memory_source()])
    savoir.crawl()
    path = Path(savoir.settings.index_dir)
    store = savoir.store
    assert savoir.open_index().doc_count() == DOCS
    savoir._index.close()
    savoir._index = None
    return path, store


def _age(path: Path) -> None:
    """Make the index look built with other communities (as after editing communities.toml)."""
    state = json.loads((path / WATERMARK_FILE).read_text("utf-8"))
    state["communities"] = "an-older-fingerprint"
    (path / WATERMARK_FILE).write_text(json.dumps(state), "utf-8")


def _found(index: SearchIndex, store) -> int:
    return Searcher(index, store).search(SearchRequest("telework")).total


def test_the_old_index_answers_until_the_swap_and_after_a_failed_rebuild(crawled):
    path, store = crawled
    _age(path)
    index = SearchIndex(path)
    assert index.needs_rebuild
    assert index.doc_count() == DOCS and _found(index, store) == DOCS

    seen_during: list[int] = []

    def die(count: int) -> None:
        seen_during.append(_found(index, store))
        raise Interrupted

    with pytest.raises(Interrupted):
        index.rebuild(store, progress=die)
    assert seen_during == [DOCS]
    assert _found(index, store) == DOCS  # still the old index
    index.close()

    again = SearchIndex(path)
    try:
        assert again.needs_rebuild  # the failed rebuild is done again
        assert _found(again, store) == DOCS
        assert again.catch_up(store) == DOCS  # a writer that opens it rebuilds it
        assert not again.needs_rebuild and _found(again, store) == DOCS
    finally:
        again.close()
    assert not SearchIndex(path).needs_rebuild


def test_kill_9_during_a_rebuild_leaves_the_old_index_searchable(crawled, tmp_path):
    path, store = crawled
    _age(path)
    marker = tmp_path / "building"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-c", REBUILDER, store.url, str(path), str(marker)],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "the rebuild never started"
            time.sleep(0.05)
        # another process (a web server) searches while the rebuild runs
        reader = SearchIndex(path)
        assert reader.needs_rebuild and _found(reader, store) == DOCS
        reader.close()
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    index = SearchIndex(path)
    try:
        assert not path.with_name(path.name + ".new").exists()  # the dead build is removed
        assert index.needs_rebuild and _found(index, store) == DOCS
        assert index.rebuild(store) == DOCS
        assert _found(index, store) == DOCS
    finally:
        index.close()
    assert not SearchIndex(path).needs_rebuild


@pytest.mark.parametrize("finished", [True, False])
def test_a_death_between_the_two_renames_of_the_swap(crawled, tmp_path, finished):
    path, store = crawled
    old = path.with_name(path.name + ".old")
    if finished:  # the fresh copy is complete (its watermark is written last)
        copy = SearchIndex(tmp_path / "copy")
        copy.rebuild(store)
        copy.close()
        os.replace(tmp_path / "copy", path.with_name(path.name + ".new"))
    os.replace(path, old)
    index = SearchIndex(path)
    try:
        assert not index.needs_rebuild
        assert _found(index, store) == DOCS
    finally:
        index.close()


def test_a_rebuild_commits_in_chunks_and_a_death_after_one_keeps_the_old_index(
    savoir_factory, memory_content, monkeypatch
):
    """A rebuild commits its writers every REBUILD_CHUNK documents, so their spilled
    postings and queued documents never hold the whole store on disk. The chunks' index
    is the one-commit index, and dying after a chunk was committed leaves the old index
    answering (the chunks went to index.new only)."""
    import indexer.index

    count = 2600  # above PARALLEL_FROM: the writer processes' path
    memory_content["wiki"] = {
        f"p{i:04d}": {"title": f"Note {i}", "text": f"Telework note {i} for region r{i % 37}."}
        for i in range(count)
    }
    savoir = savoir_factory([memory_source()])
    savoir.crawl()
    store, index = savoir.store, savoir.open_index()

    def found(word: str) -> tuple[set[str], int]:  # regions: ~70 documents, all on the page
        results = Searcher(index, store).search(SearchRequest(word, page_size=100))
        return {hit.id for hit in results.hits}, results.total

    before = {word: found(word) for word in ("r3", "r17", "r36")}
    assert found("telework")[1] == count and all(len(ids) == total > 60 for ids, total in before.values())

    monkeypatch.setattr(indexer.index, "REBUILD_CHUNK", 1000)
    monkeypatch.setattr(indexer.index, "REBUILD_COMMITS", 10)  # 1,000 a commit (at least)
    done = []

    def die(step: int) -> None:
        done.append(step)
        if sum(done) >= 1500:  # a chunk of 1,000 is committed in index.new by now
            raise Interrupted

    generation = index.ix.latest_generation()
    with pytest.raises(Interrupted):
        index.rebuild(store, progress=die)
    assert found("telework")[1] == count  # the old index, untouched
    assert index.ix.latest_generation() == generation

    commits = []
    real_commit = indexer.index._StoredMpWriter.commit

    def counted(self, *args, **kwargs):
        commits.append(self)
        return real_commit(self, *args, **kwargs)

    monkeypatch.setattr(indexer.index._StoredMpWriter, "commit", counted)
    assert index.rebuild(store) == count
    assert len(commits) == 3  # 1,000 + 1,000 + 600
    assert index.doc_count() == count
    assert {word: found(word) for word in before} == before

    monkeypatch.setattr(indexer.index, "REBUILD_COMMITS", 2)  # no more commits than that:
    commits.clear()
    assert index.rebuild(store) == count
    assert len(commits) == 2  # 1,300 + 1,300
    assert index.doc_count() == count
    assert {word: found(word) for word in before} == before
    leftovers = [p for p in index.path.rglob("*") if p.suffix in (".run", ".doclist")]
    assert leftovers == []
    assert not index._fresh_path.exists()
