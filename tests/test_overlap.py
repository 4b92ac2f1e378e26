"""A crawl's mid-run catch-ups run beside it (``catch_up(background=True)``).

The writer processes of one catch-up index while the crawl reads the connector and
commits store batches; the next catch-up, or the run's last, waits for them first.
The index must come out as a crawl whose catch-ups waited builds it, and a
background catch-up that fails must lose nothing and be reported.
"""

from __future__ import annotations

import os

import pytest

from crawler.runner import Savoir
from crawler.sync import SourceSync
from indexer import index as index_module
from indexer.index import SearchIndex
from tests import test_index_speed
from tests.test_index_speed import collection, dump

#: a Savoir per name, over the same memory source (the fixture of tests/test_index_speed.py)
two_savoirs = test_index_speed.two_savoirs


def _crawl(savoir: Savoir, *, background: bool) -> list[bool]:
    """Crawl *savoir*; say, for each store batch, whether a catch-up was indexing beside it."""
    index = savoir.open_index()
    beside: list[bool] = []
    commit_batch = savoir.store.commit_batch

    def watched(**kwargs):
        beside.append(index._queued is not None)
        return commit_batch(**kwargs)

    savoir.store.commit_batch = watched
    if not background:
        catch_up = index.catch_up
        index.catch_up = lambda store, background=False, **kwargs: catch_up(store, **kwargs)
    (report,) = savoir.crawl(full=True)
    assert report.status == "success" and report.error is None, report.summary()
    return beside


@pytest.fixture
def parallel(monkeypatch):
    if min(os.cpu_count() or 1, index_module.MAX_PROCS) < 2:
        pytest.fail("this machine has one core: the parallel writer is never used here")
    monkeypatch.setattr(index_module, "PARALLEL_FROM", 1)


def _segments(index: SearchIndex) -> list[int]:
    return [segment.doc_count_all() for segment in index.ix._segments()]


def test_overlapping_catch_ups_build_the_index_a_waiting_crawl_builds(two_savoirs, memory_content, parallel):
    memory_content["wiki"] = collection(160)  # 240 documents
    overlapped = two_savoirs("overlapped")
    overlapped.settings.crawler.batch_size, overlapped.settings.crawler.index_every = 20, 60
    sequential = two_savoirs("sequential")
    sequential.settings.crawler.batch_size, sequential.settings.crawler.index_every = 20, 60
    beside = _crawl(overlapped, background=True)
    assert _crawl(sequential, background=False) == [False] * len(beside)
    assert sum(beside) >= 3, beside  # store batches were committed while writers indexed
    first, second = overlapped.open_index(), sequential.open_index()
    assert first._queued is None and first.watermark == second.watermark == overlapped.store.max_change_seq()
    assert first.doc_count() == 240
    assert _segments(first) == _segments(second)
    assert dump(first) == dump(second)
    # a second run changes a few documents: updated in place, nothing twice
    for i in range(0, 100, 4):
        memory_content["wiki"][f"en{i:03d}"]["text"] += "\n\nThe lighthouse keeper retired."
    _crawl(overlapped, background=True)
    _crawl(sequential, background=False)
    assert dump(first) == dump(second)
    assert first.doc_count() == 240


def test_a_failed_background_catch_up_is_reported_and_replayed(
    two_savoirs, memory_content, parallel, monkeypatch, tmp_path
):
    """The first writer process dies: that catch-up's commit fails when the next one
    waits for it; the run goes on, says so, and its last catch-up replays the changes."""
    memory_content["wiki"] = collection(160)
    savoir = two_savoirs("failing")
    savoir.settings.crawler.batch_size, savoir.settings.crawler.index_every = 20, 60
    index = savoir.open_index()
    flag = tmp_path / "died"
    process_file = index_module._FieldsTask._process_file

    def dies_once(self, *job):
        if not flag.exists():
            flag.write_text(str(os.getpid()))
            os._exit(3)
        return process_file(self, *job)

    monkeypatch.setattr(index_module._FieldsTask, "_process_file", dies_once)
    (report,) = savoir.crawl(full=True)
    assert flag.exists()
    assert report.status == "success" and report.added == 240, report.summary()
    assert "index update failed during the run" in (report.error or ""), report.summary()
    assert "writer processes returned" in report.error
    assert index._queued is None and not index._lock._fd  # nothing left holding the index
    assert index.watermark == savoir.store.max_change_seq()
    assert index.doc_count() == 240
    stored, _ = dump(index)
    assert set(stored) == set(savoir.store.live_ids("wiki"))


def test_close_commits_a_catch_up_still_in_flight_and_follow_leaves_it_alone(
    two_savoirs, memory_content, parallel
):
    memory_content["wiki"] = collection(160)
    savoir = two_savoirs("closing")
    savoir.store.upsert_source("wiki", "memory", "records", "wiki", ["public"])
    index = savoir.open_index()
    sync = SourceSync(savoir.store, None, savoir.sources[0], savoir.connector(savoir.sources[0]))
    sync.run()  # the store only
    assert index.catch_up(savoir.store, background=True) == 0  # queued, not committed yet
    assert index._queued is not None and index.watermark == 0
    assert index.follow(savoir.store) == 0  # never waits for the writers of this process's crawl
    assert index._queued is not None
    path = index.path
    index.close()
    savoir._index = None
    reopened = SearchIndex(path)
    try:
        assert reopened.watermark == savoir.store.max_change_seq()
        assert reopened.doc_count() == 240
    finally:
        reopened.close()


def _doc_id(savoir: Savoir, name: str) -> str:
    return savoir.connector(savoir.sources[0]).doc_id(name)


def _store_only(savoir: Savoir, *, full: bool = False) -> None:
    source = savoir.sources[0]
    SourceSync(savoir.store, None, source, savoir.connector(source), full=full).run()


def _live(index: SearchIndex) -> dict[str, list[str]]:
    """The live documents' texts by id (a list: two live copies of one id are a bug)."""
    found: dict[str, list[str]] = {}
    with index.searcher() as searcher:
        for _, fields in searcher.reader().iter_docs():
            found.setdefault(fields["id"], []).append(fields["title"])
    return found


def test_changes_read_while_a_commit_is_in_flight_update_what_it_adds(two_savoirs, memory_content, parallel):
    """The next catch-up reads its changes while the queued commit's processes still
    index: a document that commit adds, then changed, is updated (one live copy, the
    new version); one it deletes and that comes back is added again."""
    memory_content["wiki"] = pages = collection(40)
    savoir = two_savoirs("in-flight")
    savoir.store.upsert_source("wiki", "memory", "records", "wiki", ["public"])
    index = savoir.open_index()
    _store_only(savoir)
    assert index.catch_up(savoir.store, background=True) == 0  # queued: nothing committed yet
    assert index.doc_count() == 0
    pages["en001"] = dict(pages["en001"], title="Changed while being indexed")
    gone = pages.pop("en002")
    _store_only(savoir, full=True)
    index.catch_up(savoir.store, background=True)  # the first commit finishes in it
    assert index._queued is not None
    pages["en002"] = dict(gone, title="Back again")
    _store_only(savoir, full=True)
    index.catch_up(savoir.store, background=True)
    index.finish_catch_up()
    live = _live(index)
    assert set(live) == set(savoir.store.live_ids("wiki"))
    assert all(len(titles) == 1 for titles in live.values()), {i: t for i, t in live.items() if len(t) > 1}
    assert live[_doc_id(savoir, "en001")] == ["Changed while being indexed"]
    assert live[_doc_id(savoir, "en002")] == ["Back again"]
    assert index.watermark == savoir.store.max_change_seq()


def test_present_ids_are_whooshs_live_documents(two_savoirs, memory_content, parallel, monkeypatch):
    """The hashed id terms only pick what to look up: the answer is Whoosh's (live
    documents only), over several segments, deletions and a merge."""
    memory_content["wiki"] = pages = collection(60)
    savoir = two_savoirs("present")
    savoir.store.upsert_source("wiki", "memory", "records", "wiki", ["public"])
    index = savoir.open_index()
    _store_only(savoir)
    index.catch_up(savoir.store)
    for name in ("en003", "fr004", "en010"):
        del pages[name]
    pages.update(collection(90))  # ... and more documents, in a segment of their own
    for name in ("en003", "fr004", "en010"):
        del pages[name]
    _store_only(savoir, full=True)
    index.catch_up(savoir.store)
    asked = [_doc_id(savoir, name) for name in [*pages, "en003", "fr004", "en010", "nowhere", "é-unicode"]]
    with index.searcher() as searcher:
        expected = {i for i in asked if searcher.document_number(id=i) is not None}
    assert expected == {_doc_id(savoir, name) for name in pages} and len(index.ix._segments()) > 1
    assert index._present(asked) == expected
    assert len(index._id_hashes) == len(index.ix._segments())
    # every hash alike: each id is looked up in every segment, and the answer is the same
    monkeypatch.setattr(index_module, "_id_hash", lambda term: 7)
    index._id_hashes.clear()
    assert index._present(asked) == expected
    monkeypatch.setattr(index_module, "_id_hash", hash)
    index._id_hashes.clear()
    index.ix.optimize()  # one segment: the merged ones' hashes are let go
    index.ix = index.ix.refresh()
    assert index._present(asked) == expected
    assert len(index._id_hashes) == 1
