"""Cross-language relevance on real bilingual text: Debian's manual pages and FAQ.

    .venv/bin/python bench/relevance/debian.py [--half dev|test|both] [--limit N] [--show-misses]

Needs ``apt-get install manpages manpages-dev manpages-fr manpages-fr-dev debian-faq
debian-faq-fr``. Documents and queries are described in ``debian_corpus.py``: a query is
a page's NAME description or a FAQ section's heading; the relevant document is that page
or section. Pairs are split into a development and a test half by a hash of their id
before anything was tuned; tune on ``dev`` only.

Cells, each for Savoir and for a baseline on the same index and queries:

* **mono**: the half's pairs, both versions, twins linked (``translation_of``); a query
  in either language, EN/FR twins count as one result. Baseline: plain BM25, the query's
  own language fields, the raw query (no glossary, no translation), all its words (any
  when fewer than ten pages have all), no title phrase. Printed beside it: Savoir's own
  ranking without translation (title phrase, most-words tier), the baseline until stop 29.
* **one language only**: one version of each pair (half EN, half FR, by a hash), queried
  with the missing version's query, so every answer is in the other language. Baseline:
  the raw query over both languages' fields, no translation at all.
* **twins unmarked**: both versions, no ``translation_of``; the relevant document is the
  other-language version, found directly or shown as the hit's other version (a twin
  Savoir paired itself). Its mono reference is the same-language version on that index.

Translations learned from the collection come from the development half's twins only.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import debian_corpus as corpus  # noqa: E402

from connectors.base import Document  # noqa: E402
from indexer.glossary import Glossary  # noqa: E402
from indexer.index import SearchIndex  # noqa: E402
from indexer.search import Searcher, SearchRequest  # noqa: E402
from indexer.store import Store  # noqa: E402
from indexer.translations import TableFile, TranslationTable, learn_from_store  # noqa: E402
from indexer.twins import Candidate  # noqa: E402
from indexer.twins import pair as pair_twins  # noqa: E402
from indexer.twins import refresh as refresh_twins  # noqa: E402

OTHER = {"en": "fr", "fr": "en"}


def doc_id(source: str, pair: corpus.Pair, lang: str) -> str:
    return f"{source}:{pair.id}:{lang}"


def url_of(source: str, pair: corpus.Pair, lang: str) -> str:
    """Marked twins have telling paths; unmarked ones opaque ones (nothing to pair them by)."""
    if source == "marked":
        return f"https://{source}.example/{pair.id}/{lang}"
    return f"https://{source}.example/d/" + hashlib.sha1(f"{pair.id}:{lang}".encode()).hexdigest()[:12]


def pairing_report(half: str, pairs: list[corpus.Pair], table) -> tuple[float, float]:
    """Precision and recall of :func:`indexer.twins.pair` on the half's unmarked versions."""
    started = time.perf_counter()
    docs = [
        Candidate(doc_id("unmarked", p, lang), "unmarked", lang, getattr(p, lang).title,
                  getattr(p, lang).text, url_of("unmarked", p, lang))
        for p in pairs
        for lang in ("en", "fr")
    ]
    found = pair_twins(docs, table)
    truth = {(doc_id("unmarked", p, "en"), doc_id("unmarked", p, "fr")) for p in pairs}
    right = sum((en, fr) in truth for en, fr, _ in found)
    precision = right / len(found) if found else 0.0
    recall = right / len(truth) if truth else 0.0
    print(
        f"[{half}] twins found without markup: {len(found)} pairs, precision {precision:.3f},"
        f" recall {recall:.3f} (of {len(truth)} true pairs) in {time.perf_counter() - started:.1f} s"
    )
    return precision, recall


def load_store(store: Store, pairs: list[corpus.Pair]) -> None:
    """Every pair twice: once with its twins linked ("marked"), once without ("unmarked")."""
    for source in ("marked", "unmarked"):
        store.upsert_source(source, "bench", "debian", source, ["public"])
        run = store.start_run(source, "full")
        batch = []
        for pair in pairs:
            for lang in ("en", "fr"):
                version = getattr(pair, lang)
                doc = Document(
                    id=doc_id(source, pair, lang),
                    url=url_of(source, pair, lang),
                    title=version.title,
                    text=version.text,
                    language=lang,
                    translation_of=doc_id(source, pair, "en") if source == "marked" and lang == "fr" else None,
                    source=source,
                    agency="debian",
                    acl=("public",),
                )
                batch.append((doc, doc.content_hash()))
            if len(batch) >= 500:
                store.commit_batch(run_id=run, source_id=source, upserts=batch)
                batch = []
        if batch:
            store.commit_batch(run_id=run, source_id=source, upserts=batch)


def reciprocal_rank(hits, good) -> float:
    for rank, hit in enumerate(hits[:10], start=1):
        if good(hit):
            return 1.0 / rank
    return 0.0


class Bench:
    def __init__(self, work: Path, pairs: list[corpus.Pair], glossary: Glossary | None) -> None:
        self.work = work
        self.learned: TranslationTable | None = None
        self.pair_unmarked = True
        self.store = Store(f"sqlite:///{work / 'store.db'}")
        load_store(self.store, pairs)
        self.glossary = glossary
        self.url_to_id = {}
        for pair in pairs:
            for source in ("marked", "unmarked"):
                for lang in ("en", "fr"):
                    self.url_to_id[url_of(source, pair, lang)] = doc_id(source, pair, lang)

    def index(self, name: str, keep) -> SearchIndex:
        index = SearchIndex(self.work / name)
        index.rebuild(self.store, keep=keep)
        if self.learned is not None:
            self.learned.save(index.path)
        return index

    def searchers(self, index: SearchIndex, savoir_only: bool = False) -> dict[str, Searcher]:
        empty = Glossary()
        out = {"savoir": Searcher(index, self.store, self.glossary)}
        if savoir_only:
            return out
        out["raw, both languages"] = Searcher(index, self.store, empty)
        out["bm25, own language"] = Searcher(index, self.store, empty, cross_language=False, plain=True)
        # Savoir's own ranking without any translation (the baseline up to stop 29)
        out["own language, untranslated"] = Searcher(index, self.store, empty, cross_language=False)
        for name in ("raw, both languages", "bm25, own language", "own language, untranslated"):
            out[name].learned = TableFile(self.work / "no-table")  # baselines translate nothing
        return out

    def run(self, searcher: Searcher, text: str):
        return searcher.search(SearchRequest(text, page_size=10)).hits


def evaluate(
    half: str, pairs: list[corpus.Pair], bench: Bench, show_misses: bool, cells: set[str], savoir_only: bool
) -> dict[str, float]:
    ids = {p.id for p in pairs}

    def pair_of(doc: str) -> str:
        return doc.split(":", 1)[1].rsplit(":", 1)[0]

    started = time.perf_counter()
    mono = bench.index(
        f"{half}-mono", lambda d: d.source_id == "marked" and pair_of(d.id) in ids
    )
    one = bench.index(
        f"{half}-one",
        lambda d: d.source_id == "marked"
        and pair_of(d.id) in ids
        and d.id.endswith(":" + corpus.kept_language(pair_of(d.id))),
    )
    unmarked = bench.index(f"{half}-unmarked", lambda d: d.source_id == "unmarked" and pair_of(d.id) in ids)
    if bench.pair_unmarked:
        refresh_twins(bench.store, unmarked, bench.learned)
    print(f"[{half}] {len(pairs)} pairs indexed three ways in {time.perf_counter() - started:.0f} s")

    scores: dict[tuple[str, str], list[float]] = defaultdict(list)
    misses = []
    for cell, index in (("mono", mono), ("one", one), ("unmarked", unmarked)):
        if cell not in cells:
            continue
        for system, searcher in bench.searchers(index, savoir_only).items():
            if cell == "mono" and system == "raw, both languages":
                continue
            if cell != "mono" and system in ("bm25, own language", "own language, untranslated"):
                continue
            for pair in pairs:
                for lang in ("en", "fr"):
                    query = getattr(pair, lang).query
                    if cell == "one":
                        kept = corpus.kept_language(pair.id)
                        if kept == lang:
                            continue
                        target = {doc_id("marked", pair, kept)}
                        label = f"one language only, {lang}->{kept}"
                    elif cell == "mono":
                        target = {doc_id("marked", pair, "en"), doc_id("marked", pair, "fr")}
                        label = f"mono, {lang}"
                    else:
                        hits = bench.run(searcher, query)
                        for other, name in ((lang, "mono ref"), (OTHER[lang], "cross")):
                            want = doc_id("unmarked", pair, other)
                            rr = reciprocal_rank(
                                hits,
                                lambda h, want=want: h.id == want
                                or any(bench.url_to_id.get(u) == want for u in h.alternates.values()),
                            )
                            scores[(f"twins unmarked {name}, {lang}->{other}", system)].append(rr)
                        continue
                    hits = bench.run(searcher, query)
                    rr = reciprocal_rank(
                        hits,
                        lambda h, target=target: h.id in target
                        or any(bench.url_to_id.get(u) in target for u in h.alternates.values()),
                    )
                    scores[(label, system)].append(rr)
                    if show_misses and system == "savoir" and cell == "one" and rr == 0:
                        misses.append((label, query, [h.title[:50] for h in hits[:3]]))
    print(f"\n[{half}] MRR@10{'':<34}{'queries':>8}{'Savoir':>9}{'baseline':>10}  (baseline)")
    means = {}
    for label in dict.fromkeys(label for label, _ in scores):
        ours = scores[(label, "savoir")]
        base_name = "bm25, own language" if label.startswith("mono") else "raw, both languages"
        base = scores.get((label, base_name), [])
        m_ours = sum(ours) / len(ours) if ours else 0.0
        m_base = sum(base) / len(base) if base else 0.0
        means[label] = m_ours
        means[label + " (baseline)"] = m_base
        extra = ""
        if label.startswith("mono") and (untranslated := scores.get((label, "own language, untranslated"))):
            extra = f"; own language untranslated {sum(untranslated) / len(untranslated):.3f}"
        print(f"  {label:<40}{len(ours):>8}{m_ours:>9.3f}{m_base:>10.3f}  ({base_name}{extra})")
    means = defaultdict(float, means)
    mono_mean = {lang: means[f"mono, {lang}"] or 1.0 for lang in ("en", "fr")}
    print(f"\n[{half}] cross-language / monolingual MRR@10 (target >= 85% one language only, >= 95% unmarked)")
    for lang in ("en", "fr"):
        other = OTHER[lang]
        cross = means[f"one language only, {lang}->{other}"]
        base = means[f"one language only, {lang}->{other} (baseline)"]
        print(
            f"  one language only {lang}->{other}: Savoir {cross / mono_mean[lang]:6.1%}"
            f"   baseline {base / mono_mean[lang]:6.1%}   (of mono {lang} {mono_mean[lang]:.3f})"
        )
    for lang in ("en", "fr"):
        other = OTHER[lang]
        cross = means[f"twins unmarked cross, {lang}->{other}"]
        ref = means[f"twins unmarked mono ref, {lang}->{lang}"] or 1.0
        base = means[f"twins unmarked cross, {lang}->{other} (baseline)"]
        print(
            f"  twins unmarked {lang}->{other}:    Savoir {cross / ref:6.1%}   baseline {base / ref:6.1%}"
            f"   (of mono ref {ref:.3f})"
        )
    if show_misses:
        print(f"\n[{half}] one-language-only misses (first 60):")
        for label, query, top in misses[:60]:
            print(f"  {label}: {query!r} -> {top}")
    for index in (mono, one, unmarked):
        index.close()
    return means


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--half", choices=("dev", "test", "both"), default="dev")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N pairs of each half")
    parser.add_argument("--show-misses", action="store_true")
    parser.add_argument("--cells", default="mono,one,unmarked", help="which cells to judge (comma-separated)")
    parser.add_argument("--no-pairing", action="store_true", help="do not pair the unmarked twins")
    parser.add_argument("--pairing-only", action="store_true", help="only the twin pairing report")
    parser.add_argument("--savoir-only", action="store_true", help="skip the baselines (faster tuning runs)")
    parser.add_argument(
        "--no-learned", action="store_true", help="do not learn translations from the development half's twins"
    )
    args = parser.parse_args()
    everything = corpus.pairs()
    halves = {"dev": [p for p in everything if corpus.half(p.id) == "dev"]}
    halves["test"] = [p for p in everything if corpus.half(p.id) == "test"]
    wanted = ("dev", "test") if args.half == "both" else (args.half,)
    work = Path(tempfile.mkdtemp(prefix="savoir-debian-"))
    try:
        from indexer.glossary import load_glossary

        glossary = load_glossary()
        learned = None
        if not args.no_learned:
            started = time.perf_counter()
            dev = Bench(work / "learn", halves["dev"], glossary)
            learned = learn_from_store(dev.store)
            dev.store.close()
            print(
                f"learned {len(learned)} translations from the {learned.twins} development twins"
                f" ({learned.units} aligned units) in {time.perf_counter() - started:.0f} s"
            )
        for half in wanted:
            pairs = halves[half][: args.limit] if args.limit else halves[half]
            pairing_report(half, pairs, learned)
            if args.pairing_only:
                continue
            bench = Bench(work / half, pairs, glossary)
            bench.learned = learned
            bench.pair_unmarked = not args.no_pairing
            evaluate(half, pairs, bench, args.show_misses, set(args.cells.split(",")), args.savoir_only)
            bench.store.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
