"""The vectorised evaluator gives exactly what Whoosh itself gives.

Whoosh is the reference: for every query below (words in both languages, phrases,
exclusions, OR, filters, date ranges, an empty query with a filter) and two users,
the matches, their BM25F scores, the collapsed total and every facet count must be
Whoosh's own, on an index with several segments and deleted documents.

One exception, found by this test: Whoosh 2.7.4's AndNot matcher lets through
documents its negative part matches (here "telework -formation" returned pages
about "formation"). The reference therefore takes an exclusion as Whoosh's
matches of the positive part minus Whoosh's matches of the negative part.

A second one: Whoosh's collapsing by twin key counts a pair twice when its two
documents sit in different segments, so the total and the facets (twins counted
once) are checked against a count made by hand from the stored fields.
"""

from __future__ import annotations

import random
from datetime import UTC

import numpy as np
import pytest
from whoosh import sorting
from whoosh.query import And, AndNot

from bench.synthetic import TOPICS, generate, paragraph
from indexer.query import build_query
from indexer.search import FACETS, OVERLAPPING, Searcher, SearchRequest, _filter_terms, _Ranked, split_filters
from indexer.search import Or as DefaultOr
from tests.conftest import memory_source

QUERIES = [
    "access to information",
    "approvisionnement",
    "fraud prevention checklist",
    '"open data"',
    "telework -formation",
    "privacy OR dotation",
    "agency:fraud",
    "year:2021 staffing",
    "after:2022-01-01 before:2023-06-30 procurement",
    "-source:second records management",
    "tag:pilot accessibility",
    "community:atip données",
    "Geneviève Bouchard",
    "zzzunknownword",
]
USERS = [("public",), ("public", "restricted")]


def _pages(source: str, start: int, count: int, twin_every: int = 7) -> dict[str, dict]:
    pages = {}
    for d in generate(start + count, seed=5):
        number = int(d["id"][3:])
        if number < start:
            continue
        page = {
            "title": d["title"],
            "text": d["text"],
            "language": d["language"],
            "author": d["author"],
            "modified": d["modified"].astimezone(UTC),
            "tags": ["pilot"] if number % 5 == 0 else [],
            "communities": ["atip"] if number % 4 == 0 else [],
        }
        if number % 10 == 3:
            page["acl"] = ["restricted"]
        previous = pages.get(f"doc{number - 1:06d}")
        if number % twin_every == 1 and previous and previous["language"]:
            # a translation: the same topic in the other language
            other = "fr" if previous["language"] == "en" else "en"
            topic = next(
                t for t in TOPICS if t in previous["title"].lower() or TOPICS[t] in previous["title"].lower()
            )
            page["language"] = other
            page["text"] = "\n\n".join(paragraph(random.Random(number), other, topic) for _ in range(3))
            page["translation_of"] = f"{source}:doc{number - 1:06d}"
        elif number % (2 * twin_every) == 2 and pages.get(f"doc{number - 1:06d}", {}).get("translation_of"):
            # a second version of the same original (three documents share a twin key)
            first = pages[f"doc{number - 1:06d}"]
            page.update(language=first["language"], translation_of=first["translation_of"])
            page["text"] = first["text"] + "\n\nA second version of this page."
        pages[d["id"]] = page
    return pages


@pytest.fixture
def world(savoir_factory, memory_content):
    memory_content["first"] = _pages("first", 0, 400)
    memory_content["second"] = _pages("second", 400, 200)
    savoir = savoir_factory([memory_source("first", "records"), memory_source("second", "fraud")])
    savoir.crawl(["first"])
    savoir.crawl(["second"])
    # edits and deletions leave deleted copies in old segments
    for name in list(memory_content["first"])[:30]:
        memory_content["first"][name]["text"] += " Updated with new telework guidance."
    for name in list(memory_content["first"])[30:45]:
        del memory_content["first"][name]
    savoir.crawl(["first"], full=True)
    index = savoir.open_index()
    with index.searcher() as s:
        reader = s.reader()
        assert len(reader.leaf_readers()) > 1 and reader.has_deletions()
    return savoir, index


def _full_query(searcher: Searcher, text: str, groups, relaxed: bool = False):
    text, include, exclude = split_filters(text)
    parsed, query = searcher.parse_text(text)
    if relaxed:
        query = build_query(parsed, relaxed=True)
    full = And([query, searcher._allow(groups, include)])
    if exclude:
        full = AndNot(full, DefaultOr([_filter_terms(n, v) for n, v in exclude.items()]))
    return full


def _reference(whoosh_searcher, query) -> dict[int, float]:
    """Whoosh's matches and scores, with exclusions taken as a set difference (see above)."""
    if isinstance(query, AndNot):
        excluded = set(whoosh_searcher.docs_for_query(query.b))
        return {d: v for d, v in _reference(whoosh_searcher, query.a).items() if d not in excluded}
    if type(query) is And and any(isinstance(sub, AndNot) for sub in query.subqueries):
        parts = [_reference(whoosh_searcher, sub) for sub in query.subqueries]
        common = set(parts[0]).intersection(*parts[1:])
        return {d: sum(p[d] for p in parts) for d in common}
    return {hit.docnum: hit.score for hit in whoosh_searcher.search(query, limit=None)}


def _hand_counts(whoosh_searcher, docnums) -> tuple[int, dict[str, dict[str, int]]]:
    """Collapse twins (the English one stays) and count stored values, by hand."""
    kept: dict[str, dict] = {}
    for docnum in sorted(docnums):  # of two versions in one language, the first document
        fields = whoosh_searcher.stored_fields(docnum)
        other = kept.get(fields["twin"])
        if other is None or fields["lang"] < other["lang"]:
            kept[fields["twin"]] = fields
    groups: dict[str, dict[str, int]] = {name: {} for name in FACETS}
    for fields in kept.values():
        for name in FACETS:
            values = (fields.get(name) or "").split(",") if name in OVERLAPPING else [fields.get(name)]
            for value in values:
                if value:
                    groups[name][value] = groups[name].get(value, 0) + 1
    return len(kept), groups


#: relaxed searches (any word, most words first) use AtLeast, which Whoosh lacks
RELAXED = [
    "telework checklist regional pilot",
    "formation gestionnaires dossiers équipes",
    "open data privacy staffing -formation",
]


@pytest.mark.parametrize("groups", USERS)
def test_matches_scores_totals_and_facets_are_whooshs(world, groups):
    savoir, index = world
    searcher = Searcher(index, savoir.store)
    compared = 0
    with index.accel.searcher() as whoosh_searcher:
        for text, relaxed in [(q, False) for q in QUERIES] + [(q, True) for q in RELAXED]:
            full = _full_query(searcher, text, groups, relaxed)
            expected = _reference(whoosh_searcher, full)
            evaluation = index.accel.evaluate(whoosh_searcher, full)
            got = {}
            for part, ids, values in zip(evaluation.parts, evaluation.ids, evaluation.values, strict=True):
                for local, value in zip(ids.tolist(), values.tolist(), strict=True):
                    got[part.offset + local] = value
            assert got.keys() == expected.keys(), text
            for docnum, score in expected.items():
                assert got[docnum] == pytest.approx(score, rel=1e-9, abs=1e-12), (text, docnum)
            ranked = _Ranked(index.accel, evaluation, 50, "relevance")
            total, facets = _hand_counts(whoosh_searcher, expected)
            assert len(ranked) == total, text
            for name in FACETS:
                assert ranked.groups(name) == facets[name], (text, name)
            compared += bool(expected)
    assert compared >= len(QUERIES) + len(RELAXED) - 2  # the queries really matched documents
    with index.accel.searcher() as whoosh_searcher:
        partners, _, crowded = index.accel.twin_pairs(index.accel.parts(whoosh_searcher))
    # pairs (a partner looked up) and keys three documents share (sorted) were both counted
    assert any((p >= 0).any() for p in partners) and any(c.any() for c in crowded)


def test_date_order_is_whooshs(world):
    savoir, index = world
    searcher = Searcher(index, savoir.store)
    with index.accel.searcher() as whoosh_searcher:
        for text in ("telework", "agency:fraud", "privacy OR dotation"):  # no exclusion (see above)
            full = _full_query(searcher, text, ("public",))
            expected = whoosh_searcher.search(
                full, limit=40, sortedby=[sorting.FieldFacet("date", reverse=True), sorting.FieldFacet("id")]
            )
            ranked = _Ranked(index.accel, index.accel.evaluate(whoosh_searcher, full), 40, "date")
            assert [d.id for d in ranked.ranked()] == [hit["id"] for hit in expected], text


def test_new_segments_and_deletions_are_seen_at_once(world, memory_content):
    savoir, index = world
    searcher = Searcher(index, savoir.store)
    before = searcher.search(SearchRequest("telework", groups=("public",))).total
    # the evaluator has cached the old segments' postings; a crawl adds and deletes
    memory_content["second"]["extra"] = {"title": "Telework pilot", "text": "A telework pilot in Moncton."}
    paired = {p["translation_of"].split(":")[1] for p in memory_content["second"].values() if "translation_of" in p}
    doomed = [
        n
        for n, p in memory_content["second"].items()
        if "telework" in p["text"].lower() and "acl" not in p and "translation_of" not in p and n not in paired
    ]
    for name in doomed[:3]:
        del memory_content["second"][name]
    savoir.crawl(["second"], full=True)
    after = searcher.search(SearchRequest("telework", groups=("public",)))
    ids = {
        hit.id for hit in searcher.search(SearchRequest("telework", groups=("public",), page_size=100)).hits
    }
    assert "second:extra" in {h.id for h in searcher.search(SearchRequest("Moncton telework")).hits}
    assert not {f"second:{n}" for n in doomed[:3]} & ids
    assert after.total == before + 1 - len(doomed[:3])  # one page more, three fewer


def test_searches_in_threads_while_crawls_commit(world, memory_content):
    import threading

    savoir, index = world
    searcher = Searcher(index, savoir.store)
    errors: list[BaseException] = []
    done = threading.Event()
    counts: list[int] = []

    def search_loop() -> None:
        queries = ["telework", "approvisionnement", "privacy OR dotation", "agency:fraud"]
        i = 0
        while not done.is_set():
            try:
                results = searcher.search(SearchRequest(queries[i % len(queries)], groups=("public",)))
                assert results.total == sum(n for _, n in results.facets["source"])
                counts.append(results.total)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
                return
            i += 1

    threads = [threading.Thread(target=search_loop) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        for round_ in range(3):
            for name in list(memory_content["second"])[round_ * 20 : round_ * 20 + 20]:
                memory_content["second"][name]["text"] += f" Telework revision {round_}."
            for name in list(memory_content["second"])[-5 * (round_ + 1) :][:5]:
                del memory_content["second"][name]
            savoir.crawl(["second"], full=True)
    finally:
        done.set()
        for thread in threads:
            thread.join(timeout=60)
    assert not errors, errors
    assert len(counts) > 10
    # after the last crawl every thread's searcher agrees with a fresh one
    final = searcher.search(SearchRequest("telework", groups=("public",)))
    fresh = Searcher(savoir.open_index(), savoir.store).search(SearchRequest("telework", groups=("public",)))
    assert final.total == fresh.total and [h.id for h in final.hits] == [h.id for h in fresh.hits]


def test_top_documents_break_ties_by_id_across_segments(world):
    savoir, index = world
    searcher = Searcher(index, savoir.store)
    with index.accel.searcher() as whoosh_searcher:
        for text in ("agency:fraud", "", "year:2021 -source:first", "telework"):
            full = _full_query(searcher, text, ("public",))
            expected = _reference(whoosh_searcher, full)
            ids = {d: whoosh_searcher.stored_fields(d)["id"] for d in expected}
            best = sorted(expected, key=lambda d: (-round(expected[d], 9), ids[d]))[:15]
            ranked = _Ranked(index.accel, index.accel.evaluate(whoosh_searcher, full), 15, "relevance")
            assert [d.id for d in ranked.ranked()] == [ids[d] for d in best], text


def test_documents_without_a_date_and_local_time_zones(savoir_factory, memory_content, monkeypatch):
    import time as time_module
    from datetime import datetime

    # stored dates are UTC wall-clock times: the server's zone must not reorder them
    monkeypatch.setenv("TZ", "America/Toronto")
    time_module.tzset()
    try:
        memory_content["wiki"] = {
            "early": {
                "title": "Telework",
                "text": "Telework note.",
                "modified": datetime(2024, 3, 10, 2, 45),
            },
            "late": {"title": "Telework", "text": "Telework memo.", "modified": datetime(2024, 3, 10, 3, 15)},
            "undated": {"title": "Telework", "text": "Telework page.", "communities": ["telework"]},
        }
        savoir = savoir_factory([memory_source()])
        savoir.crawl()
        store = savoir.store
        with store.engine.begin() as conn:  # a source that gave no date at all
            conn.exec_driver_sql(
                "UPDATE documents SET modified = NULL, created = NULL WHERE id = 'wiki:undated'"
            )
        savoir.reindex()
        searcher = Searcher(savoir.open_index(), store)
        by_date = searcher.search(SearchRequest("telework", sort="date"))
        assert [h.id for h in by_date.hits] == ["wiki:late", "wiki:early", "wiki:undated"]
        before = searcher.search(SearchRequest("telework before:2030"))
        assert {h.id for h in before.hits} == {"wiki:early", "wiki:late"}  # no date: not "before"
        assert searcher.search(SearchRequest("telework after:2024-03-10")).total == 2
        assert searcher.community_documents("telework", ("public",))  # no crash on the undated page
    finally:
        monkeypatch.delenv("TZ")
        time_module.tzset()


def test_a_rebuild_by_another_process_is_seen_by_pooled_searchers(savoir_factory, memory_content, tmp_path):
    import os

    from indexer.index import SearchIndex

    memory_content["wiki"] = {"a": {"title": "Old", "text": "Telework before the rebuild."}}
    savoir = savoir_factory([memory_source()])
    savoir.crawl()
    path = savoir.settings.index_dir
    web = SearchIndex(path)  # the web process's own view of the index
    searcher = Searcher(web, savoir.store)
    assert searcher.search(SearchRequest("telework")).total == 1  # leaves a pooled searcher
    # another process rebuilds the index in a new directory and swaps it in; the new
    # index has the same generation number as the old one
    fresh = SearchIndex(tmp_path / "fresh")
    fresh.rebuild(savoir.store, keep=lambda doc: False)
    while fresh.ix.latest_generation() < web.ix.latest_generation():
        fresh.ix.writer().commit()  # an empty commit: one more generation
    fresh.close()
    assert fresh.ix.latest_generation() == web.ix.latest_generation()
    os.replace(path, tmp_path / "old-index")
    os.replace(tmp_path / "fresh", path)
    assert searcher.search(SearchRequest("telework")).total == 0
    web.close()


def test_postings_cache_counts_empty_entries():
    from indexer.accel import ENTRY_OVERHEAD, PostingsCache

    cache = PostingsCache(limit=100 * ENTRY_OVERHEAD)
    empty = (np.empty(0, dtype=np.int32), np.empty(0, dtype=np.float32))
    for i in range(10_000):  # typos and probes: terms absent from a segment
        cache.put(("segment", "body_en", f"junk{i}".encode()), empty)
    assert len(cache) <= 100 and cache.size <= cache.limit


def test_twins_in_different_segments_count_as_the_english_one(savoir_factory, memory_content):
    memory_content["wiki"] = {
        "a-fr": {
            "title": "Télétravail",
            "text": "Le télétravail et les ententes.",
            "language": "fr",
            "translation_of": "wiki:a-en",
            "version": 1,
        },
    }
    savoir = savoir_factory([memory_source()])
    savoir.crawl()  # a segment holding only French
    memory_content["wiki"]["a-en"] = {
        "title": "Telework",
        "text": "Telework and agreements.",
        "language": "en",
        "version": 2,
    }
    memory_content["wiki"]["c-en"] = {
        "title": "Telework tips",
        "text": "Telework tips.",
        "language": "en",
        "version": 2,
    }
    savoir.crawl()
    index = savoir.open_index()
    with index.searcher() as s:
        assert len(s.reader().leaf_readers()) == 2
    results = Searcher(index, savoir.store).search(SearchRequest("telework OR télétravail"))
    assert results.total == 2 and dict(results.facets["lang"]) == {"en": 2}


def _same_bits_under(world, monkeypatch, name: str, settings: tuple) -> int:
    """Evaluate every test query with indexer.accel's *name* set to each of *settings*:
    the ids and scores must be the same bits each time. Returns how many matched."""
    from indexer import accel

    savoir, index = world
    searcher = Searcher(index, savoir.store)
    matched = 0
    with index.accel.searcher() as whoosh_searcher:
        for text, relaxed in [(q, False) for q in QUERIES] + [(q, True) for q in RELAXED]:
            full = _full_query(searcher, text, ("public", "restricted"), relaxed)
            found = []
            for setting in settings:
                monkeypatch.setattr(accel, name, setting)
                evaluation = index.accel.evaluate(whoosh_searcher, full)
                pairs = zip(evaluation.ids, evaluation.values, strict=True)
                found.append([(ids.tolist(), values.tolist()) for ids, values in pairs])
            assert all(other == found[0] for other in found[1:]), text
            matched += sum(len(ids) for ids, _ in found[0])
    return matched


def test_sorted_and_dense_unions_give_the_same_bits(world, monkeypatch):
    # every union sorted, then every union in segment-wide arrays handed to its parent
    assert _same_bits_under(world, monkeypatch, "DENSE_UNION", (0, 10**9)) > 100


def test_intersections_by_search_and_by_mark_array_give_the_same_bits(world, monkeypatch):
    # an intersection finds one child's ids among another's by binary search or by
    # spreading them over an array of the segment, whichever costs less: both the same
    always = (lambda *_: False, lambda *_: True)
    assert _same_bits_under(world, monkeypatch, "_dense_cheaper", always) > 100


def test_postings_cache_drops_cheap_entries_first_within_the_dear_share():
    from indexer.accel import DEAR_SHARE, PostingsCache, _weight

    def entry(count):
        return (np.zeros(count, dtype=np.int32), np.zeros(count, dtype=np.float32))

    big, small = entry(10_000), entry(100)
    cache = PostingsCache(limit=10 * _weight(big))
    for i in range(9):
        cache.put(("s", "body_en", b"common%d" % i), big, cheap=True)  # from a flat file
    for i in range(20):
        cache.put(("s", "body_en", b"rare%d" % i), small)  # decoded from Whoosh's blocks
    for i in range(9, 30):  # a stream of common words pushes out common words only
        cache.put(("s", "body_en", b"common%d" % i), big, cheap=True)
        assert cache.size <= cache.limit
    assert all(cache.get(("s", "body_en", b"rare%d" % i)) is not None for i in range(20))
    assert cache.get(("s", "body_en", b"common0")) is None
    assert cache.get(("s", "body_en", b"common29")) is not None
    # past their share, dear entries go too, oldest first
    for i in range(20, 2000):
        cache.put(("s", "body_en", b"rare%d" % i), small)
    assert cache.size <= cache.limit and cache.dear_size <= cache.limit * DEAR_SHARE + _weight(small)
    assert cache.get(("s", "body_en", b"rare0")) is None
    assert cache.get(("s", "body_en", b"rare1999")) is not None
    cache.forget({"other"})
    assert len(cache) == 0 and cache.size == 0 and cache.dear_size == 0


def test_equal_scores_rank_by_id(world):
    # a filter-only search scores every match alike: the first ids win, in id order
    savoir, index = world
    searcher = Searcher(index, savoir.store)
    with index.accel.searcher() as whoosh_searcher:
        for text in ("agency:fraud", "year:2021", "tag:pilot"):
            full = _full_query(searcher, text, ("public",))
            expected = _reference(whoosh_searcher, full)
            assert len(expected) > 40, text
            by_id = sorted(expected, key=lambda d: (-expected[d], whoosh_searcher.stored_fields(d)["id"]))
            ranked = _Ranked(index.accel, index.accel.evaluate(whoosh_searcher, full), 40, "relevance")
            assert [d.docnum for d in ranked.ranked()] == by_id[:40], text


def test_phrases_read_from_their_candidates_blocks_give_the_same_bits(world, monkeypatch):
    # phrases (quoted, and the title phrase of every search of two words or more) read
    # positions only from the blocks holding a candidate: the same matches and scores
    from indexer import accel

    savoir, index = world
    searcher = Searcher(index, savoir.store)
    phrases = ['"open data"', "access to information", "fraud prevention checklist"]
    with index.accel.searcher() as whoosh_searcher:
        for text in phrases:
            full = _full_query(searcher, text, ("public", "restricted"))
            found = []
            for factor in (10**9, 0):  # every block read (and kept), then only the candidates'
                monkeypatch.setattr(accel, "PARTIAL_POSITIONS", factor)
                index.accel.postings.clear()
                evaluation = index.accel.evaluate(whoosh_searcher, full)
                pairs = zip(evaluation.ids, evaluation.values, strict=True)
                found.append([(ids.tolist(), values.tolist()) for ids, values in pairs])
            assert found[0] == found[1], text
        # a partial read is not kept: the cache holds no positions after the last pass
        assert not [k for k in index.accel.postings.keys() if k[-1] == "positions"]
