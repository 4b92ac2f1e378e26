"""Search and expert latency on a generated bilingual collection.

    .venv/bin/python bench/search_latency.py --docs 100000 [--workdir DIR] [--queries 200]

Builds the collection once (kept in --workdir for re-runs), then times complete
searches (query pipeline, ACL, facets, twin collapsing, snippets from the store) and
expert suggestions for the same queries, and prints p50/p95/max in milliseconds.
It also times the first search after the index is opened (segment data is read
then) and every query again with the words' postings dropped from the cache before
it (the cost of words nobody searched since the last crawl). The CPU time of each
search (the process's, so a loaded machine moves it less than the wall clock) is
printed under its wall-clock figures.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.synthetic import FIRST, LAST, TOPICS, generate  # noqa: E402
from config.loader import SourceConfig, build_settings  # noqa: E402
from connectors.base import Connector, Contribution, Document, Person, Role, register  # noqa: E402
from crawler.runner import Savoir  # noqa: E402
from indexer.experts import ExpertFinder  # noqa: E402
from indexer.index import TEXT_FIELDS  # noqa: E402
from indexer.search import Searcher, SearchRequest  # noqa: E402

COUNT = {"n": 0}


@dataclass
class _Settings:
    pass


@register("bench-synthetic")
class Synthetic(Connector):
    Settings = _Settings

    def documents(self, checkpoint=None):
        for d in generate(COUNT["n"]):
            coauthor = f"{FIRST[hash(d['id']) % len(FIRST)]} {LAST[hash(d['title']) % len(LAST)]}"
            yield Document(
                id=self.doc_id(d["id"]),
                url=f"https://intranet.example/{d['id']}",
                title=d["title"],
                text=d["text"],
                language=d["language"],
                created=d["modified"],
                modified=d["modified"],
                contributions=(
                    Contribution(Person(d["author"]), Role.AUTHOR, d["modified"], len(d["text"])),
                    Contribution(Person(coauthor), Role.EDITOR, d["modified"], 300),
                ),
                acl=("public",) if int(d["id"][3:]) % 10 else ("restricted",),
            )


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def latency_queries(count: int) -> list[str]:
    """The query mix: a topic's English or French name, or a topic and one more word
    (seeded: every run, and bench/memory.py, asks the same queries)."""
    rng = random.Random(3)
    words = "review checklist guidance regional training pilot committee analysts".split()
    words += ["dossiers", "formation", "gestionnaires", "équipes"]
    queries = []
    for _ in range(count):
        topic = rng.choice(list(TOPICS))
        kind = rng.random()
        if kind < 0.4:
            queries.append(topic)
        elif kind < 0.8:
            queries.append(TOPICS[topic])
        else:
            queries.append(f"{topic} {rng.choice(words)}")
    return queries


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--workdir", default="bench/out/latency")
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    COUNT["n"] = args.docs
    work = Path(args.workdir) / str(args.docs)
    settings = build_settings({"store": {"data_dir": str(work)}, "crawler": {"batch_size": 1000}}, env={})
    sources = [SourceConfig(id="synthetic", kind="bench-synthetic", agency="bench")]
    savoir = Savoir(settings, sources)
    if savoir.store.counts()["documents"] < args.docs:
        print(f"building {args.docs} documents in {work} ...", flush=True)
        started = time.perf_counter()
        (report,) = savoir.crawl(full=True)
        print(f"{report.summary()}  ({args.docs / (time.perf_counter() - started):.0f} docs/s)")
    index = savoir.open_index()
    searcher = Searcher(index, savoir.store)
    t0 = time.perf_counter()
    searcher.search(SearchRequest("grants and contributions"))
    first_ms = (time.perf_counter() - t0) * 1000  # reads every segment's lengths and facet columns
    finder = ExpertFinder(searcher, savoir.store, settings.experts)
    queries = latency_queries(args.queries)
    # warm up (first queries load the index's files)
    for q in queries[:5]:
        searcher.search(SearchRequest(q))
    search_ms, search_cpu, expert_ms, totals = [], [], [], []
    for q in queries:
        request = SearchRequest(q, groups=("public",), page_size=10)
        c0 = time.process_time()
        t0 = time.perf_counter()
        results = searcher.search(request)
        t1 = time.perf_counter()
        search_cpu.append((time.process_time() - c0) * 1000)
        finder.suggest(request, ranked=results.ranked, scores=results.ranked_scores)  # as the UI does
        t2 = time.perf_counter()
        search_ms.append((t1 - t0) * 1000)
        expert_ms.append((t2 - t1) * 1000)
        totals.append(results.total)
    # the same queries with no word's postings kept from earlier queries (words never
    # searched since the last crawl; the ACL's postings, used by every query, stay)
    cold_ms, cold_cpu = [], []
    for q in queries:
        index.accel.postings.clear(TEXT_FIELDS)
        c0 = time.process_time()
        t0 = time.perf_counter()
        searcher.search(SearchRequest(q, groups=("public",), page_size=10))
        cold_ms.append((time.perf_counter() - t0) * 1000)
        cold_cpu.append((time.process_time() - c0) * 1000)
    # quoted phrases (positions are read and kept per term on first use) and filter-only searches
    phrases = [f'"{topic}"' for topic in TOPICS] + [f'"{fr}"' for fr in TOPICS.values()]
    phrase_cold, phrase_ms = [], []
    for q in phrases:
        index.accel.postings.clear(TEXT_FIELDS)
        t0 = time.perf_counter()
        searcher.search(SearchRequest(q, groups=("public",)))
        phrase_cold.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        searcher.search(SearchRequest(q, groups=("public",)))
        phrase_ms.append((time.perf_counter() - t0) * 1000)
    browse_ms = []
    browse = ["", "agency:bench", "year:2021", "year:2022 lang:fr", "after:2024-01-01"]
    t0 = time.perf_counter()
    for q in browse:  # the first use reads each segment's date column and id order
        searcher.search(SearchRequest(q, groups=("public",)))
    browse_first_ms = (time.perf_counter() - t0) * 1000
    for q in browse * 4:
        t0 = time.perf_counter()
        searcher.search(SearchRequest(q, groups=("public",)))
        browse_ms.append((time.perf_counter() - t0) * 1000)
    print(
        f"documents: {index.doc_count()}  queries: {len(queries)}  mean hits: {statistics.mean(totals):.0f}"
    )
    print(f"first search after opening the index: {first_ms:.0f} ms")
    print(f"first five filter-only searches (date column, id order): {browse_first_ms:.0f} ms")
    for name, values in (
        ("search (facets, snippets)", search_ms),
        ("  its CPU time", search_cpu),
        ("search, words not cached", cold_ms),
        ("  its CPU time", cold_cpu),
        ("phrase search", phrase_ms),
        ("phrase, words not cached", phrase_cold),
        ("filters only (no words)", browse_ms),
        ("experts (added)", expert_ms),
    ):
        print(
            f"{name:<28} p50 {percentile(values, 50):7.1f} ms   p95 {percentile(values, 95):7.1f} ms"
            f"   max {max(values):7.1f} ms"
        )
    savoir.close()


if __name__ == "__main__":
    main()
