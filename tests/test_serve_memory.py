"""Opening a searcher does not copy the index into memory.

Whoosh reads a compound segment through a memory map, but opened each of its parts
(postings, term index, stored fields) as a ``BytesIO`` copy. Every searcher a
server opened beside its pool copied the whole index again: at 100k documents the
server grew from ~0.5 to ~2 GB under 8 concurrent requests (issue 23).
"""

from __future__ import annotations

import tracemalloc

from bench.synthetic import generate
from tests.conftest import memory_source


def test_a_new_searcher_costs_far_less_than_the_index(savoir_factory, memory_content):
    memory_content["wiki"] = {
        d["id"]: {"title": d["title"], "text": d["text"]} for d in generate(1500, seed=3)
    }
    savoir = savoir_factory([memory_source()])
    savoir.crawl()
    index = savoir.open_index()
    segments = sum(p.stat().st_size for p in index.path.glob("*.seg"))
    assert segments > 1_000_000  # compound segments, the kind a crawl writes

    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        searchers = [index.ix.searcher() for _ in range(4)]
        for searcher in searchers:  # read from every part, as a search does
            assert searcher.doc_count() == 1500
            assert searcher.stored_fields(0)["id"]
            assert list(searcher.reader().lexicon("body_en"))[:1]
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
        for searcher in searchers:
            searcher.close()
    # four searchers: a fraction of one copy of the segments
    assert grown < segments / 4, (grown, segments)
