"""The postings of a segment's common terms as flat arrays, in a file beside the segment.

Whoosh keeps a term's postings in blocks of 128, each block a pickled and compressed
tuple. Reading a common term (a word in a tenth of a million documents) means
unpickling and decompressing hundreds of blocks: about 1.3 microseconds a posting
here, most of a search's time when its words are not cached (the first search after
a crawl, a process just started, words the cache let go). This module writes, once per
segment, every term in at least :data:`FLAT_FROM` documents of a text field as two
plain arrays (document numbers as uint32, weights as float32, exactly what
:func:`indexer.accel._read_postings` makes of the blocks). Reading one back is a
single ``pread``: about 2.4 nanoseconds a posting on the same machine
(``bench/search_latency.py``; figures in ``bench/SCALE.md``).

The file is ``<segment id>.flat`` in the index directory. Whoosh deletes it with its
segment: its cleaning removes every file named after a segment that is no longer in the
index. A segment never changes once written, so a file never goes stale; deleted
documents keep their postings in both forms (searches mask them out).

Layout: ``MAGIC``, the arrays (each term's document numbers, then its weights), the
header (JSON: the fields, and for each term its field, its bytes in hex, its offset
and its count), and the header's length (8 bytes, little-endian) last: the writer
streams the arrays and holds one term's at a time. A file that does not
check out (truncated, another version) is ignored, and the blocks are read as before.

The titles' common terms also get their positions flat (``<segment id>.pos``: each
term's document numbers, positions per document and positions, as uint32): every
search of two words or more asks a phrase of the titles, and Whoosh keeps a posting's
positions as a pickled list, one ``loads`` a posting.

The process that writes the index writes the files (:func:`prepare`, after a crawl, a
reindex, or a replica's catch-up); a search never waits for one.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time

import numpy as np

log = logging.getLogger(__name__)

SUFFIX = ".flat"
MAGIC = b"SAVOIR-FLAT-POSTINGS 1\n"
#: the positions file of a segment's title fields (phrases): ``<segment id>.pos``
POSITIONS_SUFFIX = ".pos"
POSITIONS_MAGIC = b"SAVOIR-FLAT-POSITIONS 1\n"
#: the fields whose common terms' positions get a flat file: the titles, which every
#: search of two words or more asks a phrase of (short, so their positions are few)
POSITION_FIELDS = frozenset({"title_en", "title_fr"})
#: a term in fewer documents of a segment is read from Whoosh's blocks (a few of them)
FLAT_FROM = 256
#: how long a segment without a file is taken to have none before looking again
RECHECK_SECONDS = 5.0


def path_of(folder: str, segment_id: str, suffix: str = SUFFIX) -> str:
    return os.path.join(folder, segment_id + suffix)


def build(folder: str, segreader, text_fields: frozenset[str], read) -> int:
    """Write the file of the segment *segreader* reads; *read* turns a term's matcher into
    ``(ids int32, weights float32)``. Returns how many terms it holds. The arrays go to
    the file a term at a time (a large segment's would not fit in memory at once)."""

    def arrays(fieldname, btext):
        matcher = segreader._terms.matcher(fieldname, btext, segreader.schema[fieldname].format)
        ids, weights = read(matcher)
        return [ids.astype("<u4"), weights.astype("<f4")], [len(ids)]

    return _write(folder, segreader, text_fields, SUFFIX, MAGIC, arrays)


def build_positions(folder: str, segreader, fields: frozenset[str], read_positions) -> int:
    """Write the positions file of the segment *segreader* reads (its common terms of
    *fields*); *read_positions(reader, field, bytes)* gives ``(ids, counts, positions)``."""

    def arrays(fieldname, btext):
        ids, counts, positions = read_positions(segreader, fieldname, btext)
        return [ids.astype("<u4"), counts.astype("<u4"), positions.astype("<u4")], [len(ids), len(positions)]

    return _write(folder, segreader, fields, POSITIONS_SUFFIX, POSITIONS_MAGIC, arrays)


def _write(folder: str, segreader, wanted_fields: frozenset[str], suffix: str, magic: bytes, arrays) -> int:
    fields = sorted(f for f in wanted_fields if f in segreader.schema)
    field_no = {name: i for i, name in enumerate(fields)}
    target = path_of(folder, segreader.segment().segment_id(), suffix)
    handle, tmp = tempfile.mkstemp(prefix=os.path.basename(target) + ".", suffix=".tmp", dir=folder)
    terms, offset = [], 0
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(magic)
            for fieldname, btext in segreader.all_terms():
                if fieldname not in field_no or segreader.doc_frequency(fieldname, btext) < FLAT_FROM:
                    continue
                parts, counts = arrays(fieldname, btext)
                for part in parts:
                    out.write(part.tobytes())
                terms.append([field_no[fieldname], btext.hex(), offset, *counts])
                offset += sum(part.nbytes for part in parts)
            header = json.dumps({"fields": fields, "terms": terms, "size": offset}).encode()
            out.write(header)
            out.write(len(header).to_bytes(8, "little"))
            out.flush()
            os.fsync(out.fileno())
        # readable by whoever reads the index (mkstemp makes it the owner's alone)
        os.chmod(tmp, os.stat(folder).st_mode & 0o666)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return len(terms)


class FlatTable:
    """One segment's file: which terms it holds, and their arrays on demand."""

    __slots__ = ("path", "_start", "_terms")

    def __init__(self, path: str, start: int, terms: dict[tuple[str, bytes], tuple[int, int]]) -> None:
        self.path = path
        self._start = start
        self._terms = terms

    MAGIC = MAGIC

    @classmethod
    def open(cls, path: str):
        """The table of the file at *path*, or None when there is none or it does not check out."""
        magic = cls.MAGIC
        try:
            with open(path, "rb") as handle:
                if handle.read(len(magic)) != magic:
                    raise ValueError("not a flat postings file of this version")
                size = os.fstat(handle.fileno()).st_size
                if size < len(magic) + 8:
                    raise ValueError("truncated")
                handle.seek(size - 8)
                length = int.from_bytes(handle.read(8), "little")
                if length > size - len(magic) - 8:
                    raise ValueError("truncated")
                handle.seek(size - 8 - length)
                header = json.loads(handle.read(length))
                start = len(magic)
                if start + int(header["size"]) + length + 8 != size:
                    raise ValueError("truncated")
            fields = header["fields"]
            terms = {
                (fields[entry[0]], bytes.fromhex(entry[1])): tuple(int(n) for n in entry[2:])
                for entry in header["terms"]
            }
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, IndexError, UnicodeDecodeError) as exc:
            log.warning("ignoring %s (%s): the segment's postings are read from the index", path, exc)
            return None
        return cls(path, start, terms)

    def _read(self, offset: int, size: int) -> bytes | None:
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return None  # the segment was merged away while a search still read it
        try:
            data = os.pread(fd, size, self._start + offset)
        finally:
            os.close(fd)
        return data if len(data) == size else None

    def __len__(self) -> int:
        return len(self._terms)

    def get(self, fieldname: str, btext: bytes) -> tuple[np.ndarray, np.ndarray] | None:
        """A term's (ids int32, weights float32), or None when this file does not hold it."""
        found = self._terms.get((fieldname, btext))
        if found is None:
            return None
        offset, count = found
        data = self._read(offset, 8 * count)
        if data is None:
            return None
        # views of the bytes read, no copies (read-only, as every cached posting is);
        # document numbers are below 2**31, so their uint32 bits read as int32
        ids = np.frombuffer(data, dtype="<u4", count=count)
        weights = np.frombuffer(data, dtype="<f4", count=count, offset=4 * count)
        if sys.byteorder != "little":  # the file is little-endian: converted, copied
            return ids.astype(np.int32), weights.astype(np.float32)
        return ids.view(np.int32), weights.view(np.float32)


class PositionsTable(FlatTable):
    """One segment's positions file (:data:`POSITION_FIELDS`)."""

    __slots__ = ()
    MAGIC = POSITIONS_MAGIC

    def get(self, fieldname: str, btext: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """A term's (ids, positions per id, all positions) as int32, or None when this
        file does not hold it (what :func:`indexer.accel._read_positions` gives)."""
        found = self._terms.get((fieldname, btext))
        if found is None:
            return None
        offset, count, total = found
        data = self._read(offset, 8 * count + 4 * total)
        if data is None:
            return None
        arrays = [
            np.frombuffer(data, dtype="<u4", count=count),
            np.frombuffer(data, dtype="<u4", count=count, offset=4 * count),
            np.frombuffer(data, dtype="<u4", count=total, offset=8 * count),
        ]
        if sys.byteorder != "little":
            return tuple(a.astype(np.int32) for a in arrays)
        return tuple(a.view(np.int32) for a in arrays)


class Tables:
    """The flat tables of an index's segments, opened once each (and looked for again
    every few seconds while a segment has none)."""

    def __init__(self, folder: str | None) -> None:
        self.folder = folder
        self._found: dict[tuple[str, str], FlatTable | float] = {}

    def of(self, segment_id: str) -> FlatTable | None:
        return self._table(segment_id, SUFFIX, FlatTable)

    def positions_of(self, segment_id: str) -> PositionsTable | None:
        return self._table(segment_id, POSITIONS_SUFFIX, PositionsTable)

    def _table(self, segment_id: str, suffix: str, kind):
        if self.folder is None:
            return None
        key = (segment_id, suffix)
        found = self._found.get(key)
        if isinstance(found, FlatTable):
            return found
        now = time.monotonic()
        if found is not None and now - found < RECHECK_SECONDS:
            return None
        table = kind.open(path_of(self.folder, segment_id, suffix))
        self._found[key] = table if table is not None else now
        return table

    def forget(self, current: set[str]) -> None:
        for key in [k for k in self._found if k[0] not in current]:
            del self._found[key]


def prepare(ix, text_fields: frozenset[str], read, read_positions=None) -> int:
    """Write the files of the segments of *ix* that have none (and enough documents for a
    term to reach :data:`FLAT_FROM`): the postings file, and with *read_positions* the
    positions file of :data:`POSITION_FIELDS`. Returns how many files it wrote. Safe to
    run in several processes at once: each file is written whole under a temporary name."""
    folder = getattr(ix.storage, "folder", None)
    if folder is None:
        return 0
    written = 0
    with ix.reader() as reader:
        leaves = reader.leaf_readers() if hasattr(reader, "leaf_readers") else [(reader, 0)]
        for segreader, _ in leaves:
            if segreader.doc_count_all() < FLAT_FROM or not hasattr(segreader, "segment"):
                continue
            segment_id = segreader.segment().segment_id()
            jobs = [(SUFFIX, lambda r=segreader: build(folder, r, text_fields, read))]
            if read_positions is not None:
                jobs.append(
                    (POSITIONS_SUFFIX, lambda r=segreader: build_positions(folder, r, POSITION_FIELDS, read_positions))
                )
            for suffix, job in jobs:
                if os.path.exists(path_of(folder, segment_id, suffix)):
                    continue
                started = time.perf_counter()
                terms = job()
                written += 1
                log.info(
                    "flat %s of segment %s: %d terms in %.1f s",
                    "positions" if suffix == POSITIONS_SUFFIX else "postings",
                    segment_id,
                    terms,
                    time.perf_counter() - started,
                )
    return written
