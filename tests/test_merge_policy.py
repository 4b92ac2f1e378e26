"""Savoir's merge policy: Whoosh's MERGE_SMALL, and the tail of small segments it leaves.

A crawl's catch-ups write segments of thousands of documents, and Whoosh's Fibonacci
rule let about twenty of them pile up before it merged them; every segment costs every
search a term look-up per word. :func:`indexer.index.merge_policy` merges the tail once
:data:`TAIL_COUNT` segments each hold less than 1/:data:`TAIL_SHARE` of the index.
"""

from __future__ import annotations

from whoosh import index as whoosh_index
from whoosh.fields import ID, TEXT, Schema
from whoosh.qparser import QueryParser
from whoosh.writing import MERGE_SMALL

from indexer.index import TAIL_COUNT, TAIL_SHARE, merge_policy


def _index(tmp_path, sizes: list[int]):
    """An index whose segments hold *sizes* documents (written without merging)."""
    tmp_path.mkdir(parents=True)
    ix = whoosh_index.create_in(str(tmp_path), Schema(id=ID(stored=True, unique=True), body=TEXT))
    n = 0
    for size in sizes:
        with ix.writer() as writer:
            writer.merge = False
            for _ in range(size):
                writer.add_document(id=str(n), body=f"word{n % 7} common")
                n += 1
    assert sorted(s.doc_count_all() for s in ix._segments()) == sorted(sizes)
    return ix


def _commit(ix, policy) -> list[int]:
    with ix.writer() as writer:
        writer.add_document(id="new", body="fresh common")
        writer.mergetype = policy
    return sorted((s.doc_count_all() for s in ix._segments()), reverse=True)


#: a tail segment's size: big enough that MERGE_SMALL's rule never merges them, and a
#: big segment that each is less than 1/TAIL_SHARE of
SMALL = 50
BIG = 60 * TAIL_SHARE


def test_a_tail_that_whoosh_leaves_is_merged_into_one_segment(tmp_path):
    sizes = [BIG] + [SMALL] * TAIL_COUNT
    before = _commit(_index(tmp_path / "whoosh", sizes), MERGE_SMALL)
    assert len(before) == len(sizes) + 1  # Whoosh's rule merges none of them
    ix = _index(tmp_path / "savoir", sizes)
    after = _commit(ix, merge_policy)
    # the merged tail goes into the committing writer's segment, with its document
    assert after == [BIG, SMALL * TAIL_COUNT + 1]
    with ix.searcher() as searcher:
        assert searcher.doc_count() == BIG + SMALL * TAIL_COUNT + 1
        found = searcher.search(QueryParser("body", ix.schema).parse("common"), limit=None)
        assert len(found) == BIG + SMALL * TAIL_COUNT + 1


def test_too_few_or_too_big_segments_stay_as_they_are(tmp_path):
    # one segment short of the tail rule
    few = [BIG] + [SMALL] * (TAIL_COUNT - 1)
    assert len(_commit(_index(tmp_path / "few", few), merge_policy)) == len(few) + 1
    # more of them, but each holds more than 1/TAIL_SHARE of the index
    even = [4 * SMALL] * (TAIL_COUNT + 1)
    assert len(_commit(_index(tmp_path / "even", even), merge_policy)) == len(even) + 1


def test_what_merge_small_merges_is_merged_as_before(tmp_path):
    sizes = [1, 1, 1, 1, 1, 1]  # Whoosh's rule merges these tiny segments
    assert _commit(_index(tmp_path / "whoosh", sizes), MERGE_SMALL) == _commit(
        _index(tmp_path / "savoir", sizes), merge_policy
    )
