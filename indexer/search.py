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
from dataclasses import dataclass, field
from datetime import datetime
from html import escape

from whoosh import highlight, sorting
from whoosh.qparser import AndGroup, MultifieldParser, OrGroup
from whoosh.query import And, AndNot, ConstantScoreQuery, Every, NullQuery, Or, Query, Term

from indexer.index import SearchIndex
from indexer.people import normalise_name
from indexer.store import Store

log = logging.getLogger(__name__)

TEXT_FIELDS = ("title_en", "body_en", "title_fr", "body_fr", "neutral")
FIELD_BOOSTS = {"title_en": 2.0, "body_en": 1.0, "title_fr": 2.0, "body_fr": 1.0, "neutral": 0.6}
FACETS = ("agency", "source", "kind", "lang", "year")
#: query prefixes that filter instead of matching text: prefix -> index field
FILTER_FIELDS = {
    "agency": "agency",
    "source": "source",
    "kind": "kind",
    "lang": "lang",
    "year": "year",
    "tag": "tags",
    "community": "communities",
    "author": "author",
}
_FILTER_RE = re.compile(r"(?<!\S)(-?)(" + "|".join(FILTER_FIELDS) + r'):("[^"]*"|\S+)', re.IGNORECASE)
_SYNTAX = re.compile(r"[()\[\]{}^~*?:\\/+!]|\b(?:AND|OR|NOT|ANDNOT|ANDMAYBE)\b")
MAX_QUERY_CHARS = 1000


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

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.request.page_size))


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


_QUOTED_OR_WORD = re.compile(r'"[^"]*"|\S+')


def drop_stop_words(text: str) -> str:
    """Remove words that are stop words in either language (outside quotes).

    A word that one language's analyser drops and the other keeps (French "de" in
    the English fields) would otherwise be required in the wrong language.
    """
    from indexer.analysis import EN_STOP, FR_STOP, fold_accents

    kept = []
    for token in _QUOTED_OR_WORD.findall(text):
        bare = fold_accents(token.strip("()+-").lower())
        bare = (
            bare.split("'")[-1].split("\u2019")[-1]
            if ("'" in bare or "\u2019" in bare) and len(bare) > 2
            else bare
        )
        if (
            token.startswith('"')
            or token in ("AND", "OR", "NOT")
            or (bare not in EN_STOP and bare not in FR_STOP)
        ):
            kept.append(token)
    return " ".join(kept) if kept else text


def _filter_terms(name: str, values: list[str]) -> Query:
    fieldname = FILTER_FIELDS[name]
    if fieldname == "author":
        values = [normalise_name(v) for v in values]
    elif fieldname == "tags":
        values = [v.lower() for v in values]
    return Or([Term(fieldname, v) for v in values]) if len(values) > 1 else Term(fieldname, values[0])


class Searcher:
    def __init__(self, index: SearchIndex, store: Store) -> None:
        self.index = index
        self.store = store
        self._parser = MultifieldParser(
            list(TEXT_FIELDS), index.ix.schema, fieldboosts=FIELD_BOOSTS, group=AndGroup
        )
        self._loose_parser = MultifieldParser(
            list(TEXT_FIELDS), index.ix.schema, fieldboosts=FIELD_BOOSTS, group=OrGroup
        )

    def parse_text(self, text: str) -> Query:
        """The text part of a query; syntax errors fall back to plain terms, never raise."""
        if not text.strip():
            return Every()
        text = drop_stop_words(text)
        try:
            query = self._parser.parse(text)
        except Exception:  # noqa: BLE001 - whoosh raises many types on odd input
            query = None
        if query is None or query is NullQuery:
            plain = _SYNTAX.sub(" ", text)
            try:
                query = self._parser.parse(plain) if plain.strip() else NullQuery
            except Exception:  # noqa: BLE001
                query = NullQuery
        return query

    def search(self, request: SearchRequest) -> SearchResults:
        started = time.perf_counter()
        raw = (request.query or "")[:MAX_QUERY_CHARS]
        text, include, exclude = split_filters(raw)
        for name, values in request.filters.items():
            if name in FILTER_FIELDS and values:
                include.setdefault(name, []).extend(values)
        query = self.parse_text(text)
        groups = tuple(dict.fromkeys(request.groups)) or ("public",)
        acl = Or([Term("acl", g) for g in groups])
        restrictions: list[Query] = [acl] + [_filter_terms(n, v) for n, v in include.items()]
        allow = And(restrictions) if len(restrictions) > 1 else acl
        mask = Or([_filter_terms(n, v) for n, v in exclude.items()]) if exclude else None
        page = max(1, request.page)
        size = max(1, min(request.page_size, 100))
        hits: list[Hit] = []
        facets: dict[str, list[tuple[str, int]]] = {}
        total = 0
        if query is not NullQuery:
            with self.index.searcher() as searcher:
                sortedby = sorting.FieldFacet("date", reverse=True) if request.sort == "date" else None
                # The ACL and the filters go into the query itself (never applied after
                # the search); they score nothing. (Whoosh's filter= also breaks collapse.)
                full = And([query, ConstantScoreQuery(allow, 0.0)])
                if mask is not None:
                    full = AndNot(full, mask)
                results = searcher.search(
                    full,
                    limit=page * size,
                    sortedby=sortedby,
                    groupedby={name: sorting.FieldFacet(name) for name in FACETS},
                    maptype=sorting.Count,
                    collapse=sorting.FieldFacet("twin"),
                    collapse_limit=1,
                    terms=True,
                )
                total = len(results)
                for name in FACETS:
                    counts = results.groups(name)
                    facets[name] = sorted(
                        ((str(k), int(v)) for k, v in counts.items() if k not in (None, "")),
                        key=lambda kv: (-kv[1], kv[0]),
                    )
                page_hits = list(results)[(page - 1) * size : page * size]
                hits = self._hits(page_hits, query)
        return SearchResults(
            request=request,
            total=total,
            hits=hits,
            facets=facets,
            took_ms=(time.perf_counter() - started) * 1000,
            filters=include,
            text_query=text,
        )

    def _hits(self, page_hits, query: Query) -> list[Hit]:
        docs = self.store.documents_by_id([h["id"] for h in page_hits])
        terms = _query_terms(query)
        out = []
        for hit in page_hits:
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
                    score=float(hit.score or 0.0),
                    snippet=make_snippet(text, terms, hit.get("lang", "")),
                    authors=list(doc.authors) if doc else [],
                    alternates=dict(doc.alternates) if doc else {},
                )
            )
        return out


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
_FORMATTER = highlight.HtmlFormatter(tagname="mark", between=" … ")


def make_snippet(text: str, terms: dict[str, set[str]], language: str) -> str:
    """Up to three escaped fragments of *text* with the matched terms in <mark>."""
    from indexer.analysis import english_analyzer, french_analyzer, neutral_analyzer

    if not text:
        return ""
    order = ["fr", "en"] if language == "fr" else ["en", "fr"]
    analyzers = {"en": english_analyzer, "fr": french_analyzer, "neutral": neutral_analyzer}
    for family in [*order, "neutral"]:
        if not terms.get(family):
            continue
        try:
            fragment = highlight.highlight(
                text, frozenset(terms[family]), analyzers[family](), _FRAGMENTER, _FORMATTER, top=3
            )
        except Exception:  # noqa: BLE001 - a snippet is never worth a failed search
            fragment = ""
        if fragment:
            return fragment
    first = " ".join(text.split())[:240]
    return escape(first) + ("…" if len(text) > 240 else "")
