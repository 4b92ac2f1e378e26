"""Small, contained fixes to Whoosh 2.7.4 (the last release; it is not maintained).

Imported by :mod:`indexer.index` before any index is opened or written.

* A segment's per-document reader caches its length columns, but not the answer
  "this field has no length column" (ID and KEYWORD fields have none). Writing a
  segment asks for the length of every posting, so each posting of an ACL, agency
  or date term cost a file-system lookup: ~40% of a segment's commit time. A
  segment's columns never change once written, so the negative answer is cached too.
* A segment is one compound file, memory-mapped; each part of it (postings, term
  index, stored fields...) is opened as a ``BufferFile`` whose ``BytesIO`` *copies*
  that part into memory. Every searcher opened so copied the whole index again
  (~200 MB at 100k documents): a server answering 8 requests at once grew by
  gigabytes (issue 23). The part is now read through the mapping without a copy.
"""

from __future__ import annotations

import os

from whoosh.codec import whoosh3
from whoosh.filedb import structfile


def _cached_reader(self, fieldname, column):
    try:
        return self._readers[fieldname]
    except KeyError:
        reader = self.column_reader(fieldname, column) if self.has_column(fieldname) else None
        self._readers[fieldname] = reader
        return reader


class BufferReader:
    """A read-only file over a buffer (a slice of a memory map): reads copy only what
    they return."""

    def __init__(self, buf) -> None:
        self._buf = memoryview(buf)
        self._pos = 0
        self._size = len(self._buf)

    def read(self, size: int | None = -1) -> bytes:
        start = self._pos
        end = self._size if size is None or size < 0 else min(self._size, start + size)
        self._pos = max(start, end)
        return bytes(self._buf[start:end])

    def readline(self, size: int | None = -1) -> bytes:
        limit = self._size if size is None or size < 0 else min(self._size, self._pos + size)
        end = self._pos
        while end < limit:
            chunk = bytes(self._buf[end : min(limit, end + 4096)])
            found = chunk.find(b"\n")
            if found >= 0:
                end += found + 1
                break
            end += len(chunk)
        return self.read(end - self._pos)

    def __iter__(self):
        while line := self.readline():
            yield line

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def _buffer_file_init(self, buf, name=None, onclose=None) -> None:
    self._buf = buf
    self._name = name
    self.file = BufferReader(buf)
    self.onclose = onclose
    self.is_real = False
    self.is_closed = False


def apply() -> None:
    whoosh3.W3PerDocReader._cached_reader = _cached_reader
    structfile.BufferFile.__init__ = _buffer_file_init


apply()
