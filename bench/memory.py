"""What a searching process holds in memory, and the search latency under each bound.

    nice -n 5 .venv/bin/python bench/memory.py --data DIR [--postings-cache-mb 128 4]
        [--searchers 4] [--mmap] [--queries 200] [--queries-file FILE] [--json OUT]

DIR is a data directory with a store and an index, e.g. the one
bench/search_latency.py builds (``<workdir>/<docs>``); --queries-file gives other
queries (one a line) for another collection.
For each postings cache bound, a fresh process opens the index as a web process
does (with those [memory] settings), runs the queries of bench/search_latency.py
(search with facets, snippets and twins, then expert suggestions, as the UI does)
and a few filter-only searches by relevance and by date, twice, first time and
warm, then the same queries in four threads at once (the pooled searchers), and
prints:

* RSS after the imports, after opening the index, after the searches, and the
  peak (VmHWM), with the anonymous part (the heap: what the settings bound or the
  collection's size dictates) apart from the file pages (the index's files read
  through mmap, which the kernel drops under pressure);
* what the accelerator holds by kind (``Accelerator.memory()``), in bytes a document
  for what grows with the collection;
* what opening the index allocated (tracemalloc; the inferred twins are in it) and
  the spelling vocabulary alone (bytes a word);
* p50/p95 of each pass.

The RSS needed per million documents is then: the process's base, plus the
per-document slope of what cannot be bounded times a million, plus the bounds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MB = 2**20


def status() -> dict[str, int]:
    """This process's memory from /proc (kB -> bytes)."""
    found = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            found[name] = int(value.split()[0]) * 1024
    return found


def one(args: argparse.Namespace) -> dict:
    """Measure one configuration in this (fresh) process."""
    rss = {"start": status()}
    from config.loader import build_settings
    from crawler.runner import Savoir
    from indexer.experts import ExpertFinder
    from indexer.index import SearchIndex
    from indexer.search import Searcher, SearchRequest
    from indexer.vocabulary import DIRECTORY, Vocabulary

    data = Path(args.data)
    settings = build_settings(
        {
            "store": {"data_dir": str(data)},
            "memory": {
                "postings_cache_mb": args.postings_cache_mb,
                "searchers": args.searchers,
                "mmap": args.mmap,
            },
        },
        env={},
    )
    savoir = Savoir(settings, [])
    savoir.store.counts()
    rss["imports"] = status()
    tracemalloc.start()
    index = SearchIndex(settings.index_dir, savoir.communities, memory=settings.memory)
    opened = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    tracemalloc.start()
    vocabulary = Vocabulary(settings.index_dir / DIRECTORY)
    vocabulary_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    words = len(vocabulary)
    del vocabulary
    rss["opened"] = status()
    searcher = Searcher(index, savoir.store)
    finder = ExpertFinder(searcher, savoir.store, settings.experts)
    if args.queries_file:
        queries = Path(args.queries_file).read_text("utf-8").split("\n")
        queries = [q.strip() for q in queries if q.strip()][: args.queries]
    else:
        from bench.search_latency import latency_queries

        queries = latency_queries(args.queries)

    def run(timings: dict[str, list[float]]) -> None:
        for q in queries:
            request = SearchRequest(q, groups=("public",), page_size=10)
            c0 = time.process_time()
            t0 = time.perf_counter()
            results = searcher.search(request)
            t1 = time.perf_counter()
            timings["search CPU"].append((time.process_time() - c0) * 1000)
            finder.suggest(request, ranked=results.ranked, scores=results.ranked_scores)
            t2 = time.perf_counter()
            timings["search"].append((t1 - t0) * 1000)
            timings["experts"].append((t2 - t1) * 1000)

    browse = ["", "agency:bench", "year:2021", "year:2022 lang:fr", "after:2024-01-01"]

    def run_browse(timings: list[float]) -> None:
        # filters only and newest first: the date column and the id order are read too
        for q in browse:
            for sort in ("relevance", "date"):
                t0 = time.perf_counter()
                searcher.search(SearchRequest(q, groups=("public",), sort=sort))
                timings.append((time.perf_counter() - t0) * 1000)

    # CPU time (this process's, one search at a time) is less moved by other load
    first = {"search": [], "search CPU": [], "experts": []}
    warm = {"search": [], "search CPU": [], "experts": []}
    browse_first: list[float] = []
    browse_warm: list[float] = []
    run(first)
    run_browse(browse_first)
    rss["first pass"] = status()
    run(warm)
    run_browse(browse_warm)
    rss["warm pass"] = status()
    # four searches at once: the pool fills, each thread its own searcher
    threaded: list[float] = []

    def worker(offset: int) -> None:
        for q in queries[offset::4]:
            t0 = time.perf_counter()
            searcher.search(SearchRequest(q, groups=("public",), page_size=10))
            threaded.append((time.perf_counter() - t0) * 1000)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rss["four threads"] = status()
    held = index.accel.memory()
    out = {
        "documents": index.doc_count(),
        "segment documents": index.ix.doc_count_all(),
        "segments": len(index.accel._segments),
        "postings_cache_mb": args.postings_cache_mb,
        "mmap": args.mmap,
        "rss": rss,
        "accel": held,
        "cache entries": len(index.accel.postings),
        "open traced": opened,
        "vocabulary words": words,
        "vocabulary traced": vocabulary_bytes,
        "inferred twins": len(index.inferred_twins),
        "pooled searchers": len(index.accel._pool),
        "timings": {
            "first: search": first["search"],
            "first: search, CPU": first["search CPU"],
            "first: experts (added)": first["experts"],
            "warm: search": warm["search"],
            "warm: search, CPU": warm["search CPU"],
            "warm: experts (added)": warm["experts"],
            "first: filters, by date": browse_first,
            "warm: filters, by date": browse_warm,
            "4 threads: search": threaded,
        },
    }
    index.close()
    savoir.close()
    return out


def report(found: dict) -> None:
    from bench.search_latency import percentile

    docs = found["segment documents"]
    print(
        f"\n== postings_cache_mb = {found['postings_cache_mb']:g}{', mmap' if found['mmap'] else ''}: "
        f"{found['documents']} documents "
        f"({docs} with deleted copies) in {found['segments']} segments"
    )
    print("RSS (MB)          total   anon   file   peak")
    for name, values in found["rss"].items():
        print(
            f"  {name:<14} {values['VmRSS'] / MB:7.0f} {values['RssAnon'] / MB:6.0f} "
            f"{values['RssFile'] / MB:6.0f} {values['VmHWM'] / MB:6.0f}"
        )
    held = found["accel"]
    print(f"accelerator: postings cache {held['postings'] / MB:.1f} MB in {found['cache entries']} entries")
    per_doc = 0.0
    for kind in ("lengths", "codes", "masks", "column", "ranks", "hashes", "numbers", "pairs"):
        if kind in held:
            per_doc += held[kind] / docs
            print(f"  {kind:<8} {held[kind] / MB:7.1f} MB  {held[kind] / docs:6.1f} bytes a document")
    print(f"  per-segment data: {per_doc:.1f} bytes a document = {per_doc:.0f} MB a million")
    words = found["vocabulary words"]
    print(
        f"opening the index: {found['open traced'] / MB:.1f} MB traced; vocabulary {words} words, "
        f"{found['vocabulary traced'] / MB:.1f} MB ({found['vocabulary traced'] / max(words, 1):.0f} bytes a word); "
        f"{found['inferred twins']} inferred twins; {found['pooled searchers']} pooled searchers"
    )
    for name, values in found["timings"].items():
        print(
            f"  {name:<24} p50 {percentile(values, 50):7.1f} ms   p95 {percentile(values, 95):7.1f} ms"
            f"   mean {statistics.mean(values):6.1f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", required=True, help="a data directory holding savoir.db and index/")
    parser.add_argument("--postings-cache-mb", type=float, nargs="+", default=[128.0, 4.0])
    parser.add_argument("--searchers", type=int, default=4)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--queries-file", help="queries to run, one a line (default: search_latency's)")
    parser.add_argument("--mmap", action="store_true", help="searches read segments through mmap")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", help="also save the figures to this file")
    args = parser.parse_args()
    if args.one:
        args.postings_cache_mb = args.postings_cache_mb[0]
        print(json.dumps(one(args)))
        return
    results = []
    for bound in args.postings_cache_mb:
        command = [sys.executable, __file__, "--one", "--data", args.data, "--postings-cache-mb", str(bound)]
        command += ["--searchers", str(args.searchers), "--queries", str(args.queries)]
        if args.queries_file:
            command += ["--queries-file", args.queries_file]
        if args.mmap:
            command.append("--mmap")
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode:
            sys.exit(f"measuring postings_cache_mb={bound} failed:\n{done.stderr[-3000:]}")
        found = json.loads(done.stdout.strip().splitlines()[-1])
        report(found)
        results.append(found)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
