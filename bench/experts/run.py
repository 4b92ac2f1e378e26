"""Expert-finding benchmark: known experts and traps in a synthetic multi-agency collection.

    .venv/bin/python bench/experts/run.py [--seed 11] [--workdir DIR] [--show-misses]

Builds the collection of bench/experts/build.py through ``Savoir.crawl()`` (an in-memory
connector per source), resolves people (with a people.toml holding one cross-agency
alias), then asks ``ExpertFinder.suggest`` every judged query as a "public" user, for
Savoir's Model 2 and for the baselines ("votes", "no-roles", "no-decay"). Reports MRR,
P@5, nDCG@5 (primary expert 2, secondary 1), the share of queries with a trap account
in the top 5, duplicate people, distinct agencies in the top 5 and latency, then the
identity checks (persons rows per human, false merges, bot / mass-editor flags) and
the ACL checks (no restricted evidence, the investigator shown only to investigators).
"""

from __future__ import annotations

import argparse
import math
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from bench.experts.build import NOW, World, build  # noqa: E402
from config.loader import SourceConfig, build_settings  # noqa: E402
from connectors.base import Connector, register  # noqa: E402
from crawler.runner import Savoir  # noqa: E402
from indexer.experts import ExpertFinder  # noqa: E402
from indexer.search import Searcher, SearchRequest  # noqa: E402
from indexer.store import people, persons  # noqa: E402

VARIANTS = ("model2", "votes", "no-roles", "no-decay")
#: the traps the issue names (the target is none of them in any top 5), plus the restricted-only author
ISSUE_TRAPS = ("bot", "admin", "generalist", "stale", "commenter", "restricted")
WORLD: dict[str, World] = {}
OVERRIDES: dict[str, str] = {}


@dataclass
class _Settings:
    pass


@register("bench-experts")
class BenchExperts(Connector):
    """Yields the generated documents of one source."""

    Settings = _Settings
    document_kinds = ("page", "post", "file")

    def documents(self, checkpoint=None):
        yield from WORLD["world"].documents[self.source.id]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def ndcg(grades: list[int], judged: dict[str, int], k: int = 5) -> float:
    dcg = sum((2**g - 1) / math.log2(r + 1) for r, g in enumerate(grades[:k], start=1))
    ideal = sorted(judged.values(), reverse=True)[:k]
    idcg = sum((2**g - 1) / math.log2(r + 1) for r, g in enumerate(ideal, start=1))
    return dcg / idcg if idcg else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--workdir", help="keep the store here (default: a temporary folder, removed)")
    parser.add_argument("--show-misses", action="store_true", help="list Model 2's imperfect queries")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override an [experts] setting"
    )
    args = parser.parse_args()
    OVERRIDES.update(dict(item.split("=", 1) for item in args.set))

    world = build(args.seed)
    WORLD["world"] = world
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="savoir-experts-"))
    if args.workdir and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    try:
        run(world, work, args.show_misses)
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


def run(world: World, work: Path, show_misses: bool) -> None:
    (work / "people.toml").write_text(world.directory_toml, "utf-8")
    settings = build_settings(
        {
            "store": {"data_dir": str(work / "data")},
            "people": {"file": str(work / "people.toml")},
            "crawler": {"batch_size": 500},
            "experts": dict(OVERRIDES),
        },
        env={},
    )
    sources = [
        SourceConfig(id=sid, kind="bench-experts", agency=agency, name=sid) for sid, agency in world.sources
    ]
    savoir = Savoir(settings, sources)
    started = time.perf_counter()
    reports = savoir.crawl(full=True)
    savoir.refresh_people(force=True)
    index = savoir.open_index()
    store = savoir.store
    n_docs = sum(r.added for r in reports)
    humans = world.humans
    print(
        f"collection: {n_docs} documents in {len(sources)} sources of {len({a for _, a in world.sources})} agencies,"
        f" {len(humans)} people, {len(world.experts)} topics, {len(world.queries)} queries"
        f" (built in {time.perf_counter() - started:.1f} s)"
    )

    # -- identity: which resolved person each human became ----------------------------
    with store.engine.connect() as conn:
        person_of_key = {r.key: r.person_id for r in conn.execute(select(people.c.key, people.c.person_id))}
        person_rows = {r.id: r for r in conn.execute(select(persons))}
    humans_of: dict[int, set[str]] = defaultdict(set)
    persons_of: dict[str, set[int]] = defaultdict(set)
    for key, hid in world.identity.items():
        pid = person_of_key.get(key)
        if pid is not None:
            humans_of[pid].add(hid)
            persons_of[hid].add(pid)
    # the bot has no email and a username per wiki: its identities need not meet (it is filtered anyway)
    split = sorted(h for h, pids in persons_of.items() if len(pids) > 1 and humans[h].role != "bot")
    merged = sorted(p for p, hs in humans_of.items() if len(hs) > 1)
    flagged = {h for p, r in person_rows.items() if r.is_bot or r.mass_editor for h in humans_of[p]}
    expected_flags = {world.traps["bot"], world.traps["admin"]}
    wrong_agency = sorted(
        h
        for p, hs in humans_of.items()
        if len(hs) == 1
        for h in hs
        if person_rows[p].agency != humans[h].agency and humans[h].role != "bot"
    )

    def who(pid: int) -> str:
        hs = sorted(humans_of.get(pid, {"?"}))
        return "+".join(hs)

    # -- the queries --------------------------------------------------------------------
    searcher = Searcher(index, store)
    finder = ExpertFinder(searcher, store, settings.experts)
    for q in world.queries[:5]:  # warm up: the first searches load the index's files
        finder.suggest(SearchRequest(q.text, groups=("public",)), now=NOW)
    trap_of = {hid: name for name, hid in world.traps.items()}
    table = []
    per_trap: dict[str, Counter] = {}
    misses = []
    leaks: Counter = Counter()
    for variant in VARIANTS:
        rr, p5, nd, trap, dup, agencies, took = [], [], [], [], [], [], []
        trap_counts: Counter = Counter()
        moved_on_queries = 0
        for q in world.queries:
            t0 = time.perf_counter()
            experts = finder.suggest(SearchRequest(q.text, groups=("public",)), now=NOW, variant=variant)
            took.append((time.perf_counter() - t0) * 1000)
            top = experts[:5]
            ids = [who(e.person_id) for e in top]
            # a human shown twice earns nothing the second time
            grades, credited = [], set()
            for i in ids:
                fresh = [h for h in i.split("+") if h not in credited]
                grades.append(max((q.grades.get(h, 0) for h in fresh), default=0))
                credited.update(fresh)
            first = next((r for r, g in enumerate(grades, start=1) if g > 0), None)
            rr.append(1.0 / first if first else 0.0)
            p5.append(sum(1 for g in grades if g > 0) / 5)
            nd.append(ndcg(grades, q.grades))
            members = [h for i in ids for h in i.split("+")]
            dup.append(len(members) != len(set(members)))
            agencies.append(len({e.agency for e in top}))
            in_top = {trap_of[h] for h in members if h in trap_of}
            if q.topic != world.moved_on_topic:
                in_top.discard("moved-on")
            else:
                moved_on_queries += 1
            trap_counts.update(in_top)
            trap.append(bool(in_top & set(ISSUE_TRAPS)))
            leaks[variant] += sum(
                1 for e in experts for ev in e.evidence if ev.document_id in world.restricted
            )
            if variant == "model2" and (first != 1 or in_top or dup[-1]):
                misses.append((q, top, ids, grades))
        per_trap[variant] = trap_counts
        per_trap[variant]["_moved_on_queries"] = moved_on_queries
        n = len(world.queries)
        table.append(
            (
                variant,
                statistics.mean(rr),
                statistics.mean(p5),
                statistics.mean(nd),
                sum(trap) / n,
                sum(dup) / n,
                statistics.mean(agencies),
                percentile(took, 50),
                percentile(took, 95),
            )
        )

    print()
    header = f"{'system':<10}{'MRR':>7}{'P@5':>7}{'nDCG@5':>8}{'trap@5':>8}{'dup@5':>7}{'agencies@5':>12}"
    print(header + f"{'p50 ms':>9}{'p95 ms':>9}")
    for name, mrr, p5, nd, trap, dup, ag, p50, p95 in table:
        print(
            f"{name:<10}{mrr:>7.3f}{p5:>7.3f}{nd:>8.3f}{trap:>8.1%}{dup:>7.1%}{ag:>12.2f}{p50:>9.1f}{p95:>9.1f}"
        )
    print(
        "  trap@5: share of queries with a bot, mass editor, generalist, stale expert, commenter-only or"
        " restricted-only author in the top 5"
    )

    print("\nqueries with each trap in the top 5:")
    names = [*ISSUE_TRAPS, "moved-on"]
    print(f"{'system':<10}" + "".join(f"{t:>12}" for t in names))
    for variant in VARIANTS:
        counts = per_trap[variant]
        cells = [f"{counts[t]}/{len(world.queries)}" for t in ISSUE_TRAPS]
        cells.append(f"{counts['moved-on']}/{counts['_moved_on_queries']}")
        print(f"{variant:<10}" + "".join(f"{c:>12}" for c in cells))
    print(
        "  moved-on (not an issue trap): wrote most on one topic 5-7 years ago; counted on that topic's queries"
    )

    with_contribs = len([h for h in persons_of if humans[h].role != "bot"])
    print("\nidentity:")
    print(f"  persons rows: {len(person_rows)} for {with_contribs} humans with contributions")
    print(
        f"  duplicate-person rate: {len(split)}/{with_contribs} = {len(split) / with_contribs:.1%}"
        + (f"  ({', '.join(f'{humans[h].name} x{len(persons_of[h])}' for h in split)})" if split else "")
    )
    tremblay = next(h for h in humans.values() if h.name == "Geneviève Tremblay")
    okafor = next(h for h in humans.values() if h.name == "Sam Okafor")
    roys = [h for h in humans.values() if h.name == "Jean Roy"]
    print(
        f"  name variant (Tremblay, wiki + file share): {len(persons_of[tremblay.id])} person(s);"
        f" directory alias (S. Okafor, other agency): {len(persons_of[okafor.id])} person(s);"
        f" homonyms (Jean Roy x2, two agencies): {len({p for h in roys for p in persons_of[h.id]})} person(s)"
    )
    print(
        f"  false merges (two humans in one person): {len(merged)}"
        + (
            f"  ({'; '.join(', '.join(humans[h].name for h in humans_of[p]) for p in merged)})"
            if merged
            else ""
        )
    )
    print(
        f"  flagged bot / mass editor: {', '.join(sorted(humans[h].name for h in flagged)) or 'none'}"
        f"  (missed traps: {', '.join(humans[h].name for h in expected_flags - flagged) or 'none'};"
        f" humans wrongly flagged: {', '.join(humans[h].name for h in flagged - expected_flags) or 'none'})"
    )
    print(
        f"  persons whose agency is not their home agency: {len(wrong_agency)}"
        + (f"  ({', '.join(humans[h].name for h in wrong_agency)})" if wrong_agency else "")
    )

    # -- ACL -----------------------------------------------------------------------------
    investigator = world.traps["restricted"]
    fraud = [q for q in world.queries if q.topic == "fraud prevention"]
    shown = 0
    for q in fraud:
        experts = finder.suggest(SearchRequest(q.text, groups=("public", "investigators")), now=NOW)
        shown += any(investigator in who(e.person_id).split("+") for e in experts[:5])
    print("\nACL:")
    print(
        f"  restricted documents in public evidence: {sum(leaks.values())} (all systems);"
        f" investigator in an investigator's top 5 on fraud queries: {shown}/{len(fraud)}"
    )

    model2 = table[0]
    print("\ntargets (Model 2):")
    print(f"  MRR >= 0.9: {model2[1]:.3f} {'met' if model2[1] >= 0.9 else 'MISSED'}")
    print(
        f"  trap accounts in top 5 on 0% of queries: {model2[4]:.1%} {'met' if model2[4] == 0 else 'MISSED'}"
    )
    dup_ok = not split and model2[5] == 0
    print(
        f"  duplicate people 0%: {len(split) / with_contribs:.1%} of humans, {model2[5]:.1%} of top 5s"
        f" {'met' if dup_ok else 'MISSED'}"
    )

    if show_misses:
        print("\nModel 2 queries with the first expert below rank 1, a trap or a duplicate in the top 5:")
        for q, top, ids, grades in misses:
            print(f"  {q.qid} [{q.language}] {q.text!r} ({q.topic})")
            for e, i, g in zip(top, ids, grades, strict=True):
                label = "+".join(f"{humans[h].name} [{humans[h].role}]" for h in i.split("+") if h in humans)
                print(f"      {e.score:.5f}  g={g}  {label}  ({e.agency}, {len(e.evidence)} docs)")
            wanted = ", ".join(f"{humans[h].name}={g}" for h, g in q.grades.items())
            print(f"      judged: {wanted}")
    savoir.close()


if __name__ == "__main__":
    main()
