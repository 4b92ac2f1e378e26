"""EN/FR versions of one page found without markup.

Most wiki pages and file shares never say that two documents translate each other,
but the two versions share what translation leaves alone: numbers, code, command
options, file names, URLs, acronyms and people's names, and often a title or path
that differs only by a language marker (``X`` / ``X (fr)``, ``en:``/``fr:``,
``/en/``/``/fr/``, ``-en``/``-fr``). This module pairs documents of one source:

* each document's *anchors* (the language-neutral tokens above) are weighted by
  how rare they are in the source (idf), and two documents in different languages
  are compared by the cosine of those weights;
* in a source with enough pages in each language, an English page's words carried into
  French by the learned table are compared with each French page's words (idf-weighted
  cosine, :class:`_Content`), which pairs the many versions that share no code or
  number (a FAQ answer, a policy page) and finds candidates anchors do not;
* a title or path equal once its language marker is removed adds
  :data:`PATTERN_BONUS`; titles that translate each other (by the translations
  learned from the collection's marked twins) add up to :data:`TITLE_WEIGHT`;
* a pair is kept when each is the other's best match, its score passes
  :data:`THRESHOLD` and it beats the runner-up clearly; its score is its confidence.

Explicit links (``translation_of``: hreflang, langlinks, the connector's own) always
win: documents that have one are never paired here.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

log = logging.getLogger(__name__)

THRESHOLD = 0.3
#: the best match must beat the second by this factor (unless a pattern matched)
MARGIN = 1.25
PATTERN_BONUS = 0.5
TITLE_WEIGHT = 0.3
#: anchors in more than this share of a source's documents say nothing
MAX_ANCHOR_SHARE = 0.05
MIN_ANCHOR_DF_CAP = 20
#: and an anchor in more documents than this never pairs two (bounded work per document)
MAX_ANCHOR_DF = 60
#: a document's candidates come from the documents sharing one of its rarest anchors
CANDIDATE_ANCHORS = 12
MAX_ANCHORS = 400  # per document: the first ones (long pages repeat themselves)
#: what the words' learned translations add: the cosine of an English page's words,
#: carried into French by the table, with the French page's words (both idf-weighted)
CONTENT_WEIGHT = 1.0  # Debian dev half: pairing recall 0.873 -> 0.965, precision 1.0 (0.4: 0.927, 0.6: 0.950)
#: the words compared: the title and the start of the text (bounded work per document)
CONTENT_CHARS = 4000
#: and only in a source with at least this many pages in each language: in a handful of
#: pages every page on a subject is the best match of the other language's page on it,
#: with no rival to show that it is no better than the rest
CONTENT_MIN_DOCS = 20
#: each word's translations used (the table's most probable first)
CONTENT_SENSES = 3

_ANCHORS = re.compile(
    r"https?://[^\s<>\"')]+"  # URLs
    r"|[\w.+-]+@[\w-]+\.[\w.-]+"  # email addresses
    r"|(?<![\w-])--?[A-Za-z][\w-]*"  # command options
    r"|(?<!\w)/(?:[\w.-]+/)*[\w.-]+"  # paths
    r"|\b[A-Za-z_][\w-]*(?:[._:][\w-]+)+\b"  # dotted or scoped names (sources.list, a::b)
    r"|\b[a-z]+_[\w]+\b"  # snake_case
    r"|\b[a-z]+[A-Z]\w*\b"  # camelCase
    r"|\b[A-Z][A-Z0-9_]{2,}\b"  # acronyms, constants
    r"|\b\d[\d.,:/-]*\d\b"  # numbers of two digits or more, versions, dates
    r"|\b[A-Z][a-zà-ÿ]+(?:[ -][A-Z][a-zà-ÿ]+)+\b"  # names of two capitalised words
)
_LANG_MARKERS = re.compile(
    r"(?:^|(?<=[/_.\-\s(:]))(?:en|fr|eng|fra|english|french|anglais|français|francais)"
    r"(?=$|[/_.\-\s):])",
    re.IGNORECASE,
)


@dataclass
class Candidate:
    id: str
    source: str
    language: str  # "en" or "fr"
    title: str
    text: str
    url: str = ""


def anchors(title: str, text: str) -> list[str]:
    """The language-neutral tokens of a document, in order, without repeats."""
    found = _ANCHORS.findall(title + "\n" + text)
    return list(dict.fromkeys(a.rstrip(".,;:").lower() for a in found if len(a) >= 2))[:MAX_ANCHORS]


def pattern_key(title: str, url: str) -> tuple[str, str]:
    """Title and path with their language markers removed (empty when there is none)."""

    def strip(value: str) -> str:
        cleaned = _LANG_MARKERS.sub("", value)
        cleaned = re.sub(r"[\s_\-/.:()]+", " ", cleaned).strip().lower()
        return cleaned if cleaned != re.sub(r"[\s_\-/.:()]+", " ", value).strip().lower() else ""

    path = (
        unquote(urlsplit(url).path + ("?" + urlsplit(url).query if urlsplit(url).query else ""))
        if url
        else ""
    )
    return strip(title), strip(path)


class _TitleTerms:
    """Titles' index terms (analysed once each) and how well two titles translate."""

    def __init__(self, table) -> None:
        self.table = table
        self.cache: dict[tuple[str, str], frozenset[str]] = {}

    def terms(self, language: str, title: str) -> frozenset[str]:
        key = (language, title)
        if key not in self.cache:
            from indexer.query import analyse

            self.cache[key] = frozenset(analyse(language, title))
        return self.cache[key]

    def similarity(self, en: str, fr: str) -> float:
        """Share of the English title's words whose learned translation is in the French title."""
        if self.table is None:
            return 0.0
        en_terms, fr_terms = self.terms("en", en), self.terms("fr", fr)
        if not en_terms or not fr_terms:
            return 0.0
        hits = sum(
            1
            for t in en_terms
            if t in fr_terms or any(f in fr_terms for f, _ in self.table.translate(t, "en"))
        )
        return hits / len(en_terms)


#: the English page's translated words that look for French pages (its heaviest ones)
CONTENT_PROBES = 40


class _Content:
    """How well an English page's words, translated by the learned table, match each French page's.

    Both sides are idf-weighted bags of index terms (title and the start of the text).
    A word spelled alike in both languages (a command, a name) counts at half weight.
    The French pages are found through the English page's heaviest translated words
    that are not common (in at most :data:`MAX_ANCHOR_DF` pages), so the work per page
    is bounded however large the source.
    """

    def __init__(self, english: list[Candidate], french: list[Candidate], table) -> None:
        from indexer.query import analyse

        def bag(language: str, doc: Candidate) -> Counter:
            return Counter(analyse(language, doc.title + "\n" + doc.text[:CONTENT_CHARS]))

        fr_bags = {d.id: bag("fr", d) for d in french}
        df = Counter(t for b in fr_bags.values() for t in b)
        total = max(1, len(french))
        self.idf = {t: math.log(1 + total / n) for t, n in df.items()}
        self.postings: dict[str, list[tuple[str, float]]] = defaultdict(list)
        self.norms: dict[str, float] = {}
        for doc_id, b in fr_bags.items():
            weights = {t: (1 + math.log(n)) * self.idf[t] for t, n in b.items()}
            self.norms[doc_id] = math.sqrt(sum(w * w for w in weights.values())) or 1.0
            for t, w in weights.items():
                if df[t] <= MAX_ANCHOR_DF:
                    self.postings[t].append((doc_id, w))
        self.table = table
        self.english = {d.id: d for d in english}
        self._analyse = analyse

    def scores(self, en_id: str) -> dict[str, float]:
        """French page -> cosine with the English page's translated words."""
        doc = self.english[en_id]
        vector: dict[str, float] = defaultdict(float)
        for term, n in Counter(self._analyse("en", doc.title + "\n" + doc.text[:CONTENT_CHARS])).items():
            tf = 1 + math.log(n)
            for fr_term, p in self.table.translate(term, "en")[:CONTENT_SENSES]:
                if fr_term in self.idf:
                    vector[fr_term] += tf * p
            if term in self.idf:
                vector[term] += 0.5 * tf
        weighted = {t: w * self.idf[t] for t, w in vector.items()}
        norm = math.sqrt(sum(w * w for w in weighted.values()))
        if not norm:
            return {}
        probes = sorted((t for t in weighted if t in self.postings), key=lambda t: -weighted[t])
        found: dict[str, float] = defaultdict(float)
        for t in probes[:CONTENT_PROBES]:
            for fr_id, w in self.postings[t]:
                found[fr_id] += weighted[t] * w
        return {fr_id: dot / (norm * self.norms[fr_id]) for fr_id, dot in found.items()}


def pair(docs: Iterable[Candidate], table=None) -> list[tuple[str, str, float]]:
    """(English id, French id, confidence) for the twins found among *docs* of one source."""
    english = [d for d in docs if d.language == "en"]
    french = [d for d in docs if d.language == "fr"] if english else []
    if not english or not french:
        return []
    bags = {d.id: anchors(d.title, d.text) for d in (*english, *french)}
    df = Counter(a for bag in bags.values() for a in set(bag))
    total = len(bags)
    cap = min(MAX_ANCHOR_DF, max(MIN_ANCHOR_DF_CAP, int(MAX_ANCHOR_SHARE * total)))
    idf = {a: math.log(1 + total / n) for a, n in df.items() if 1 < n <= cap}
    weights = {i: {a: idf[a] ** 2 for a in bag if a in idf} for i, bag in bags.items()}
    norms = {i: math.sqrt(sum(w.values())) for i, w in weights.items()}
    postings: dict[str, list[str]] = defaultdict(list)
    for d in french:
        for a in weights[d.id]:
            postings[a].append(d.id)
    keys: dict[str, dict[str, list[str]]] = {"title": defaultdict(list), "path": defaultdict(list)}
    for d in french:
        title_key, path_key = pattern_key(d.title, d.url)
        if title_key:
            keys["title"][title_key].append(d.id)
        if path_key:
            keys["path"][path_key].append(d.id)
    by_id = {d.id: d for d in (*english, *french)}
    titles = _TitleTerms(table)
    content = (
        _Content(english, french, table)
        if table is not None and CONTENT_WEIGHT and min(len(english), len(french)) >= CONTENT_MIN_DOCS
        else None
    )
    scores: dict[str, dict[str, float]] = {}
    for d in english:
        mine = weights[d.id]
        # candidates: the documents sharing one of its rarest anchors, or its pattern
        rarest = sorted(mine, key=lambda a: -mine[a])[:CANDIDATE_ANCHORS]
        found = {other for a in rarest for other in postings.get(a, ())}
        title_key, path_key = pattern_key(d.title, d.url)
        patterned: Counter[str] = Counter()
        for kind, key in (("title", title_key), ("path", path_key)):
            for other in keys[kind].get(key, ()) if key else ():
                patterned[other] += 1
        by_words = content.scores(d.id) if content is not None else {}
        cand = {}
        for other in found | set(patterned) | set(by_words):
            theirs = weights[other]
            small, big = (mine, theirs) if len(mine) <= len(theirs) else (theirs, mine)
            dot = sum(w for a, w in small.items() if a in big)
            cosine = dot / (norms[d.id] * norms[other]) if norms[d.id] and norms[other] else 0.0
            cand[other] = cosine + PATTERN_BONUS * patterned[other] + CONTENT_WEIGHT * by_words.get(other, 0.0)
        best = sorted(cand.items(), key=lambda kv: -kv[1])[:5]
        scores[d.id] = {
            other: s + TITLE_WEIGHT * titles.similarity(d.title, by_id[other].title) for other, s in best
        }
    # mutual best matches, clear of the runner-up on both sides
    best_for_fr: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for en_id, cand in scores.items():
        for fr_id, s in cand.items():
            best_for_fr[fr_id].append((s, en_id))
    out = []
    for en_id, cand in scores.items():
        if not cand:
            continue
        ranked = sorted(cand.items(), key=lambda kv: -kv[1])
        fr_id, score = ranked[0]
        rivals = sorted(best_for_fr[fr_id], reverse=True)
        if rivals[0][1] != en_id or score < THRESHOLD:
            continue
        runner_up = max(ranked[1][1] if len(ranked) > 1 else 0.0, rivals[1][0] if len(rivals) > 1 else 0.0)
        if score < MARGIN * runner_up and score - runner_up < PATTERN_BONUS:
            continue
        out.append((en_id, fr_id, round(min(1.0, score), 3)))
    return out


# --- kept beside the index ---------------------------------------------------------

SUFFIX = ".twins.json"


def map_path(index_path: Path) -> Path:
    index_path = Path(index_path)
    return index_path.with_name(index_path.name + SUFFIX)


def load_map(index_path: Path) -> dict[str, str]:
    """document id -> the twin key it shares with its other version (its English id)."""
    try:
        data = json.loads(map_path(index_path).read_text("utf-8"))
        return {str(k): str(v[0]) for k, v in data.get("pairs", {}).items()}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, TypeError, AttributeError, IndexError) as exc:
        log.warning("twin map beside %s is unreadable (%s); it is rebuilt by the next crawl", index_path, exc)
        return {}


def save_map(index_path: Path, found: list[tuple[str, str, float]]) -> None:
    path = map_path(index_path)
    payload = {"pairs": {fr: [en, confidence] for en, fr, confidence in found}}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".twins-")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(payload, out, ensure_ascii=False)
    os.replace(tmp, path)


#: after a crawl, sources bigger than this are paired by the next ``savoir reindex`` only
#: (pairing reads every document of the source: about a minute per 100k)
PAIR_AFTER_CRAWL_MAX = 20_000


def refresh(
    store, index, table=None, *, sources: Iterable[str] | None = None, max_documents: int | None = None
) -> int:
    """Pair the unmarked EN/FR versions of every source (or of *sources*) and re-index
    the documents whose twin changed; returns how many changed.

    With *max_documents*, a source holding more documents than that is left as it is.
    """
    wanted = set(sources) if sources is not None else None
    if max_documents is not None:
        sizes = store.counts()["per_source"]
        big = {s for s, n in sizes.items() if n > max_documents}
        for source in sorted(big & wanted if wanted is not None else big):
            log.info(
                "%s holds %d documents: its EN/FR versions are paired by savoir reindex",
                source,
                sizes[source],
            )
        wanted = (wanted if wanted is not None else set(sizes)) - big
    if wanted is not None and not wanted:
        return 0  # nothing to pair: the index is not read
    with index.ix.searcher() as searcher:
        stored = {f["id"]: f for f in searcher.all_stored_fields()}
    previous = load_map(index.path)
    # documents with an explicit link (either end) are never paired here
    linked = {
        i for i, f in stored.items() if f.get("twin") and f["twin"] != i and previous.get(i) != f["twin"]
    }
    linked |= {f["twin"] for i, f in stored.items() if i in linked}
    by_source: dict[str, list[Candidate]] = defaultdict(list)
    kept_pairs = [
        (en, fr, 1.0)
        for fr, en in previous.items()
        if wanted is not None and fr in stored and en in stored and stored[fr].get("source") not in wanted
    ]
    for doc in store.iter_documents(sources=sorted(wanted) if wanted is not None else None):
        fields = stored.get(doc.id)
        if fields is None or doc.id in linked or fields.get("lang") not in ("en", "fr"):
            continue
        if wanted is not None and doc.source_id not in wanted:
            continue
        by_source[doc.source_id].append(
            Candidate(doc.id, doc.source_id, fields["lang"], doc.title, doc.text, doc.url)
        )
    found = list(kept_pairs)
    for docs in by_source.values():
        found.extend(pair(docs, table))
    current = {fr: en for en, fr, _ in found}
    changed = {i for i in previous.keys() | current.keys() if previous.get(i) != current.get(i)}
    save_map(index.path, found)
    if changed:
        index.retwin(store, sorted(changed), current)
    log.info("twins found without markup: %d pairs (%d documents changed)", len(found), len(changed))
    return len(changed)
