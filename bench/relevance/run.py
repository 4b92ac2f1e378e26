"""Relevance benchmark: bilingual search quality on the demo intranet.

    .venv/bin/python bench/relevance/run.py [--show-misses]

Crawls the demo intranet (demo/) into a temporary store, then judges the queries in
bench/relevance/queries.tsv. EN/FR twins count as one result. Reports MRR@10,
nDCG@10 and Recall@20:
  * on the whole collection, per query language, for Savoir and for a plain
    same-language baseline (query-language fields only, no glossary);
  * per query language x document language on the 64 twin queries: each twin pair is
    kept in one language only (an "EN side" index without the French twins and an
    "FR side" index without the English ones), so an English query on the FR side
    can only succeed across languages. The cross/monolingual ratio is printed.
"""

from __future__ import annotations

import argparse
import math
import shutil
import socket
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from config.loader import build_settings  # noqa: E402
from crawler.runner import Savoir  # noqa: E402
from indexer.index import SearchIndex  # noqa: E402
from indexer.search import Searcher, SearchRequest  # noqa: E402
from webui.demo import demo_sources, start_site  # noqa: E402

QUERIES = Path(__file__).resolve().parent / "queries.tsv"


@dataclass
class Query:
    qid: str
    language: str
    text: str
    relevant: list[str]


def load_queries() -> list[Query]:
    out = []
    for line in QUERIES.read_text("utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        qid, lang, text, relevant = line.split("\t")
        out.append(Query(qid, lang, text, [r.strip() for r in relevant.split(",") if r.strip()]))
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def short(doc_id: str) -> str:
    doc_id = doc_id[:-5] if doc_id.endswith(".html") else doc_id
    return doc_id


def metrics(ranked_groups: list[str], relevant: set[str]) -> tuple[float, float, float]:
    rr = 0.0
    for rank, group in enumerate(ranked_groups[:10], start=1):
        if group in relevant:
            rr = 1.0 / rank
            break
    dcg = sum(
        1.0 / math.log2(rank + 1) for rank, g in enumerate(ranked_groups[:10], start=1) if g in relevant
    )
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(relevant), 10) + 1))
    recall = len(set(ranked_groups[:20]) & relevant) / len(relevant) if relevant else 0.0
    return rr, (dcg / ideal if ideal else 0.0), recall


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--show-misses", action="store_true", help="list queries with no relevant hit in the top 10"
    )
    parser.add_argument("--compare", action="store_true", help="list queries where the baseline does better")
    parser.add_argument(
        "--cross-detail", action="store_true", help="print each twin query's reciprocal rank across languages"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="savoir-relevance-"))
    try:
        server, base = start_site(free_port())
        settings = build_settings(
            {"store": {"data_dir": str(work / "data")}, "http": {"min_delay": 0.0}}, env={}
        )
        savoir = Savoir(settings, demo_sources(base))
        savoir.crawl()
        server.shutdown()
        store = savoir.store
        docs = {d.id: d for d in store.iter_documents()}
        group = {i: (d.translation_of if d.translation_of in docs else i) for i, d in docs.items()}
        twinned = {i for i, d in docs.items() if d.translation_of in docs} | {
            d.translation_of for d in docs.values() if d.translation_of in docs
        }
        index_lang = {}
        full = savoir.open_index()
        with full.searcher() as s:
            for fields in s.all_stored_fields():
                index_lang[fields["id"]] = fields.get("lang")

        def resolve(suffix: str) -> str:
            found = [i for i in docs if short(i).endswith(suffix)]
            if len(found) != 1:
                raise SystemExit(f"judgment {suffix!r} matches {len(found)} documents")
            return found[0]

        queries = load_queries()
        judged = {q.qid: {group[resolve(r)] for r in q.relevant} for q in queries}

        sides = {}
        for side in ("en", "fr"):
            index = SearchIndex(work / f"index-{side}")
            index.rebuild(
                store, keep=lambda d, side=side: d.id not in twinned or index_lang.get(d.id) == side
            )
            sides[side] = index

        def run(searcher: Searcher, q: Query) -> list[str]:
            results = searcher.search(SearchRequest(q.text, page_size=20))
            return [group[h.id] for h in results.hits]

        def table(title: str, rows: list[tuple[str, list[tuple[float, float, float]]]]) -> dict[str, tuple]:
            print(f"\n{title}")
            print(f"{'':<34}{'queries':>8}{'MRR@10':>9}{'nDCG@10':>9}{'R@20':>8}")
            out = {}
            for name, values in rows:
                n = len(values) or 1
                mean = tuple(sum(v[i] for v in values) / n for i in range(3))
                out[name] = mean
                print(f"{name:<34}{len(values):>8}{mean[0]:>9.3f}{mean[1]:>9.3f}{mean[2]:>8.3f}")
            return out

        savoir_search = Searcher(full, store)
        baseline = Searcher(full, store, cross_language=False)
        misses = []
        rows = []
        for lang in ("en", "fr"):
            # the g* held-out set is reported on its own (below) and never tuned on
            subset = [q for q in queries if q.language == lang and not q.qid.startswith("g")]
            ours = []
            for q in subset:
                ranked = run(savoir_search, q)
                ours.append(metrics(ranked, judged[q.qid]))
                if ours[-1][0] == 0:
                    misses.append((q, ranked[:3]))
            rows.append((f"Savoir, {lang} queries", ours))
            rows.append(
                (f"baseline, {lang} queries", [metrics(run(baseline, q), judged[q.qid]) for q in subset])
            )
        table("Whole collection (all judged queries)", rows)

        twin_queries = [q for q in queries if q.qid.startswith("t")]
        held_out = [q for q in queries if q.qid.startswith("h")]
        unseen = [q for q in queries if q.qid.startswith("g")]
        cells = []
        for qlang in ("en", "fr"):
            for side in ("en", "fr"):
                searcher = Searcher(sides[side], store)
                values = [
                    metrics(run(searcher, q), judged[q.qid]) for q in twin_queries if q.language == qlang
                ]
                kind = "mono" if qlang == side else "cross"
                cells.append((f"{qlang} query -> {side} docs ({kind})", values))
        for qlang in ("en", "fr"):
            searcher = Searcher(sides[qlang], store, cross_language=False)
            values = [metrics(run(searcher, q), judged[q.qid]) for q in twin_queries if q.language == qlang]
            cells.append((f"{qlang} query -> {qlang} docs (baseline)", values))
        means = table("Twin queries, query language x document language", cells)
        for title, paraphrases in (
            ("Paraphrase queries, development set (h*: misses studied in session 2)", held_out),
            ("Paraphrase queries, held-out set (g*: never used for tuning)", unseen),
        ):
            held = []
            for qlang in ("en", "fr"):
                for side in ("en", "fr"):
                    searcher = Searcher(sides[side], store)
                    values = [
                        metrics(run(searcher, q), judged[q.qid]) for q in paraphrases if q.language == qlang
                    ]
                    held.append(
                        (f"{qlang} query -> {side} docs ({'mono' if qlang == side else 'cross'})", values)
                    )
            held_means = table(title, held)
            m = (
                held_means["en query -> en docs (mono)"][0] + held_means["fr query -> fr docs (mono)"][0]
            ) / 2
            c = (
                held_means["en query -> fr docs (cross)"][0] + held_means["fr query -> en docs (cross)"][0]
            ) / 2
            print(f"  cross / mono MRR@10: {c:.3f} / {m:.3f}" + (f" = {c / m:.1%}" if m else ""))
        mono = [means["en query -> en docs (mono)"], means["fr query -> fr docs (mono)"]]
        cross = [means["en query -> fr docs (cross)"], means["fr query -> en docs (cross)"]]
        print("\ncross-language / monolingual:")
        for i, name in enumerate(("MRR@10", "nDCG@10", "R@20")):
            m = sum(v[i] for v in mono) / 2
            c = sum(v[i] for v in cross) / 2
            print(f"  {name:<8} {c:.3f} / {m:.3f} = {c / m:.1%}" if m else f"  {name}: n/a")
        if args.compare:
            print("\nqueries where Savoir ranks below the same-language baseline (own side):")
            for q in twin_queries + held_out:
                ours = metrics(run(Searcher(sides[q.language], store), q), judged[q.qid])
                base = metrics(
                    run(Searcher(sides[q.language], store, cross_language=False), q), judged[q.qid]
                )
                if ours[0] < base[0]:
                    print(f"  {q.qid} {q.text!r}: MRR {ours[0]:.2f} vs baseline {base[0]:.2f}")
        if args.cross_detail:
            print("\ncross-language reciprocal rank per twin query (other side):")
            for q in twin_queries:
                other = "fr" if q.language == "en" else "en"
                rr = metrics(run(Searcher(sides[other], store), q), judged[q.qid])[0]
                print(f"  {q.qid} {rr:.3f} {q.text!r}")
        if args.show_misses:
            print("\nqueries with no relevant document in the top 10:")
            for q, top in misses:
                print(f"  {q.qid} [{q.language}] {q.text!r}: top = {[short(t)[-50:] for t in top]}")
        savoir.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
