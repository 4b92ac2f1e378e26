"""Flat postings files: the same answers as Whoosh's blocks, written by the index's
writer, ignored when damaged, and removed by Whoosh with their segment."""

from __future__ import annotations

import logging
import os

import pytest

from indexer import flat_postings
from indexer.search import Searcher, SearchRequest
from tests.conftest import memory_source

QUERIES = [
    "telework policy",
    "télétravail",
    "procurement fraud audit",
    '"access to information"',
    "policy -fraud",
    "audit OR télétravail",
    "agency:records policy",
]


@pytest.fixture
def low_threshold(monkeypatch):
    # a term in 3 documents of a segment gets flat postings, so a small index has many
    monkeypatch.setattr(flat_postings, "FLAT_FROM", 3)
    monkeypatch.setattr(flat_postings, "RECHECK_SECONDS", 0.0)


def _content(memory_content, count: int = 40) -> None:
    words = ["telework policy", "procurement fraud", "audit", "access to information", "télétravail"]
    memory_content["wiki"] = {
        f"p{n}": {
            "title": f"Note {n} on {words[n % len(words)]}",
            "text": " ".join(words[(n + k) % len(words)] for k in range(1 + n % 4)) + f" page {n}.",
            "language": "fr" if "télé" in words[n % len(words)] else "en",
        }
        for n in range(count)
    }


def _flat_files(index) -> list[str]:
    return sorted(f for f in os.listdir(index.path) if f.endswith(flat_postings.SUFFIX))


def _crawled(savoir_factory, memory_content, count: int = 60):
    _content(memory_content, count)
    savoir = savoir_factory([memory_source()])
    savoir.crawl()
    return savoir, savoir.open_index()


def _answers(savoir) -> list[list[tuple[str, float]]]:
    searcher = Searcher(savoir.open_index(), savoir.store)
    out = []
    for text in QUERIES:
        found = searcher.search(SearchRequest(text, page_size=50))
        out.append([(h.id, round(h.score, 9)) for h in found.hits])
    return out


def test_a_crawl_writes_them_and_searches_answer_exactly_as_from_the_blocks(
    savoir_factory, memory_content, low_threshold, monkeypatch
):
    _content(memory_content)
    savoir = savoir_factory([memory_source()])
    savoir.crawl()
    index = savoir.open_index()
    assert _flat_files(index), "the crawl wrote no flat postings"
    reads = []
    real_get = flat_postings.FlatTable.get

    def counting_get(self, fieldname, btext):
        found = real_get(self, fieldname, btext)
        reads.append(found is not None)
        return found

    monkeypatch.setattr(flat_postings.FlatTable, "get", counting_get)
    with_flat = _answers(savoir)
    assert any(reads), "no search read a flat postings file"
    assert any(hits for hits in with_flat)
    # the same searches with the files gone read Whoosh's blocks: the same hits and scores
    for name in _flat_files(index):
        os.unlink(index.path / name)
    index.accel.postings.clear()
    index.accel.flat = flat_postings.Tables(str(index.path))
    reads.clear()
    assert _answers(savoir) == with_flat
    assert not any(reads)


def test_each_term_holds_what_the_blocks_hold(savoir_factory, memory_content, low_threshold):
    from indexer.accel import _read_postings

    _, index = _crawled(savoir_factory, memory_content)
    checked = 0
    with index.ix.reader() as reader:
        for segreader, _ in reader.leaf_readers():
            table = flat_postings.FlatTable.open(
                flat_postings.path_of(str(index.path), segreader.segment().segment_id())
            )
            assert table is not None
            for fieldname, btext in segreader.all_terms():
                got = table.get(fieldname, btext)
                if got is None:
                    continue
                ids, weights = _read_postings(
                    segreader._terms.matcher(fieldname, btext, segreader.schema[fieldname].format)
                )
                assert got[0].dtype == ids.dtype and got[1].dtype == weights.dtype
                assert got[0].tolist() == ids.tolist() and got[1].tolist() == weights.tolist()
                assert segreader.doc_frequency(fieldname, btext) >= flat_postings.FLAT_FROM
                checked += 1
    assert checked >= 10


def test_a_damaged_file_is_ignored_with_a_warning(savoir_factory, memory_content, low_threshold, caplog):
    _content(memory_content)
    savoir = savoir_factory([memory_source()])
    savoir.crawl()
    index = savoir.open_index()
    expected = _answers(savoir)
    names = _flat_files(index)
    for i, name in enumerate(names):
        path = index.path / name
        data = path.read_bytes()
        # one truncated, the others of another format
        path.write_bytes(data[: len(data) // 2] if i == 0 else b"garbage" + data)
    index.accel.postings.clear()
    index.accel.flat = flat_postings.Tables(str(index.path))
    with caplog.at_level(logging.WARNING, logger="indexer.flat_postings"):
        assert _answers(savoir) == expected
    assert "truncated" in caplog.text
    assert "not a flat postings file" in caplog.text or len(names) == 1


def test_whoosh_removes_the_file_with_its_segment_and_a_reindex_writes_new_ones(
    savoir_factory, memory_content, low_threshold
):
    def segments(index) -> set[str]:
        return {f.rsplit(".", 1)[0] for f in os.listdir(index.path) if f.endswith(".seg")}

    def owners(index) -> set[str]:
        return {f.rsplit(".", 1)[0] for f in _flat_files(index)}

    _content(memory_content)
    savoir = savoir_factory([memory_source()])
    savoir.crawl()
    index = savoir.open_index()
    first = segments(index)
    assert owners(index) == first
    # a second crawl writes its new segment's file
    for n in range(40, 60):
        memory_content["wiki"][f"p{n}"] = {
            "title": f"Audit {n}",
            "text": "audit policy telework",
            "language": "en",
        }
    savoir.crawl(full=True)
    assert len(segments(index)) == 2 and owners(index) == segments(index)
    # merged into one segment (written with its file): Whoosh's cleaning removes the
    # merged-away segments' files
    index.ix.optimize()
    now = segments(index)
    assert len(now) == 1 and owners(index) == now
    # a segment without one (written before files were made with segments) gets it
    for name in _flat_files(index):
        os.unlink(index.path / name)
    savoir.refresh_flat_postings(index)
    assert owners(index) == now
    # a reindex writes its new segments' files (and the old ones go with the old index)
    savoir.reindex()
    index = savoir.open_index()
    assert not owners(index) & now
    assert owners(index) == segments(index)


def test_title_positions_hold_what_the_blocks_hold_and_phrases_answer_the_same(
    savoir_factory, memory_content, low_threshold
):
    # every search of two words or more asks a phrase of the titles: their common terms'
    # positions are a flat file too, read instead of Whoosh's pickled positions
    from indexer.accel import _read_positions

    savoir, index = _crawled(savoir_factory, memory_content)
    checked = 0
    with index.ix.reader() as reader:
        for segreader, _ in reader.leaf_readers():
            path = flat_postings.path_of(
                str(index.path), segreader.segment().segment_id(), flat_postings.POSITIONS_SUFFIX
            )
            table = flat_postings.PositionsTable.open(path)
            assert table is not None
            for fieldname, btext in segreader.all_terms():
                got = table.get(fieldname, btext)
                if got is None:
                    assert fieldname not in flat_postings.POSITION_FIELDS or (
                        segreader.doc_frequency(fieldname, btext) < flat_postings.FLAT_FROM
                    )
                    continue
                assert fieldname in flat_postings.POSITION_FIELDS
                expected = _read_positions(segreader, fieldname, btext)
                assert [a.tolist() for a in got] == [a.tolist() for a in expected]
                assert all(a.dtype == b.dtype for a, b in zip(got, expected, strict=True))
                checked += 1
    assert checked >= 5
    with_files = _answers(savoir)
    assert any(hits for hits in with_files)
    for name in os.listdir(index.path):
        if name.endswith(flat_postings.POSITIONS_SUFFIX):
            os.unlink(index.path / name)
    index.accel.postings.clear()
    index.accel.flat = flat_postings.Tables(str(index.path))
    assert _answers(savoir) == with_files


@pytest.mark.parametrize("parallel", [False, True], ids=["one writer", "writer processes"])
def test_the_files_written_with_a_segment_are_the_ones_read_back_from_it(
    savoir_factory, memory_content, low_threshold, monkeypatch, parallel
):
    # the files are made from the postings as Whoosh writes them (in the process that
    # writes the segment); reading them back from the finished segment gives the same bytes
    from indexer import index as index_module

    monkeypatch.setattr(index_module, "PARALLEL_FROM", 1 if parallel else 10**9)
    prepared = []
    real_prepare = flat_postings.prepare
    monkeypatch.setattr(
        flat_postings, "prepare", lambda *a, **k: prepared.append(real_prepare(*a, **k)) or prepared[-1]
    )
    savoir, index = _crawled(savoir_factory, memory_content, count=90)
    assert prepared and not any(prepared), "the crawl's segments had no files when it ended"
    # a second crawl, merged with the first's segments by the writer's policy
    for n in range(90, 130):
        memory_content["wiki"][f"p{n}"] = {
            "title": f"Audit {n}",
            "text": "audit policy telework",
            "language": "en",
        }
    savoir.crawl()
    index.ix.optimize()  # and one Whoosh merge through its posting pool
    names = [
        f
        for f in os.listdir(index.path)
        if f.endswith((flat_postings.SUFFIX, flat_postings.POSITIONS_SUFFIX))
    ]
    assert len(names) == 2 * len([f for f in os.listdir(index.path) if f.endswith(".seg")])
    written = {name: (index.path / name).read_bytes() for name in names}
    for name in names:
        os.unlink(index.path / name)
    savoir.refresh_flat_postings(index)
    assert {name: (index.path / name).read_bytes() for name in names} == written
    assert not [f for f in os.listdir(index.path) if f.endswith(".tmp")]


def test_a_failing_file_does_not_fail_the_segment(
    savoir_factory, memory_content, low_threshold, monkeypatch, caplog
):
    # the disk refuses the flat file as it is written: the segment is committed all the
    # same, and the files are written after the crawl from the segment
    real_add = flat_postings._Output.add
    failures = []

    def failing_add(self, *args):
        if not failures:
            failures.append(self.target)
            raise OSError(28, "No space left on device")
        return real_add(self, *args)

    monkeypatch.setattr(flat_postings._Output, "add", failing_add)
    with caplog.at_level(logging.WARNING, logger="indexer.flat_postings"):
        savoir, index = _crawled(savoir_factory, memory_content)
    assert failures and "No space left on device" in caplog.text
    assert index.doc_count() == 60
    assert all(os.path.exists(path) for path in failures)  # written after the crawl
    assert not [f for f in os.listdir(index.path) if f.endswith(".tmp")]
