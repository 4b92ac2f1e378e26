"""EN<->FR word translations learned from the collection's own twins.

The curated glossary knows the public service's senses and the FreeDict
dictionaries know everyday words, but neither knows a collection's own usage
(Debian says *paquet* for package, not *emballage*). The EN/FR versions of a page
(twins: ``translation_of``, hreflang, langlinks, or pairs found by
:mod:`indexer.twins`) say it: the same paragraphs, in the other language.

Learning:

1. each twin pair gives aligned units: the titles, then paragraphs lined up by a
   length-based dynamic programme (Gale & Church's idea: a paragraph and its
   translation have proportional lengths; 1-1, 1-0, 0-1, 2-1 and 1-2 beads);
2. units are analysed with the index's own analysers, so the table maps an English
   *index term* to French index terms and the query can use them as they are;
3. IBM Model 1 (EM over word alignments, with a NULL word) in both directions; a
   translation's weight is the geometric mean of t(f|e) and t(e|f), which keeps
   pairs both directions agree on and drops frequent words that co-occur with
   everything. Model 1 was chosen over an association measure (Dice, G2) because
   its "explaining away" gives "paquet" to "package" rather than to every word
   that shares its paragraphs.

The table is a JSON file kept beside the index directory (``<index>.translations.json``,
outside it, so that swapping in a rebuilt index keeps it), rebuilt by ``savoir reindex``
and relearned after a crawl when the number of twins has grown by a quarter. After a
crawl it is learned in a forked process while the crawl's process resolves the people
(:func:`start`), and the units are read and analysed in two processes
(:func:`_units_from_store`); either way the table is the one a single process learns.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from indexer.forked import Forked
from indexer.twins import load_map as load_twin_map

log = logging.getLogger(__name__)

SUFFIX = ".translations.json"


def table_path(index_path: Path) -> Path:
    """Where the table of the index at *index_path* is kept."""
    index_path = Path(index_path)
    return index_path.with_name(index_path.name + SUFFIX)


ITERATIONS = 6
#: a unit longer than this (in index terms) is cut: EM's cost is |e| x |f| per unit
MAX_UNIT_TERMS = 60
#: at most this many units are learned from (a sample of a large collection's twins)
MAX_UNITS = 60_000
MIN_PAIR_COUNT = 2  # a pair seen in fewer units is chance
MIN_WEIGHT = 0.08
MAX_TRANSLATIONS = 4
FRENCH_PER_ENGLISH_CHAR = 1.15  # French runs about 15% longer than English
#: paragraphs of a twin stay within this many places of the diagonal
BAND = 12


@dataclass
class TranslationTable:
    """index term -> [(other-language index term, weight 0..1)], both directions."""

    to_fr: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    to_en: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    twins: int = 0  # how many twin pairs it was learned from
    units: int = 0

    def translate(self, term: str, language: str) -> list[tuple[str, float]]:
        """Translations of an index *term* of *language* ("en" or "fr")."""
        return (self.to_fr if language == "en" else self.to_en).get(term, [])

    def __len__(self) -> int:
        return len(self.to_fr) + len(self.to_en)

    # -- persistence ----------------------------------------------------------------
    def save(self, index_path: Path) -> None:
        """Write the table beside the index at *index_path* (atomically)."""
        path = table_path(index_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"twins": self.twins, "units": self.units, "to_fr": self.to_fr, "to_en": self.to_en}
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".translations-")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(payload, out, ensure_ascii=False, separators=(",", ":"))
        os.replace(tmp, path)

    @classmethod
    def load(cls, index_path: Path) -> TranslationTable:
        """The table of the index at *index_path*; an empty one when there is none or it is damaged."""
        path = table_path(index_path)
        try:
            data = json.loads(path.read_text("utf-8"))
            return cls(
                to_fr={k: [(t, float(w)) for t, w in v] for k, v in data["to_fr"].items()},
                to_en={k: [(t, float(w)) for t, w in v] for k, v in data["to_en"].items()},
                twins=int(data.get("twins", 0)),
                units=int(data.get("units", 0)),
            )
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("translation table %s is unreadable (%s); relearn it with savoir reindex", path, exc)
            return cls()


# --- alignment ---------------------------------------------------------------------


#: the beads: (English paragraphs, French paragraphs, cost added; None: a skip)
_BEADS = ((1, 1, 0.0), (1, 0, None), (0, 1, None), (2, 1, 1.0), (1, 2, 1.0))


def align_paragraphs(en: list[str], fr: list[str]) -> list[tuple[str, str]]:
    """Pairs of (English, French) text that translate each other, by length.

    A dynamic programme over beads 1-1, 1-0, 0-1, 2-1, 1-2; the cost of a bead is
    how far its French length is from the expected one, in units of the square
    root of the length (longer paragraphs may differ more). Skips are expensive, so
    only paragraphs that clearly have no counterpart are left out.
    """
    n, m = len(en), len(fr)
    if not n or not m:
        return []
    # lengths of the first k paragraphs (a bead's length is a difference of two)
    le, lf = [0], [0]
    for p in en:
        le.append(le[-1] + len(p))
    for p in fr:
        lf.append(lf[-1] + len(p))
    sqrt, ratio = math.sqrt, FRENCH_PER_ENGLISH_CHAR

    inf = float("inf")
    best = [[inf] * (m + 1) for _ in range(n + 1)]
    back: list[list[tuple[int, int] | None]] = [[None] * (m + 1) for _ in range(n + 1)]
    best[0][0] = 0.0
    skip = 3.0
    band = max(BAND, abs(n - m) + 2)
    for i in range(n + 1):
        centre = i * m // n
        row = best[i]
        for j in range(max(0, centre - band), min(m, centre + band) + 1):
            here = row[j]
            if here == inf:
                continue
            for di, dj, extra in _BEADS:
                a, b = i + di, j + dj
                if a > n or b > m:
                    continue
                if extra is None:
                    c = skip
                else:
                    # how far the French length is from the expected one (see the docstring)
                    e_len, f_len = le[a] - le[i], lf[b] - lf[j]
                    expected = e_len * ratio
                    c = abs(f_len - expected) / sqrt(expected + f_len + 10.0) + extra
                if here + c < best[a][b]:
                    best[a][b] = here + c
                    back[a][b] = (i, j)
    out = []
    i, j = n, m
    while (i, j) != (0, 0):
        prev = back[i][j]
        if prev is None:
            break
        pi, pj = prev
        if i > pi and j > pj:
            out.append((" ".join(en[pi:i]), " ".join(fr[pj:j])))
        i, j = pi, pj
    out.reverse()
    return out


# --- IBM Model 1 ---------------------------------------------------------------------


def _unique_inverse(keys, positions, spare):
    """``np.unique(keys, return_inverse=True)`` of non-negative int64 *keys*, by one
    in-place sort of each key packed with its position (*positions*: ``arange``).

    ``np.unique`` argsorts, which is several times slower than sorting packed keys
    (1.4 s against 0.5 s for Model 1's 12.8 million slots at 100k documents). *keys*,
    *positions* and *spare* are overwritten; the answer is the same, position ties
    included (a position only breaks ties).
    """
    import numpy as np

    n = len(keys)
    shift = max((n - 1).bit_length(), 1)
    if not n or int(keys.max()).bit_length() + shift > 63:
        return np.unique(keys, return_inverse=True)
    keys <<= shift
    keys |= positions
    keys.sort()
    order = np.bitwise_and(keys, (1 << shift) - 1, out=positions)
    keys >>= shift
    first = np.empty(n, dtype=bool)  # where a new key starts, in sorted order
    first[0] = True
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    ranks = np.cumsum(first, dtype=np.int64, out=spare)  # (a bool cumsum without dtype is 10x slower)
    ranks -= 1
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = ranks
    return keys[first], inverse


def _model1(units: list[tuple[list[int], list[int]]], null: int, iterations: int):
    """IBM Model 1 by EM, vectorised: (source ids, target ids, t(target | source), counts).

    Every (target word, source word) slot of every unit is one entry of flat arrays,
    ordered unit by unit and target by target (a row: one target and all its unit's
    sources), so the E step's normalisation is a segment sum (``np.add.reduceat``)
    and the M step two ``np.bincount`` calls. The arrays are hundreds of megabytes at
    100k documents and allocating one costs as much as an operation on it, so they
    are built once and reused in place.
    """
    import numpy as np

    base = null + 1
    # each unit's sources (its words and the NULL word) and targets, end to end
    src_len = np.fromiter((len(src) + 1 for src, _ in units), dtype=np.int64, count=len(units))
    tgt_len = np.fromiter((len(tgt) for _, tgt in units), dtype=np.int64, count=len(units))
    sources = np.fromiter((w for src, _ in units for w in (*src, null)), dtype=np.int64, count=int(src_len.sum()))
    targets = np.fromiter((w for _, tgt in units for w in tgt), dtype=np.int64, count=int(tgt_len.sum()))
    rows = np.repeat(src_len, tgt_len)  # a row's slots: its unit's sources
    starts = np.cumsum(rows) - rows
    n = int(rows.sum())
    positions = np.arange(n, dtype=np.int64)
    # slot k of a row is source k of the row's unit
    source_at = np.repeat(np.repeat(np.cumsum(src_len) - src_len, tgt_len) - starts, rows)
    source_at += positions
    keys = np.take(sources, source_at)
    keys *= base
    keys += np.repeat(targets, rows)
    pairs, inverse = _unique_inverse(keys, positions, source_at)
    del keys, positions, source_at
    source_of = pairs // base
    slots = np.empty(n)
    t = np.ones(len(pairs))
    for _ in range(iterations):
        np.take(t, inverse, out=slots)
        z = np.add.reduceat(slots, starts)
        np.divide(slots, np.repeat(z, rows), out=slots)  # each slot's share of its row
        count = np.bincount(inverse, weights=slots, minlength=len(pairs))
        total = np.bincount(source_of, weights=count, minlength=base)
        t = count / total[source_of]
    return source_of, pairs % base, t, np.bincount(inverse, minlength=len(pairs))


#: units from which the two directions of Model 1 are learned at once, one in a
#: forked process (each direction is seconds of numpy on one core)
PARALLEL_UNITS = 5000


def _reverse_model(units, null: int, iterations: int):
    """t(e | f) of the reverse direction, the entries above MIN_WEIGHT / 4 only."""
    f_src, f_tgt, en_given_fr, _ = _model1([(f, e) for e, f in units], null, iterations)
    keep = en_given_fr > MIN_WEIGHT / 4
    return f_src[keep], f_tgt[keep], en_given_fr[keep]


def _both_directions(units, null: int, iterations: int):
    """Model 1 both ways: the forward model, and the reverse one as :func:`_reverse_model`
    gives it. With many units the reverse one is learned in a forked process meanwhile
    (the same numbers; learned here when that process fails)."""
    if len(units) < PARALLEL_UNITS:
        return _model1(units, null, iterations), _reverse_model(units, null, iterations)
    child = Forked(lambda: _reverse_model(units, null, iterations), what="the reverse translation model")
    forward = _model1(units, null, iterations)
    done, reverse = child.result()
    if not done:
        reverse = _reverse_model(units, null, iterations)
    return forward, reverse


def _types(lang: str, text: str) -> list[str]:
    """The index terms of one side of a unit, each word once, in reading order: what
    the learner counts (a repeated word is one word; digits and letters alone are not)."""
    from indexer.query import analyse

    return [term for term in dict.fromkeys(analyse(lang, text)) if len(term) >= 2 and not term.isdigit()]


def _analysed(units: Iterable[tuple[str, str]], seen: dict) -> Iterator[tuple[list[str], list[str]]]:
    """Each unit as its two sides' terms (:func:`_types`), each text analysed once (*seen* remembers them:
    twins repeat paragraphs, such as boilerplate, quoted passages, a page's versions)."""
    for en, fr in units:
        e = seen.get(("en", en))
        if e is None:
            e = seen[("en", en)] = _types("en", en)
        f = seen.get(("fr", fr))
        if f is None:
            f = seen[("fr", fr)] = _types("fr", fr)
        yield e, f


def learn(units: Iterable[tuple[str, str]], twins: int = 0, iterations: int = ITERATIONS) -> TranslationTable:
    """A table from (English text, French text) units that translate each other."""
    return learn_terms(_analysed(units, {}), twins, iterations)


def learn_terms(
    units: Iterable[tuple[list[str], list[str]]], twins: int = 0, iterations: int = ITERATIONS
) -> TranslationTable:
    """A table from units given as their two sides' terms (see :func:`_analysed`)."""
    import numpy as np

    words: list[str] = []
    english: dict[str, int] = {}
    french: dict[str, int] = {}

    def ids(known: dict[str, int], terms: list[str]) -> list[int]:
        # the ids are given in reading order, to every term of a unit (also past
        # MAX_UNIT_TERMS, and of a unit left out for an empty side)
        out = []
        for term in terms:
            found = known.get(term)
            if found is None:
                found = known[term] = len(words)
                words.append(term)
            out.append(found)
        return out[:MAX_UNIT_TERMS]

    data = []
    for en, fr in units:
        e, f = ids(english, en), ids(french, fr)
        if e and f:
            data.append((e, f))
        if len(data) >= MAX_UNITS:
            break
    table = TranslationTable(twins=twins, units=len(data))
    if not data:
        return table
    null = len(words)
    (e_src, e_tgt, fr_given_en, counts), (f_src, f_tgt, en_given_fr) = _both_directions(data, null, iterations)
    # the forward pairs worth a look, each with t(e | f) of the same pair (0 when the
    # reverse model dropped it), as arrays: millions of pairs, a few thousand kept
    keep = (e_src != null) & (fr_given_en >= MIN_WEIGHT / 4) & (counts >= MIN_PAIR_COUNT)
    e_src, e_tgt, fr_given_en = e_src[keep], e_tgt[keep], fr_given_en[keep]
    base = null + 1
    back = f_src * base + f_tgt
    order = np.argsort(back)
    back, en_given_fr = back[order], en_given_fr[order]
    wanted = e_tgt * base + e_src
    at = np.minimum(np.searchsorted(back, wanted), max(len(back) - 1, 0))
    both = np.where(back[at] == wanted, en_given_fr[at], 0.0) if len(back) else np.zeros(len(wanted))
    weight = np.sqrt(fr_given_en * both)
    good = weight >= MIN_WEIGHT
    to_fr: dict[str, list[tuple[str, float]]] = defaultdict(list)
    to_en: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for e, f, w in zip(e_src[good].tolist(), e_tgt[good].tolist(), weight[good].tolist(), strict=True):
        to_fr[words[e]].append((words[f], round(w, 3)))
        to_en[words[f]].append((words[e], round(w, 3)))
    table.to_fr = {k: sorted(v, key=lambda x: -x[1])[:MAX_TRANSLATIONS] for k, v in to_fr.items()}
    table.to_en = {k: sorted(v, key=lambda x: -x[1])[:MAX_TRANSLATIONS] for k, v in to_en.items()}
    return table


def twin_units(pairs: Iterable[tuple[tuple[str, str], tuple[str, str]]]) -> Iterator[tuple[str, str]]:
    """Aligned units of twin pairs given as ((en title, en text), (fr title, fr text))."""
    from indexer.language import split_blocks

    for (en_title, en_text), (fr_title, fr_text) in pairs:
        if en_title and fr_title:
            yield en_title, fr_title
        yield from align_paragraphs(split_blocks(en_text), split_blocks(fr_text))


#: twin pairs whose texts are read from the store at once
READ_PAIRS = 250


def learn_from_store(
    store, languages: dict[str, str] | None = None, paired: dict[str, str] | None = None
) -> TranslationTable:
    """Learn from every EN/FR twin pair the store holds (``translation_of`` links) and
    from the pairs :mod:`indexer.twins` found (*paired*: document -> its twin's id).

    *languages* maps a document id to its index language when known (the index's
    ``lang`` field); otherwise the stated language decides.

    The pairs are listed from the documents' ids and languages alone; their titles and
    texts are read a few hundred pairs at a time, in the pairs' order, only until the
    learner has its :data:`MAX_UNITS` units (a large collection's twins are never all
    held in memory, and those past the sample are not read).
    """
    from sqlalchemy import select

    from indexer.store import documents

    links = list((paired or {}).items())
    with store.engine.connect() as conn:
        links += [
            (r.id, r.translation_of)
            for r in conn.execute(
                select(documents.c.id, documents.c.translation_of).where(
                    documents.c.translation_of.is_not(None), documents.c.deleted.is_(False)
                )
            )
        ]
        # only the twins' languages first (a collection's other documents teach nothing here)
        wanted = sorted({d for link in links for d in link})
        language_of = {}
        for start in range(0, len(wanted), 500):
            query = select(documents.c.id, documents.c.language).where(
                documents.c.id.in_(wanted[start : start + 500]), documents.c.deleted.is_(False)
            )
            for row in conn.execute(query):
                lang = (languages or {}).get(row.id) or row.language
                if lang in ("en", "fr"):
                    language_of[row.id] = lang
    pairs = []
    for a, b in links:
        if a in language_of and b in language_of and language_of[a] != language_of[b]:
            pairs.append((a, b) if language_of[a] == "en" else (b, a))
    table = learn_terms(_units_from_store(store, pairs), twins=len(pairs))
    log.info("learned %d translations from %d twin pairs (%d units)", len(table), len(pairs), table.units)
    return table


def _pair_texts(store, pairs: list[tuple[str, str]]) -> Iterator[tuple[tuple[str, str], tuple[str, str]]]:
    """((en title, en text), (fr title, fr text)) of each (English id, French id) pair,
    read from the store :data:`READ_PAIRS` pairs at a time, in order."""
    for start in range(0, len(pairs), READ_PAIRS):
        chunk = pairs[start : start + READ_PAIRS]
        docs = store.documents_by_id(sorted({d for pair in chunk for d in pair}))
        for en, fr in chunk:
            if en in docs and fr in docs:  # both still there
                yield (docs[en].title, docs[en].text), (docs[fr].title, docs[fr].text)


#: from this many twin pairs on, every other chunk of READ_PAIRS is read, aligned and
#: analysed in a second process meanwhile (fewer: all here)
PARALLEL_PAIRS = 4 * READ_PAIRS
#: each process takes chunks until it has this share of MAX_UNITS units
CHUNK_SHARE = 0.5


def _units_from_store(store, pairs: list[tuple[str, str]]) -> Iterator[tuple[list[str], list[str]]]:
    """The units of the (English id, French id) *pairs* as :func:`_analysed` gives them, in order.

    Reading, aligning and analysing are half of learning, on one core. With many pairs
    a forked process takes the odd chunks of :data:`READ_PAIRS` pairs and this one the
    even ones, each until it has half the :data:`MAX_UNITS` units; a
    chunk neither took (the units were sparse there) is done here when it is reached.
    The units and their order are the same as in one process.
    """
    chunks = [pairs[start : start + READ_PAIRS] for start in range(0, len(pairs), READ_PAIRS)]
    seen: dict = {}
    done: dict[int, list] = {}
    if len(pairs) >= PARALLEL_PAIRS and store.forkable:
        child = Forked(
            lambda: _take_chunks(store, chunks, 1, {}),
            what="reading the twins for the translations",
            prepare=store.after_fork,
        )
        try:
            done = _take_chunks(store, chunks, 0, seen)
        finally:
            finished, theirs = child.result(LEARN_DEADLINE)
        if finished:
            done.update(theirs)
    for k, chunk in enumerate(chunks):
        if k in done:
            yield from done.pop(k)
        else:
            yield from _analysed(twin_units(_pair_texts(store, chunk)), seen)


def _take_chunks(store, chunks: list, first: int, seen: dict) -> dict[int, list]:
    """Every other chunk's units from chunk *first* on, until they hold CHUNK_SHARE of
    MAX_UNITS units with both sides (the learner's own count), by chunk number."""
    taken, units = {}, 0
    for k in range(first, len(chunks), 2):
        found = taken[k] = list(_analysed(twin_units(_pair_texts(store, chunks[k])), seen))
        units += sum(1 for e, f in found if e and f)
        if units >= MAX_UNITS * CHUNK_SHARE:
            break
    return taken


class TableFile:
    """The table kept beside an index, reread when a reindex or a crawl relearns it."""

    def __init__(self, index_path: Path) -> None:
        self.index_path = Path(index_path)
        self.path = table_path(index_path)
        self._stamp: tuple[int, int] | None = None
        self._table: TranslationTable | None = None

    def get(self) -> TranslationTable | None:
        try:
            info = self.path.stat()
            stamp = (info.st_mtime_ns, info.st_size)
        except OSError:
            return None
        if stamp != self._stamp:
            self._table, self._stamp = TranslationTable.load(self.index_path), stamp
        return self._table or None


#: relearn after a crawl once the store holds this much more twins than the table saw
RELEARN_GROWTH = 1.25


def twin_count(store) -> int:
    """How many live documents name their other-language version."""
    from sqlalchemy import func, select

    from indexer.store import documents

    query = (
        select(func.count())
        .select_from(documents)
        .where(documents.c.translation_of.is_not(None), documents.c.deleted.is_(False))
    )
    with store.begin() as conn:
        return int(conn.execute(query).scalar() or 0)


#: seconds the learner's process may take before it is stopped and the table is learned
#: here (the learner reads at most MAX_UNITS units: about ten seconds at any size)
LEARN_DEADLINE = 900.0


class Relearning:
    """The table beside *index* being relearned (see :func:`start`): :meth:`finish`
    waits for it, saves it and returns it (None when the table in place is current)."""

    def __init__(self, store, index, *, force: bool, fork: bool) -> None:
        self.index = index
        self._child: Forked | None = None
        current = TranslationTable.load(index.path)
        paired = load_twin_map(index.path)
        twins = twin_count(store) + len(paired)
        self.needed = force or (twins > 0 and twins >= max(current.twins, 1) * RELEARN_GROWTH)
        if not self.needed:
            return
        # the index's languages are read by the learner (in its process, when forked)
        self._learn = lambda: learn_from_store(store, index_languages(index), paired)
        if fork and store.forkable:
            self._child = Forked(self._learn, what="learning the translations", prepare=store.after_fork)

    def finish(self) -> TranslationTable | None:
        if not self.needed:
            return None
        done, table = self._child.result(LEARN_DEADLINE) if self._child is not None else (False, None)
        if not done:
            table = self._learn()
        table.save(self.index.path)
        return table


def start(store, index, *, force: bool = False, fork: bool = True) -> Relearning:
    """Start relearning the table beside *index* when forced (reindex) or when twins
    have grown; with *fork*, in a forked process (whose store connections are its
    own), so that this one can do other work meanwhile: after a crawl, the learner's
    ten seconds on one core run beside the people step. Call ``finish()`` on the
    answer, whatever happens meanwhile (it reaps the process)."""
    return Relearning(store, index, force=force, fork=fork)


def refresh(store, index, *, force: bool = False) -> TranslationTable | None:
    """Relearn the table beside *index* here and now, when :func:`start` would.

    Returns the new table, or None when the one in place is still current.
    """
    return start(store, index, force=force, fork=False).finish()


def index_languages(index) -> dict[str, str]:
    """The index language ("en" or "fr") of each live document of *index*, by id."""
    languages = {}
    with index.ix.searcher() as searcher:
        # the id and lang columns, not every document's stored fields
        reader = searcher.reader()
        if reader.has_column("id") and reader.has_column("lang"):
            # each segment's two columns read in one pass (0.15 s at 100k, against 0.4 s
            # a document at a time through the multi-segment reader)
            for segment, _ in reader.leaf_readers():
                deletions = segment.has_deletions()
                columns = zip(segment.column_reader("id"), segment.column_reader("lang"), strict=True)
                for docnum, (doc_id, lang) in enumerate(columns):
                    if lang in ("en", "fr") and not (deletions and segment.is_deleted(docnum)):
                        languages[doc_id] = lang
        else:
            for fields in searcher.all_stored_fields():
                if fields.get("lang") in ("en", "fr"):
                    languages[fields["id"]] = fields["lang"]
    return languages
