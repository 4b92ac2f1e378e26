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
#: a term in fewer documents of a segment is read from Whoosh's blocks (a few of them)
FLAT_FROM = 256
#: how long a segment without a file is taken to have none before looking again
RECHECK_SECONDS = 5.0


def path_of(folder: str, segment_id: str) -> str:
    return os.path.join(folder, segment_id + SUFFIX)


def build(folder: str, segreader, text_fields: frozenset[str], read) -> int:
    """Write the file of the segment *segreader* reads; *read* turns a term's matcher into
    ``(ids int32, weights float32)``. Returns how many terms it holds. The arrays go to
    the file a term at a time (a large segment's would not fit in memory at once)."""
    fields = sorted(f for f in text_fields if f in segreader.schema)
    field_no = {name: i for i, name in enumerate(fields)}
    target = path_of(folder, segreader.segment().segment_id())
    handle, tmp = tempfile.mkstemp(prefix=os.path.basename(target) + ".", suffix=".tmp", dir=folder)
    terms, offset = [], 0
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(MAGIC)
            for fieldname, btext in segreader.all_terms():
                if fieldname not in field_no or segreader.doc_frequency(fieldname, btext) < FLAT_FROM:
                    continue
                matcher = segreader._terms.matcher(fieldname, btext, segreader.schema[fieldname].format)
                ids, weights = read(matcher)
                out.write(ids.astype("<u4").tobytes())
                out.write(weights.astype("<f4").tobytes())
                terms.append([field_no[fieldname], btext.hex(), offset, len(ids)])
                offset += 8 * len(ids)
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

    @classmethod
    def open(cls, path: str) -> FlatTable | None:
        """The table of the file at *path*, or None when there is none or it does not check out."""
        try:
            with open(path, "rb") as handle:
                if handle.read(len(MAGIC)) != MAGIC:
                    raise ValueError("not a flat postings file of this version")
                size = os.fstat(handle.fileno()).st_size
                if size < len(MAGIC) + 8:
                    raise ValueError("truncated")
                handle.seek(size - 8)
                length = int.from_bytes(handle.read(8), "little")
                if length > size - len(MAGIC) - 8:
                    raise ValueError("truncated")
                handle.seek(size - 8 - length)
                header = json.loads(handle.read(length))
                start = len(MAGIC)
                if start + int(header["size"]) + length + 8 != size:
                    raise ValueError("truncated")
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
            log.warning("ignoring %s (%s): the segment's postings are read from the index", path, exc)
            return None
        fields = header["fields"]
        terms = {
            (fields[f], bytes.fromhex(text)): (int(offset), int(count))
            for f, text, offset, count in header["terms"]
        }
        return cls(path, start, terms)

    def __len__(self) -> int:
        return len(self._terms)

    def get(self, fieldname: str, btext: bytes) -> tuple[np.ndarray, np.ndarray] | None:
        """A term's (ids int32, weights float32), or None when this file does not hold it."""
        found = self._terms.get((fieldname, btext))
        if found is None:
            return None
        offset, count = found
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return None  # the segment was merged away while a search still read it
        try:
            data = os.pread(fd, 8 * count, self._start + offset)
        finally:
            os.close(fd)
        if len(data) != 8 * count:
            return None
        # views of the bytes read, no copies (read-only, as every cached posting is);
        # document numbers are below 2**31, so their uint32 bits read as int32
        ids = np.frombuffer(data, dtype="<u4", count=count)
        weights = np.frombuffer(data, dtype="<f4", count=count, offset=4 * count)
        if sys.byteorder != "little":  # the file is little-endian: converted, copied
            return ids.astype(np.int32), weights.astype(np.float32)
        return ids.view(np.int32), weights.view(np.float32)


class Tables:
    """The flat tables of an index's segments, opened once each (and looked for again
    every few seconds while a segment has none)."""

    def __init__(self, folder: str | None) -> None:
        self.folder = folder
        self._found: dict[str, FlatTable | float] = {}

    def of(self, segment_id: str) -> FlatTable | None:
        if self.folder is None:
            return None
        found = self._found.get(segment_id)
        if isinstance(found, FlatTable):
            return found
        now = time.monotonic()
        if found is not None and now - found < RECHECK_SECONDS:
            return None
        table = FlatTable.open(path_of(self.folder, segment_id))
        self._found[segment_id] = table if table is not None else now
        return table

    def forget(self, current: set[str]) -> None:
        for key in [k for k in self._found if k not in current]:
            del self._found[key]


def prepare(ix, text_fields: frozenset[str], read) -> int:
    """Write the files of the segments of *ix* that have none (and enough documents for a
    term to reach :data:`FLAT_FROM`). Returns how many it wrote. Safe to run in several
    processes at once: each file is written whole under a temporary name."""
    folder = getattr(ix.storage, "folder", None)
    if folder is None:
        return 0
    written = 0
    with ix.reader() as reader:
        leaves = reader.leaf_readers() if hasattr(reader, "leaf_readers") else [(reader, 0)]
        for segreader, _ in leaves:
            if segreader.doc_count_all() < FLAT_FROM or not hasattr(segreader, "segment"):
                continue
            if os.path.exists(path_of(folder, segreader.segment().segment_id())):
                continue
            started = time.perf_counter()
            terms = build(folder, segreader, text_fields, read)
            written += 1
            log.info(
                "flat postings of segment %s: %d terms in %.1f s",
                segreader.segment().segment_id(),
                terms,
                time.perf_counter() - started,
            )
    return written
