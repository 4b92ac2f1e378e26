"""Who knows about this: people behind the top hits of a query, with their evidence.

Balog's Model 2 (document-centric; CombSUM voting): the top N hits of the user's
query (same bilingual pipeline, same ACL) each weigh 1/(k + rank); each hit's
weight is shared among its contributors by association a(d, p), the sum over the
person's contributions of role weight x size factor x recency decay, capped. A
person's total is divided mildly by how prolific they are overall.

People are resolved here too (:func:`resolve_people`): the store keeps identities
as sources give them; this derives one person per human by email, then the admins'
directory, then the same normalised name within one agency (never across agencies
on name alone), and flags bots and mass editors.
"""

from __future__ import annotations

import json
import math
import re
from bisect import bisect_left
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from statistics import median

from sqlalchemy import Text, bindparam, delete, func, insert, select, type_coerce, union_all, update
from sqlalchemy import text as sql_text

from config.loader import ExpertSettings
from indexer.people import PeopleDirectory, normalise_name
from indexer.store import Store, contributions, documents, opt_outs, people, persons, profiles

#: "Bot" as a word of its own ("Cleanup Bot", "bot-42") or a CamelCase ending
#: ("MaintenanceBot"); never inside a name ("Talbot")
BOT_WORD = re.compile(r"(?:^|[\s_.\-])bot(?:$|[\s_.\-\d])", re.IGNORECASE)
BOT_SUFFIX = re.compile(r"[a-z0-9]Bot$")


def looks_like_bot(name: str | None) -> bool:
    return bool(name) and bool(BOT_WORD.search(name) or BOT_SUFFIX.search(name))


SECONDS_PER_YEAR = 365.25 * 86400
#: the PostgreSQL advisory lock held while the persons table is rewritten
PERSONS_LOCK = 0x5A564F4950


# -- identity -------------------------------------------------------------------


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[object, object] = {}

    def find(self, x):
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a, b) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb, key=str)] = min(ra, rb, key=str)


#: contribution rows read at a time while the people are resolved
TOUCHES_PER_READ = 5000


def resolve_people(
    store: Store,
    directory: PeopleDirectory,
    settings: ExpertSettings,
    opt_out: list[str] = (),
    agency_domains: dict[str, str] | None = None,
) -> int:
    """Recompute ``persons`` from raw identities; return how many people there are.

    What sources say about their accounts (``profiles``: signatures, user pages) gives
    a login its display name and email; *agency_domains* (email domain -> agency)
    gives a person their agency wherever they write.
    """
    with store.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(select(people))]
        known = {(p.source_id, p.username.casefold()): p for p in conn.execute(select(profiles))}
        stats = {
            r.person_id: r
            for r in conn.execute(
                select(
                    contributions.c.person_id,
                    func.count(func.distinct(contributions.c.document_id)).label("docs"),
                    func.max(contributions.c.time).label("last"),
                ).group_by(contributions.c.person_id)
            )
        }
        # the contributions to live pages, streamed in one pass (a million documents'
        # were held as rows, twice over: ~1 GB of the crawl's peak at 1M): where each raw
        # identity works, the languages it writes in, and the pages it touched per source
        # with their edit sizes (mass editors)
        worked_in: dict[int, Counter] = defaultdict(Counter)
        written_in: dict[int, Counter] = defaultdict(Counter)
        touched: dict[int, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        sizes: dict[int, list[int]] = defaultdict(list)
        touches = conn.execution_options(yield_per=TOUCHES_PER_READ).execute(
            select(
                contributions.c.person_id,
                documents.c.source_id,
                contributions.c.document_id,
                contributions.c.size,
                contributions.c.role,
                contributions.c.minor,
                documents.c.agency,
                documents.c.language,
            )
            .join(documents, documents.c.id == contributions.c.document_id)
            .where(documents.c.deleted.is_(False))
        )
        for t in touches:
            worked_in[t.person_id][t.agency] += 1
            if t.role in ("author", "editor") and not t.minor and t.language in ("en", "fr"):
                written_in[t.person_id][t.language] += 1
            touched[t.person_id][t.source_id].add(t.document_id)
            sizes[t.person_id].append(abs(t.size or 0))
        pages_per_source = dict(
            conn.execute(
                select(documents.c.source_id, func.count())
                .where(documents.c.deleted.is_(False))
                .group_by(documents.c.source_id)
            ).all()
        )
        self_opted = {r.person_id for r in conn.execute(select(opt_outs.c.person_id))}
    for r in rows:
        profile = known.get((r["source_id"], (r["username"] or "").casefold())) if r["username"] else None
        if profile is not None:
            if profile.name:
                r["name"], r["name_norm"] = profile.name, normalise_name(profile.name)
            if profile.email and not r["email"]:
                r["email"] = profile.email
    configured = {d.lower().lstrip("@."): a for d, a in (agency_domains or {}).items() if d and a}
    # where each raw identity actually works: an emailed identity is stored once for
    # all sources, with the agency of whichever source named it first
    for r in rows:
        if worked_in[r["id"]]:
            r["home"] = worked_in[r["id"]].most_common(1)[0][0]
            r["active_in"] = set(worked_in[r["id"]])
        else:
            r["home"], r["active_in"] = r["agency"], {r["agency"]}
    # an email domain belongs to the agency most of its addresses work in
    domain_votes: dict[str, Counter] = defaultdict(Counter)
    for r in rows:
        if r["email"] and "@" in r["email"]:
            domain_votes[r["email"].rsplit("@", 1)[1]][r["home"]] += 1
    domain_agency = {
        domain: votes.most_common(1)[0][0]
        for domain, votes in domain_votes.items()
        if votes.most_common(1)[0][1] > sum(votes.values()) / 2
    }
    uf = _UnionFind()
    by_id = {r["id"]: r for r in rows}
    for r in rows:
        uf.find(r["id"])
    by_email: dict[str, int] = {}
    for r in rows:
        if r["email"]:
            if r["email"] in by_email:
                uf.union(r["id"], by_email[r["email"]])
            else:
                by_email[r["email"]] = r["id"]
    entry_of: dict[int, dict] = {}
    for r in rows:
        entry = directory.find(r["name"], r["email"], r["username"], r["source_id"])
        if entry is not None:
            entry_of[r["id"]] = entry
            uf.union(r["id"], ("directory", entry.get("email") or normalise_name(entry["name"])))
    # The same name within one agency is one person, unless two different emails say
    # otherwise: a name-only identity joins the one emailed identity of that name that
    # works in its agency, and name-only identities of one agency join each other.
    emailed_by_name: dict[str, list[dict]] = defaultdict(list)
    nameless_groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for r in rows:
        if not r["name_norm"]:
            continue
        if r["email"]:
            emailed_by_name[r["name_norm"]].append(r)
        else:
            nameless_groups[(r["agency"], r["name_norm"])].append(r["id"])
    for (agency, norm), ids in nameless_groups.items():
        for other in ids[1:]:
            uf.union(ids[0], other)
        candidates = {c["email"]: c for c in emailed_by_name.get(norm, []) if agency in c["active_in"]}
        if len(candidates) > 1:  # namesakes both active here: the one who works here
            candidates = {e: c for e, c in candidates.items() if _home_agency(c, domain_agency) == agency}
        if len(candidates) == 1:
            uf.union(ids[0], next(iter(candidates.values()))["id"])
    clusters: dict[object, list[int]] = defaultdict(list)
    for r in rows:
        clusters[uf.find(r["id"])].append(r["id"])

    now = datetime.now(UTC)
    person_rows, links = [], []
    for members in clusters.values():
        pid = min(members)
        entries = [entry_of[m] for m in members if m in entry_of]
        entry = entries[0] if entries else None
        emailed = [by_id[m] for m in members if by_id[m]["email"]]
        names = Counter(by_id[m]["name"] for m in members)
        name = entry["name"] if entry else _display_name(members, by_id, emailed, names)
        if (entry or {}).get("agency"):
            agency, agency_from = entry["agency"], "directory"
        elif emailed and (found := _configured_agency(emailed, configured)):
            agency, agency_from = found, "email"
        else:
            agency = _home_agency(emailed[0], domain_agency) if emailed else by_id[pid]["home"]
            agency_from = "source"
        languages = Counter()
        for m in members:
            languages.update(written_in[m])
        total_written = sum(languages.values())
        wrote_in = [
            lang
            for lang, n in languages.most_common()
            if n >= 2 or (total_written and n / total_written >= 0.25)
        ]
        email = (entry or {}).get("email") or (emailed[0]["email"] if emailed else None)
        docs = sum(stats[m].docs for m in members if m in stats)
        last_times = [stats[m].last for m in members if m in stats and stats[m].last]
        last = max(last_times) if last_times else None
        is_bot = any(
            looks_like_bot(by_id[m]["name"]) or looks_like_bot(by_id[m]["username"]) for m in members
        )
        mass = False
        for m in members:
            for source_id, pages in touched[m].items():
                total = pages_per_source.get(source_id, 0)
                if (
                    total >= settings.mass_editor_min_pages
                    and len(pages) >= settings.mass_editor_share * total
                    and sizes[m]
                    and median(sizes[m]) < settings.mass_editor_edit_size
                ):
                    mass = True
        opted = (
            pid in self_opted
            or any(m in self_opted for m in members)
            or any(directory.opted_out(by_id[m]["name"], by_id[m]["email"]) for m in members)
            or any(
                normalise_name(v) == normalise_name(name) or (email and v.lower() == email) for v in opt_out
            )
        )
        person_rows.append(
            {
                "id": pid,
                "name": name,
                "email": email,
                "agency": agency,
                "agency_from": agency_from,
                # the directory's word first, then the languages they write in
                "languages": list(dict.fromkeys([*(entry or {}).get("languages", []), *wrote_in])),
                "topics": list((entry or {}).get("topics", [])),
                "opted_out": bool(opted),
                "is_bot": bool(is_bot),
                "mass_editor": mass,
                "doc_count": docs,
                "last_active": last,
            }
        )
        links.extend((m, pid) for m in members)
    del now
    with store.begin() as conn:
        if store.dialect == "postgresql":
            # two processes resolving at once (two workers ending their runs, a web node)
            # would both empty the table and insert the same ids: one waits for the other
            conn.execute(sql_text("SELECT pg_advisory_xact_lock(:key)"), {"key": PERSONS_LOCK})
        conn.execute(delete(persons))
        if person_rows:
            conn.execute(insert(persons), person_rows)
        for member, pid in links:
            conn.execute(update(people).where(people.c.id == member).values(person_id=pid))
    return len(person_rows)


def _display_name(members: list[int], by_id: dict[int, dict], emailed: list[dict], names: Counter) -> str:
    """The name to show: an emailed identity's, else the most common one that is not a
    bare login (a profile's full name beats "amelie.bernier")."""
    if emailed:
        full = [
            by_id[m]["name"]
            for m in members
            if by_id[m]["email"] and by_id[m]["name"] != by_id[m]["username"]
        ]
        if full:
            return Counter(full).most_common(1)[0][0]
        return emailed[0]["name"]
    not_logins = Counter({n: c for n, c in names.items() if all(n != by_id[m]["username"] for m in members)})
    return (not_logins or names).most_common(1)[0][0]


def _configured_agency(emailed: list[dict], configured: dict[str, str]) -> str | None:
    """The agency the admins gave an email domain (a subdomain counts as its parent)."""
    for identity in emailed:
        domain = identity["email"].rsplit("@", 1)[-1].lower()
        while domain:
            if domain in configured:
                return configured[domain]
            domain = domain.partition(".")[2]
    return None


def _home_agency(identity: dict, domain_agency: dict[str, str]) -> str:
    """An emailed identity's agency: its email domain's, else where it works most."""
    email = identity.get("email") or ""
    domain = email.rsplit("@", 1)[1] if "@" in email else ""
    return domain_agency.get(domain) or identity["home"]


# -- scoring --------------------------------------------------------------------


@dataclass
class Evidence:
    document_id: str
    title: str
    url: str
    source: str
    agency: str
    roles: list[str]
    date: datetime | None
    #: the words of the user's query this document matched (never index stems)
    matched_terms: list[str] = field(default_factory=list)
    #: how much this document added to the person's score (the list is in this order)
    weight: float = 0.0
    language: str | None = None


@dataclass
class Expert:
    person_id: int
    name: str
    agency: str
    score: float
    evidence: list[Evidence]
    counts: dict[str, int]  # role -> documents, over the whole evidence list
    #: where the agency comes from: "directory", "email" (its domain) or "source"
    agency_from: str = "source"
    languages: list[str] = field(default_factory=list)
    last_active: datetime | None = None
    #: nothing from them in ``active_within_years``: still named, with the date, after
    #: those who are active
    inactive: bool = False


def recency(when: datetime | None, now: datetime, settings: ExpertSettings) -> float:
    if when is None:
        return settings.recency_floor
    years = max(0.0, (now - when).total_seconds() / SECONDS_PER_YEAR)
    return max(settings.recency_floor, 0.5 ** (years / settings.half_life_years))


def size_factor(size: int) -> float:
    """Bigger contributions say more, mildly: 0.5 for nothing known, 1.0 from ~2,000 characters."""
    return 0.5 + 0.5 * min(1.0, math.log1p(max(0, abs(size))) / math.log1p(2000))


def role_weight(role: str, size: int, minor: bool, settings: ExpertSettings) -> float:
    if minor:
        return 0.0
    if role == "author":
        return settings.author
    if role == "editor":
        return settings.editor if size else settings.last_modifier
    if role == "commenter":
        return settings.commenter
    return 0.0


def required_support(voting: int, settings: ExpertSettings) -> int:
    """How many of the query's documents a person needs: the floor adapts to the query.

    ``min_documents`` holds when the query has plenty of documents with eligible
    people (ten per required document); a narrow query (a page's own title, a rare
    term) lets one document speak for its author.
    """
    return max(1, min(settings.min_documents, voting // 10))


class ExpertFinder:
    """Ranks people for a query. Use with a :class:`indexer.search.Searcher`."""

    def __init__(self, searcher, store: Store, settings: ExpertSettings) -> None:
        self.searcher = searcher
        self.store = store
        self.settings = settings

    def suggest(
        self,
        request,
        *,
        ranked: list[tuple[str, list[str]]] | None = None,
        scores: dict[str, float] | None = None,
        now: datetime | None = None,
        variant: str = "model2",
    ) -> list[Expert]:
        """The people to show for *request* (its groups decide what may be seen).

        *variant* selects the benchmark's baselines: "votes" (count of supporting
        documents), "no-roles" (every contribution weighs 1), "no-decay".
        """
        s = self.settings
        now = now or datetime.now(UTC)
        if ranked is None:
            results = self.searcher.search(request)
            ranked, scores = results.ranked[: s.top_documents], results.ranked_scores
        if not ranked:
            return []
        rank_of = {doc_id: rank for rank, (doc_id, _) in enumerate(ranked, start=1)}
        groups = set(getattr(request, "groups", ()) or ())
        with self.store.read_connection() as conn:
            # an EN/FR pair votes once, for the people of both versions: the owner who
            # wrote the English page is behind a French hit its translator made
            key_of, members, created = self._twin_groups(conn, list(rank_of), groups)
            wanted = [d for ds in members.values() for d in ds]
            # one round trip for the contributions and who made them (a search pays for
            # every statement: each IN list is rendered, sent and read again)
            rows = conn.execute(_CONTRIBUTIONS, {"ids": wanted}).all()
        info: dict[int, _PersonView] = {}
        for r in rows:
            if r[5] not in info:
                info[r[5]] = _PersonView(r[5:])
        # a twin group's rank and vote are its best member's
        group_rank: dict[str, int] = {}
        for doc_id, rank in rank_of.items():
            key = key_of[doc_id]
            group_rank[key] = min(rank, group_rank.get(key, rank))
        vote = _votes(ranked, scores, key_of, group_rank, s, variant)
        # in an EN/FR pair, the version written later is the translation: its author
        # translated what the original's people know
        first_written: dict[str, tuple] = {}
        for doc_id, when in created.items():
            key = key_of[doc_id]
            stamp = (when or now, doc_id)
            if key not in first_written or stamp < first_written[key]:
                first_written[key] = stamp
        assoc: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
        roles: dict[tuple[int, str], set[str]] = defaultdict(set)
        touched: dict[tuple[str, int], set[str]] = defaultdict(set)  # (group, person) -> their documents
        decays: dict[datetime | None, float] = {}
        for doc_id, role, when, size, minor, pid, *_ in rows:
            p = info[pid]
            if p.is_bot or p.mass_editor:
                continue  # (someone who opted out keeps their share of a page, unseen)
            size = size or 0
            weight = 1.0 if variant == "no-roles" else role_weight(role, size, bool(minor), s)
            if weight <= 0:
                continue
            if variant in ("no-decay", "votes"):
                decay = 1.0
            elif (decay := decays.get(when)) is None:
                decay = decays[when] = recency(when, now, s)
            key = key_of[doc_id]
            if variant == "model2" and role == "author" and len(members[key]) > 1:
                if first_written[key][1] != doc_id:
                    weight *= s.translator
            assoc[key][pid] += weight * size_factor(size) * decay
            roles[(pid, doc_id)].add(role)
            touched[(key, pid)].add(doc_id)
        # the words a twin group matched, for the evidence of each of its documents
        group_terms: dict[str, list[str]] = defaultdict(list)
        for doc_id, terms in ranked:
            group_terms[key_of[doc_id]].extend(t for t in terms if t not in group_terms[key_of[doc_id]])
        rank_of = group_rank
        # the query's documents (twin groups) that have someone eligible to vote for
        voting = len(assoc)
        totals: dict[int, float] = defaultdict(float)  # person -> score
        support: dict[int, dict[str, float]] = defaultdict(dict)  # person -> group -> share
        for key, people_assoc in assoc.items():
            capped = {p: min(a, s.association_cap) for p, a in people_assoc.items()}
            # shared among contributors, but a lone author of an old page keeps only
            # what their (decayed) association is worth
            total = max(sum(capped.values()), 1.0)
            weight = vote[key]
            for pid, a in capped.items():
                share = weight * (1.0 if variant == "votes" else a / total)
                totals[pid] += share
                support[pid][key] = share
        needed = required_support(voting, s)
        lead = {key_of[doc_id] for doc_id, _ in ranked[:3]} & set(assoc)
        active_since = now.timestamp() - s.active_within_years * SECONDS_PER_YEAR
        experts: list[Expert] = []
        shown_docs: dict[int, tuple[dict[str, float], dict[str, list[str]]]] = {}
        for pid, score in totals.items():
            p = info[pid]
            if p.opted_out:
                continue
            keys = support[pid]
            mine = {key: sorted(touched[(key, pid)]) for key in keys}
            authored_lead = any("author" in roles[(pid, d)] for key in keys if key in lead for d in mine[key])
            if len(keys) < needed and not authored_lead:
                continue
            if p.doc_count and len(keys) < s.min_focus * min(p.doc_count, voting):
                continue  # a generalist: this topic is a sliver of what they touch
            if not any(roles[(pid, d)] & {"author", "editor"} for key in keys for d in mine[key]):
                continue  # comments alone do not make an expert
            inactive = p.last_active is None or p.last_active.timestamp() < active_since
            if variant == "model2":
                score /= (1.0 + math.log1p(p.doc_count or len(keys))) ** s.prolific_exponent
                # how much of what they touch this query is about: a generalist's share is thin
                focus = len(keys) / max(1, min(p.doc_count or len(keys), voting))
                score *= min(1.0, focus) ** s.focus_exponent
                if inactive:
                    score *= s.inactive_weight
            experts.append(
                Expert(
                    pid,
                    p.name,
                    p.agency,
                    score,
                    [],
                    {},
                    agency_from=getattr(p, "agency_from", None) or "source",
                    last_active=p.last_active,
                    inactive=inactive,
                )
            )
            shown_docs[pid] = (keys, mine)
        experts.sort(key=lambda e: (-e.score, e.name))
        if experts and s.min_relative_score > 0:
            # the list is not padded with people far behind the best match, but when
            # everyone left is of one agency, the best eligible person of another agency
            # stays: finding peers elsewhere is what the panel is for
            floor = experts[0].score * s.min_relative_score
            kept = [e for e in experts if e.score >= floor]
            if s.per_agency_in_top > 0 and len({e.agency for e in kept}) == 1:
                elsewhere = next((e for e in experts if e.agency != kept[0].agency), None)
                if elsewhere is not None:
                    kept.append(elsewhere)
            experts = kept
        chosen = diversify(experts, s.per_agency_in_top, top=5)[: max(s.suggestions, 0) or None]
        # the evidence, for the people shown only
        words_of = self._query_words(request) if variant == "model2" and chosen else {}
        doc_meta = self._evidence_documents(
            {d for e in chosen for ds in shown_docs[e.person_id][1].values() for d in ds}
        )
        languages = self._languages([e.person_id for e in chosen])
        for expert in chosen:
            keys, mine = shown_docs[expert.person_id]
            order = sorted(keys, key=lambda k: (-keys[k], rank_of[k]))
            expert.evidence = [
                Evidence(
                    d,
                    doc_meta[d][0],
                    doc_meta[d][1],
                    doc_meta[d][2],
                    doc_meta[d][3],
                    sorted(roles[(expert.person_id, d)]),
                    doc_meta[d][4],
                    _words(group_terms.get(key, []), words_of),
                    keys[key] / len(mine[key]),
                    doc_meta[d][5],
                )
                for key in order
                for d in mine[key]
                if d in doc_meta
            ]
            expert.counts = dict(Counter(role for ev in expert.evidence for role in ev.roles))
            expert.languages = list(languages.get(expert.person_id) or [])
        return chosen

    def _languages(self, person_ids: list[int]) -> dict[int, list[str]]:
        """The languages each shown person writes in (read for those five, not every voter)."""
        if not person_ids:
            return {}
        with self.store.read_connection() as conn:
            return {r.id: r.languages for r in conn.execute(_LANGUAGES, {"ids": person_ids})}

    def _evidence_documents(self, ids: set[str]) -> dict[str, tuple]:
        """What the evidence shows of each document: title, URL, source, agency,
        modified, language (read for the few people shown, not every voter)."""
        if not ids:
            return {}
        with self.store.read_connection() as conn:
            return {
                r.id: (r.title, r.url, r.source_id, r.agency, r.modified, r.language)
                for r in conn.execute(_EVIDENCE, {"ids": sorted(ids)})
            }

    def _twin_groups(
        self, conn, ranked: list[str], groups: set[str]
    ) -> tuple[dict[str, str], dict[str, list[str]], dict[str, datetime | None]]:
        """Each document's twin key, each key's documents the viewer may see, and when
        each of those was created (the later version of a pair is the translation).

        The key is what the index uses: the original's id for a translation that names
        it, the inferred pairing (:mod:`indexer.twins`), else the document itself.
        """
        inferred = getattr(getattr(self.searcher, "index", None), "inferred_twins", None) or {}
        paired = _reverse(inferred)
        ranked_set = set(ranked)
        # the keys known before reading the store (the document itself, its inferred
        # twin) and every other version of them: one statement, two indexed look-ups
        # (an OR of both would scan the table)
        guessed = ranked_set | {inferred[d] for d in ranked if d in inferred}
        extra = ({paired[k] for k in guessed if k in paired} | guessed) - ranked_set
        found = conn.execute(_VERSIONS, {"ids": sorted(ranked_set | extra), "keys": sorted(guessed)}).all()
        key_of = {d: d for d in ranked}
        created = {}
        for r in found:
            if r.id in ranked_set:
                key_of[r.id] = r.translation_of or inferred.get(r.id) or r.id
                created[r.id] = r.created
        keys = set(key_of.values())
        # a translation's original that was not guessed: its versions are read apart
        unread = keys - guessed
        if unread:
            more = ({paired[k] for k in unread if k in paired} | unread) - ranked_set - extra
            found += conn.execute(_VERSIONS, {"ids": sorted(more), "keys": sorted(unread)}).all()
        for r in found:
            if r.id in key_of or r.deleted:
                continue
            if not (set(_acl(r.acl)) & groups):
                continue  # a version the viewer may not see never speaks for anyone
            key = r.translation_of if r.translation_of in keys else inferred.get(r.id) or r.id
            if key in keys:
                key_of[r.id] = key
                created[r.id] = r.created
        members: dict[str, list[str]] = defaultdict(list)
        for d, key in key_of.items():
            members[key].append(d)
        return key_of, members, created

    def _query_words(self, request) -> dict[str, str]:
        """Index term -> the query word it came from (its stems and its translations)."""
        parse_text = getattr(self.searcher, "parse_text", None)
        query_text = getattr(request, "query", "") or ""
        if parse_text is None or not query_text.strip():
            return {}
        from indexer.query import clause_query

        parsed, _ = parse_text(query_text)
        out: dict[str, str] = {}
        for clause in parsed.clauses:
            if clause.negated:
                continue
            for alternative in [clause, *clause.alternatives]:
                query = clause_query(alternative, parsed.language, learned=parsed.learned)
                if query is None:
                    continue
                for _fieldname, text in query.iter_all_terms():
                    term = text.decode("utf-8") if isinstance(text, bytes) else str(text)
                    out.setdefault(term, alternative.text)
        return out


#: what the ranking and the panel read of each contributor (joined to their contributions)
_PERSON_COLUMNS = tuple(
    persons.c[name].label(f"p_{name}")
    for name in (
        "name",
        "agency",
        "agency_from",
        "opted_out",
        "is_bot",
        "mass_editor",
        "doc_count",
        "last_active",
    )
)


#: the statements of a suggestion, built once: a search pays for every statement
#: (each IN list is rendered, sent and read again), and building one costs as much again
_CONTRIBUTIONS = (
    select(
        contributions.c.document_id,
        contributions.c.role,
        contributions.c.time,
        contributions.c.size,
        contributions.c.minor,
        people.c.person_id,
        *_PERSON_COLUMNS,
    )
    .join(people, people.c.id == contributions.c.person_id)
    .join(persons, persons.c.id == people.c.person_id)
    .where(contributions.c.document_id.in_(bindparam("ids", expanding=True)))
)
#: the versions of the ranked documents: by id, and the translations naming them (two
#: indexed look-ups; an OR of both would scan the table). The ACL is read as stored
#: (JSON text) and decoded only for the versions the check needs.
_VERSION_COLUMNS = (
    documents.c.id,
    documents.c.translation_of,
    type_coerce(documents.c.acl, Text).label("acl"),
    documents.c.created,
    documents.c.deleted,
)
_VERSIONS = union_all(
    select(*_VERSION_COLUMNS).where(documents.c.id.in_(bindparam("ids", expanding=True))),
    select(*_VERSION_COLUMNS).where(
        documents.c.translation_of.in_(bindparam("keys", expanding=True)), documents.c.deleted.is_(False)
    ),
)
_EVIDENCE = select(
    documents.c.id,
    documents.c.title,
    documents.c.url,
    documents.c.source_id,
    documents.c.agency,
    documents.c.modified,
    documents.c.language,
).where(documents.c.id.in_(bindparam("ids", expanding=True)))
_LANGUAGES = select(persons.c.id, persons.c.languages).where(persons.c.id.in_(bindparam("ids", expanding=True)))


class _PersonView:
    """A contributor's ``persons`` row: the person id and the ``p_`` columns of a contribution row."""

    __slots__ = ("id", "name", "agency", "agency_from", "opted_out", "is_bot", "mass_editor")
    __slots__ += ("doc_count", "last_active")

    def __init__(self, values) -> None:
        for name, value in zip(self.__slots__, values, strict=True):
            setattr(self, name, value)


def _acl(raw) -> list:
    """A document's ACL read as text (SQLite) or already decoded (a JSON-aware driver)."""
    if raw is None or isinstance(raw, list):
        return raw or []
    try:
        value = json.loads(raw)
    except ValueError:
        return []
    return value if isinstance(value, list) else []


def _votes(ranked, scores, key_of, group_rank, s: ExpertSettings, variant: str) -> dict[str, float]:
    """What each twin group's vote weighs.

    By the search's own scores relative to the best one, raised to ``score_exponent``
    (Balog's Model 2 weighs a document by how well it matches, p(q|d)): when one page
    stands out, as for a query that is a page's title, its people decide; when many
    match about as well (a topic), the votes spread over them. Without scores (or with
    ``score_exponent = 0``) by rank: 1 / (rank_constant + rank) ** rank_exponent.
    """
    if variant == "votes":
        return {key: 1.0 for key in group_rank}
    if scores and s.score_exponent > 0:
        best = max((scores.get(d, 0.0) for d, _ in ranked), default=0.0)
        if best > 0:
            out: dict[str, float] = defaultdict(float)
            for doc_id, _ in ranked:
                key = key_of[doc_id]
                out[key] = max(out[key], (max(scores.get(doc_id, 0.0), 0.0) / best) ** s.score_exponent)
            return out
    if scores and s.tie_margin > 0:
        # hits that match about as well share a rank: the order of near-ties (a topic's
        # many pages) is noise, a page that stands out (the one a title names) is not
        values = sorted((max(scores.get(d, 0.0), 0.0) for d, _ in ranked), reverse=True)
        out = defaultdict(float)
        for doc_id, _ in ranked:
            mine = max(scores.get(doc_id, 0.0), 0.0)
            rank = 1 + bisect_left([-v for v in values], -mine * (1.0 + s.tie_margin))
            key = key_of[doc_id]
            out[key] = max(out[key], (s.rank_constant + rank) ** -s.rank_exponent)
        return out
    return {key: (s.rank_constant + rank) ** -s.rank_exponent for key, rank in group_rank.items()}


_REVERSED: dict[int, tuple[int, dict[str, str]]] = {}


def _reverse(inferred: dict[str, str]) -> dict[str, str]:
    """Twin key (the English id) -> the French document paired with it. The map is
    read once per index load, so this is built once for it, not per query."""
    if not inferred:
        return {}
    cached = _REVERSED.get(id(inferred))
    if cached is None or cached[0] != len(inferred):
        out = {key: doc for doc, key in inferred.items()}
        _REVERSED.clear()
        _REVERSED[id(inferred)] = cached = (len(inferred), out)
    return cached[1]


def _words(terms: list[str], words_of: dict[str, str]) -> list[str]:
    """The query words behind a document's matched index terms, in query order, no stems."""
    return list(dict.fromkeys(words_of[t] for t in terms if t in words_of))


def diversify(experts: list[Expert], per_agency: int, top: int = 5) -> list[Expert]:
    """At most *per_agency* people of one agency among the first *top*; the rest follow."""
    if per_agency <= 0:
        return experts
    head, rest, seen = [], [], Counter()
    for expert in experts:
        if len(head) < top and seen[expert.agency] < per_agency:
            head.append(expert)
            seen[expert.agency] += 1
        else:
            rest.append(expert)
    return head + rest
