"""Who knows about this, on real wikis: real pages, ten years of edits, the product's crawl.

    .venv/bin/python bench/experts/realwiki.py [--half dev|test|both] [--variants model2,votes]
        [--show-misses] [--workdir DIR] [--seed 7] [--set KEY=VALUE ...]

Needs Debian's ``mediawiki php-cli php-sqlite3 sqlite3 dokuwiki php-xml`` and the corpus
packages ``manpages manpages-dev manpages-fr manpages-fr-dev debian-faq debian-faq-fr``.

**Corpus.** Real bilingual public documents nobody at Savoir wrote: Debian's manual
pages present in English and French, and the Debian FAQ's sections
(``bench/relevance/debian_corpus.py``). Pages are grouped into topics: a man-page family
(``pthread_attr_*``, ``sched_*``, ``dpkg-*``, ``epoll*``...) or a FAQ chapter, 2-6 EN/FR
pairs each; 30 topics live in a private MediaWiki (run by agency ``ssc``) and 30 others
in a private DokuWiki (run by ``cra``), about 250 content pages each plus talk and user
pages. Both wikis are Debian's packages on loopback, started as the tests start them
(``tests/servers/mediawiki.py``, ``tests/servers/dokuwiki.py``).

**History** (``realwiki_history.py``, seeded, deterministic; dates 2016-2026 before a
fixed ``NOW`` that the finder is given): per topic one or two owners who create most
pages and come back with substantive edits over years, often of two agencies; moved-on
founders (left the topic 6-9 years ago; a successor owns it now); owners idle for 3-5
years; translators who write French versions; occasional editors (typo fixes, a
paragraph); commenters who only post on talk pages; ``LinkFixBot``; on MediaWiki a
human-named account that is only in the ``bot`` group; an admin per wiki sweeping
categories / a footer over most pages; vandals (anonymous, a throwaway account) and a
patroller who only reverts them. People belong to five agencies with email domains
(``settings.people.agency_domains`` maps them); MediaWiki names are full names or
logins ("Abernier"), DokuWiki's are logins ("amelie.bernier"); full names and emails are
in user pages (first heading, ``Email:`` line), MediaWiki talk signatures and DokuWiki
signatures (``--- //[[email|Full Name]] date//``, a third of people). MediaWiki gets its
history as an XML export through ``importDump.php``; DokuWiki's is written in its own
storage format (page, ``attic/`` revisions, ``meta/*.changes``), as a wiki migrated
from elsewhere has it, because its API can only save edits at the present time.

**Crawl and questions.** Both wikis go through ``Savoir.crawl()`` with their real
connectors (MediaWiki: the Main and Talk namespaces; DokuWiki: every page), then
``refresh_people(force=True)``; every judged query of the chosen half (the EN and FR
NAME description or FAQ heading of each content page) is asked through
``ExpertFinder.suggest(request, now=NOW, variant=...)`` as a ``public`` user.

**Judgments.** A topic's current owners are grade 2, its moved-on former owners grade 1,
everyone else 0; bots, the bot-group account, mass editors, the patroller, commenters
and vandals are traps. Shown people are mapped back to humans through the store's raw
identities (email, then the wiki user name, then the full name); a human shown twice is a
duplicate and earns nothing the second time.

**Split.** Topics fall in ``dev`` or ``test`` by the SHA-1 of their id, the same number
of each per wiki; ``realwiki_split.tsv`` holds the split, and the bench refuses to run if
the corpus or the code would change it. Tune on dev only.

**Metrics** per half and variant (``model2``: the settings as they are; ``votes``: the
count of supporting documents): MRR and P@1 of the first true expert, recall@5 (share of
the topic's true experts in the top 5), empty panels (queries whose top 10 hits include
a page created by a non-trap human, yet no one is shown), queries with a trap in the top
5, queries with a duplicate, the share of queries whose top 5 spans two displayed
agencies among those whose true experts are of two agencies, the share of shown people
displayed by login rather than full name, the share whose displayed agency is their own,
and the p95 time of ``suggest`` (search included) beside the search's own p95. The
starred columns count only the shown people whose wikis give the fact at all: a full
name (a user name that is one, a user page, a signature showing it) for ``login*``, an
email (a user page, a DokuWiki signature) for ``agency*``.
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import realwiki_history as history  # noqa: E402
from sqlalchemy import select  # noqa: E402

from config.loader import SourceConfig, build_settings  # noqa: E402
from crawler.runner import Savoir  # noqa: E402
from indexer.experts import ExpertFinder  # noqa: E402
from indexer.search import Searcher, SearchRequest  # noqa: E402
from indexer.store import documents, people  # noqa: E402
from tests.servers import free_port  # noqa: E402
from tests.servers.dokuwiki import DokuWiki, php_hashes  # noqa: E402
from tests.servers.mediawiki import MediaWiki  # noqa: E402

SPLIT_FILE = Path(__file__).resolve().parent / "realwiki_split.tsv"
SOURCES = {"mw": "mwiki", "dw": "dwiki"}
#: Main and Talk (signatures); the connector reads user pages itself, so User stays out of the index
MW_NAMESPACES = ["0", "1"]
DW_CRAWLER = ("savoirbot", "bot-pass-1")
VARIANTS = ("model2", "votes")


def fold(text: str) -> str:
    return " ".join(history.fold(text).replace("_", " ").split())


# -- loading the wikis ------------------------------------------------------------------


def mw_timestamp(when) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def mw_title(page: history.Page) -> str:
    return page.key


def write_mw_dump(pages: list[history.Page], path: Path) -> None:
    ns_number = {"content": 0, "talk": 1, "user": 2}
    out = ['<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.11/" version="0.11" xml:lang="en">']
    for page in pages:
        out.append(f"<page><title>{escape(mw_title(page))}</title><ns>{ns_number[page.ns]}</ns>")
        for rev in page.revisions:
            who = f"<username>{escape(rev.user.mw)}</username>" if rev.user else f"<ip>{escape(rev.ip)}</ip>"
            out.append(
                f"<revision><timestamp>{mw_timestamp(rev.time)}</timestamp><contributor>{who}</contributor>"
                f"{'<minor/>' if rev.minor else ''}<comment>{escape(rev.summary)}</comment>"
                "<model>wikitext</model><format>text/x-wiki</format>"
                f'<text xml:space="preserve">{escape(rev.text)}</text></revision>'
            )
        out.append("</page>")
    out.append("</mediawiki>")
    path.write_text("\n".join(out), encoding="utf-8")


def load_mediawiki(world: history.World, work: Path) -> MediaWiki:
    wiki = MediaWiki()
    try:
        wiki.install()
        users = {rev.user.hid: rev.user for p in world.pages["mw"] for rev in p.revisions if rev.user}
        for h in sorted(users.values(), key=lambda h: h.mw):
            flags = (
                ["--bot"]
                if h.kind == "hidden-bot"
                else ["--sysop"]
                if h.kind in ("mass", "patroller")
                else []
            )
            wiki.php("createAndPromote.php", *flags, h.mw, f"bench-pass-{h.hid}-12345")
        dump = work / "mediawiki.xml"
        write_mw_dump(world.pages["mw"], dump)
        wiki.load(dump)
        wiki.serve()
    except BaseException:
        wiki.stop()
        raise
    return wiki


def load_dokuwiki(world: history.World) -> DokuWiki:
    """Start a DokuWiki and give it the history in its own storage format."""
    wiki = DokuWiki(free_port(), recent=20)
    wiki.start()
    try:
        data = wiki.data
        global_log = []
        for page in world.pages["dw"]:
            path = page.key.replace(":", "/")
            attic = data / "attic" / (path + ".x")
            attic.parent.mkdir(parents=True, exist_ok=True)
            (data / "meta" / path).parent.mkdir(parents=True, exist_ok=True)
            lines, before, stamps = [], 0, []
            for n, rev in enumerate(page.revisions):
                stamp = int(rev.time.timestamp())
                stamps.append(stamp)
                body = rev.text.encode("utf-8")
                with gzip.open(data / "attic" / f"{path}.{stamp}.txt.gz", "wb") as out:
                    out.write(body)
                kind = "C" if n == 0 else "R" if rev.kind == "revert" else "e" if rev.minor else "E"
                extra = str(stamps[rev.reverts_to]) if rev.reverts_to is not None else ""
                user = rev.user.dw if rev.user else ""
                ip = rev.ip or "127.0.0.1"
                summary = rev.summary.replace("\t", " ").replace("\n", " ")
                line = (
                    f"{stamp}\t{ip}\t{kind}\t{page.key}\t{user}\t{summary}\t{extra}\t{len(body) - before}\n"
                )
                lines.append(line)
                global_log.append((stamp, line))
                before = len(body)
            (data / "meta" / f"{path}.changes").write_text("".join(lines), encoding="utf-8")
            current = data / "pages" / f"{path}.txt"
            current.parent.mkdir(parents=True, exist_ok=True)
            current.write_text(page.revisions[-1].text, encoding="utf-8")
            os.utime(current, (stamps[-1], stamps[-1]))
        global_log.sort()
        (data / "meta" / "_dokuwiki.changes").write_text("".join(line for _, line in global_log), "utf-8")
        # the people's accounts, as the wiki's plain auth keeps them (the crawler cannot read this)
        humans = sorted(
            {rev.user.dw: rev.user for p in world.pages["dw"] for rev in p.revisions if rev.user}.values(),
            key=lambda h: h.dw,
        )
        (hashed,) = php_hashes(["bench-pass-unused-1"])
        with (wiki.conf / "users.auth.php").open("a", encoding="utf-8") as out:
            for h in humans:
                out.write(f"{h.dw}:{hashed}:{h.name}:{h.email or h.dw + '@wiki.invalid'}:user\n")
    except BaseException:
        wiki.stop()
        raise
    return wiki


# -- evaluation ------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] if ordered else 0.0


class Identities:
    """The human behind each resolved person, from the store's raw identities and the roster."""

    def __init__(self, store, world: history.World) -> None:
        humans = world.humans.values()
        by_email = {h.email.lower(): h.hid for h in humans if h.email}
        by_login = {
            SOURCES["mw"]: {fold(h.mw): h.hid for h in humans},
            SOURCES["dw"]: {fold(h.dw): h.hid for h in humans},
        }
        by_name = {fold(h.name): h.hid for h in humans}
        self.humans_of: dict[int, set[str]] = defaultdict(set)
        self.persons_of: dict[str, set[int]] = defaultdict(set)
        self.unmapped: list[str] = []
        with store.engine.connect() as conn:
            for r in conn.execute(select(people)):
                hid = (
                    by_email.get((r.email or "").lower())
                    or by_login.get(r.source_id, {}).get(fold(r.username or ""))
                    or by_name.get(fold(r.name or ""))
                    or by_login[SOURCES["mw"]].get(fold(r.name or ""))
                    or by_login[SOURCES["dw"]].get(fold(r.name or ""))
                )
                if hid is None:
                    self.unmapped.append(r.key)
                    continue
                if r.person_id is not None:
                    self.humans_of[r.person_id].add(hid)
                    self.persons_of[hid].add(r.person_id)

    def who(self, person_id: int) -> list[str]:
        return sorted(self.humans_of.get(person_id, ()))


def page_of_document(store, world: history.World) -> dict[str, history.Page]:
    """Store document id -> the history's page (MediaWiki by title, DokuWiki by page id)."""
    mw = {fold(p.key): p for p in world.pages["mw"]}
    dw = {f"{SOURCES['dw']}:{p.key}": p for p in world.pages["dw"]}
    out = {}
    with store.engine.connect() as conn:
        for r in conn.execute(select(documents.c.id, documents.c.title, documents.c.source_id)):
            if r.source_id == SOURCES["mw"]:
                page = mw.get(fold(r.title))
            else:
                page = dw.get(r.id)
            if page is not None:
                out[r.id] = page
    return out


def signals(world: history.World) -> tuple[set[str], set[str]]:
    """Humans whose wikis show their full name somewhere, and those whose wikis show their email."""
    named, emailed = set(), set()
    for wiki, pages in world.pages.items():
        for page in pages:
            for rev in page.revisions:
                h = rev.user
                if h is None:
                    continue
                if page.ns == "user":
                    named.add(h.hid)
                    emailed.add(h.hid)
                elif wiki == "mw" and h.mw == h.name:
                    named.add(h.hid)
                elif page.ns == "talk" and wiki == "mw" and h.full_signature:
                    named.add(h.hid)
                elif page.ns == "talk" and wiki == "dw" and h.signs_dw:
                    named.add(h.hid)
                    emailed.add(h.hid)
    return named, emailed


def evaluate(world, savoir, settings, halves, variants, show_misses) -> list[tuple]:
    store = savoir.store
    named, emailed = signals(world)
    ids = Identities(store, world)
    pages = page_of_document(store, world)
    humans = world.humans
    searcher = Searcher(savoir.open_index(), store)
    finder = ExpertFinder(searcher, store, settings.experts)
    for q in world.queries[:5]:  # warm up: the first searches load the index's files
        finder.suggest(SearchRequest(q.text, groups=("public",)), now=history.NOW)
    rows = []
    trap_rows = []
    #: what the search gives the experts to work with, per half
    ceiling: dict[str, Counter] = defaultdict(Counter)
    for half in halves:
        queries = [q for q in world.queries if q.topic.half == half]
        # what the search shows, once per query: do the top 10 hits have an eligible human author?
        eligible, search_ms = {}, []
        for q in queries:
            t0 = time.perf_counter()
            result = searcher.search(SearchRequest(q.text, groups=("public",)))
            search_ms.append((time.perf_counter() - t0) * 1000)
            creators = [pages[d].creator for d, _ in result.ranked[:10] if d in pages]
            eligible[q.qid] = any(c is not None and not c.trap for c in creators)
            true = {h for h, g in q.topic.grades().items() if g > 0}
            own_rank = next(
                (
                    r
                    for r, (d, _) in enumerate(result.ranked[:10], 1)
                    if d in pages and pages[d].key == q.page
                ),
                None,
            )
            ceiling[half]["own page first"] += own_rank == 1
            ceiling[half]["own page in top 10"] += own_rank is not None
            ceiling[half]["top hit by a true expert"] += (
                bool(creators) and creators[0] is not None and creators[0].hid in true
            )
            ceiling[half]["a true expert created a top-10 hit"] += any(
                c is not None and c.hid in true for c in creators
            )
            ceiling[half]["queries"] += 1
        for variant in variants:
            rr, p1, recall, took = [], [], [], []
            empty = traps = dups = 0
            spans = spans_possible = 0
            shown = login_named = agency_right = unmapped = 0
            shown_named = login_named_signal = shown_emailed = agency_right_signal = 0
            trap_kinds: Counter = Counter()
            misses = []
            for q in queries:
                t0 = time.perf_counter()
                experts = finder.suggest(
                    SearchRequest(q.text, groups=("public",)), now=history.NOW, variant=variant
                )
                took.append((time.perf_counter() - t0) * 1000)
                top = experts[:5]
                grades = q.topic.grades()
                credited: set[str] = set()
                first = None
                members = []
                for rank, e in enumerate(top, start=1):
                    who = ids.who(e.person_id)
                    members += who
                    fresh = [h for h in who if h not in credited]
                    credited.update(who)
                    if first is None and any(grades.get(h, 0) > 0 for h in fresh):
                        first = rank
                    if len(who) != 1:
                        unmapped += not who
                        continue
                    h = humans[who[0]]
                    shown += 1
                    login_named += fold(e.name) != fold(h.name)
                    agency_right += e.agency == h.agency
                    if h.hid in named:
                        shown_named += 1
                        login_named_signal += fold(e.name) != fold(h.name)
                    if h.hid in emailed:
                        shown_emailed += 1
                        agency_right_signal += e.agency == h.agency
                rr.append(1 / first if first else 0.0)
                p1.append(1.0 if first == 1 else 0.0)
                true = [h for h, g in grades.items() if g > 0]
                recall.append(sum(h in credited for h in true) / len(true))
                if eligible[q.qid] and not experts:
                    empty += 1
                in_top = {humans[h].kind for h in members if humans[h].trap}
                trap_kinds.update(in_top)
                traps += bool(in_top)
                dups += len(members) != len(set(members))
                if len({humans[h].agency for h in true}) >= 2:
                    spans_possible += 1
                    spans += len({e.agency for e in top}) >= 2
                if show_misses and variant == variants[0] and (first != 1 or in_top or recall[-1] < 1):
                    misses.append((q, top, first))
            n = len(queries)
            n_eligible = sum(eligible.values())
            rows.append(
                (
                    half,
                    variant,
                    n,
                    statistics.mean(rr),
                    statistics.mean(p1),
                    statistics.mean(recall),
                    f"{empty}/{n_eligible}",
                    empty / n_eligible if n_eligible else 0.0,
                    traps,
                    dups,
                    f"{spans}/{spans_possible}",
                    login_named / shown if shown else 0.0,
                    login_named_signal / shown_named if shown_named else 0.0,
                    agency_right / shown if shown else 0.0,
                    agency_right_signal / shown_emailed if shown_emailed else 0.0,
                    percentile(took, 95),
                    percentile(search_ms, 95),
                    unmapped,
                )
            )
            trap_rows.append((half, variant, n, trap_kinds))
            if misses:
                print(
                    f"\n[{half}] {variants[0]}: queries with the first expert below rank 1, a trap or recall < 1:"
                )
                for q, top, _first in misses:
                    truth = ", ".join(
                        f"{humans[h].name}={g} ({humans[h].agency})"
                        for h, g in sorted(q.topic.grades().items())
                    )
                    print(f"  {q.qid} [{q.lang}] {q.text!r}  topic {q.topic.id} ({q.topic.wiki})")
                    print(f"      truth: {truth}")
                    if not top:
                        print(
                            "      (panel empty)"
                            + ("" if eligible[q.qid] else "  (no eligible author in the top 10)")
                        )
                    for e in top:
                        who = ids.who(e.person_id)
                        label = (
                            "+".join(f"{humans[h].name} [{humans[h].kind}, {humans[h].agency}]" for h in who)
                            or "?"
                        )
                        grade = max((q.topic.grades().get(h, 0) for h in who), default=0)
                        print(
                            f"      {e.score:.5f} g={grade} shown as {e.name!r} ({e.agency}): {label}, {len(e.evidence)} docs"
                        )
    print("\nwhat the search gives the experts (Savoir's search, uncollapsed ranked documents):")
    for half, counts in ceiling.items():
        n = counts.pop("queries")
        print(f"  {half}: " + "; ".join(f"{k} {v / n:.1%}" for k, v in counts.items()))
    return rows, trap_rows, ids


def print_tables(rows, trap_rows) -> None:
    print()
    head = (
        f"{'half':<5}{'variant':<8}{'queries':>8}{'MRR':>7}{'P@1':>7}{'R@5':>7}{'empty':>10}{'empty%':>8}"
        f"{'trap@5':>7}{'dup@5':>6}{'2 agencies':>11}{'login':>7}{'login*':>7}{'agency':>7}{'agency*':>8}"
        f"{'p95 ms':>7}{'search':>7}"
    )
    print(head)
    for r in rows:
        (
            half,
            variant,
            n,
            mrr,
            p1,
            r5,
            empty,
            empty_share,
            traps,
            dups,
            spans,
            login,
            login_s,
            agency,
            agency_s,
            p95,
            s95,
            _,
        ) = r
        print(
            f"{half:<5}{variant:<8}{n:>8}{mrr:>7.3f}{p1:>7.3f}{r5:>7.3f}{empty:>10}{empty_share:>8.1%}"
            f"{traps:>7}{dups:>6}{spans:>11}{login:>7.1%}{login_s:>7.1%}{agency:>7.1%}{agency_s:>8.1%}"
            f"{p95:>7.0f}{s95:>7.0f}"
        )
    print(
        "  empty: panels with nobody / queries whose top 10 hits have a page created by a non-trap human;"
        " trap@5, dup@5: queries with any; 2 agencies: top 5s spanning two displayed agencies / queries"
        " whose true experts are of two agencies; login: shown people displayed by a login, not their full"
        " name; agency: shown people whose displayed agency is theirs; *: of those whose wikis show their"
        " full name / email at all; p95 ms: suggest (search included);"
        " search: the search alone"
    )
    print("\nqueries with each kind of trap in the top 5:")
    kinds = history.TRAP_KINDS
    print(f"{'half':<5}{'variant':<8}" + "".join(f"{k:>12}" for k in kinds))
    for half, variant, _n, counts in trap_rows:
        print(f"{half:<5}{variant:<8}" + "".join(f"{counts[k]:>12}" for k in kinds))
    unmapped = sum(r[-1] for r in rows)
    if unmapped:
        print(f"  shown people mapped to no human of the roster: {unmapped}")


def identity_report(ids: Identities, world: history.World) -> None:
    humans = world.humans
    _, emailed = signals(world)
    split = {h: p for h, p in ids.persons_of.items() if len(p) > 1 and humans[h].kind != "vandal"}
    merged = {p: hs for p, hs in ids.humans_of.items() if len(hs) > 1}
    print("\nidentity:")
    print(
        f"  humans with a raw identity: {len(ids.persons_of)}; seen as more than one person: {len(split)}"
        + (
            f" ({', '.join(f'{humans[h].name} x{len(p)}' + ('' if h in emailed else ' (no email anywhere)') for h, p in sorted(split.items()))})"
            if split
            else ""
        )
    )
    print(
        f"  persons holding two humans (false merges): {len(merged)}"
        + (
            f" ({'; '.join(' + '.join(humans[h].name for h in sorted(hs)) for hs in merged.values())})"
            if merged
            else ""
        )
    )
    if ids.unmapped:
        print(f"  raw identities of no roster human: {len(ids.unmapped)} ({', '.join(ids.unmapped[:8])})")


# -- main --------------------------------------------------------------------------------


def check_split(world: history.World) -> None:
    table = history.split_table(world.topics)
    if not SPLIT_FILE.exists():
        SPLIT_FILE.write_text(
            "# topic\twiki\thalf\tpairs (fixed before any tuning; see realwiki.py)\n" + table, "utf-8"
        )
        print(f"wrote the split to {SPLIT_FILE}")
        return
    fixed = "".join(
        line for line in SPLIT_FILE.read_text("utf-8").splitlines(keepends=True) if not line.startswith("#")
    )
    if fixed != table:
        raise SystemExit(
            f"the topics or their split differ from {SPLIT_FILE}: the corpus or realwiki_history.py changed;"
            " the test half must stay the one nobody tuned on"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--half", choices=("dev", "test", "both"), default="dev")
    parser.add_argument("--variants", default="model2,votes", help="comma-separated: " + ", ".join(VARIANTS))
    parser.add_argument("--show-misses", action="store_true")
    parser.add_argument("--workdir", help="keep the store here (default: a temporary folder, removed)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="with --workdir: keep the store a previous run crawled there and only ask the queries "
        "(for tuning [experts] settings; connector or identity changes need a fresh crawl)",
    )
    parser.add_argument(
        "--reindex",
        action="store_true",
        help="with --reuse: first rebuild the index, the learned translations and the twins "
        "from the stored crawl (after a change to indexing or pairing)",
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override an [experts] setting"
    )
    args = parser.parse_args()
    overrides = dict(item.split("=", 1) for item in args.set)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    halves = ["dev", "test"] if args.half == "both" else [args.half]

    started = time.perf_counter()
    world = history.build(args.seed)
    check_split(world)
    counts = {w: Counter(p.ns for p in pages) for w, pages in world.pages.items()}
    revisions = {w: sum(len(p.revisions) for p in pages) for w, pages in world.pages.items()}
    print(
        f"world: {len(world.topics)} topics, {len(world.queries)} queries;"
        + "".join(f" {w}: {dict(counts[w])} pages, {revisions[w]} revisions;" for w in world.pages)
        + f" built in {time.perf_counter() - started:.0f} s"
    )
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="savoir-realwiki-"))
    reuse = bool(args.reuse and args.workdir and (work / "data").exists())
    if args.workdir and work.exists() and not reuse:
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    mw = dw = savoir = None
    try:
        t0 = time.perf_counter()
        if reuse:
            mw = dw = None
            endpoints = {"api": "http://127.0.0.1:9/api.php", "base": "http://127.0.0.1:9"}
        else:
            mw = load_mediawiki(world, work)
            dw = load_dokuwiki(world)
            endpoints = {"api": mw.api, "base": dw.base}
            print(f"wikis loaded in {time.perf_counter() - t0:.0f} s ({mw.api}, {dw.base})")
        settings = build_settings(
            {
                "store": {"data_dir": str(work / "data")},
                "people": {"file": str(work / "people.toml")},  # no directory: the wikis say who is who
                "http": {"min_delay": 0, "jitter": 0, "max_retries": 1},
                "experts": overrides,
            },
            env={},
            base_dir=work,
        )
        domains = {domain: agency for agency, (domain, _) in history.AGENCIES.items()}
        settings.people.agency_domains = domains
        sources = [
            SourceConfig(
                id=SOURCES["mw"],
                kind="mediawiki",
                agency=history.WIKI_AGENCY["mw"],
                name="SSC wiki",
                settings={"api_url": endpoints["api"], "namespaces": MW_NAMESPACES},
            ),
            SourceConfig(
                id=SOURCES["dw"],
                kind="dokuwiki",
                agency=history.WIKI_AGENCY["dw"],
                name="CRA wiki",
                settings={"url": endpoints["base"], "username": DW_CRAWLER[0], "password": DW_CRAWLER[1]},
            ),
        ]
        savoir = Savoir(settings, sources)
        t0 = time.perf_counter()
        reports = [] if reuse else savoir.crawl(full=True)
        if reuse and args.reindex:
            print(f"  reindexed {savoir.reindex()} documents from the stored crawl")
        for r in reports:
            print(f"  crawl: {r.summary()}")
        savoir.refresh_people(force=True)
        print(f"crawled and resolved people in {time.perf_counter() - t0:.0f} s")
        t0 = time.perf_counter()
        rows, trap_rows, ids = evaluate(world, savoir, settings, halves, variants, args.show_misses)
        print_tables(rows, trap_rows)
        identity_report(ids, world)
        print(
            f"\nqueries asked in {time.perf_counter() - t0:.0f} s; whole run {time.perf_counter() - started:.0f} s"
        )
    finally:
        if savoir is not None:
            savoir.close()
        for wiki in (mw, dw):
            if wiki is not None:
                wiki.stop()
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
