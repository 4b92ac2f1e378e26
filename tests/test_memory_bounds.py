"""What a searching process keeps in memory is bounded by [memory], and a small bound
changes the time a search takes, never its answer."""

from __future__ import annotations

import numpy as np
import pytest

from bench.synthetic import generate
from config.loader import ConfigError, MemorySettings, build_settings
from indexer.accel import Accelerator, PostingsCache, TextColumn
from indexer.index import TEXT_FIELDS, SearchIndex
from indexer.search import Searcher, SearchRequest
from tests.conftest import memory_source

QUERIES = [
    "access to information",
    "approvisionnement",
    "fraud prevention checklist",
    '"open data"',
    "telework -formation",
    "privacy OR dotation",
    "year:2021 staffing",
    "records management regional",
    "accessibilité formation",
    "",
]


@pytest.fixture
def collection(savoir_factory, memory_content):
    memory_content["wiki"] = {
        d["id"]: {
            "title": d["title"],
            "text": d["text"],
            "language": d["language"],
            "author": d["author"],
            "modified": d["modified"],
        }
        for d in generate(600, seed=11)
    }
    savoir = savoir_factory([memory_source()])
    savoir.crawl()
    savoir.close()
    return savoir


def _answers(searcher: Searcher) -> list:
    out = []
    for text in QUERIES:
        for sort in ("relevance", "date"):
            results = searcher.search(SearchRequest(text, page_size=20, sort=sort))
            out.append(
                (
                    text,
                    sort,
                    results.total,
                    [(hit.id, round(hit.score, 9)) for hit in results.hits],
                    results.facets,
                )
            )
    return out


@pytest.mark.parametrize("mmap", [True, False])
def test_a_small_postings_cache_evicts_and_gives_the_same_answers(collection, mmap):
    path = collection.settings.index_dir
    roomy = SearchIndex(path)
    small = SearchIndex(path, memory=MemorySettings(postings_cache_mb=0.05, mmap=mmap))
    try:
        expected = _answers(Searcher(roomy, collection.store))
        cache = small.accel.postings
        assert cache.limit == int(0.05 * 2**20)
        stored = []
        original_put = cache.put

        def put(key, value, cheap=False):
            original_put(key, value, cheap)
            stored.append(key)
            assert cache.size <= cache.limit or len(cache) == 1

        cache.put = put
        searcher = Searcher(small, collection.store)
        assert _answers(searcher) == expected
        with small.accel.searcher() as whoosh_searcher:  # each segment mapped, or read
            segments = [r._storage.a for r, _ in whoosh_searcher.reader().leaf_readers()]
            assert segments and all((s._source is not None) is mmap for s in segments)
        assert small.ix.storage.supports_mmap  # writers and merges keep Whoosh's mmap
        assert _answers(searcher) == expected  # again, with what the bound left cached
        # it did drop entries: more were read than it holds, and it stayed under its bound
        assert len(stored) > 2 * len(cache) > 0
        assert cache.size <= cache.limit
        # the roomy cache kept everything it read, and more than the small one
        assert roomy.accel.postings.size > 2 * cache.limit
    finally:
        roomy.close()
        small.close()


def test_the_settings_reach_the_accelerator(collection):
    settings = build_settings(
        {
            "store": {"data_dir": str(collection.settings.data_dir)},
            "memory": {"postings_cache_mb": 3, "searchers": 2},
        },
        env={},
    )
    index = SearchIndex(settings.index_dir, memory=settings.memory)
    try:
        assert index.accel.postings.limit == 3 * 2**20
        assert index.accel.pool_size == 2
        searcher = Searcher(index, collection.store)
        for text in QUERIES[:4]:
            searcher.search(SearchRequest(text))
        with index.accel.searcher(), index.accel.searcher(), index.accel.searcher():
            pass  # three at once: only two go back to the pool
        assert len(index.accel._pool) == 2
    finally:
        index.close()


def test_defaults_are_the_documented_ones():
    memory = build_settings({}, env={}).memory
    assert (memory.postings_cache_mb, memory.searchers, memory.mmap) == (128.0, 4, False)
    assert PostingsCache().limit == 128 * 2**20


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"postings_cache_mb": 0}, "'postings_cache_mb' must be between 1 and 65536 megabytes, got 0"),
        ({"postings_cache_mb": -5}, "'postings_cache_mb' must be between 1 and 65536 megabytes, got -5"),
        ({"postings_cache_mb": "lots"}, "field 'postings_cache_mb': expected a number, got 'lots'"),
        ({"searchers": 0}, "'searchers' must be between 1 and 256 searchers, got 0"),
        ({"searchers": 2.5}, "field 'searchers': expected a whole number, got 2.5"),
        ({"mmap": "perhaps"}, "field 'mmap': expected true or false, got 'perhaps'"),
        ({"cache_mb": 10}, "unknown field 'cache_mb' (known fields: mmap, postings_cache_mb, searchers)"),
    ],
)
def test_bad_values_are_refused_with_a_message(values, message):
    with pytest.raises(ConfigError) as caught:
        build_settings({"memory": values}, env={}, source="site.toml")
    assert "site.toml: [memory]" in str(caught.value)
    assert message in str(caught.value)


def test_an_environment_override_is_checked_too():
    assert build_settings({}, env={"SAVOIR_MEMORY_POSTINGS_CACHE_MB": "512"}).memory.postings_cache_mb == 512
    with pytest.raises(ConfigError, match="'searchers' must be between 1 and 256"):
        build_settings({}, env={"SAVOIR_MEMORY_SEARCHERS": "1000"})


def test_text_columns_read_back_what_was_stored():
    values = ["wiki:a", "", "wiki:été-2024", "wiki:z" * 30, "partage:Données ouvertes"]
    column = TextColumn(values)
    assert len(column) == len(values)
    assert [column[i] for i in range(len(values))] == values
    assert list(column) == values and list(TextColumn(["a", "b"])) == ["a", "b"]
    assert column[-1] == values[-1]
    with pytest.raises(IndexError):
        column[len(values)]
    python_list = sum(len(v.encode()) + 49 + 8 for v in values)
    assert column.nbytes < python_list / 2


def test_memory_report_counts_the_segment_data(collection):
    index = SearchIndex(collection.settings.index_dir)
    try:
        searcher = Searcher(index, collection.store)
        searcher.search(SearchRequest("telework"))
        found = index.accel.memory()
        assert found["documents"] == index.ix.doc_count_all()  # deleted copies included
        assert found["postings"] == index.accel.postings.size > 0
        # a byte a document and text field whose lengths were read, ids as their text
        assert found["lengths"] >= index.doc_count()
        assert found["column"] < 60 * index.doc_count()
        kinds = {kind for data in index.accel._segments.values() for kind, _ in data.derived}
        assert {"lengths", "codes", "column", "hashes"} <= kinds
        assert all(k in found for k in kinds)
        # the twin pairs: a partner number and two flags a document
        assert index.ix.doc_count_all() * 6 <= found["pairs"] <= index.ix.doc_count_all() * 6 + 1024
    finally:
        index.close()


def test_empty_entries_weigh_their_overhead():
    cache = PostingsCache(limit=10_000)
    empty = (np.empty(0, dtype=np.int32), np.empty(0, dtype=np.float32))
    for i in range(1000):
        cache.put(("segment", "body_en", f"junk{i}".encode()), empty)
    assert 0 < len(cache) < 30 and cache.size <= cache.limit


def test_accelerator_without_settings_uses_the_defaults(collection):
    index = SearchIndex(collection.settings.index_dir)
    try:
        accel = Accelerator(index.ix, TEXT_FIELDS)
        assert accel.postings.limit == MemorySettings().postings_cache_bytes
        assert accel.pool_size == MemorySettings().searchers
    finally:
        index.close()


def test_the_settings_file_reaches_the_index_savoir_opens(savoir_factory, memory_content):
    # what `savoir serve` and `savoir crawl` open: the [memory] of the settings file
    memory_content["wiki"] = {"a": {"title": "Telework", "text": "Telework rules.", "language": "en"}}
    savoir = savoir_factory([memory_source()], memory={"postings_cache_mb": 3, "searchers": 2})
    savoir.crawl()
    index = savoir.open_index()
    assert index.accel.postings.limit == 3 * 2**20
    assert index.accel.pool_size == 2
