"""Indexing and search at scale on real bilingual text: Savoir against raw Whoosh.

    nice -n 5 .venv/bin/python bench/scale.py --docs 30000 [--workdir bench/out/scale] [--reuse]
        [--queries 200] [--phases crawl,reindex,whoosh,search[,merge,twins]] [--profile crawl] [--index-every N]
        [--postings-cache-mb MB] [--rebuild-chunk N] [--patched-whoosh]

The collection is the Debian manual pages and FAQ in English and French (see
bench/relevance/debian_corpus.py; packages manpages, manpages-fr, debian-faq,
debian-faq-fr), replicated with variation: each document is one real page or FAQ
section whose paragraphs are partly dropped, shuffled within a window and mixed
with a few paragraphs of another page of the same language, with a varied title,
an author (and often an editor) from a pool of 360 people in 6 agencies, a date
between 2015 and 2026, and an ACL (one in ten restricted). About half the English
documents have a French twin (the same variation of the French page, naming the
English one as its original). Documents are generated from a seed, so every phase
and every run sees the same ones.

Each phase runs in its own process (its peak RSS is its own, Whoosh's writer
sub-processes included):

* ``crawl``: Savoir end to end, a memory connector -> sync -> store (SQLite) ->
  index, then people, translations and twins (``Savoir.crawl(full=True)``);
* ``reindex``: ``Savoir.reindex()``, the index rebuilt from the store;
* ``whoosh``: raw Whoosh, one ``ix.writer(procs=2, multisegment=True, limitmb=128)``
  (Whoosh's MpWriter: two writer processes, each writing its own segments), four
  text fields title_en/text_en (StemmingAnalyzer) and title_fr/text_fr
  (LanguageAnalyzer("fr")), each document's text in its stated language, no
  language detection, no store; Whoosh 2.7.4 as it ships (this process imports
  Savoir, whose :mod:`indexer.whoosh_fixes` patch Whoosh's writer: they are undone
  first, unless ``--patched-whoosh``);
* ``search``: a fresh process like a web worker opens the index and runs ~200
  three-word queries taken from the pages' titles, each through the real search
  path (query parsing, ACL, facets, twin collapsing, snippets from the store) and
  expert suggestions, first time (the words' postings never read in this process)
  and again warm; p50/p95 and the process's peak RSS;
* ``merge`` (not run unless asked): a copy of the crawl's index merged into one
  segment by one plain writer, what a merge of Whoosh's policy costs a document;
* ``twins`` (not run unless asked): the reindex's pairing of EN/FR versions alone
  (``twins.refresh`` over the whole source), its time and peak RSS.

``--reuse`` keeps what a previous run with the same --docs built (the store and
index, the Whoosh index) and prints the figures that run saved for the phases it
skips, so the 1M collection is built once (``--reuse --phases search`` then reruns
only the searches; a reindex rebuilds the index each time it is asked for). Each
phase also reports its CPU milliseconds per document (the process and its writer
sub-processes), fairer than the wall clock on a shared machine. Findings, with
the profile of where the indexing time goes, are in bench/SCALE.md.
"""

from __future__ import annotations

import argparse
import cProfile
import gzip
import json
import logging
import os
import pstats
import random
import resource
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.search_latency import percentile  # noqa: E402
from connectors.base import Connector, Contribution, Document, Person, Role, register  # noqa: E402

PHASES = ("crawl", "reindex", "whoosh", "search", "merge", "twins")
DEFAULT_PHASES = ("crawl", "reindex", "whoosh", "search")
AGENCIES = ("finance", "health", "transport", "justice", "environment", "statistics")
FIRST = (
    "Alice Bruno Chloé Daniel Émilie François Gabriel Hélène Isabelle Jacques Karim Léa Marc Nadia "
    "Olivier Pauline Quentin Rachel Samuel Thérèse Ulysse Valérie William Yasmine Zoé Amir Béatrice "
    "Cédric Diane Étienne"
).split()
LAST = (
    "Tremblay Gagnon Roy Côté Bouchard Gauthier Morin Lavoie Fortin Gagné Ouellet Pelletier"
).split()
EN_PREFIX = ("", "", "", "Guide: ", "Notes on ", "How to use ", "Reference: ", "Draft: ")
FR_PREFIX = ("", "", "", "Guide : ", "Notes sur ", "Utiliser ", "Référence : ", "Ébauche : ")
MAX_PARAGRAPHS = 40
EPOCH = datetime(2015, 1, 1, tzinfo=UTC)


def people() -> list[tuple[str, str]]:
    """(name, agency) of the 360 people who write the collection."""
    return [
        (f"{first} {last}", AGENCIES[(i * 7 + j) % len(AGENCIES)])
        for i, first in enumerate(FIRST)
        for j, last in enumerate(LAST)
    ]


def load_pages(workdir: Path) -> list[dict]:
    """The Debian pages as {"en": {...}, "fr": {...}}, read once and kept in *workdir*."""
    cache = workdir / "pages.json.gz"
    if cache.exists():
        return json.loads(gzip.decompress(cache.read_bytes()))
    from bench.relevance.debian_corpus import pairs

    out = []
    for pair in pairs():
        entry = {}
        for lang in ("en", "fr"):
            version = getattr(pair, lang)
            entry[lang] = {"title": version.title, "query": version.query, "paragraphs": version.paragraphs}
        out.append(entry)
    workdir.mkdir(parents=True, exist_ok=True)
    cache.write_bytes(gzip.compress(json.dumps(out).encode()))
    return out


def _vary(rng: random.Random, paragraphs: list[str], other: list[str], keep: list[int]) -> str:
    chosen = [paragraphs[i] for i in keep if i < len(paragraphs)]
    if other:
        at = rng.randrange(len(chosen) + 1)
        start = rng.randrange(len(other))
        chosen[at:at] = other[start : start + rng.randint(1, 3)]
    return "\n\n".join(chosen)


def generate(pages: list[dict], count: int, seed: int = 24):
    """*count* varied documents as dicts (deterministic for a given seed)."""
    rng = random.Random(seed)
    pool = people()
    made = 0
    variant = 0
    while made < count:
        page = pages[rng.randrange(len(pages))]
        other = pages[rng.randrange(len(pages))]
        en = page["en"]
        n = min(len(en["paragraphs"]), MAX_PARAGRAPHS * 2)
        # drop about one paragraph in six, then shuffle within a window of three
        keep = [i for i in range(n) if rng.random() > 0.17][:MAX_PARAGRAPHS] or [0]
        for i in range(len(keep) - 1):
            if rng.random() < 0.2:
                j = min(len(keep) - 1, i + rng.randint(1, 2))
                keep[i], keep[j] = keep[j], keep[i]
        author, agency = pool[rng.randrange(len(pool))]
        editor = pool[rng.randrange(len(pool))][0] if rng.random() < 0.6 else None
        when = EPOCH + timedelta(days=rng.randrange(4200), seconds=rng.randrange(86400))
        acl = ("restricted",) if rng.random() < 0.1 else ("public",)
        prefix = rng.randrange(len(EN_PREFIX))
        year = when.year
        base = {
            "author": author,
            "editor": editor,
            "agency": agency,
            "modified": when,
            "acl": acl,
        }
        start_lang = "en" if rng.random() < 0.75 else "fr"
        twin = rng.random() < 0.5
        langs = [start_lang] + (["fr" if start_lang == "en" else "en"] if twin else [])
        first_id = None
        for lang in langs:
            if made >= count:
                break
            version = page[lang]
            prefixes = EN_PREFIX if lang == "en" else FR_PREFIX
            title = f"{prefixes[prefix]}{version['title']}"
            if rng.random() < 0.3:
                title += f" ({agency}, {year})"
            doc_id = f"{variant}-{lang}"
            yield {
                **base,
                "id": doc_id,
                "language": lang,
                "title": title,
                "query": version["query"],
                "text": _vary(rng, version["paragraphs"], other[lang]["paragraphs"], keep),
                "translation_of": first_id,
            }
            first_id = first_id or doc_id
            made += 1
        variant += 1


# --- Savoir's side ---------------------------------------------------------------

_STATE: dict = {"pages": None, "count": 0}


@dataclass
class _ScaleSettings:
    pass


@register("bench-scale")
class ScaleConnector(Connector):
    """The generated collection, straight from memory (no HTTP, no files)."""

    Settings = _ScaleSettings

    def documents(self, checkpoint=None):
        for d in generate(_STATE["pages"], _STATE["count"]):
            contributions = [Contribution(Person(d["author"]), Role.AUTHOR, d["modified"], len(d["text"]))]
            if d["editor"] and d["editor"] != d["author"]:
                contributions.append(Contribution(Person(d["editor"]), Role.EDITOR, d["modified"], 400))
            yield Document(
                id=self.doc_id(d["id"]),
                url=f"https://{d['agency']}.intranet.example/doc/{d['id']}",
                title=d["title"],
                text=d["text"],
                language=d["language"],
                created=d["modified"],
                modified=d["modified"],
                contributions=tuple(contributions),
                acl=d["acl"],
                translation_of=self.doc_id(d["translation_of"]) if d["translation_of"] else None,
                agency=d["agency"],
            )


#: [crawler] index_every for the crawl (None: the default settings' value)
_INDEX_EVERY: list[int] = []
#: [memory] postings_cache_mb for the search phase (None: the default settings' value)
_CACHE_MB: list[float] = []


def _savoir(work: Path):
    from config.loader import SourceConfig, build_settings
    from crawler.runner import Savoir

    values: dict = {"store": {"data_dir": str(work / "savoir")}}
    if _INDEX_EVERY:
        values["crawler"] = {"index_every": _INDEX_EVERY[0]}
    if _CACHE_MB:
        values["memory"] = {"postings_cache_mb": _CACHE_MB[0]}
    settings = build_settings(values, env={})
    return Savoir(settings, [SourceConfig(id="scale", kind="bench-scale", agency="bench")])


def _rss_mb() -> dict:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"rss_mb": round(own), "children_rss_mb": round(children)}


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (Whoosh's writers): on a
    shared machine the fairer measure of work than the wall clock."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class _RssByStage:
    """The process's resident memory sampled every 0.2 s, its peak kept per stage (the
    documents indexed, then people, then translations and twins): what of the peak
    each stage holds."""

    def __init__(self) -> None:
        self.stage = "indexing"
        self.peaks: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @staticmethod
    def now_mb() -> float:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * resource.getpagesize() / 2**20

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self.mark()

    def mark(self) -> None:
        self.peaks[self.stage] = max(self.peaks.get(self.stage, 0.0), self.now_mb())

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join()
        self.mark()
        return {f"rss_{stage}_mb": round(mb) for stage, mb in self.peaks.items()}


class _DiskPeak:
    """The bytes under the index directories (the index, and ``index.new`` while a
    reindex builds it with its writers' temporary files), summed every second: the
    disk a reindex needs at its peak."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def total(self) -> int:
        size = 0
        for top in (self.data_dir / "index", self.data_dir / "index.new"):
            for root, _dirs, files in os.walk(top):
                for name in files:
                    try:
                        size += os.stat(os.path.join(root, name)).st_size
                    except FileNotFoundError:  # a temporary file gone since listed
                        pass
        return size

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self.peak = max(self.peak, self.total())

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join()
        return {"disk_peak_mb": round(max(self.peak, self.total()) / 2**20), "index_mb": round(self.total() / 2**20)}


def _timed(savoir, spent: dict, rss: _RssByStage | None = None) -> None:
    """Time what a crawl or reindex does after the documents are indexed. A step run
    inside another (a crawl's people step, done while a forked process learns the
    translations) is timed too, but neither counted twice in the time after indexing
    nor in its CPU: ``spent["nested"]`` holds its seconds."""
    active: list[str] = []
    for name in ("refresh_people", "refresh_cross_language", "refresh_flat_postings"):
        method = getattr(savoir, name)

        def wrapper(*args, _method=method, _name=name, **kwargs):
            t0, cpu0 = time.perf_counter(), _cpu_seconds()
            nested = bool(active)
            active.append(_name)
            outer = rss.stage if rss is not None else None
            if rss is not None:
                rss.mark()
                rss.stage = _name.removeprefix("refresh_")
            try:
                return _method(*args, **kwargs)
            finally:
                active.pop()
                if rss is not None and nested:
                    rss.mark()
                    rss.stage = outer
                elapsed = time.perf_counter() - t0
                spent[_name] = spent.get(_name, 0.0) + elapsed
                if nested:
                    spent["nested"] = spent.get("nested", 0.0) + elapsed
                    spent.setdefault("nested_in", set()).add(_name)
                elif _name != "refresh_flat_postings":  # the index's own files: part of indexing
                    spent["cpu"] = spent.get("cpu", 0.0) + _cpu_seconds() - cpu0

        setattr(savoir, name, wrapper)


def _after(spent: dict, seconds: float, count: int) -> dict:
    after = spent.get("refresh_people", 0.0) + spent.get("refresh_cross_language", 0.0) - spent.get("nested", 0.0)
    return {
        "people_s": round(spent.get("refresh_people", 0.0), 1),
        "cross_language_s": round(spent.get("refresh_cross_language", 0.0), 1),
        "people_beside_learner": "refresh_people" in spent.get("nested_in", ()),
        "flat_postings_s": round(spent.get("refresh_flat_postings", 0.0), 1),
        "index_only_docs_s": round(count / max(seconds - after, 1e-9), 1),
        "after_cpu_s": round(spent.get("cpu", 0.0), 1),
    }


def phase_crawl(work: Path, count: int) -> dict:
    savoir = _savoir(work)
    savoir.open_index()
    spent: dict = {}
    rss = _RssByStage()
    _timed(savoir, spent, rss)
    spent.clear()
    started = time.perf_counter()
    (report,) = savoir.crawl(full=True)
    seconds = time.perf_counter() - started
    documents = savoir.store.counts()["documents"]
    savoir.close()
    return {"docs": documents, "seconds": round(seconds, 1), "docs_s": round(count / seconds, 1),
            **_after(spent, seconds, count), **rss.stop(), "summary": report.summary()}


def phase_reindex(work: Path, count: int) -> dict:
    savoir = _savoir(work)
    spent: dict = {}
    rss = _RssByStage()
    _timed(savoir, spent, rss)
    disk = _DiskPeak(savoir.settings.index_dir.parent)
    started = time.perf_counter()
    indexed = savoir.reindex()
    seconds = time.perf_counter() - started
    savoir.close()
    return {"docs": indexed, "seconds": round(seconds, 1), "docs_s": round(indexed / seconds, 1),
            **_after(spent, seconds, indexed), **rss.stop(), **disk.stop()}


def phase_twins(work: Path, count: int) -> dict:
    """A reindex's pairing of EN/FR versions alone: ``twins.refresh`` over the whole
    source, as ``savoir reindex`` runs it (no size limit), on the index as it is."""
    from indexer.translations import TranslationTable
    from indexer.twins import load_map, refresh

    savoir = _savoir(work)
    index = savoir.open_index()
    table = TranslationTable.load(index.path)
    documents = savoir.store.counts()["documents"]
    rss = _RssByStage()
    rss.stage = "pairing"
    started = time.perf_counter()
    changed = refresh(savoir.store, index, table)
    seconds = time.perf_counter() - started
    savoir.refresh_flat_postings(index)  # as after a reindex: the rewritten pages' segment too
    pairs = len(load_map(index.path))
    savoir.close()
    return {"docs": documents, "seconds": round(seconds, 1), "pairs": pairs, "changed": changed, **rss.stop()}


def phase_whoosh(work: Path, count: int) -> dict:
    from whoosh import index as whoosh_index
    from whoosh.analysis import LanguageAnalyzer, StemmingAnalyzer
    from whoosh.fields import ID, TEXT, Schema

    from indexer import whoosh_fixes

    # this process imported Savoir (config.loader), whose fixes patch Whoosh's writer:
    # raw Whoosh is measured as it ships (--patched-whoosh: with Savoir's fixes)
    if not _STATE.get("patched_whoosh"):
        whoosh_fixes.unapply()
    path = work / "whoosh"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    schema = Schema(
        id=ID(stored=True, unique=True),
        title_en=TEXT(analyzer=StemmingAnalyzer(), stored=True),
        text_en=TEXT(analyzer=StemmingAnalyzer()),
        title_fr=TEXT(analyzer=LanguageAnalyzer("fr"), stored=True),
        text_fr=TEXT(analyzer=LanguageAnalyzer("fr")),
    )
    ix = whoosh_index.create_in(str(path), schema)
    started = time.perf_counter()
    writer = ix.writer(procs=2, multisegment=True, limitmb=128)
    for d in generate(_STATE["pages"], count):
        lang = d["language"]
        writer.add_document(id=d["id"], **{f"title_{lang}": d["title"], f"text_{lang}": d["text"]})
    writer.commit()
    seconds = time.perf_counter() - started
    documents = ix.doc_count()
    ix.close()
    return {
        "docs": documents, "seconds": round(seconds, 1), "docs_s": round(count / seconds, 1),
        "patched": bool(_STATE.get("patched_whoosh")),
    }


def phase_merge(work: Path, count: int) -> dict:
    """What a segment merge costs: a copy of the crawl's index merged into one segment
    by one plain writer through Whoosh's posting pool (what Whoosh's policy does to the
    segments it picks), then another copy by ``whoosh_fixes.merge_segments`` (what the
    writer processes do since stop 31), each with its CPU time."""
    from whoosh import index as whoosh_index

    from indexer import whoosh_fixes

    out: dict = {}
    for way in ("pool", "streamed"):
        copy = work / "merge-copy"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(work / "savoir" / "index", copy)
        ix = whoosh_index.open_dir(str(copy))
        segments = ix._segments()
        started, cpu = time.perf_counter(), _own_cpu_seconds()
        if way == "pool":
            ix.writer(limitmb=256).commit(optimize=True)
        else:
            merged = whoosh_fixes.merge_segments(ix, segments, limitmb=256)
            with ix.writer() as writer:
                writer.mergetype = lambda _writer, _segments, merged=merged: [merged]
        seconds, cpu = time.perf_counter() - started, _own_cpu_seconds() - cpu
        documents = ix.doc_count()
        assert len(ix._segments()) == 1
        ix.close()
        shutil.rmtree(copy, ignore_errors=True)
        out.update(
            {
                "docs": documents,
                "segments": len(segments),
                f"{way}_seconds": round(seconds, 1),
                f"{way}_cpu_ms_per_doc": round(cpu * 1000 / max(documents, 1), 2),
            }
        )
    out["seconds"], out["docs_s"] = out["pool_seconds"], round(out["docs"] / out["pool_seconds"], 1)
    return out


def _own_cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def queries_for(count: int, how_many: int) -> list[str]:
    """Three-word queries from the titles of the collection's pages (both languages)."""
    rng = random.Random(5)
    seen, out = set(), []
    for d in generate(_STATE["pages"], min(count, 20000)):
        words = [w for w in d["query"].replace(",", " ").split() if len(w) > 1]
        if len(words) < 3:
            continue
        start = rng.randrange(len(words) - 2)
        query = " ".join(words[start : start + 3])
        if query.lower() not in seen:
            seen.add(query.lower())
            out.append(query)
    rng.shuffle(out)
    return out[:how_many]


def phase_search(work: Path, count: int, how_many: int) -> dict:
    from indexer.experts import ExpertFinder
    from indexer.search import Searcher, SearchRequest

    queries = queries_for(count, how_many)
    savoir = _savoir(work)
    started = time.perf_counter()
    index = savoir.open_index()
    searcher = Searcher(index, savoir.store)
    finder = ExpertFinder(searcher, savoir.store, savoir.settings.experts)
    open_ms = (time.perf_counter() - started) * 1000

    def run(query: str) -> tuple[float, float, int]:
        request = SearchRequest(query, groups=("public",), page_size=10)
        t0 = time.perf_counter()
        results = searcher.search(request)
        t1 = time.perf_counter()
        finder.suggest(request, ranked=results.ranked, scores=results.ranked_scores)
        t2 = time.perf_counter()
        return (t1 - t0) * 1000, (t2 - t0) * 1000, results.total

    first = [run(q) for q in queries]
    warm = [run(q) for q in queries]
    out = {"docs": index.doc_count(), "queries": len(queries), "open_ms": round(open_ms),
           "mean_hits": round(sum(t for _, _, t in first) / len(first)),
           "postings_cache_mb": savoir.settings.memory.postings_cache_mb,
           "postings_held_mb": round(index.accel.postings.size / 2**20, 1)}
    for name, values in (("first", first), ("warm", warm)):
        for label, pos in (("search", 0), ("with_experts", 1)):
            times = [v[pos] for v in values]
            out[f"{name}_{label}_p50"] = round(percentile(times, 50), 1)
            out[f"{name}_{label}_p95"] = round(percentile(times, 95), 1)
    savoir.close()
    return out


def _profile_writers(directory: Path) -> None:
    """Profile each of Savoir's writer processes too (cProfile in the parent sees only
    it waiting): each one's statistics go to a file of *directory*, printed together."""
    from indexer import index

    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    run = index._FieldsTask.run

    def profiled(self):
        profiler = cProfile.Profile()
        profiler.enable()
        try:
            run(self)
        finally:
            profiler.disable()
            profiler.dump_stats(str(directory / f"{time.monotonic_ns()}.prof"))

    index._FieldsTask.run = profiled


def run_phase(args) -> None:
    if args.log:
        logging.basicConfig(
            level=logging.INFO, stream=sys.stderr, format="%(relativeCreated)9.0f ms %(name)s: %(message)s"
        )
    work = Path(args.workdir) / str(args.docs)
    _STATE["pages"] = load_pages(Path(args.workdir))
    _STATE["count"] = args.docs
    if args.index_every:
        _INDEX_EVERY.append(args.index_every)
    _STATE["patched_whoosh"] = args.patched_whoosh
    if args.postings_cache_mb:
        _CACHE_MB.append(args.postings_cache_mb)
    if args.rebuild_chunk:
        import indexer.index

        indexer.index.REBUILD_CHUNK = args.rebuild_chunk
    cpu_before = _cpu_seconds()
    profiler = cProfile.Profile() if args.profile == args.phase else None
    writers = work / "writer-profiles"
    if profiler:
        _profile_writers(writers)
        profiler.enable()
    if args.phase == "crawl":
        result = phase_crawl(work, args.docs)
    elif args.phase == "reindex":
        result = phase_reindex(work, args.docs)
    elif args.phase == "whoosh":
        result = phase_whoosh(work, args.docs)
    elif args.phase == "merge":
        result = phase_merge(work, args.docs)
    elif args.phase == "twins":
        result = phase_twins(work, args.docs)
    else:
        result = phase_search(work, args.docs, args.queries)
    if profiler:
        profiler.disable()
        stats = pstats.Stats(profiler, stream=sys.stderr)
        stats.sort_stats("cumulative").print_stats(45)
        stats.sort_stats("tottime").print_stats(30)
        files = sorted(str(f) for f in writers.glob("*.prof"))
        if files:  # what the writer processes spent, all of them together
            print(f"== Whoosh's writer processes ({len(files)} profiles)", file=sys.stderr)
            stats = pstats.Stats(*files, stream=sys.stderr)
            stats.sort_stats("cumulative").print_stats(45)
            stats.sort_stats("tottime").print_stats(30)
    result.update(_rss_mb())
    # the CPU milliseconds each document cost (Savoir's phases include their set-up)
    cpu = _cpu_seconds() - cpu_before
    result["cpu_ms_per_doc"] = round(cpu * 1000 / max(result["docs"], 1), 2)
    if args.phase in ("crawl", "reindex", "whoosh", "twins"):
        # how many cores the phase kept busy on average (its CPU over its wall clock)
        result["cores"] = round(cpu / max(result["seconds"], 1e-9), 2)
    if "after_cpu_s" in result:  # without people, translations and twins
        result["index_only_cpu_ms_per_doc"] = round(
            (cpu - result["after_cpu_s"]) * 1000 / max(result["docs"], 1), 2
        )
    print("RESULT " + json.dumps(result), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=30000)
    parser.add_argument("--workdir", default="bench/out/scale")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--reuse", action="store_true", help="keep what an earlier run with --docs built")
    parser.add_argument("--phases", default=",".join(DEFAULT_PHASES))
    parser.add_argument("--profile", choices=PHASES, help="print cProfile's top functions of one phase")
    parser.add_argument("--phase", choices=PHASES, help=argparse.SUPPRESS)
    parser.add_argument(
        "--log", action="store_true", help="print Savoir's INFO log, stamped with milliseconds since the phase began"
    )
    parser.add_argument(
        "--index-every", type=int, help="[crawler] index_every for Savoir's phases (default: the settings')"
    )
    parser.add_argument(
        "--rebuild-chunk", type=int,
        help="documents a reindex commits at a time (indexer.index.REBUILD_CHUNK; default: the code's)",
    )
    parser.add_argument(
        "--patched-whoosh", action="store_true",
        help="the whoosh phase with Savoir's fixes to Whoosh's writer (indexer.whoosh_fixes),"
        " not as it ships",
    )
    parser.add_argument(
        "--postings-cache-mb", type=float,
        help="[memory] postings_cache_mb for the search phase (default: the settings')",
    )
    args = parser.parse_args()
    if args.docs < 1:
        parser.error("--docs must be at least 1")
    if args.phase:
        run_phase(args)
        return
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown = [p for p in phases if p not in PHASES]
    if unknown:
        parser.error(f"unknown phase(s) {', '.join(unknown)} (known: {', '.join(PHASES)})")
    work = Path(args.workdir) / str(args.docs)
    saved_file = work / "results.json"
    saved = json.loads(saved_file.read_text()) if args.reuse and saved_file.exists() else {}
    if not args.reuse:
        shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    load_pages(Path(args.workdir))  # read the Debian pages once, before the timed phases
    results = dict(saved)
    for phase in phases:
        if args.reuse and phase in ("crawl", "whoosh") and phase in saved:
            print(f"{phase}: reused from {saved_file}", flush=True)
            continue
        if phase in ("reindex", "search", "merge", "twins") and not (work / "savoir").exists():
            if "crawl" not in phases:
                print(f"{phase}: no collection in {work}; run the crawl phase first", flush=True)
                continue
        command = [sys.executable, __file__, "--phase", phase, "--docs", str(args.docs),
                   "--workdir", args.workdir, "--queries", str(args.queries)]
        if args.profile:
            command += ["--profile", args.profile]
        if args.index_every:
            command += ["--index-every", str(args.index_every)]
        if args.postings_cache_mb:
            command += ["--postings-cache-mb", str(args.postings_cache_mb)]
        if args.rebuild_chunk:
            command += ["--rebuild-chunk", str(args.rebuild_chunk)]
        if args.log:
            command.append("--log")
        if args.patched_whoosh:
            command.append("--patched-whoosh")
        print(f"{phase}: running ...", flush=True)
        proc = subprocess.run(command, stdout=subprocess.PIPE, text=True)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
        if proc.returncode or not lines:
            print(f"{phase}: failed (exit {proc.returncode})\n{proc.stdout[-2000:]}", flush=True)
            continue
        results[phase] = json.loads(lines[-1][len("RESULT "):])
        saved_file.write_text(json.dumps(results, indent=1))
    report(args.docs, results)


def report(count: int, results: dict) -> None:
    print(f"\n== {count} documents (Debian manual pages and FAQ, EN/FR, replicated with variation)")
    for phase, label in (("crawl", "Savoir end to end (connector -> store -> index)"),
                         ("reindex", "Savoir reindex from the store"),
                         ("whoosh", "raw Whoosh, procs=2, 4 text fields")):
        r = results.get(phase)
        if r:
            if phase == "whoosh" and r.get("patched"):
                label = "Whoosh with Savoir's writer fixes, procs=2"
            print(f"{label:<50} {r['docs_s']:8.1f} docs/s  ({r['seconds']} s, {r['docs']} docs)"
                  f"  peak RSS {r['rss_mb']} MB (largest sub-process {r['children_rss_mb']} MB)")
            if "cpu_ms_per_doc" in r:
                print(f"{'':<6}CPU {r['cpu_ms_per_doc']} ms a document (process and writer sub-processes)"
                      + (f", {r['cores']} cores busy on average" if "cores" in r else ""))
            if "disk_peak_mb" in r:
                print(f"{'':<6}disk under the index directories at the peak {r['disk_peak_mb']} MB"
                      f" (the index and index.new with its temporary files; the index after it {r['index_mb']} MB)")
            if "people_s" in r:
                steps = (f"people, translations and twins {r['cross_language_s']} s (people {r['people_s']} s"
                         " of it, while a second process learned the translations)"
                         if r.get("people_beside_learner") else
                         f"people {r['people_s']} s, translations and twins {r['cross_language_s']} s")
                print(f"{'':<6}of which {steps}; without them {r['index_only_docs_s']} docs/s"
                      + (f"; flat postings left to write after them {r['flat_postings_s']} s"
                         if "flat_postings_s" in r else ""))
            stages = [(k[4:-3], v) for k, v in r.items() if k.startswith("rss_") and k.endswith("_mb")
                      and k != "rss_mb"]
            if stages:
                print(f"{'':<6}peak RSS of the process while " + ", ".join(f"{k.replace('_', ' ')} {v} MB"
                                                                          for k, v in stages))
            if "index_only_cpu_ms_per_doc" in r:
                print(f"{'':<6}CPU without people, translations and twins"
                      f" {r['index_only_cpu_ms_per_doc']} ms a document ({r['after_cpu_s']} s for them)")
    if results.get("crawl") and results.get("whoosh"):
        whoosh = "Whoosh with Savoir's fixes" if results["whoosh"].get("patched") else "raw Whoosh"
        if "cpu_ms_per_doc" in results["whoosh"] and "cpu_ms_per_doc" in results["crawl"]:
            print(f"CPU a document, {whoosh} / Savoir end to end:"
                  f" {results['whoosh']['cpu_ms_per_doc'] / results['crawl']['cpu_ms_per_doc']:.2f}x")
        if "index_only_docs_s" in results["crawl"]:
            print(f"Savoir without people, translations and twins / {whoosh}:"
                  f" {results['crawl']['index_only_docs_s'] / results['whoosh']['docs_s']:.2f}x")
        print(f"Savoir / {whoosh}: {results['crawl']['docs_s'] / results['whoosh']['docs_s']:.2f}x"
              + (f"; reindex / {whoosh}: {results['reindex']['docs_s'] / results['whoosh']['docs_s']:.2f}x"
                 if results.get("reindex") else ""))
    r = results.get("twins")
    if r:
        print(f"EN/FR pairing alone (twins.refresh, the whole source, as a reindex runs it): {r['seconds']} s,"
              f" {r['pairs']} pairs ({r['changed']} documents changed), CPU {r['cpu_ms_per_doc']} ms a document,"
              f" peak RSS {r['rss_mb']} MB")
    r = results.get("merge")
    if r:
        print(f"merge: the crawl's {r['segments']} segments ({r['docs']} docs) into one by one writer:")
        for way, label in (("pool", "Whoosh's posting pool"), ("streamed", "merge_segments (streamed)")):
            if f"{way}_seconds" in r:
                print(f"{'':<6}{label:<28} {r[f'{way}_seconds']} s, CPU {r[f'{way}_cpu_ms_per_doc']} ms a merged document")
    r = results.get("search")
    if r:
        print(f"search: {r['queries']} three-word title queries, mean hits {r['mean_hits']},"
              f" index opened in {r['open_ms']} ms, web process peak RSS {r['rss_mb']} MB")
        if "postings_cache_mb" in r:
            print(f"  postings cache {r['postings_cache_mb']:g} MB, {r['postings_held_mb']} MB held at the end")
        for name in ("first", "warm"):
            print(f"  {name:<5} search p50 {r[f'{name}_search_p50']:7.1f} ms  p95 {r[f'{name}_search_p95']:7.1f} ms"
                  f"   with experts p50 {r[f'{name}_with_experts_p50']:7.1f} ms"
                  f"  p95 {r[f'{name}_with_experts_p95']:7.1f} ms")


if __name__ == "__main__":
    main()
