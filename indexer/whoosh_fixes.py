"""Small, contained fixes to Whoosh 2.7.4 (the last release; it is not maintained).

Imported by :mod:`indexer.index` before any index is opened or written.

* A segment's per-document reader caches its length columns, but not the answer
  "this field has no length column" (ID and KEYWORD fields have none). Writing a
  segment asks for the length of every posting, so each posting of an ACL, agency
  or date term cost a file-system lookup: ~40% of a segment's commit time. A
  segment's columns never change once written, so the negative answer is cached too.
"""

from __future__ import annotations

from whoosh.codec import whoosh3


def _cached_reader(self, fieldname, column):
    try:
        return self._readers[fieldname]
    except KeyError:
        reader = self.column_reader(fieldname, column) if self.has_column(fieldname) else None
        self._readers[fieldname] = reader
        return reader


def apply() -> None:
    whoosh3.W3PerDocReader._cached_reader = _cached_reader


apply()
