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
from array import array
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np

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
    # every anchor starts where a word does (not after a letter or digit) and with one
    # of these: said first, the ~80% of positions inside words are passed over at once
    # (findall over a page twice as fast, the same anchors on 4,000 Debian pages; an
    # address glued to a path, "/tmp/x+ops@a.org", is now "ops@a.org", not "+ops@a.org")
    r"(?<!\w)(?=[\w/.+-])(?:"
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
    r")"
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


class _Vocabulary:
    """Strings numbered in the order they are first met."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.words: list[str] = []

    def number(self, words: Iterable[str]) -> list[int]:
        ids, out = self.ids, []
        for word in words:
            i = ids.get(word)
            if i is None:
                i = ids[word] = len(self.words)
                self.words.append(word)
            out.append(i)
        return out


class _Ragged:
    """One array of ints per document, appended one document at a time and spilled to a
    temporary file (4 bytes a value): the bags of a million documents do not sit in
    memory while the rest of them are read."""

    FLUSH = 1 << 20  # values held before they are written out

    def __init__(self, directory: Path | None) -> None:
        self.file = tempfile.TemporaryFile(dir=directory, prefix=".twins-")
        self.buffer = array("i")
        self.offsets = array("q", [0])

    def add(self, values: list[int]) -> None:
        self.buffer.extend(values)
        self.offsets.append(self.offsets[-1] + len(values))
        if len(self.buffer) >= self.FLUSH:
            self.buffer.tofile(self.file)
            self.buffer = array("i")

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        """(values, offsets): document i's values are values[offsets[i]:offsets[i + 1]]."""
        self.buffer.tofile(self.file)
        self.buffer = array("i")
        self.file.flush()
        offsets = np.frombuffer(self.offsets, dtype=np.int64)
        if not offsets[-1]:
            return np.zeros(0, dtype=np.int32), offsets
        return np.memmap(self.file, dtype=np.int32, mode="r", shape=(int(offsets[-1]),)), offsets

    def close(self) -> None:
        self.file.close()


def _owners(offsets: np.ndarray) -> np.ndarray:
    """The document each value belongs to."""
    return np.repeat(np.arange(len(offsets) - 1, dtype=np.int32), np.diff(offsets))


class _Postings:
    """For each key (an anchor, a word), the documents holding it in their order, with a weight."""

    def __init__(self, keys: np.ndarray, docs: np.ndarray, weights: np.ndarray, size: int) -> None:
        order = np.argsort(keys, kind="stable")
        self.docs = docs[order]
        self.weights = weights[order]
        self.starts = np.zeros(size + 1, dtype=np.int64)
        np.cumsum(np.bincount(keys, minlength=size), out=self.starts[1:])

    def gather(self, keys: np.ndarray, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The documents holding each of *keys*, and each key's weight (times *weights*)."""
        starts, ends = self.starts[keys], self.starts[keys + 1]
        lengths = ends - starts
        if not lengths.sum():
            return np.zeros(0, dtype=np.int32), np.zeros(0)
        at = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())
        values = self.weights[at]
        if weights is not None:
            values = values * np.repeat(weights, lengths)
        return self.docs[at], values


def _sums(docs: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(each document once, the sum of its values)."""
    if not len(docs):
        return docs, values
    unique, inverse = np.unique(docs, return_inverse=True)
    return unique, np.bincount(inverse, weights=values)


def _lookup(keys: np.ndarray, values: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """values[key] for each of *wanted* (sorted *keys*; 0 for a key that is not there)."""
    if not len(keys):
        return np.zeros(len(wanted))
    at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    return np.where(keys[at] == wanted, values[at], 0.0)


class _Content:
    """How well an English page's words, translated by the learned table, match each French page's.

    Both sides are idf-weighted bags of index terms (title and the start of the text).
    A word spelled alike in both languages (a command, a name) counts at half weight.
    The French pages are found through the English page's heaviest translated words
    that are not common (in at most :data:`MAX_ANCHOR_DF` pages), so the work per page
    is bounded however large the source.
    """

    def __init__(self, vocabulary: _Vocabulary, terms, counts, french: np.ndarray, table) -> None:
        size = len(vocabulary.words)
        self.vocabulary, self.table = vocabulary, table
        self.terms, self.counts, self.offsets = terms, counts, counts[1]
        owner = _owners(self.offsets)
        on_fr = french[owner]
        fr_terms, fr_docs = terms[0][on_fr], owner[on_fr]
        df = np.bincount(fr_terms, minlength=size)
        total = max(1, int(french.sum()))
        with np.errstate(divide="ignore"):
            self.idf = np.where(df > 0, np.log1p(total / np.maximum(df, 1)), 0.0)
        self.known = df > 0
        weights = (1 + np.log(counts[0][on_fr])) * self.idf[fr_terms]
        self.norms = np.sqrt(np.bincount(fr_docs, weights=weights * weights, minlength=len(french)))
        self.norms[self.norms == 0] = 1.0
        rare = df[fr_terms] <= MAX_ANCHOR_DF
        self.postings = _Postings(fr_terms[rare], fr_docs[rare], weights[rare], size)
        self.common = ~(df <= MAX_ANCHOR_DF) | ~self.known  # no postings
        self.senses: dict[int, list[tuple[int, float]]] = {}

    def _translations(self, term: int) -> list[tuple[int, float]]:
        found = self.senses.get(term)
        if found is None:
            ids = self.vocabulary.ids
            found = [
                (ids[fr], p)
                for fr, p in self.table.translate(self.vocabulary.words[term], "en")[:CONTENT_SENSES]
                if fr in ids and self.known[ids[fr]]
            ]
            self.senses[term] = found
        return found

    def scores(self, doc: int) -> tuple[np.ndarray, np.ndarray]:
        """(French pages, cosine of each with the English page *doc*'s translated words)."""
        start, end = self.offsets[doc], self.offsets[doc + 1]
        vector: dict[int, float] = defaultdict(float)
        known = self.known
        for term, n in zip(self.terms[0][start:end].tolist(), self.counts[0][start:end].tolist(), strict=True):
            tf = 1 + math.log(n)
            for fr_term, p in self._translations(term):
                vector[fr_term] += tf * p
            if known[term]:
                vector[term] += 0.5 * tf
        if not vector:
            return np.zeros(0, dtype=np.int32), np.zeros(0)
        ids = np.fromiter(vector.keys(), dtype=np.int64, count=len(vector))
        weighted = np.fromiter(vector.values(), dtype=np.float64, count=len(vector)) * self.idf[ids]
        norm = math.sqrt(float(weighted @ weighted))
        if not norm:
            return np.zeros(0, dtype=np.int32), np.zeros(0)
        probing = ~self.common[ids]
        ids, weighted = ids[probing], weighted[probing]
        order = np.argsort(-weighted, kind="stable")[:CONTENT_PROBES]
        docs, values = _sums(*self.postings.gather(ids[order], weighted[order]))
        return docs, values / (norm * self.norms[docs])


def pair(
    docs: Iterable[Candidate], table=None, *, spill: Path | None = None
) -> list[tuple[str, str, float]]:
    """(English id, French id, confidence) for the twins found among *docs* of one source.

    *docs* is read once, one document at a time: what each adds to the comparison (its
    anchors and its words as numbers, its title and id) is kept in a temporary file in
    *spill* (the system's by default) or in compact arrays, never its text.
    """
    anchor_words, term_words = _Vocabulary(), _Vocabulary()
    content_wanted = table is not None and bool(CONTENT_WEIGHT)
    bag_anchors, bag_terms, bag_counts = _Ragged(spill), _Ragged(spill), _Ragged(spill)
    try:
        ids: list[str] = []
        titles: list[str] = []
        french_flags = array("b")
        keys: dict[str, dict[str, list[int]]] = {"title": defaultdict(list), "path": defaultdict(list)}
        english_keys: dict[int, tuple[str, str]] = {}
        if content_wanted:
            from indexer.query import analyse
        for doc in docs:
            if doc.language not in ("en", "fr"):
                continue
            number = len(ids)
            ids.append(doc.id)
            titles.append(doc.title)
            is_french = doc.language == "fr"
            french_flags.append(is_french)
            bag_anchors.add(anchor_words.number(anchors(doc.title, doc.text)))
            if content_wanted:
                bag = Counter(analyse(doc.language, doc.title + "\n" + doc.text[:CONTENT_CHARS]))
                bag_terms.add(term_words.number(bag))
                bag_counts.add(list(bag.values()))
            title_key, path_key = pattern_key(doc.title, doc.url)
            if is_french:
                if title_key:
                    keys["title"][title_key].append(number)
                if path_key:
                    keys["path"][path_key].append(number)
            elif title_key or path_key:
                english_keys[number] = (title_key, path_key)
        french = np.frombuffer(french_flags, dtype=np.int8).astype(bool)
        english_count = int((~french).sum())
        if not english_count or english_count == len(french):
            return []
        anchor_ids, anchor_offsets = bag_anchors.finish()
        content = None
        if content_wanted and min(english_count, len(french) - english_count) >= CONTENT_MIN_DOCS:
            content = _Content(term_words, bag_terms.finish(), bag_counts.finish(), french, table)
        return _match(ids, titles, french, anchor_ids, anchor_offsets, keys, english_keys, content, table)
    finally:
        for ragged in (bag_anchors, bag_terms, bag_counts):
            ragged.close()


def _match(ids, titles, french, anchor_ids, anchor_offsets, keys, english_keys, content, table):
    """The pairs, once every document's anchors and words are known (see :func:`pair`)."""
    total = len(ids)
    size = int(anchor_ids.max()) + 1 if len(anchor_ids) else 0
    owner = _owners(anchor_offsets)
    df = np.bincount(anchor_ids, minlength=size)
    cap = min(MAX_ANCHOR_DF, max(MIN_ANCHOR_DF_CAP, int(MAX_ANCHOR_SHARE * total)))
    valid = (df > 1) & (df <= cap)
    with np.errstate(divide="ignore"):
        weight = np.where(valid, np.log1p(total / np.maximum(df, 1)) ** 2, 0.0)
    entry_weight = weight[anchor_ids]
    norms = np.sqrt(np.bincount(owner, weights=entry_weight, minlength=total))
    on_fr = french[owner] & valid[anchor_ids]
    postings = _Postings(anchor_ids[on_fr], owner[on_fr], entry_weight[on_fr], size)
    title_terms = _TitleTerms(table)
    scores: dict[int, list[tuple[int, float]]] = {}
    for d in np.flatnonzero(~french).tolist():
        mine = anchor_ids[anchor_offsets[d] : anchor_offsets[d + 1]]
        mine = mine[valid[mine]]
        # the dot product of the anchors with every French page sharing one
        shared, dots = _sums(*postings.gather(mine))
        cosine = dots / (norms[d] * norms[shared]) if len(shared) else dots
        # candidates: the documents sharing one of its rarest anchors, or its pattern
        rarest = mine[np.argsort(-weight[mine], kind="stable")[:CANDIDATE_ANCHORS]]
        found = [postings.gather(rarest)[0]]
        patterned: Counter[int] = Counter()
        for kind, key in zip(("title", "path"), english_keys.get(d, ("", "")), strict=True):
            for other in keys[kind].get(key, ()) if key else ():
                patterned[other] += 1
        if patterned:
            found.append(np.fromiter(patterned, dtype=np.int64, count=len(patterned)))
        by_words = content.scores(d) if content is not None else (np.zeros(0, dtype=np.int32), np.zeros(0))
        found.append(by_words[0])
        candidates = np.unique(np.concatenate(found).astype(np.int64))
        if not len(candidates):
            scores[d] = []
            continue
        score = _lookup(shared, cosine, candidates) + CONTENT_WEIGHT * _lookup(*by_words, candidates)
        if patterned:
            score += PATTERN_BONUS * np.fromiter(
                (patterned.get(c, 0) for c in candidates.tolist()), dtype=np.float64, count=len(candidates)
            )
        best = np.argsort(-score, kind="stable")[:5]
        ranked = [
            (other, s + TITLE_WEIGHT * title_terms.similarity(titles[d], titles[other]))
            for other, s in zip(candidates[best].tolist(), score[best].tolist(), strict=True)
        ]
        scores[d] = sorted(ranked, key=lambda kv: -kv[1])
    # mutual best matches, clear of the runner-up on both sides
    best_for_fr: dict[int, list[tuple[float, str]]] = defaultdict(list)
    for en, ranked in scores.items():
        for fr, s in ranked:
            best_for_fr[fr].append((s, ids[en]))
    out = []
    for en, ranked in scores.items():
        if not ranked:
            continue
        fr, score = ranked[0]
        rivals = sorted(best_for_fr[fr], reverse=True)
        if rivals[0][1] != ids[en] or score < THRESHOLD:
            continue
        runner_up = max(ranked[1][1] if len(ranked) > 1 else 0.0, rivals[1][0] if len(rivals) > 1 else 0.0)
        if score < MARGIN * runner_up and score - runner_up < PATTERN_BONUS:
            continue
        out.append((ids[en], ids[fr], round(min(1.0, score), 3)))
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
#: (pairing reads every document of the source: 223 s and 706 MB for 300,000 Debian-text
#: documents on 2 cores, bench/SCALE.md)
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
    # what pairing needs of each indexed document: its language, its twin key, its source
    with index.ix.searcher() as searcher:
        stored = {
            f["id"]: (f.get("lang"), f.get("twin"), f.get("source")) for f in searcher.all_stored_fields()
        }
    previous = load_map(index.path)
    # documents with an explicit link (either end) are never paired here
    linked = {i for i, (_, twin, _) in stored.items() if twin and twin != i and previous.get(i) != twin}
    linked |= {stored[i][1] for i in linked}
    found = [
        (en, fr, 1.0)
        for fr, en in previous.items()
        if wanted is not None and fr in stored and en in stored and stored[fr][2] not in wanted
    ]
    spill = Path(index.path).parent
    for source in sorted(wanted if wanted is not None else {s for _, _, s in stored.values() if s}):

        def candidates(source: str = source) -> Iterator[Candidate]:
            for doc in store.iter_documents(sources=[source]):
                lang = stored.get(doc.id, (None,))[0]
                if lang in ("en", "fr") and doc.id not in linked:
                    yield Candidate(doc.id, doc.source_id, lang, doc.title, doc.text, doc.url)

        found.extend(pair(candidates(), table, spill=spill))
    current = {fr: en for en, fr, _ in found}
    changed = {i for i in previous.keys() | current.keys() if previous.get(i) != current.get(i)}
    save_map(index.path, found)
    if changed:
        index.retwin(store, sorted(changed), current)
    log.info("twins found without markup: %d pairs (%d documents changed)", len(found), len(changed))
    return len(changed)
