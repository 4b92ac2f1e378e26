"""Search over the bilingual index, behind one small interface.

``Searcher.search(SearchRequest)`` -> ``SearchResults``: ranked hits with agency,
source, kind, url, date, language, an HTML-escaped snippet with the matched terms
marked, and facet counts. The user's groups filter the Whoosh query itself, so a
document a user may not see never reaches hits, counts or snippets.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import cached_property
from html import escape

import numpy as np
from whoosh import highlight
from whoosh.query import And, AndNot, DateRange, Every, NullQuery, Query, Term
from whoosh.query.compound import DefaultOr as Or  # see indexer.query: one scoring in every context

from indexer.accel import Accelerator, Evaluation
from indexer.analysis import fold_accents
from indexer.glossary import Glossary, load_glossary
from indexer.index import SearchIndex
from indexer.people import normalise_name
from indexer.query import MAX_CLAUSES, ParsedQuery, analyse, build_query, parse
from indexer.store import Store
from indexer.translations import TableFile
from indexer.vocabulary import MAX_WORD

log = logging.getLogger(__name__)

#: fewer documents than this with every word (a page of results): the search also shows
#: those with most of the words, after them. Through a translation a page rarely has every
#: word of a long query, and a few noisy matches must not hide it (bench/relevance/debian.py)
MIN_STRICT_HITS = 10
#: "did you mean" is looked for when fewer documents than this have every word
SUGGEST_BELOW = 3
#: of EN/FR twins that both match, the version in the query's language ranks the pair
OWN_LANGUAGE_RANKS_PAIRS = True
#: a pair matched only through its other-language version while its version in the
#: query's language is there and did not match: its score is scaled by this
UNBACKED_PAIR_FACTOR = 0.6

FACETS = ("agency", "source", "kind", "lang", "communities", "year")
#: query prefixes that filter instead of matching text: prefix -> index field
FILTER_FIELDS = {
    "agency": "agency",
    "source": "source",
    "kind": "kind",
    "lang": "lang",
    "year": "year",
    "tag": "tags",
    "community": "communities",
    "communities": "communities",
    "author": "author",
    "after": "date",  # after:2024-01-01 (inclusive)
    "before": "date",  # before:2025-06-30 (inclusive)
}
_FILTER_RE = re.compile(r"(?<!\S)(-?)(" + "|".join(FILTER_FIELDS) + r'):("[^"]*"|\S+)', re.IGNORECASE)
_SYNTAX = re.compile(r"[()\[\]{}^~*?:\\/+!]|\b(?:AND|OR|NOT|ANDNOT|ANDMAYBE)\b")
MAX_QUERY_CHARS = 1000
#: (index state, groups) answers of visible_counts kept per index
COUNT_CACHE_SIZE = 256
OVERLAPPING = {"communities"}
#: filters (ACL, agency...) must match but should not score: Whoosh divides by the
#: boost when it skips blocks, so "nothing" is a tiny weight, not zero
FILTER_BOOST = 1e-9
TIE_MARGIN = 10  # a document may belong to several


@dataclass(frozen=True)
class SearchBudget:
    """What one search may spend; past a limit it answers with what it has and says so."""

    #: past this the optional steps (a relaxed search, "did you mean") are skipped
    seconds: float = 1.5
    #: expanded leaf terms (words x languages x fields x translations); past it the
    #: query keeps its first words
    max_terms: int = 400
    #: words a "did you mean" looks at, candidates it verifies per word, and its time
    suggest_words: int = 4
    suggest_candidates: int = 8
    #: longer queries (pasted text, junk) get no "did you mean"
    suggest_max_clauses: int = 8
    suggest_seconds: float = 0.15


#: a candidate's visible documents weigh in its rank: 10x as many is worth half an edit
FREQUENCY_WEIGHT = 0.5
#: visible documents read to find the exact suggested word (not only its stem)
VERIFY_DOCUMENTS = 10
VERIFY_CHARS = 200_000


@dataclass
class SearchRequest:
    query: str
    groups: tuple[str, ...] = ("public",)
    user: str | None = None
    page: int = 1
    page_size: int = 10
    sort: str = "relevance"  # or "date"
    filters: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Hit:
    id: str
    title: str
    url: str
    agency: str
    source: str
    kind: str
    language: str
    date: datetime | None
    score: float
    snippet: str  # HTML, escaped, with <mark> around matched terms
    authors: list[str] = field(default_factory=list)
    alternates: dict[str, str] = field(default_factory=dict)


@dataclass
class SearchResults:
    request: SearchRequest
    total: int
    hits: list[Hit]
    facets: dict[str, list[tuple[str, int]]]
    took_ms: float
    filters: dict[str, list[str]]
    text_query: str
    language: str | None = None  # the query's language when clear
    relaxed: bool = False  # too few hits for all the words: these match some of them
    suggestion: str | None = None  # "did you mean"
    #: the budget's limits this search reached ("words", "terms", "time", "suggestion"):
    #: the results are what it found until then
    limits: list[str] = field(default_factory=list)
    #: the top documents, uncollapsed, with their matched terms (experts vote with these)
    ranked: list[tuple[str, list[str]]] = field(default_factory=list)
    #: those documents' scores (the experts weigh each document's vote by it)
    ranked_scores: dict[str, float] = field(default_factory=dict)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.request.page_size))

    @property
    def partial(self) -> bool:
        return bool(self.limits)


def split_filters(query: str) -> tuple[str, dict[str, list[str]], dict[str, list[str]]]:
    """Pull ``agency:x``-style filters out of the query text."""
    include: dict[str, list[str]] = {}
    exclude: dict[str, list[str]] = {}

    def take(match: re.Match) -> str:
        negate, name, value = match.group(1), match.group(2).lower(), match.group(3).strip('"')
        if value:
            (exclude if negate else include).setdefault(name, []).append(value)
        return " "

    rest = _FILTER_RE.sub(take, query)
    return " ".join(rest.split()), include, exclude


def _parse_day(value: str, end: bool) -> datetime | None:
    """'2024', '2024-05' or '2024-05-17' as the first (or last) moment of that period."""
    match = re.fullmatch(r"(\d{4})(?:-(\d{1,2}))?(?:-(\d{1,2}))?", value.strip())
    if not match:
        return None
    year, month, day = int(match.group(1)), match.group(2), match.group(3)
    try:
        if day:
            start = datetime(year, int(month), int(day))
            return start.replace(hour=23, minute=59, second=59) if end else start
        if month:
            start = datetime(year, int(month), 1)
            if not end:
                return start
            following = datetime(year + (start.month == 12), start.month % 12 + 1, 1)
            return following - timedelta(seconds=1)
        return datetime(year, 12, 31, 23, 59, 59) if end else datetime(year, 1, 1)
    except ValueError:
        return None


def _filter_terms(name: str, values: list[str]) -> Query:
    fieldname = FILTER_FIELDS[name]
    if fieldname == "date":
        end = name == "before"
        bounds = [b for b in (_parse_day(v, end) for v in values) if b is not None]
        if not bounds:
            return Every()  # an unreadable date restricts nothing
        bound = min(bounds) if end else max(bounds)
        return DateRange("date", None, bound) if end else DateRange("date", bound, None)
    if fieldname == "author":
        values = [normalise_name(v) for v in values]
    elif fieldname == "tags":
        values = [v.lower() for v in values]
    terms = [Term(fieldname, v, boost=FILTER_BOOST) for v in values]
    return Or(terms) if len(terms) > 1 else terms[0]


class Searcher:
    """Searches one index for one user at a time (pass the user's groups in the request)."""

    def __init__(
        self,
        index: SearchIndex,
        store: Store,
        glossary: Glossary | None = None,
        *,
        min_hits: int = MIN_STRICT_HITS,
        cross_language: bool = True,
        plain: bool = False,
        expert_depth: int = 100,
        budget: SearchBudget | None = None,
    ) -> None:
        self.index = index
        self.store = store
        self.glossary = glossary if glossary is not None else load_glossary()
        #: translations learned from the collection's twins, kept beside the index
        self.learned = getattr(index, "learned", None) or TableFile(index.path)
        self.min_hits = min_hits
        #: False only for the relevance benchmark's same-language baseline
        self.cross_language = cross_language
        #: True only for the benchmark's plain-BM25 baseline: the words, nothing added
        self.plain = plain
        #: how many top documents a search keeps for the experts
        self.expert_depth = expert_depth
        self.budget = budget or SearchBudget()

    def parse_text(self, text: str) -> tuple[ParsedQuery, Query]:
        """The text part of a query; never raises (odd syntax is read as plain words)."""
        if not text.strip():
            return ParsedQuery([], None), Every()
        try:
            parsed = parse(text, self.glossary, self.learned.get() if self.cross_language else None)
            return parsed, build_query(parsed, cross_language=self.cross_language, plain=self.plain)
        except Exception:  # noqa: BLE001 - a query must never break the page
            log.exception("query %r could not be built; searching its plain words", text)
            plain = " ".join(_SYNTAX.sub(" ", text).split())
            parsed = parse(plain.replace('"', " "), self.glossary)
            return parsed, build_query(parsed)

    def search(self, request: SearchRequest) -> SearchResults:
        started = time.perf_counter()
        budget = self.budget
        deadline = started + budget.seconds
        raw = (request.query or "")[:MAX_QUERY_CHARS]
        text, include, exclude = split_filters(raw)
        for name, values in request.filters.items():
            if name in FILTER_FIELDS and values:
                include.setdefault(name, []).extend(values)
        parsed, query = self.parse_text(text)
        limits: list[str] = []
        if _was_cut(text, parsed):
            limits.append("words")
        parsed, query = self._within_terms(parsed, query, limits)
        allow = self._allow(request.groups, include)
        mask = Or([_filter_terms(n, v) for n, v in exclude.items()]) if exclude else None
        page = max(1, request.page)
        size = max(1, min(request.page_size, 100))
        outcome = SearchResults(
            request=request,
            total=0,
            hits=[],
            facets={},
            took_ms=0.0,
            filters=include,
            text_query=text,
            language=parsed.language,
            limits=limits,
        )
        if query is not NullQuery:
            with self.index.accel.searcher() as searcher:
                prefer = parsed.language
                depth = max(2 * page * size + TIE_MARGIN, self.expert_depth)
                results = self._run(searcher, query, allow, mask, depth, request.sort)
                strict_total = len(results)
                wants_more = (
                    strict_total < self.min_hits and len([c for c in parsed.clauses if not c.negated]) > 1
                )
                if wants_more and time.perf_counter() > deadline:
                    limits.append("time")
                elif wants_more:
                    relaxed = build_query(parsed, relaxed=True, cross_language=self.cross_language, plain=self.plain)
                    loose = self._run(searcher, relaxed, allow, mask, depth, request.sort)
                    if len(loose) > len(results):
                        results, query, outcome.relaxed = loose, relaxed, True
                outcome.total = len(results)
                outcome.facets = _facet_counts(results)
                outcome.ranked = results.ranked_documents(self.expert_depth)
                outcome.ranked_scores = results.ranked_scores(self.expert_depth)
                page_hits = results.collapsed(prefer)[(page - 1) * size : page * size]
                outcome.hits = self._hits(searcher, page_hits, query, allow, prefer)
                few = min(self.min_hits, SUGGEST_BELOW)
                if (outcome.total < few or (outcome.relaxed and strict_total < few)) and text.strip():
                    if time.perf_counter() > deadline:
                        limits.append("time")
                    else:
                        outcome.suggestion = self._suggest(
                            searcher, parsed, text, allow, strict_total, limits
                        )
        outcome.took_ms = (time.perf_counter() - started) * 1000
        return outcome

    def _within_terms(
        self, parsed: ParsedQuery, query: Query, limits: list[str]
    ) -> tuple[ParsedQuery, Query]:
        """The query cut to its first words when it expands to more terms than the budget."""
        if _term_count(query) <= self.budget.max_terms:
            return parsed, query
        clauses = list(parsed.clauses)
        while len(clauses) > 1:
            clauses.pop()
            shorter = ParsedQuery(clauses, parsed.language)
            candidate = build_query(shorter, cross_language=self.cross_language, plain=self.plain)
            if _term_count(candidate) <= self.budget.max_terms:
                limits.append("terms")
                return shorter, candidate
        limits.append("terms")
        shorter = ParsedQuery(clauses, parsed.language)
        return shorter, build_query(shorter, cross_language=False)

    def visible_counts(self, groups: tuple[str, ...]) -> dict[str, int]:
        """How many documents and sources this user may see (the home page's counts).

        Kept per index state and groups (every home page asks; the answer changes only
        with a commit).
        """
        cache = getattr(self.index, "count_cache", None)
        key = (self.index.accel._stamp(), tuple(sorted(groups)))
        if cache is not None and key in cache:
            return dict(cache[key])
        allow = self._allow(groups, {})
        documents, sources = 0, set()
        with self.index.accel.searcher() as searcher:
            evaluation = self.index.accel.evaluate(searcher, allow)
            for part, matched in zip(evaluation.parts, evaluation.ids, strict=True):
                documents += len(matched)
                codes, values = self.index.accel.codes(part, "source")
                picked = codes[matched]
                sources.update(values[c] for c in np.unique(picked[picked >= 0]).tolist())
        counts = {"documents": documents, "sources": len(sources)}
        if cache is not None:
            if len(cache) >= COUNT_CACHE_SIZE:
                cache.clear()
            cache[key] = counts
        return dict(counts)

    def community_documents(
        self, community: str, groups: tuple[str, ...], limit: int = 100
    ) -> list[tuple[str, list[str]]]:
        """A community's most recent documents this user may see (they vote for its peers)."""
        allow = self._allow(groups, {"community": [community]})
        with self.index.accel.searcher() as searcher:
            ranked = _Ranked(self.index.accel, self.index.accel.evaluate(searcher, allow), limit, "date")
            return [(doc.id, []) for doc in ranked.ranked()]

    @staticmethod
    def _allow(groups: tuple[str, ...], include: dict[str, list[str]]) -> Query:
        visible = tuple(dict.fromkeys(g for g in groups if g)) or ("public",)
        acl = (
            Or([Term("acl", g, boost=FILTER_BOOST) for g in visible])
            if len(visible) > 1
            else Term("acl", visible[0], boost=FILTER_BOOST)
        )
        restrictions = [acl] + [_filter_terms(n, v) for n, v in include.items()]
        return And(restrictions) if len(restrictions) > 1 else acl

    def _run(
        self, searcher, query: Query, allow: Query, mask: Query | None, depth: int, sort: str
    ) -> _Ranked:
        # The ACL and the filters go into the query itself (they must match; their
        # near-zero boost keeps them out of the score); they are never applied after
        # the search. indexer.accel evaluates the tree with Whoosh's own scoring.
        full: Query = And([query, allow])
        if mask is not None:
            full = AndNot(full, mask)
        evaluation = self.index.accel.evaluate(searcher, full)
        ranked = _Ranked(self.index.accel, evaluation, depth, sort)
        seen = AndNot(allow, mask) if mask is not None else allow
        ranked.visible = lambda wanted: self.index.accel.evaluate(
            searcher, seen if wanted is None else And([wanted, seen])
        )
        return ranked

    def _exists(self, searcher, query: Query) -> bool:
        evaluation = self.index.accel.evaluate(searcher, query)
        return evaluation.count() > 0

    def _hits(self, searcher, page_hits, query: Query, allow: Query, prefer: str | None = None) -> list[Hit]:
        # Of EN/FR twins (collapsed into one hit), show the one in the query's language.
        twins_by_key = self._twin_fields(searcher, [hit.twin for hit in page_hits], allow)
        chosen = []
        for hit in page_hits:
            fields = dict(searcher.stored_fields(hit.docnum))
            fields["_score"] = hit.score
            twins = {
                lang: other
                for lang, other in twins_by_key.get(fields.get("twin"), {}).items()
                if other["id"] != fields["id"] and lang != fields.get("lang")
            }
            if prefer and fields.get("lang") != prefer and prefer in twins:
                twin = dict(twins[prefer])
                twin["_score"] = fields["_score"]
                twins = {fields.get("lang", ""): fields}
                fields = twin
            fields["_alternates"] = {lang: other.get("url", "") for lang, other in twins.items()}
            chosen.append(fields)
        docs = self.store.documents_by_id([f["id"] for f in chosen])
        terms = _query_terms(query)
        out = []
        for hit in chosen:
            doc = docs.get(hit["id"])
            text = doc.text if doc else ""
            out.append(
                Hit(
                    id=hit["id"],
                    title=hit.get("title") or hit["id"],
                    url=hit.get("url") or "",
                    agency=hit.get("agency", ""),
                    source=hit.get("source", ""),
                    kind=hit.get("kind", ""),
                    language=hit.get("lang", ""),
                    date=hit.get("date"),
                    score=hit["_score"],
                    snippet=make_snippet(text, terms, hit.get("lang", "")),
                    authors=list(doc.authors) if doc else [],
                    alternates=hit["_alternates"],
                )
            )
        return out

    def _twin_fields(self, searcher, keys: list[str | None], allow: Query) -> dict[str, dict[str, dict]]:
        """For each twin key, the versions this user may see: key -> language -> stored fields."""
        wanted = sorted({k for k in keys if k})
        if not wanted:
            return {}
        query = And([Or([Term("twin", k) for k in wanted]), allow])
        found = _Ranked(
            self.index.accel, self.index.accel.evaluate(searcher, query), len(wanted) * 4, "relevance"
        )
        out: dict[str, dict[str, dict]] = {}
        for doc in found.ranked():
            other = searcher.stored_fields(doc.docnum)
            if other.get("lang") in ("en", "fr"):
                out.setdefault(other["twin"], {}).setdefault(other["lang"], dict(other))
        return out

    def _suggest(
        self, searcher, parsed: ParsedQuery, text: str, allow: Query, total: int, limits: list[str]
    ) -> str | None:
        """ "Did you mean": spelling fixes taken only from what this user may see.

        A candidate comes from the vocabulary (words of every document) and is kept only
        when a document this user may see holds that exact word, not merely its stem.
        """
        budget = self.budget
        if len(parsed.clauses) > budget.suggest_max_clauses:
            limits.append("suggestion")
            return None
        stop_at = time.perf_counter() + budget.suggest_seconds
        changed, fixed, looked = False, text, 0
        for clause in parsed.clauses:
            if clause.negated or clause.phrase or " " in clause.text or clause.translations:
                continue
            word = fold_accents(clause.text.lower())
            if len(word) < 4 or len(word) > MAX_WORD or not word.isalpha():
                continue  # a 300-letter "word" is not a typo
            if looked >= budget.suggest_words or time.perf_counter() > stop_at:
                limits.append("suggestion")
                break
            looked += 1
            if self._visible_count(searcher, word, allow):
                continue  # the word is found as it is
            best = self._best_candidate(searcher, word, allow, stop_at)
            if best is not None:
                fixed = re.sub(re.escape(clause.text), best, fixed, count=1)
                changed = True
        if not changed:
            return None
        _, query = self.parse_text(fixed)
        check = self._run(searcher, query, allow, None, 1, "relevance")
        return fixed if len(check) > total else None

    def _best_candidate(self, searcher, word: str, allow: Query, stop_at: float) -> str | None:
        scored = []
        for candidate, distance in self.index.vocabulary.candidates(
            word, maxdist=2, limit=self.budget.suggest_candidates
        ):
            if time.perf_counter() > stop_at:
                break
            count = self._visible_count(searcher, candidate, allow)
            if count:
                # fewer edits, more documents, then the same first letter (typos rarely change it)
                weight = distance - FREQUENCY_WEIGHT * float(np.log10(count))
                scored.append((weight, candidate[0] != word[0], candidate))
        for _, _, candidate in sorted(scored):
            if self._holds_exact_word(searcher, candidate, allow):
                return candidate
        return None

    @staticmethod
    def _word_probe(word: str) -> Query | None:
        """The word's own terms in every text field (no glossary translations)."""
        terms = [
            Term(fieldname, token)
            for family, fields in (("en", ("title_en", "body_en")), ("fr", ("title_fr", "body_fr")))
            for token in analyse(family, word)
            for fieldname in fields
        ] + [Term("neutral", token) for token in analyse("neutral", word)]
        if not terms:
            return None
        return Or(terms) if len(terms) > 1 else terms[0]

    def _visible_count(self, searcher, word: str, allow: Query) -> int:
        """Documents this user may see that hold *word* or a word of the same stem."""
        probe = self._word_probe(word)
        if probe is None:
            return 0
        evaluation = self.index.accel.evaluate(searcher, And([probe, allow]))
        return evaluation.count()

    def _holds_exact_word(self, searcher, word: str, allow: Query) -> bool:
        """Whether a document this user may see has *word* as written (accents aside).

        A stem is not enough: "nightjarring" must not be suggested because a public
        document says "nightjars" while only a restricted one says "nightjarring".
        """
        probe = self._word_probe(word)
        if probe is None:
            return False
        evaluation = self.index.accel.evaluate(searcher, And([probe, allow]))
        ids: list[str] = []
        for part, matched in zip(evaluation.parts, evaluation.ids, strict=True):
            column = self.index.accel.column(part, "id")
            ids.extend(column[n] for n in matched[: VERIFY_DOCUMENTS - len(ids)].tolist())
            if len(ids) >= VERIFY_DOCUMENTS:
                break
        pattern = re.compile(r"(?<![^\W\d_])" + re.escape(word) + r"(?![^\W\d_])")
        for doc in self.store.documents_by_id(ids).values():
            if pattern.search(fold_accents(f"{doc.title}\n{doc.text[:VERIFY_CHARS]}".lower())):
                return True
        return False


def _term_count(query: Query) -> int:
    try:
        return sum(1 for _ in query.iter_all_terms())
    except Exception:  # noqa: BLE001 - a query that cannot list its terms is small
        return 0


def _was_cut(text: str, parsed: ParsedQuery) -> bool:
    """Whether the parser kept only the first MAX_CLAUSES words of a longer query."""
    used = sum(1 + len(c.alternatives) for c in parsed.clauses)
    words = [w for w in text.split() if w.upper() != "OR"]
    return used >= MAX_CLAUSES and len(words) > used


@dataclass
class _Doc:
    """One ranked document: its number in the searcher, score, id and twin key."""

    docnum: int
    score: float
    id: str
    twin: str
    part: int
    local: int
    lang: str = ""


class _Ranked:
    """A search's matches: the top documents (uncollapsed), the total and the facets.

    The total and the facet counts collapse EN/FR twins (a pair counts once, as its
    English version when both match); the ranked list keeps both for the experts.
    """

    def __init__(self, accel: Accelerator, evaluation: Evaluation, depth: int, sort: str) -> None:
        self.evaluation = evaluation
        self.accel = accel
        self._locals = evaluation.ids
        self.sort = "date" if sort == "date" else "score"
        #: ``visible(query)``: *query* evaluated over the documents this viewer may see
        #: (``visible(None)``: those documents)
        self.visible = None
        self.docs = self._top(self._locals, depth, sort)

    @cached_property
    def _counted(self) -> tuple[int, dict[str, dict[str, int]]]:
        # only a results page needs these (not twin links, community pages or probes)
        return self._count(self._locals)

    @property
    def total(self) -> int:
        return self._counted[0]

    def __len__(self) -> int:
        return self.total

    def _count(self, locals_: list[np.ndarray]) -> tuple[int, dict[str, dict[str, int]]]:
        accel, parts = self.accel, self.evaluation.parts
        if not any(len(x) for x in locals_):
            return 0, {name: {} for name in FACETS}
        # Of two twins that both match, the one twin_pairs ranks first counts (the
        # English one): each match looks its partner up, and only the few documents
        # whose key three or more share are sorted here.
        partners, firsts, crowded = accel.twin_pairs(parts)
        starts = np.cumsum([0] + [part.size for part in parts])
        matched = np.zeros(starts[-1], dtype=bool)
        for start, local in zip(starts[:-1], locals_, strict=True):
            matched[start + local] = True
        chosen_by_part, crowd = [], []
        for i, local in enumerate(locals_):
            partner = partners[i][local]
            counted = (partner < 0) | firsts[i][local]
            counted[~counted] = ~matched[partner[~counted]]
            many = crowded[i][local]
            chosen_by_part.append(local[counted & ~many])
            crowd.append(local[many])
        if any(len(c) for c in crowd):
            ranks = accel.language_ranks(parts)
            keys = np.concatenate([accel.hashes(part, "twin")[c] for part, c in zip(parts, crowd, strict=True)])
            rank = np.concatenate([r[c] for r, c in zip(ranks, crowd, strict=True)])
            owner = np.concatenate([np.full(len(c), i, dtype=np.int32) for i, c in enumerate(crowd)])
            flat = np.concatenate(crowd)
            order = np.lexsort((rank, keys))  # stable: document order among equals
            first = np.ones(len(order), dtype=bool)
            first[1:] = keys[order][1:] != keys[order][:-1]
            kept = order[first]
            for i in range(len(parts)):
                extra = flat[kept[owner[kept] == i]]
                if len(extra):
                    chosen_by_part[i] = np.concatenate([chosen_by_part[i], extra])
        groups: dict[str, dict[str, int]] = {name: {} for name in FACETS}
        for part, chosen in zip(parts, chosen_by_part, strict=True):
            if not len(chosen):
                continue
            for name in FACETS:
                counts = groups[name]
                if name in OVERLAPPING:
                    for value, mask in accel.value_masks(part, name):
                        n = int(mask[chosen].sum())
                        if n:
                            counts[value] = counts.get(value, 0) + n
                    continue
                codes, values = accel.codes(part, name)
                picked = codes[chosen]
                tally = np.bincount(picked[picked >= 0], minlength=len(values))
                for code in np.flatnonzero(tally):
                    counts[values[code]] = counts.get(values[code], 0) + int(tally[code])
        return sum(len(chosen) for chosen in chosen_by_part), groups

    def _top(self, locals_: list[np.ndarray], depth: int, sort: str) -> list[_Doc]:
        """The *depth* best documents; ties broken by document id (a reindex changes nothing)."""
        accel, parts = self.accel, self.evaluation.parts
        score = np.concatenate(self.evaluation.values) if locals_ else np.zeros(0)
        if not len(score):
            return []
        if sort == "date":
            key = np.concatenate([accel.numbers(p, "date")[x] for p, x in zip(parts, locals_, strict=True)])
        else:
            key = score
        owner = np.concatenate([np.full(len(x), i, dtype=np.int32) for i, x in enumerate(locals_)])
        local = np.concatenate(locals_)
        if len(key) > depth:
            threshold = np.partition(key, len(key) - depth)[len(key) - depth]
            above = np.flatnonzero(key > threshold)
            tied = np.flatnonzero(key == threshold)
            need = depth - len(above)
            if len(tied) > need:
                # many equal keys (a filter-only search scores every match alike): the
                # smallest ids win, found per segment with each segment's id order
                chosen = [np.empty(0, dtype=np.int64)]
                for i, part in enumerate(parts):
                    mine = tied[owner[tied] == i]
                    if len(mine) and need > 0:
                        ranks = accel.id_ranks(part)[local[mine]]  # distinct within a segment
                        if len(ranks) > need:  # the need smallest, without sorting them all
                            mine = mine[np.argpartition(ranks, need - 1)[:need]]
                        chosen.append(mine)
                tied = np.concatenate(chosen)
            pick = np.concatenate([above, tied])  # sorted by (key, id) below
        else:
            pick = np.arange(len(key))
        docs = []
        for j in pick.tolist():
            i, n = int(owner[j]), int(local[j])
            part = parts[i]
            doc_id = accel.column(part, "id")[n]
            codes, values = accel.codes(part, "lang")
            lang = values[codes[n]] if codes[n] >= 0 else ""
            doc = _Doc(part.offset + n, float(score[j]), doc_id, accel.column(part, "twin")[n], i, n, lang)
            docs.append((-key[j].item(), doc_id, doc))  # -key: an exact int for dates, a float for scores
        docs.sort(key=lambda d: (d[0], d[1]))
        return [d[2] for d in docs[:depth]]

    def ranked(self) -> list[_Doc]:
        return self.docs

    def collapsed(self, prefer: str | None = None) -> list[_Doc]:
        """The ranked documents with EN/FR twins collapsed (the best of each pair stays).

        With *prefer* (the query's language, on a relevance sort), a pair whose
        version in that language matched is ranked by that version's own score: its
        own words judge it, not the translations that reached its twin. A page reached
        only through a translation of the query cannot outrank, by way of its twin, a
        page that has the query's very words (Debian's man pages: the French
        pivot_root(8) over the English chroot(2) for "change root directory").
        """
        seen: dict[str, _Doc] = {}
        for doc in self.docs:
            if doc.twin not in seen:
                seen[doc.twin] = doc
        if not prefer or self.sort != "score" or not OWN_LANGUAGE_RANKS_PAIRS:
            return list(seen.values())
        own = {}
        for doc in self.docs:
            if doc.lang == prefer and doc.twin not in own:
                own[doc.twin] = doc
        out = [own.get(key, first) for key, first in seen.items()]
        # A pair reached only through its other-language version, while its version in
        # the query's language (visible to this viewer) did not match well enough to be
        # among the top documents: its own words did not back the translation's match.
        lone = [doc for key, doc in seen.items() if key not in own and doc.lang and doc.lang != prefer]
        if lone and self.visible is not None and UNBACKED_PAIR_FACTOR != 1.0:
            backed_off = self._has_version_in(prefer, lone)
            out = [
                replace(doc, score=doc.score * UNBACKED_PAIR_FACTOR) if doc.docnum in backed_off else doc
                for doc in out
            ]
        # a stable sort keeps the id order of equal scores
        return sorted(out, key=lambda d: (-d.score, d.id))

    def _has_version_in(self, language: str, docs: list[_Doc]) -> set[int]:
        """Of *docs*, those whose pair has a version in *language* the viewer may see."""
        accel, parts = self.accel, self.evaluation.parts
        partners, _, three = accel.twin_pairs(parts)
        starts = np.cumsum([0] + [part.size for part in parts])
        seen = self.visible(None)  # the viewer's documents (cached postings for one group)
        found: set[int] = set()
        others = []
        for doc in docs:
            partner = int(partners[doc.part][doc.local])
            if partner < 0:
                others.append(doc)  # no twin, or one of three versions: looked up below
                continue
            i = int(np.searchsorted(starts, partner, side="right")) - 1
            local = partner - int(starts[i])
            codes, values = accel.codes(parts[i], "lang")
            ids = seen.ids[i]
            at = np.searchsorted(ids, local)
            if codes[local] >= 0 and values[codes[local]] == language and at < len(ids) and ids[at] == local:
                found.add(doc.docnum)
        crowded = [doc for doc in others if three[doc.part][doc.local]]
        if crowded:
            # the versions of a key three documents share, read through its postings
            versions = self.visible(Or([Term("twin", key) for key in sorted({d.twin for d in crowded})]))
            keys: set[str] = set()
            for part, ids in zip(versions.parts, versions.ids, strict=True):
                codes, values = accel.codes(part, "lang")
                if language in values and len(ids):
                    column = accel.column(part, "twin")
                    keys.update(column[n] for n in ids[codes[ids] == values.index(language)].tolist())
            found.update(d.docnum for d in crowded if d.twin in keys)
        return found

    def ranked_documents(self, limit: int) -> list[tuple[str, list[str]]]:
        """The top documents with the query words each one matched (the experts' evidence)."""
        docs = self.docs[:limit]
        offsets = [p.offset for p in self.evaluation.parts]
        # one lookup per leaf and segment for all of that segment's documents
        by_part: dict[int, list[int]] = {}
        for k, doc in enumerate(docs):
            by_part.setdefault(offsets[doc.part], []).append(k)
        looked_up = {
            offset: (np.asarray(ks), np.asarray([docs[k].local for k in ks])) for offset, ks in by_part.items()
        }
        words: list[list[str]] = [[] for _ in docs]
        for _fieldname, text, ids_by_part in self.evaluation.leaves:
            for offset, (positions, locals_) in looked_up.items():
                ids = ids_by_part.get(offset)
                if ids is None or not len(ids):
                    continue
                at = np.searchsorted(ids, locals_)
                at[at == len(ids)] = 0
                for k in positions[ids[at] == locals_].tolist():
                    if text not in words[k]:
                        words[k].append(text)
        return [(doc.id, words[k]) for k, doc in enumerate(docs)]

    def ranked_scores(self, limit: int) -> dict[str, float]:
        return {doc.id: float(doc.score) for doc in self.docs[:limit]}

    def groups(self, name: str) -> dict[str, int]:
        return self._counted[1].get(name, {})


def _facet_counts(results) -> dict[str, list[tuple[str, int]]]:
    facets = {}
    for name in FACETS:
        counts = results.groups(name)
        facets[name] = sorted(
            ((str(k), int(v)) for k, v in counts.items() if k not in (None, "")),
            key=lambda kv: (-kv[1], kv[0]),
        )
    return facets


def _query_terms(query: Query) -> dict[str, set[str]]:
    """Analysed query terms per language field family, for highlighting."""
    out: dict[str, set[str]] = {"en": set(), "fr": set(), "neutral": set()}
    try:
        pairs = query.iter_all_terms()
    except Exception:  # noqa: BLE001
        return out
    for fieldname, text in pairs:
        value = text.decode("utf-8") if isinstance(text, bytes) else str(text)
        if fieldname.endswith("_en"):
            out["en"].add(value)
        elif fieldname.endswith("_fr"):
            out["fr"].add(value)
        elif fieldname == "neutral":
            out["neutral"].add(value)
    return out


_FRAGMENTER = highlight.ContextFragmenter(maxchars=220, surround=60)
#: snippets come from the start of long documents (highlighting is linear in the text)
SNIPPET_TEXT_LIMIT = 20000


def analyzers_by_family():
    from indexer.query import analyzers

    return analyzers()


_FORMATTER = highlight.HtmlFormatter(tagname="mark", between=" … ")
#: characters kept around each likely match (the fragmenter picks within them)
WINDOW_BEFORE, WINDOW_AFTER, MAX_WINDOWS = 100, 160, 4


def _windows(text: str, terms: set[str]) -> str:
    """The parts of *text* around the first places its (stemmed) terms may occur.

    Analysing all of a long text to highlight three fragments was most of a search's
    time; a stem is nearly always a prefix of the words it matches, so the analyser
    only reads a few windows around them. No likely place: the whole text, as before.
    """
    if len(text) <= (WINDOW_BEFORE + WINDOW_AFTER) * MAX_WINDOWS:
        return text
    # a stem's last letter may differ from the text's ("polici" for "policy")
    stems = sorted({t[:-1] if len(t) >= 5 else t for t in terms if len(t) >= 2}, key=len, reverse=True)
    if not stems:
        return text
    folded = fold_accents(text.lower())
    if len(folded) != len(text):
        return text  # positions would not line up (ligatures): read it all
    pattern = re.compile("|".join(re.escape(t) for t in stems))
    spans: list[list[int]] = []
    for match in pattern.finditer(folded):
        start, end = max(0, match.start() - WINDOW_BEFORE), match.end() + WINDOW_AFTER
        if spans and start <= spans[-1][1]:
            spans[-1][1] = end
        else:
            if len(spans) == MAX_WINDOWS:
                break
            spans.append([start, end])
    if not spans:
        return text[: (WINDOW_BEFORE + WINDOW_AFTER) * MAX_WINDOWS]  # nothing to mark: the start
    return "\n\n".join(text[a:b] for a, b in spans)


def make_snippet(text: str, terms: dict[str, set[str]], language: str) -> str:
    """Up to three escaped fragments of *text* with the matched terms in <mark>."""
    if not text:
        return ""
    order = ["fr", "en"] if language == "fr" else ["en", "fr"]
    analyzers = analyzers_by_family()
    for family in [*order, "neutral"]:
        if not terms.get(family):
            continue
        try:
            fragment = highlight.highlight(
                _windows(text[:SNIPPET_TEXT_LIMIT], terms[family]),
                frozenset(terms[family]),
                analyzers[family],
                _FRAGMENTER,
                _FORMATTER,
                top=3,
            )
        except Exception:  # noqa: BLE001 - a snippet is never worth a failed search
            fragment = ""
        if fragment:
            return fragment
    first = " ".join(text.split())[:240]
    return escape(first) + ("…" if len(text) > 240 else "")
