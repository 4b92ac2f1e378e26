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

Each segment's files are made as Whoosh writes the segment, from its postings as they
pass (:class:`Capture`, in the process that writes it: each writer process its own),
so a crawl ends with them written. :func:`prepare` (after a crawl, a reindex, or a
replica's catch-up) reads back and writes the files a segment lacks: one written
before this, or whose capture failed. A search never waits for one.
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
    out = _Output(folder, segreader.segment().segment_id(), fields, suffix, magic)
    try:
        for fieldname, btext in segreader.all_terms():
            if fieldname not in out.field_no or segreader.doc_frequency(fieldname, btext) < FLAT_FROM:
                continue
            out.add(fieldname, btext, *arrays(fieldname, btext))
        return out.close()
    except BaseException:
        out.abort()
        raise


class _Output:
    """One flat file being written, a term at a time, under a temporary name (in the
    index directory, or in *tmpdir* on the same disk); :meth:`finish` completes it and
    :meth:`publish` gives it its name whole."""

    def __init__(
        self,
        folder: str,
        segment_id: str,
        fields: list[str],
        suffix: str,
        magic: bytes,
        tmpdir: str | None = None,
    ) -> None:
        self.fields = fields
        self.field_no = {name: i for i, name in enumerate(fields)}
        self.folder = folder
        self.target = path_of(folder, segment_id, suffix)
        handle, self.tmp = tempfile.mkstemp(
            prefix=os.path.basename(self.target) + ".", suffix=".tmp", dir=tmpdir or folder
        )
        self.out = os.fdopen(handle, "wb")
        self.out.write(magic)
        self.terms: list = []
        self.offset = 0

    def add(self, fieldname: str, btext: bytes, parts: list[np.ndarray], counts: list[int]) -> None:
        for part in parts:
            self.out.write(part.tobytes())
        self.terms.append([self.field_no[fieldname], btext.hex(), self.offset, *counts])
        self.offset += sum(part.nbytes for part in parts)

    def finish(self) -> int:
        """Write the header and sync the file; returns its terms."""
        header = json.dumps({"fields": self.fields, "terms": self.terms, "size": self.offset}).encode()
        self.out.write(header)
        self.out.write(len(header).to_bytes(8, "little"))
        self.out.flush()
        os.fsync(self.out.fileno())
        self.out.close()
        return len(self.terms)

    def publish(self) -> None:
        # readable by whoever reads the index (mkstemp makes it the owner's alone)
        os.chmod(self.tmp, os.stat(self.folder).st_mode & 0o666)
        os.replace(self.tmp, self.target)

    def close(self) -> int:
        terms = self.finish()
        self.publish()
        return terms

    def abort(self) -> None:
        try:
            if not self.out.closed:
                self.out.close()
        except OSError:
            pass
        try:
            os.unlink(self.tmp)
        except OSError:
            pass


class Capture:
    """The flat files of a segment made while Whoosh writes its postings, from the
    postings as they pass (:func:`indexer.whoosh_fixes._add_postings` hands them over):
    the same files :func:`build` and :func:`build_positions` read back from the
    finished segment, without decoding its blocks again, and in the process that writes
    the segment (each writer process its own) instead of in the parent after the commit.

    Each term of a captured field comes with its postings' document numbers and
    weights (and, for :data:`POSITION_FIELDS`, their encoded values); only terms in at
    least :data:`FLAT_FROM` documents are kept. The files are written in the writer's
    temporary directory (Whoosh packs every file named after the segment into its
    compound file, and removes that directory when the writer ends, so a cancelled
    segment leaves nothing) and given their names once the segment is assembled
    (:meth:`publish`). Failing to write them never fails the segment: :func:`prepare`
    writes what is missing after the commit.
    """

    def __init__(self, folder: str, tmpdir: str | None, segment_id: str, schema, text_fields) -> None:
        fields = sorted(f for f in text_fields if f in schema)
        self.schema = schema
        self.failed = self.finished = False
        self.postings = _Output(folder, segment_id, fields, SUFFIX, MAGIC, tmpdir)
        positions = [f for f in fields if f in POSITION_FIELDS]
        try:
            self.positions = _Output(folder, segment_id, positions, POSITIONS_SUFFIX, POSITIONS_MAGIC, tmpdir)
        except BaseException:
            self.postings.abort()
            raise

    def wants(self, fieldname: str) -> tuple[bool, bool]:
        """Whether *fieldname*'s postings are captured, and whether with their values."""
        return fieldname in self.postings.field_no, fieldname in self.positions.field_no

    def term(self, fieldname: str, btext: bytes, ids: list[int], weights: list[float], values) -> None:
        if len(ids) < FLAT_FROM or self.failed:
            return
        try:
            ids_array = np.asarray(ids, dtype="<u4")
            self.postings.add(fieldname, btext, [ids_array, np.asarray(weights, dtype="<f4")], [len(ids)])
            if values is not None:
                decode = self.schema[fieldname].format.decode_positions
                found = [decode(value) for value in values]
                counts = np.fromiter((len(p) for p in found), dtype="<u4", count=len(found))
                flat = np.fromiter((n for p in found for n in p), dtype="<u4", count=int(counts.sum()))
                self.positions.add(fieldname, btext, [ids_array, counts, flat], [len(ids), len(flat)])
        except OSError as exc:  # the segment is written all the same; prepare() tries again
            self._give_up(exc)

    def finish(self) -> None:
        """Every term was handed over: complete both files (not yet named)."""
        if self.failed:
            return
        try:
            self.postings.finish()
            self.positions.finish()
            self.finished = True
        except OSError as exc:
            self._give_up(exc)

    def publish(self) -> None:
        """The segment is complete on disk: give its files their names (files that
        were not completed are let go)."""
        if self.failed or not self.finished:
            self.abort()
            return
        try:
            self.postings.publish()
            self.positions.publish()
        except OSError as exc:
            self._give_up(exc)

    def abort(self) -> None:
        self.failed = True
        self.postings.abort()
        self.positions.abort()

    def _give_up(self, exc: OSError) -> None:
        log.warning("flat postings of %s not written now (%s)", self.postings.target, exc)
        self.abort()


def capture_for(text_fields: frozenset[str]):
    """The hook :data:`indexer.whoosh_fixes.POSTINGS_CAPTURE` takes: the
    :class:`Capture` of the segment a Whoosh ``SegmentWriter`` is about to write, when
    it goes to a directory and has at least :data:`FLAT_FROM` documents and one of
    *text_fields*; else None."""

    def start(writer) -> Capture | None:
        folder = getattr(writer.storage, "folder", None)
        if folder is None or writer.docnum < FLAT_FROM or not any(f in writer.schema for f in text_fields):
            return None
        segment_id = writer.get_segment().segment_id()
        try:
            tmpdir = getattr(writer.temp_storage(), "folder", None)
            return Capture(folder, tmpdir, segment_id, writer.schema, text_fields)
        except OSError as exc:
            log.warning("flat postings of segment %s not written now (%s)", segment_id, exc)
            return None

    return start


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
                    (
                        POSITIONS_SUFFIX,
                        lambda r=segreader: build_positions(folder, r, POSITION_FIELDS, read_positions),
                    )
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
