"""Vectorised evaluation of Savoir's Whoosh queries (numpy over cached postings).

Whoosh matches, scores and counts one posting at a time in pure Python; at 100k
documents a query over common words walks tens of thousands of postings three
times (top hits, total, facets) and costs ~0.5 s. This module evaluates the same
query trees with numpy instead: each segment's postings, field lengths and facet
columns are read once (block by block, not posting by posting) and kept, and
every query is then a handful of array operations per leaf.

The scores are Whoosh's own BM25F (same idf, average field length, quantised field
lengths, field boosts and term boosts; sums for AND/OR), so rankings do not change:
``tests/test_accel.py`` checks hits, scores, totals and facets against Whoosh.
Whoosh stays the index format, the analysis and the reference; anything this module
does not know (phrases, odd query types) is asked of Whoosh's own matcher.

Segments never change once written except for deletions, so their arrays are kept
across index generations (keyed by segment id) and only new segments are read
after a crawl; deletions are a per-generation mask.

Memory: the cached postings are bounded in bytes (``[memory] postings_cache_mb``),
the pooled searchers in number (``[memory] searchers``). The per-segment data is
needed whole by every query (each matching document's field lengths, facet codes,
twin key), so it grows with the collection; it is kept compact instead: one byte a
document for a field length or a small facet's code, text columns as UTF-8 bytes.
:meth:`Accelerator.memory` says what each kind holds (``bench/memory.py`` prints it).
"""

from __future__ import annotations

import copy
import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pickle import loads

import numpy as np
from whoosh.formats import Positions
from whoosh.query import And, AndNot, DateRange, Every, NullQuery, Or, Phrase, Query, Term
from whoosh.query.compound import DefaultOr
from whoosh.query.wrappers import ConstantScoreQuery
from whoosh.reading import TermNotFound
from whoosh.util.numeric import byte_to_length

from config.loader import MemorySettings
from indexer import flat_postings
from indexer.query import AtLeast, BestOf

#: Whoosh's BM25F defaults (the index uses the default weighting)
K1, B = 1.2, 0.75
#: bytes of postings kept in memory across queries when no limit is given (the
#: ``[memory] postings_cache_mb`` setting's default)
POSTINGS_CACHE_BYTES = MemorySettings().postings_cache_bytes
#: a numeric column's value for documents that have none (below every real value)
MISSING = np.iinfo(np.int64).min
#: a term with no postings in a part (read-only: never written through)
_NO_IDS = np.empty(0, dtype=np.int32)
_NO_VALUES = np.empty(0)
_NO_IDS.flags.writeable = _NO_VALUES.flags.writeable = False
_BYTE_TO_LENGTH = np.array([byte_to_length(b) for b in range(256)], dtype=np.float64)


class Unsupported(Exception):
    """The index is not made of Whoosh 3 codec segments (this evaluator reads those only)."""


class SegmentData:
    """What one immutable Whoosh segment gives every query, read once and kept."""

    def __init__(self, segment_id: str, size: int) -> None:
        self.id = segment_id
        self.size = size
        #: (kind, field) -> lengths, facet codes, value masks, columns... (see Accelerator)
        self.derived: dict[tuple[str, str], object] = {}


class TextColumn:
    """A stored text column (document ids, twin keys) as UTF-8 bytes and end offsets:
    about its text's length plus 4 bytes a document, where a list of Python strings
    costs ~57 bytes more (the string object and the list's pointer)."""

    __slots__ = ("_blob", "_ends")

    def __init__(self, values: list[str]) -> None:
        encoded = [value.encode("utf-8") for value in values]
        self._blob = b"".join(encoded)
        ends = np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)))
        self._ends = ends.astype(np.uint32) if len(self._blob) < 2**32 else ends

    def __len__(self) -> int:
        return len(self._ends)

    def __getitem__(self, i: int) -> str:
        if i < 0:
            i += len(self._ends)
        end = int(self._ends[i])  # IndexError past the end, as a list
        start = int(self._ends[i - 1]) if i else 0
        return self._blob[start:end].decode("utf-8")

    def __iter__(self) -> Iterator[str]:
        text = self._blob.decode("utf-8") if self._blob.isascii() else None
        start = 0
        for end in self._ends.tolist():
            yield text[start:end] if text is not None else self._blob[start:end].decode("utf-8")
            start = end

    @property
    def nbytes(self) -> int:
        return len(self._blob) + self._ends.nbytes


def _compact(values: list) -> TextColumn | list:
    """*values* as a :class:`TextColumn` when they are all text, else as they are."""
    return TextColumn(values) if all(type(v) is str for v in values) else values


def _nbytes(value) -> int:
    """About how many bytes a per-segment datum holds (arrays, columns, lists of values)."""
    if isinstance(value, (np.ndarray, TextColumn)):
        return value.nbytes
    if isinstance(value, (tuple, list)):
        return sys.getsizeof(value) + sum(_nbytes(v) for v in value)
    return sys.getsizeof(value)


class PostingsCache:
    """(segment, field, term) -> (local doc ids, weights), bounded by *limit* bytes
    (see :func:`_weight`), least recently used dropped first within each of two pools.

    What a miss costs differs by far more than what an entry weighs: a term whose
    postings come from a segment's flat file is one ``pread`` again (about 100
    microseconds for 6,500 postings at a million documents), a rare term decoded from
    Whoosh's blocks or a term absent from a segment is a term-dictionary look-up and a
    few unpickled blocks (40-240 microseconds for a few hundred bytes). In one pool,
    a search's common words pushed out the rare and absent terms that are dearer to
    find again, byte for byte (at 1M, the 200 title queries' second pass missed 33,000
    of them: about 16 ms a search). Entries put with ``cheap=True`` (re-read from a
    flat file) are therefore dropped first, while the other entries weigh at most
    :data:`DEAR_SHARE` of the limit; past it the dear ones go, oldest first."""

    def __init__(self, limit: int = POSTINGS_CACHE_BYTES) -> None:
        self.limit = limit
        self.size = 0
        self.dear_size = 0
        self._dear: OrderedDict = OrderedDict()
        self._cheap: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._dear) + len(self._cheap)

    def keys(self) -> list:
        with self._lock:
            return [*self._dear, *self._cheap]

    def get(self, key):
        with self._lock:
            for items in (self._dear, self._cheap):
                value = items.get(key)
                if value is not None:
                    items.move_to_end(key)
                    return value
            return None

    def put(self, key, value, cheap: bool = False) -> None:
        with self._lock:
            if key in self._dear or key in self._cheap:
                return
            weight = _weight(value)
            (self._cheap if cheap else self._dear)[key] = value
            self.size += weight
            if not cheap:
                self.dear_size += weight
            while self.size > self.limit and len(self) > 1:
                cheapest = self._cheap and self.dear_size <= self.limit * DEAR_SHARE
                _, dropped = (self._cheap if cheapest else self._dear).popitem(last=False)
                weight = _weight(dropped)
                self.size -= weight
                if not cheapest:
                    self.dear_size -= weight

    def clear(self, fields: frozenset[str] | None = None) -> None:
        """Forget every entry, or only those of *fields*."""
        self._drop(lambda key: fields is None or key[1] in fields)

    def forget(self, segment_ids: set[str]) -> None:
        """Forget the entries of segments not in *segment_ids*."""
        self._drop(lambda key: key[0] not in segment_ids)

    def _drop(self, unwanted) -> None:
        with self._lock:
            for items in (self._dear, self._cheap):
                for key in [k for k in items if unwanted(k)]:
                    weight = _weight(items.pop(key))
                    self.size -= weight
                    if items is self._dear:
                        self.dear_size -= weight


#: the share of the postings cache the entries dear to find again (decoded from
#: Whoosh's blocks, absent terms, positions) may hold before the cheap ones stop
#: being dropped first (see :class:`PostingsCache`)
DEAR_SHARE = 0.5


#: what an entry costs beyond its arrays, in bytes: the key (a tuple holding the term's
#: bytes), the value tuple and the ordered dict's link; and each array's header.
#: With tracemalloc an empty entry took 474 bytes with two arrays, 657 with three.
ENTRY_OVERHEAD = 256
ARRAY_OVERHEAD = 128


def _weight(value: tuple[np.ndarray, ...]) -> int:
    """An entry's weight in the cache, in bytes: its arrays' data and headers plus a
    fixed overhead, so that the empty results of absent terms (typos, probes) count too."""
    return sum(array.nbytes + ARRAY_OVERHEAD for array in value) + ENTRY_OVERHEAD


def _read_postings(matcher) -> tuple[np.ndarray, np.ndarray]:
    """All (ids, weights) of a leaf matcher, a block at a time where the codec allows."""
    ids: list = []
    weights: list = []
    if all(hasattr(matcher, a) for a in ("_read_data", "_next_block", "_byteids", "_blocklength")):
        # Whoosh 3 codec: blocks of up to 128 postings, each a pickled (ids, weights, ...)
        # tuple; decoded here as arrays (ids are deltas unless stored as bytes)
        while matcher.is_active():
            if matcher._data is None:
                matcher._read_data()
            raw_ids, raw_weights = matcher._data[0], matcher._data[1]
            block = np.asarray(raw_ids, dtype=np.int64)
            ids.append(block if matcher._byteids else np.cumsum(block))
            if raw_weights is None:
                weights.append(np.ones(matcher._blocklength))
            elif isinstance(raw_weights, float):
                weights.append(np.full(matcher._blocklength, raw_weights))
            else:
                weights.append(np.asarray(raw_weights, dtype=np.float64))
            matcher._next_block()
        if not ids:
            return np.empty(0, dtype=np.int32), np.empty(0, dtype=np.float32)
        return np.concatenate(ids).astype(np.int32), np.concatenate(weights).astype(np.float32)
    else:  # inlined postings of rare terms, other codecs
        while matcher.is_active():
            ids.append(matcher.id())
            weights.append(matcher.weight())
            matcher.next()
    return np.asarray(ids, dtype=np.int32), np.asarray(weights, dtype=np.float32)


def _read_positions(
    reader, fieldname: str, btext: bytes, wanted: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A term's (local ids, positions per id, all positions) as int32 from a segment's
    Whoosh blocks; with *wanted* (sorted ids), only the blocks that may hold one."""
    fmt = reader.schema[fieldname].format
    ids: list[int] = []
    counts: list[int] = []
    flat: list[int] = []
    matcher = reader._terms.matcher(fieldname, btext, fmt) if (fieldname, btext) in reader else None
    if (
        matcher is not None
        and type(fmt) is Positions
        and all(hasattr(matcher, a) for a in ("_read_data", "_read_values", "_next_block", "_byteids"))
    ):
        # Whoosh's Positions value: a 4-byte count, then a pickled list of deltas whose
        # final STOP opcode was trimmed; decoded a block at a time, summed with numpy
        deltas: list[int] = []
        below = 0  # how many wanted ids lie at or before the previous block's last id
        while matcher.is_active():
            if wanted is not None:
                upto = int(np.searchsorted(wanted, matcher._maxid, side="right"))
                if upto == below:  # no candidate in this block: its data is not read
                    matcher._next_block()
                    continue
                below = upto
            if matcher._data is None:
                matcher._read_data()
            raw = np.asarray(matcher._data[0], dtype=np.int64)
            ids.extend((raw if matcher._byteids else np.cumsum(raw)).tolist())
            matcher._read_values()
            for v in matcher._values:
                codes = loads(v[4:] if v.endswith(b".") else v[4:] + b".")
                counts.append(len(codes))
                deltas.extend(codes)
            matcher._next_block()
        running = np.cumsum(np.asarray(deltas, dtype=np.int64))
        counts_array = np.asarray(counts, dtype=np.int64)
        starts = np.cumsum(counts_array) - counts_array
        before = np.where(starts > 0, running[np.maximum(starts - 1, 0)], 0) if len(running) else starts
        value = (
            np.asarray(ids, dtype=np.int32),
            counts_array.astype(np.int32),
            (running - np.repeat(before, counts_array)).astype(np.int32),
        )
    else:
        while matcher is not None and matcher.is_active():
            ids.append(matcher.id())
            found = fmt.decode_positions(matcher.value())
            counts.append(len(found))
            flat.extend(found)
            matcher.next()
        value = (
            np.asarray(ids, dtype=np.int32),
            np.asarray(counts, dtype=np.int32),
            np.asarray(flat, dtype=np.int32),
        )
    return value


def prepare_flat_postings(ix, text_fields: frozenset[str]) -> int:
    """Write the flat postings files of the segments of *ix* that have none
    (:mod:`indexer.flat_postings`); the process that writes the index calls it."""
    return flat_postings.prepare(ix, text_fields, _read_postings, _read_positions)


@dataclass
class Part:
    """One segment as seen by one query: its data, reader, first docnum and live docs."""

    data: SegmentData
    reader: object
    offset: int
    alive: np.ndarray | None  # None: no deletions

    @property
    def size(self) -> int:
        return self.data.size


@dataclass
class Evaluation:
    """A query's matches and scores in every segment: per segment, the matching local
    document numbers (sorted) and their scores, in the same order."""

    parts: list[Part]
    ids: list[np.ndarray]
    values: list[np.ndarray]
    #: text-field leaves as (field, text, {segment offset: local ids}), for "matched terms"
    leaves: list[tuple[str, str, dict[int, np.ndarray]]] = field(default_factory=list)

    def count(self) -> int:
        return sum(len(ids) for ids in self.ids)


class Accelerator:
    """Vectorised query evaluation over one Whoosh index, shared by every request."""

    def __init__(self, ix, text_fields: frozenset[str], memory: MemorySettings | None = None) -> None:
        self.ix = ix
        self.text_fields = text_fields
        memory = memory or MemorySettings()
        self.postings = PostingsCache(memory.postings_cache_bytes)
        #: pooled searchers at most (each holds its segments' readers open)
        self.pool_size = memory.searchers
        #: the index as searches open it: the same files, read with mmap or plain reads
        #: (writers and merges keep the index's own way)
        self._reading = ix
        if getattr(getattr(ix, "storage", None), "supports_mmap", memory.mmap) != memory.mmap:
            self._reading = copy.copy(ix)
            self._reading.storage = copy.copy(ix.storage)
            self._reading.storage.supports_mmap = memory.mmap
        self._segments: dict[str, SegmentData] = {}
        #: the twin pairs of the latest sets of segments (see :meth:`twin_pairs`)
        self._pairs: OrderedDict = OrderedDict()
        self._pool: list = []
        self._lock = threading.Lock()
        #: the common terms' postings as flat arrays, where the index's writer wrote them
        self.flat = flat_postings.Tables(getattr(ix.storage, "folder", None))

    # -- searchers ------------------------------------------------------------
    def _stamp(self) -> tuple:
        """What identifies the index's current state: its generation, and the identity
        of that generation's table of contents (a rebuild in another process swaps the
        whole directory, and its generation number may equal the old one)."""
        generation = self.ix.latest_generation()
        folder = getattr(self.ix.storage, "folder", None)
        if folder is None:
            return (generation,)
        try:
            info = os.stat(os.path.join(folder, f"_{self.ix.indexname}_{generation}.toc"))
        except OSError:
            return (generation,)
        return (generation, info.st_ino, info.st_mtime_ns)

    @contextmanager
    def searcher(self) -> Iterator:
        """A Whoosh searcher on the index's current state (pooled, never shared)."""
        stamp = self._stamp()
        searcher = None
        with self._lock:
            while self._pool and searcher is None:
                pooled_stamp, candidate = self._pool.pop()
                if pooled_stamp == stamp:
                    searcher = candidate
                else:
                    candidate.close()
        if searcher is None:
            searcher = self._reading.searcher()
        try:
            yield searcher
        finally:
            with self._lock:
                if len(self._pool) < self.pool_size and self._stamp() == stamp:
                    self._pool.append((stamp, searcher))
                    searcher = None
            if searcher is not None:
                searcher.close()

    def memory(self) -> dict[str, int]:
        """Bytes held, by kind: ``postings`` (the cache, bounded by its limit) and the
        per-segment data read so far (``lengths``, ``codes``, ``masks``, ``column``,
        ``ranks``, ``hashes``, ``numbers``; these grow with the collection), ``pairs``
        (the twin pairs of the last two sets of segments, 6 bytes a document each), and
        ``documents``, how many documents the segments read so far hold."""
        with self._lock:
            segments = list(self._segments.values())
            pairs = list(self._pairs.values())
        found = {"postings": self.postings.size, "documents": 0}
        found["pairs"] = sum(_nbytes(array) for arrays in pairs for kind in arrays for array in kind)
        for data in segments:
            if data.derived:
                found["documents"] += data.size
            for (kind, _), value in list(data.derived.items()):
                found[kind] = found.get(kind, 0) + _nbytes(value)
        return found

    def close(self) -> None:
        with self._lock:
            for _, searcher in self._pool:
                searcher.close()
            self._pool.clear()

    def parts(self, searcher) -> list[Part]:
        reader = searcher.reader()
        if reader.doc_count_all() == 0:
            return []
        leaves = reader.leaf_readers() if hasattr(reader, "leaf_readers") else [(reader, 0)]
        parts = []
        current = set()
        for segreader, offset in leaves:
            if not hasattr(segreader, "segment"):
                raise Unsupported(f"reader {type(segreader).__name__}")
            segment = segreader.segment()
            key = segment.segment_id()
            current.add(key)
            with self._lock:
                data = self._segments.get(key)
                if data is None:
                    data = self._segments[key] = SegmentData(key, segreader.doc_count_all())
            alive = None
            if segreader.has_deletions():
                alive = np.ones(data.size, dtype=bool)
                deleted = np.fromiter(segment.deleted_docs(), dtype=np.int64)
                alive[deleted[deleted < data.size]] = False
            parts.append(Part(data, segreader, offset, alive))
        if len(self._segments) > len(current) + 8:  # segments merged away: drop their data
            with self._lock:
                for key in [k for k in self._segments if k not in current]:
                    del self._segments[key]
            self.postings.forget(current)
            self.flat.forget(current)
        return parts

    # -- per-segment data -------------------------------------------------------
    def _postings(self, part: Part, fieldname: str, btext: bytes) -> tuple[np.ndarray, np.ndarray]:
        key = (part.data.id, fieldname, btext)
        cached = self.postings.get(key)
        if cached is not None:
            return cached
        reader = part.reader
        # a common term: one read of two plain arrays instead of hundreds of pickled blocks
        table = self.flat.of(part.data.id) if part.data.size >= flat_postings.FLAT_FROM else None
        value = table.get(fieldname, btext) if table is not None else None
        cheap = value is not None
        if value is None:
            # one look-up in the term dictionary (a membership test first made it two)
            try:
                matcher = reader._terms.matcher(fieldname, btext, reader.schema[fieldname].format)
            except TermNotFound:
                value = (np.empty(0, dtype=np.int32), np.empty(0, dtype=np.float32))
            else:
                value = _read_postings(matcher)
        self.postings.put(key, value, cheap=cheap)
        return value

    def _derived(self, part: Part, kind: str, fieldname: str, build):
        """Per-segment data, built once by ``build(part, fieldname)`` and kept."""
        key = (kind, fieldname)
        found = part.data.derived.get(key)
        if found is None:
            found = part.data.derived[key] = build(part, fieldname)
        return found

    def _length_codes(self, part: Part, fieldname: str) -> np.ndarray:
        """Each document's length in a text field as Whoosh stores it, one byte
        (``_BYTE_TO_LENGTH`` gives the quantised length Whoosh scores with)."""
        return self._derived(part, "lengths", fieldname, self._build_lengths)

    def codes(self, part: Part, fieldname: str) -> tuple[np.ndarray, list[str]]:
        """A single-valued field as one code per document (-1: none) and the values."""
        return self._derived(part, "codes", fieldname, self._build_codes)

    def value_masks(self, part: Part, fieldname: str) -> list[tuple[str, np.ndarray]]:
        """A multi-valued field as one document mask per value."""
        return self._derived(part, "masks", fieldname, self._build_masks)

    def column(self, part: Part, fieldname: str) -> list:
        """A sortable field's stored column for every document of the segment."""
        return self._derived(part, "column", fieldname, self._build_column)

    def id_ranks(self, part: Part) -> np.ndarray:
        """Each document's position in the segment's documents sorted by id."""
        return self._derived(part, "ranks", "id", self._build_ranks)

    def twin_pairs(self, parts: list[Part]) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
        """The EN/FR pairs of a set of segments and which version of each counts when
        both match, found once per set of segments instead of sorting every search's
        matches by twin key.

        Of the documents sharing a twin key, the one with the first language
        (``en`` < ``fr`` < others < none), then the lowest document number, counts.
        Per segment: ``partner``, for each document of a key two documents share, the
        other one's position in the segments' documents taken in order (-1
        otherwise); ``first``, whether it counts before its partner; ``crowded``,
        the documents whose key three or more share (rare: several translations of
        one original; a search sorts those few)."""
        key = tuple(part.data.id for part in parts)
        with self._lock:
            found = self._pairs.get(key)
        if found is not None:
            return found
        keys = np.concatenate([self.hashes(part, "twin") for part in parts])
        ranks = np.concatenate(self.language_ranks(parts))
        order = np.argsort(keys, kind="stable")  # a key's documents in document order
        ordered = keys[order]
        start = np.ones(len(ordered), dtype=bool)
        np.not_equal(ordered[1:], ordered[:-1], out=start[1:])
        group = np.cumsum(start) - 1
        size = np.bincount(group)[group]
        partner = np.full(len(keys), -1, dtype=np.int32 if len(keys) < 2**31 else np.int64)
        first = np.zeros(len(keys), dtype=bool)
        crowded = np.zeros(len(keys), dtype=bool)
        crowded[order[size >= 3]] = True
        pairs = np.flatnonzero(start & (size == 2))
        a, b = order[pairs], order[pairs + 1]  # a < b
        partner[a], partner[b] = b, a
        b_first = ranks[b] < ranks[a]
        first[a[~b_first]] = True
        first[b[b_first]] = True
        bounds = np.cumsum([part.size for part in parts])[:-1]
        found = (np.split(partner, bounds), np.split(first, bounds), np.split(crowded, bounds))
        with self._lock:
            self._pairs[key] = found
            while len(self._pairs) > 2:
                self._pairs.popitem(last=False)
        return found

    def language_ranks(self, parts: list[Part]) -> list[np.ndarray]:
        """Each document's language as its rank in one order for every segment
        ("en" < "fr" < "und"...; no language last)."""
        every = sorted({v for part in parts for v in self.codes(part, "lang")[1]})
        rank = {value: r for r, value in enumerate(every)}
        out = []
        for part in parts:
            codes, values = self.codes(part, "lang")
            table = np.array([rank[v] for v in values] + [len(every)], dtype=np.int16)
            out.append(table[codes])  # code -1 (no language) picks the last
        return out

    def hashes(self, part: Part, fieldname: str) -> np.ndarray:
        """A column's values hashed to int64 (to group documents by value with numpy)."""
        return self._derived(part, "hashes", fieldname, self._build_hashes)

    def numbers(self, part: Part, fieldname: str) -> np.ndarray:
        """A sortable numeric or date column as int64 in Whoosh's sortable form
        (dates: microseconds, no time zone involved); documents without a value
        get ``MISSING``, below every value."""
        return self._derived(part, "numbers", fieldname, self._build_numbers)

    @staticmethod
    def _build_lengths(part: Part, fieldname: str) -> np.ndarray:
        from whoosh.codec.whoosh3 import LENGTHS_COLUMN, _lenfield

        column = part.reader._perdoc._cached_reader(_lenfield(fieldname), LENGTHS_COLUMN)
        raw = np.zeros(part.size, dtype=np.uint8)
        if getattr(column, "_typecode", None) == "B" and hasattr(column, "_dbfile"):
            # one byte per document: read the column's bytes in one go
            count = min(column._count, part.size)
            raw[:count] = np.frombuffer(column._dbfile.get(column._basepos, count), dtype=np.uint8)
            raw[count:] = column._default or 0
        elif column is not None:
            raw = np.fromiter((column[i] for i in range(part.size)), dtype=np.uint8, count=part.size)
        return raw

    @staticmethod
    def _build_codes(part: Part, fieldname: str) -> tuple[np.ndarray, list[str]]:
        codes = np.full(part.size, -1, dtype=np.int32)
        values: list[str] = []
        for btext in part.reader.lexicon(fieldname):
            ids, _ = _read_postings(
                part.reader._terms.matcher(fieldname, btext, part.reader.schema[fieldname].format)
            )
            codes[ids] = len(values)
            values.append(btext.decode("utf-8"))
        # one byte a document for a facet of up to 127 values (agency, kind, lang, year...)
        small = np.int8 if len(values) < 2**7 else np.int16 if len(values) < 2**15 else np.int32
        return codes.astype(small), values

    @staticmethod
    def _build_masks(part: Part, fieldname: str) -> list[tuple[str, np.ndarray]]:
        found = []
        for btext in part.reader.lexicon(fieldname):
            ids, _ = _read_postings(
                part.reader._terms.matcher(fieldname, btext, part.reader.schema[fieldname].format)
            )
            mask = np.zeros(part.size, dtype=bool)
            mask[ids] = True
            found.append((btext.decode("utf-8"), mask))
        return found

    @staticmethod
    def _build_column(part: Part, fieldname: str) -> list:
        raw = part.reader.column_reader(fieldname, translate=False)
        if (
            all(hasattr(raw, a) for a in ("_offsets", "_lengths", "_basepos", "_dbfile"))
            and not len(getattr(raw, "_offsets", ())) < part.size
        ):
            # variable-length bytes: read the column's data in one go and slice it
            offsets, lengths = raw._offsets, raw._lengths
            end = max((o + n for o, n in zip(offsets, lengths, strict=False)), default=0)
            blob = raw._dbfile.get(raw._basepos, end) if end else b""
            fld = part.reader.schema[fieldname]
            return _compact(
                [
                    fld.from_column_value(blob[o : o + n]) if n else fld.from_column_value(b"")
                    for o, n in zip(offsets, lengths, strict=False)
                ]
            )
        reader = part.reader.column_reader(fieldname)
        return _compact([reader[i] for i in range(part.size)])

    def _build_ranks(self, part: Part, fieldname: str) -> np.ndarray:
        # numpy compares unicode strings by code point, as Python does
        order = np.argsort(np.asarray(list(self.column(part, fieldname)), dtype=str), kind="stable")
        ranks = np.empty(part.size, dtype=np.int32)
        ranks[order] = np.arange(part.size, dtype=np.int32)
        return ranks

    def _build_hashes(self, part: Part, fieldname: str) -> np.ndarray:
        values = self.column(part, fieldname)
        return np.fromiter((hash(v) for v in values), dtype=np.int64, count=part.size)

    @staticmethod
    def _build_numbers(part: Part, fieldname: str) -> np.ndarray:
        raw = part.reader.column_reader(fieldname, translate=False)
        default = getattr(raw, "_default", None)
        if getattr(raw, "_typecode", None) == "Q" and hasattr(raw, "_dbfile"):
            # eight big-endian bytes per document: read the column in one go
            values = np.full(part.size, default if default is not None else 0, dtype=np.uint64)
            count = min(raw._count, part.size)
            values[:count] = np.frombuffer(raw._dbfile.get(raw._basepos, count * 8), dtype=">u8")
        else:
            values = np.fromiter((int(raw[i]) for i in range(part.size)), dtype=np.uint64, count=part.size)
        missing = values == np.uint64(default) if default is not None else np.zeros(part.size, dtype=bool)
        # real values (microseconds since year 1) fit easily in int64; the default does not
        out = np.minimum(values, np.uint64(np.iinfo(np.int64).max)).astype(np.int64)
        out[missing] = MISSING
        return out

    # -- evaluation -------------------------------------------------------------
    # Every node gives, per segment, its matching local document numbers (sorted,
    # unique, int32) and their scores: the work follows the postings the query
    # touches, not the size of the segment. Unions of many postings fall back to
    # one dense accumulator (cheaper than sorting them); scores are summed in the
    # order of the children, as Whoosh and a dense evaluation sum them.
    def evaluate(self, searcher, query: Query) -> Evaluation:
        parts = self.parts(searcher)
        stats = _Stats(searcher)
        evaluation = Evaluation(parts, [], [])
        generic: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        leaves: dict[tuple[str, str], dict[int, np.ndarray]] = {}
        for part in parts:
            ids, values = _sparse(self._eval(query, part, stats, searcher, generic, leaves))
            if part.alive is not None and len(ids):
                live = part.alive[ids]
                ids, values = ids[live], values[live]
            evaluation.ids.append(ids)
            evaluation.values.append(values)
        evaluation.leaves = [(f, t, ids) for (f, t), ids in leaves.items()]
        return evaluation

    def _eval(self, q: Query, part: Part, stats, searcher, generic, leaves) -> tuple[np.ndarray, np.ndarray]:
        n = part.size
        if q is NullQuery or type(q).__name__ == "_NullQuery":
            return _NO_IDS, _NO_VALUES
        if isinstance(q, Term):
            return self._term_sparse(q, part, stats, leaves)
        if type(q) is And:
            found = [self._eval(sub, part, stats, searcher, generic, leaves) for sub in q.subqueries]
            return _intersect(found, n)
        if type(q) is AtLeast and q.scale is None:
            found = [self._eval(sub, part, stats, searcher, generic, leaves) for sub in q.subqueries]
            return _union(found, n, minmatch=q.minmatch)
        if type(q) in (Or, DefaultOr) and q.scale is None and not q.minmatch:
            found = [self._eval(sub, part, stats, searcher, generic, leaves) for sub in q.subqueries]
            return _union(found, n)
        if type(q) is BestOf and q.subqueries:
            # a document scores its best subquery's score (indexer.query.BestOf)
            found = [self._eval(sub, part, stats, searcher, generic, leaves) for sub in q.subqueries]
            return _union(found, n, best=True)
        if isinstance(q, AndNot):
            ids, values = _sparse(self._eval(q.a, part, stats, searcher, generic, leaves))
            if not len(ids):
                return _NO_IDS, _NO_VALUES
            out, _ = _sparse(self._eval(q.b, part, stats, searcher, {}, {}))
            keep = ~_member(ids, out, n)
            return ids[keep], values[keep]
        if isinstance(q, Every) and not q.fieldname:
            return np.arange(n, dtype=np.int32), np.full(n, float(q.boost))
        if isinstance(q, ConstantScoreQuery):
            ids, _ = _sparse(self._eval(q.child, part, stats, searcher, generic, leaves))
            return ids, np.full(len(ids), float(q.score))
        if type(q) is Phrase and q.words:
            return self._phrase(q, part, stats, leaves)
        if isinstance(q, DateRange) and q.constantscore and part.reader.has_column(q.fieldname):
            return self._date_range(q, part)
        return self._generic(q, part, searcher, generic)

    def _term_sparse(self, q: Term, part: Part, stats, leaves) -> tuple[np.ndarray, np.ndarray]:
        """A term's (local ids, BM25F scores): unique ids, in order."""
        schema = part.reader.schema
        if q.fieldname not in schema:
            return _NO_IDS, _NO_VALUES
        fld = schema[q.fieldname]
        try:
            btext = fld.to_bytes(q.text)
        except ValueError:
            return _NO_IDS, _NO_VALUES
        ids, weights = self._postings(part, q.fieldname, btext)
        if q.fieldname in self.text_fields:
            text = btext.decode("utf-8", "replace")
            leaves.setdefault((q.fieldname, text), {})[part.offset] = ids
        if not len(ids):
            return _NO_IDS, _NO_VALUES
        if not fld.scorable:
            # filters (ACL, agency...) score their weight times the boost, whatever
            # the index's statistics: computed once and kept with the postings
            return ids, self._filter_values(part, q.fieldname, btext, float(q.boost), weights)
        weights = weights.astype(np.float64)  # Whoosh scores in double precision
        idf, avg = stats.term(q.fieldname, btext)
        lengths = _BYTE_TO_LENGTH[self._length_codes(part, q.fieldname)[ids]]
        values = idf * ((weights * (K1 + 1)) / (weights + K1 * ((1 - B) + B * lengths / avg)))
        return ids, (values * q.boost if q.boost != 1.0 else values)

    def _filter_values(self, part: Part, fieldname: str, btext: bytes, boost: float, weights) -> np.ndarray:
        key = (part.data.id, fieldname, btext, "values", boost)
        cached = self.postings.get(key)
        if cached is None:
            values = weights.astype(np.float64)
            if boost != 1.0:
                values *= boost
            values.flags.writeable = False
            cached = (values,)
            self.postings.put(key, cached, cheap=True)  # the weights, scaled: cheap to redo
        return cached[0]

    def _phrase(self, q: Phrase, part: Part, stats, leaves) -> tuple[np.ndarray, np.ndarray]:
        """Whoosh's phrase (SpanNear2, ordered, mindist 1): the words at increasing
        positions, each at most *slop* after the previous; scored as the sum of the
        words' BM25F, times the phrase's boost. Positions are read for the documents
        that have every word only."""
        schema = part.reader.schema
        if q.fieldname not in schema or not schema[q.fieldname].format.supports("positions"):
            return _NO_IDS, _NO_VALUES
        fld = schema[q.fieldname]
        whole = stats.searcher.reader()
        words = []
        for word in q.words:
            try:
                btext = fld.to_bytes(word)
            except ValueError:
                return _NO_IDS, _NO_VALUES
            if (q.fieldname, btext) not in whole:
                return _NO_IDS, _NO_VALUES
            words.append(btext)
        terms = [self._term_sparse(Term(q.fieldname, b), part, stats, leaves) for b in words]
        ids, values = _intersect(terms, part.size)
        if not len(ids):
            return _NO_IDS, _NO_VALUES
        # (document, position) pairs as one int64 key each; a chain of words is kept
        # where the next word sits 1..slop positions after the previous one
        ends = None
        for btext in words:
            docs_of, counts, flat = self._positions(part, q.fieldname, btext, ids)
            inside = np.repeat(_member(docs_of, ids, part.size), counts)  # the candidates' positions only
            keys = (np.repeat(docs_of, counts)[inside].astype(np.int64) << 32) | flat[inside]
            if ends is None:
                ends = keys
                continue
            # keys and ends are sorted (documents in order, positions in order within
            # each): a binary search each, not a hash table of the previous word's keys
            near = np.zeros(len(keys), dtype=bool)
            for gap in range(1, int(q.slop) + 1):
                near |= _member(keys - gap, ends)
            ends = keys[near]
            if not len(ends):
                return _NO_IDS, _NO_VALUES
        docs = ends >> 32
        first = np.ones(len(docs), dtype=bool)
        np.not_equal(docs[1:], docs[:-1], out=first[1:])
        keep = _member(ids, docs[first], part.size)
        return ids[keep], values[keep] * float(q.boost)

    def _positions(
        self, part: Part, fieldname: str, btext: bytes, wanted: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A term's postings with positions: (local ids, positions per id, all positions),
        as int32 (half the cache's bytes of int64: a common word's positions at a million
        documents are tens of megabytes).

        *wanted* (sorted local ids): when they are few against the term's documents,
        only the blocks that may hold one of them are decoded (a block's header gives
        its last id), and the result, which then lacks the other blocks, is not kept."""
        key = (part.data.id, fieldname, btext, "positions")
        cached = self.postings.get(key)
        if cached is not None:
            return cached
        if part.data.size >= flat_postings.FLAT_FROM and fieldname in flat_postings.POSITION_FIELDS:
            table = self.flat.positions_of(part.data.id)
            found = table.get(fieldname, btext) if table is not None else None
            if found is not None:  # one read, cheaper than keeping it: not cached
                return found
        if wanted is not None and len(wanted) * PARTIAL_POSITIONS >= len(self._postings(part, fieldname, btext)[0]):
            wanted = None  # most blocks hold a candidate: read them all, and keep them
        value = _read_positions(part.reader, fieldname, btext, wanted)
        if wanted is None:
            self.postings.put(key, value)
        return value

    def _date_range(self, q: DateRange, part: Part) -> tuple[np.ndarray, np.ndarray]:
        """A date range from the date column (Whoosh scores every match with the boost)."""
        when = self.numbers(part, q.fieldname)
        fld = part.reader.schema[q.fieldname]
        mask = when != MISSING
        if q.startdate is not None:
            start = int(fld.to_column_value(q.startdate))
            mask &= (when > start) if q.startexcl else (when >= start)
        if q.enddate is not None:
            end = int(fld.to_column_value(q.enddate))
            mask &= (when < end) if q.endexcl else (when <= end)
        ids = np.flatnonzero(mask).astype(np.int32)
        return ids, np.full(len(ids), float(q.boost))

    def _generic(self, q: Query, part: Part, searcher, generic) -> tuple[np.ndarray, np.ndarray]:
        """Ask Whoosh's own matcher (over the whole index, once per query)."""
        found = generic.get(id(q))
        if found is None:
            ids, scores = [], []
            matcher = q.matcher(searcher, searcher.context())
            while matcher.is_active():
                ids.append(matcher.id())
                scores.append(matcher.score())
                matcher.next()
            found = generic[id(q)] = (np.asarray(ids, dtype=np.int64), np.asarray(scores, dtype=np.float64))
        ids, scores = found
        start, end = np.searchsorted(ids, [part.offset, part.offset + part.size])
        return (ids[start:end] - part.offset).astype(np.int32), scores[start:end]


#: a union of postings is summed in one dense array once they number more than a
#: segment's size over this (sorting them costs more then: measured at 83,000
#: documents a segment, bench/SCALE.md stop 32)
DENSE_UNION = 10
#: a phrase reads only the position blocks of its candidate documents when a word has
#: more than this many times as many documents as there are candidates
PARTIAL_POSITIONS = 8


def _member(ids: np.ndarray, sorted_ids: np.ndarray, n: int = 0) -> np.ndarray:
    """Which of *ids* are in *sorted_ids* (sorted, unique). With *n* (both are local
    ids below *n*), a mark array of the segment when that is cheaper (:func:`_dense_cheaper`)."""
    if not len(sorted_ids) or not len(ids):
        return np.zeros(len(ids), dtype=bool)
    if n and _dense_cheaper(len(ids), len(sorted_ids), n):
        mark = np.zeros(n, dtype=bool)
        mark[sorted_ids] = True
        return mark[ids]
    at = np.searchsorted(sorted_ids, ids)
    at[at == len(sorted_ids)] = 0
    return sorted_ids[at] == ids


def _pick(ids: np.ndarray, values: np.ndarray, wanted: np.ndarray, n: int) -> np.ndarray:
    """The *values* of *wanted*, a sorted subset of the local ids *ids* (below *n*)."""
    if len(ids) == n:  # every document of the segment: ids are 0..n-1
        return values[wanted]
    if _dense_cheaper(len(wanted), len(ids), n):
        spread = np.empty(n, dtype=values.dtype)
        spread[ids] = values
        return spread[wanted]
    return values[np.searchsorted(ids, wanted)]


def _dense_cheaper(wanted: int, sorted_count: int, n: int) -> bool:
    """Whether finding *wanted* ids among *sorted_count* sorted ones costs more by binary
    search (a few nanoseconds a step) than by spreading the sorted ones over an array
    of the segment's *n* documents: measured with numpy at 240,000 documents, 100,000
    among 150,000 took 5.4 ms by search and 2.3 ms spread, 2,000 among 150,000 0.29
    against 0.75 ms."""
    return wanted * sorted_count.bit_length() > 2 * sorted_count + n // 6


def _intersect(found: list, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The documents every child matched, scored with the children's scores summed
    in the children's order (the smallest children are intersected first). A child
    that matches all *n* documents of the segment (the ACL's "public") keeps them all;
    a child in a segment-wide array (:class:`_Dense`) is looked up in it."""
    if not found:
        return _NO_IDS, _NO_VALUES
    if len(found) == 1:
        return found[0]
    survivors = None
    for child in sorted(found, key=_size):
        dense = type(child) is _Dense
        if survivors is None:
            survivors = child.ids if dense else child[0]
        elif dense:
            survivors = survivors[child.seen[survivors]]
        elif len(child[0]) != n:
            survivors = survivors[_member(survivors, child[0], n)]
        if not len(survivors):
            return _NO_IDS, _NO_VALUES
    total = None
    for child in found:
        if type(child) is _Dense:
            picked = child.score[survivors]
        else:
            ids, values = child
            picked = values if len(ids) == len(survivors) else _pick(ids, values, survivors, n)
        total = picked.astype(np.float64, copy=True) if total is None else total + picked
    return survivors, total


class _Dense:
    """A node's matches as arrays over its whole segment: each document's score (0.0
    where it did not match) and whether it matched. A union of many postings is summed
    in such arrays; handing them to the parent as they are, instead of the matched ids
    and their scores, spares a nested union spreading them out again (a word's fields,
    its languages, its neutral form and its phrase are four unions deep) and lets an
    intersection look its survivors up. Made sparse (:func:`_sparse`) where a node
    needs ids."""

    __slots__ = ("score", "seen", "_ids", "_count")

    def __init__(self, score: np.ndarray, seen: np.ndarray) -> None:
        self.score = score
        self.seen = seen
        self._ids = None
        self._count = None

    @property
    def count(self) -> int:
        if self._count is None:
            self._count = len(self._ids) if self._ids is not None else int(np.count_nonzero(self.seen))
        return self._count

    @property
    def ids(self) -> np.ndarray:
        if self._ids is None:
            self._ids = np.flatnonzero(self.seen).astype(np.int32)
        return self._ids


def _sparse(found) -> tuple[np.ndarray, np.ndarray]:
    """A node's (ids, scores), from either form."""
    if type(found) is _Dense:
        ids = found.ids
        return ids, found.score[ids]
    return found


def _size(found) -> int:
    return found.count if type(found) is _Dense else len(found[0])


def _union(found: list, n: int, *, best: bool = False, minmatch: int = 0):
    """The documents any child matched (at least *minmatch* children with it), scored
    with the children's scores summed in order, or their best one with *best*.

    Scores are never negative (BM25 with Whoosh's idf, positive boosts): a document a
    child did not match adds 0.0 to the sum and loses the maximum, so a child in a
    segment-wide array is added to the whole array and gives the same bits."""
    live = [f for f in found if type(f) is _Dense or len(f[0])]
    if not live:
        return _NO_IDS, _NO_VALUES
    if len(live) == 1 and minmatch <= 1:
        return live[0]
    spread = any(type(f) is _Dense for f in live)
    if spread or sum(len(f[0]) for f in live) * DENSE_UNION > n:
        score = np.zeros(n)
        counts = np.zeros(n, dtype=np.int32) if minmatch > 1 else None
        seen = np.zeros(n, dtype=bool)
        for child in live:
            if type(child) is _Dense:
                if counts is not None:
                    counts += child.seen
                else:
                    seen |= child.seen
                if best:
                    np.maximum(score, child.score, out=score)
                else:
                    score += child.score
                continue
            ids, values = child
            if counts is not None:
                counts[ids] += 1
            else:
                seen[ids] = True
            if best:  # ids are unique within a child: ufunc.at, faster than a fancy +=
                np.maximum.at(score, ids, values)
            else:
                np.add.at(score, ids, values)
        if counts is not None:
            seen = counts >= minmatch
            score[~seen] = 0.0
        return _Dense(score, seen)
    every = np.concatenate([ids for ids, _ in live])
    order = np.argsort(every, kind="stable")
    every = every[order]
    start = np.empty(len(every), dtype=bool)
    start[0] = True
    np.not_equal(every[1:], every[:-1], out=start[1:])
    group = np.cumsum(start) - 1
    ids = every[start]
    scores = np.concatenate([values for _, values in live])[order]
    if best:
        values = np.zeros(len(ids))
        np.maximum.at(values, group, scores)
    else:
        values = np.bincount(group, weights=scores, minlength=len(ids))
    if minmatch > 1:
        enough = np.bincount(group, minlength=len(ids)) >= minmatch
        ids, values = ids[enough], values[enough]
    return ids.astype(np.int32, copy=False), values


class _Stats:
    """Index-wide term statistics (Whoosh's idf and average field length)."""

    def __init__(self, searcher) -> None:
        self.searcher = searcher
        self._cache: dict = {}

    def term(self, fieldname: str, btext: bytes) -> tuple[float, float]:
        key = (fieldname, btext)
        found = self._cache.get(key)
        if found is None:
            idf = self.searcher.idf(fieldname, btext)
            avg = self.searcher.avg_field_length(fieldname) or 1
            found = self._cache[key] = (float(idf), float(avg))
        return found
