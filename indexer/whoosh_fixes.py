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
* Writing a segment's postings asked the per-document reader for the document's
  field length once per posting (a column read and a byte decoded each time, ~10%
  of a writer process's time). :func:`_add_postings` reads each field's lengths
  once, as a list, and writes the same postings in the same order otherwise.
* :func:`add_segments` (and :func:`merge_segments`) merge segments without Whoosh's
  posting pool. Whoosh's ``add_reader`` puts every posting of the merged segments
  back into the pool, which sorts them all again (in runs on disk when they exceed
  ``limitmb``), though each segment's postings are already in term order and,
  segment after segment, in document order. Here each term's postings are read
  segment by segment, a block at a time, renumbered and written straight to the new
  segment after the writer's own pooled ones (``SegmentWriter._flush_segment`` is
  patched for that): the same documents, stored fields, lengths, columns, terms and
  postings as the pool gives.
* :func:`_add_postings` also hands each term's postings of the text fields to
  :data:`POSTINGS_CAPTURE` (the flat postings files, :mod:`indexer.flat_postings`),
  and the patched ``_assemble_segment`` names those files once the segment is whole.
* ``Positions.word_values`` takes each term's positions at once from an analyser
  that gives them (:meth:`indexer.analysis.FusedAnalyzer.index_positions`) instead
  of a Token per word through a generator, and remembers the pickle of a single
  position (each value is still a new bytes object, as Whoosh's are).
* The posting writer and the posting pool assert each posting's types (five
  assertions a posting, ~3% of a writer process): :func:`_add_posting` and
  :func:`_pool_add` do the same work without them.
* ``SegmentWriter.add_document`` made each text field's postings through three
  generators and pooled them with a call each; :func:`_add_document` makes and
  pools them in one loop from the analyser's positions (documents with a boost or
  a ``_stored_`` value, and fields with spelling words or vectors, go Whoosh's way).
* A segment's pooled postings were sorted as whole tuples (~1 s of CPU for 5,000
  documents, a million postings). :func:`_in_term_order` gives the same order by
  ranking the terms only (~0.6 s): a term's postings already come in document order.
"""

from __future__ import annotations

import gc
import heapq
import os

import numpy as np
from whoosh import formats, writing
from whoosh.codec import base as codec_base
from whoosh.codec import whoosh3
from whoosh.compat import dumps
from whoosh.fields import FieldType
from whoosh.filedb import structfile
from whoosh.reading import SegmentReader
from whoosh.system import emptybytes, pack_uint
from whoosh.util.numeric import byte_to_length
from whoosh.writing import SegmentWriter


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


def _length_list(lengths, fieldname: str) -> list | None:
    """Every document's length of *fieldname* in a segment's per-document reader, as
    ``doc_field_length`` answers it (None where the stored byte is 0); None when the
    field has no length column (``doc_field_length`` then answers 0)."""
    reader = lengths._cached_reader(whoosh3._lenfield(fieldname), whoosh3.LENGTHS_COLUMN)
    if reader is None:
        return None
    decoded = [None] + [byte_to_length(b) for b in range(1, 256)]
    return [decoded[reader[docnum]] for docnum in range(lengths.doc_count_all())]


#: ``start(segment_writer)`` -> an object taking each term's postings as the writer's
#: segment is written (``wants(field)``, ``term(...)``, then ``finish``; ``abort`` on
#: failure; ``publish`` once the segment is assembled), or None: the flat postings
#: files are made from them (:mod:`indexer.flat_postings`, set by :mod:`indexer.index`)
POSTINGS_CAPTURE = None
#: the capture of a segment being written, on its field writer, then on its writer
_CAPTURE = "_savoir_capture"


def _add_postings(self, schema, lengths, items) -> None:
    """Whoosh's ``FieldWriter.add_postings`` with each field's lengths read once, and the
    postings of the captured fields handed to :data:`POSTINGS_CAPTURE` term by term."""
    start_field, start_term, add = self.start_field, self.start_term, self.add
    finish_term, finish_field = self.finish_term, self.finish_field
    per_field = isinstance(lengths, whoosh3.W3PerDocReader)
    dfl = lengths.doc_field_length if lengths else None
    lastfn = lasttext = None
    field_lengths = None
    capture = self.__dict__.pop(_CAPTURE, None)
    captured = with_values = False
    ids: list = []
    weights: list = []
    values: list | None = None
    try:
        for fieldname, btext, docnum, weight, value in items:
            if lastfn is not None and fieldname < lastfn:
                raise codec_base.OutOfOrderError(f"Field {lastfn!r} .. {fieldname!r}")
            if fieldname == lastfn and lasttext and btext < lasttext:
                raise codec_base.OutOfOrderError(f"Term {lastfn}:{lasttext!r} .. {fieldname}:{btext!r}")
            if fieldname != lastfn:
                if lasttext is not None:
                    finish_term()
                    if captured:
                        capture.term(lastfn, lasttext, ids, weights, values)
                if lastfn is not None:
                    finish_field()
                start_field(fieldname, schema[fieldname])
                lastfn, lasttext = fieldname, None
                field_lengths = _length_list(lengths, fieldname) if per_field else None
                captured, with_values = capture.wants(fieldname) if capture is not None else (False, False)
            if docnum == -1:  # Whoosh's spelling marker: not a posting
                continue
            if btext != lasttext:
                if lasttext is not None:
                    finish_term()
                    if captured:
                        capture.term(fieldname, lasttext, ids, weights, values)
                start_term(btext)
                lasttext = btext
                if captured:
                    ids, weights, values = [], [], [] if with_values else None
            if field_lengths is not None:
                length = field_lengths[docnum]
            elif per_field or dfl is None:
                length = 0
            else:
                length = dfl(docnum, fieldname)
            add(docnum, weight, emptybytes if value is None else value, length)
            if captured:
                ids.append(docnum)
                weights.append(weight)
                if with_values:
                    values.append(value)
        if lasttext is not None:
            finish_term()
            if captured:
                capture.term(lastfn, lasttext, ids, weights, values)
        if lastfn is not None:
            finish_field()
    except BaseException:
        if capture is not None:
            capture.abort()
        raise
    if capture is not None:
        capture.finish()


def _term_postings(terms, fieldname: str, btext: bytes, format_):
    """(docnums, weights, values) of one term in one segment, a block at a time,
    deleted documents included (the caller's document map leaves them out)."""
    matcher = terms.matcher(fieldname, btext, format_)
    if isinstance(matcher, whoosh3.W3LeafMatcher):
        while not matcher._atend:
            matcher._read_ids()
            matcher._read_weights()
            matcher._read_values()
            yield matcher._ids, matcher._weights, matcher._values
            matcher._next_block()
        return
    ids, weights, values = [], [], []
    while matcher.is_active():
        ids.append(matcher.id())
        weights.append(matcher.weight())
        values.append(matcher.value())
        matcher.next()
    yield ids, weights, values


def _merged_postings(schema, sources):
    """The postings of several segments as one: (reader, first new docnum, docmap or
    None) each, in the order their documents were copied."""

    def terms_of(i, reader):
        for fieldname, btext in reader.all_terms():
            yield fieldname, btext, i

    streams = [terms_of(i, reader) for i, (reader, _, _) in enumerate(sources)]
    for fieldname, btext, i in heapq.merge(*streams):
        reader, base, docmap = sources[i]
        format_ = schema[fieldname].format
        for ids, weights, values in _term_postings(reader._terms, fieldname, btext, format_):
            if docmap is None:
                for docnum, weight, value in zip(ids, weights, values, strict=True):
                    yield fieldname, btext, base + docnum, weight, value
            else:
                for docnum, weight, value in zip(ids, weights, values, strict=True):
                    new = docmap.get(docnum)
                    if new is not None:
                        yield fieldname, btext, new, weight, value


#: a writer's segments added by :func:`add_segments`, whose postings its flush streams
_STREAMED = "_savoir_streamed"


def add_segments(writer, segments) -> None:
    """Whoosh's ``writer.add_reader`` for each of *segments* (of the writer's index),
    without the posting pool: their live documents' stored fields, lengths and columns
    are copied now, after the documents already added, and their postings are streamed
    into the new segment when it is written, each term's after the pooled ones
    (whose document numbers are lower)."""
    schema = writer.schema
    sources = writer.__dict__.setdefault(_STREAMED, [])
    for segment in segments:
        reader = SegmentReader(writer.storage, schema, segment)
        indexed = {name for name in reader.indexed_field_names() if name in schema}
        base = writer.docnum
        docmap = writer.write_per_doc(set(schema.names()) | indexed, reader)
        sources.append((reader, base, docmap))
    writer._added = True


def _term_of(posting) -> tuple:
    return posting[0], posting[1]


def _flush_segment(self) -> None:
    """Whoosh's ``SegmentWriter._flush_segment``, which also streams the postings of
    the segments :func:`add_segments` added."""
    self.perdocwriter.close()
    lengths = self.per_document_reader() if self.codec.length_stats else None
    sources = self.__dict__.pop(_STREAMED, None)
    capture = POSTINGS_CAPTURE(self) if POSTINGS_CAPTURE is not None and lengths is not None else None
    if capture is not None:  # taken by _add_postings, published by _assemble_segment
        self.fieldwriter.__dict__[_CAPTURE] = self.__dict__[_CAPTURE] = capture
    postings = self.pool.iter_postings()
    if sources:
        # both in term order; for one term, the pool's documents come first
        postings = heapq.merge(postings, _merged_postings(self.schema, sources), key=_term_of)
    try:
        self.fieldwriter.add_postings(self.schema, lengths, postings)
    finally:
        for reader, _, _ in sources or ():
            reader.close()
    self.fieldwriter.close()
    if lengths:
        lengths.close()


def _assemble_segment(self) -> None:
    """Whoosh's ``SegmentWriter._assemble_segment``, then the captured files of the
    segment given their names (after: the compound file takes every file named after
    the segment)."""
    ORIGINALS[(writing.SegmentWriter, "_assemble_segment")](self)
    capture = self.__dict__.pop(_CAPTURE, None)
    if capture is not None:
        capture.publish()


def merge_segments(ix, segments, **writer_options):
    """One new segment holding the live documents of *segments* (of index *ix*), in
    that order, written without the posting pool; returns the new segment (not yet in
    the index's table of contents: the caller commits it)."""
    writer = SegmentWriter(ix, _lk=False, **writer_options)
    try:
        add_segments(writer, segments)
        # the temporary directory is shared with the other writers of the index: kept
        return writer._finalize_segment()
    except BaseException:
        for reader, _, _ in writer.__dict__.pop(_STREAMED, ()):
            reader.close()
        writer._close_segment()
        raise


#: the pickle of a one-position list, by position, below :data:`ONE_POSITION_MAX`
_ONE_POSITION: dict[int, bytes] = {}
ONE_POSITION_MAX = 65536
#: the count a one-position value starts with (Positions.encode's ``pack_uint(1)``)
_ONE_COUNT = pack_uint(1)


def _one_position(pos: int) -> bytes:
    """The pickle of a one-position list (remembered below :data:`ONE_POSITION_MAX`)."""
    tail = dumps([pos], 2)
    if pos < ONE_POSITION_MAX:
        _ONE_POSITION[pos] = tail
    return tail


def _positions_word_values(self, value, analyzer, **kwargs):
    """Whoosh's ``Positions.word_values``: (term, frequency, weight, encoded positions)
    of each term of *value*. An analyser with ``index_positions`` (Savoir's, see
    :mod:`indexer.analysis`) gives each term's positions at once. Anything else goes
    Whoosh's way."""
    fast = getattr(analyzer, "index_positions", None)
    if fast is None or not isinstance(value, str) or any(k != "mode" for k in kwargs):
        yield from ORIGINALS[(formats.Positions, "word_values")](self, value, analyzer, **kwargs)
        return
    fb = self.field_boost
    encode = self.encode
    tails = _ONE_POSITION if type(self).encode is formats.Positions.encode else None
    for word, poslist in fast(value).items():
        # the boosts of a word's tokens are 1.0 each: their sum is the frequency
        if len(poslist) == 1 and tails is not None:
            # most postings hold one position: its encoding's pickle is remembered, and
            # joined to the count anew each time. A block pickles its values, and one
            # bytes object shared by two postings would be pickled as a reference, so
            # the value must be a new object, as Whoosh's encode makes one
            tail = tails.get(poslist[0]) or _one_position(poslist[0])
            yield word, 1, 1.0 * fb, _ONE_COUNT + tail
        else:
            yield word, len(poslist), float(len(poslist)) * fb, encode(poslist)


def _plain_fields(writer) -> frozenset:
    """The fields of *writer*'s schema whose postings :func:`_add_document` can pool
    itself: no spelling words of their own, no term vectors. Kept on the writer (a
    writer's schema cannot change once it has a document; the schema itself is
    pickled with the index)."""
    plain = writer.__dict__.get("_savoir_plain")
    if plain is None:
        plain = writer._savoir_plain = frozenset(
            name
            for name, field in writer.schema.items()
            if not field.separate_spelling() and not field.vector
        )
    return plain


def _add_document(self, **fields) -> None:
    """Whoosh's ``SegmentWriter.add_document``. A text field whose analyser gives each
    term's positions at once (Savoir's) has its postings made and pooled in one loop
    (:func:`_pool_positions`) instead of three generators and a call a posting.

    Documents naming something Whoosh treats specially (a ``_boost``, a ``_stored_``
    value) or a field with spelling words or vectors go Whoosh's way.
    """
    schema = self.schema
    plain = _plain_fields(self)
    if any(name.startswith("_") or name not in plain for name in fields):
        return ORIGINALS[(writing.SegmentWriter, "add_document")](self, **fields)
    self._check_state()
    perdocwriter, pool, docnum = self.perdocwriter, self.pool, self.docnum
    add_post = pool.add
    perdocwriter.start_doc(docnum)
    for fieldname in sorted(fields):
        value = fields[fieldname]
        if value is None:
            continue
        field = schema[fieldname]
        length = 0
        if field.indexed:
            if (
                type(field.format) is formats.Positions
                and isinstance(value, str)
                and type(field).index is FieldType.index
                and hasattr(getattr(field, "analyzer", None), "index_positions")
            ):
                positions = field.analyzer.index_positions(value)
                length = _pool_positions(pool, fieldname, docnum, field.format, positions)
            else:
                for tbytes, freq, weight, vbytes in field.index(value):
                    length += freq
                    # times the document's boost, 1.0 (no _boost), as Whoosh does: an
                    # int weight becomes a float
                    add_post((fieldname, tbytes, docnum, weight * 1.0, vbytes))
            if not field.scorable:
                length = 0
        perdocwriter.add_field(fieldname, field, value if field.stored else None, length)
        column = field.column_type
        if column:
            perdocwriter.add_column_value(fieldname, column, field.to_column_value(value))
    perdocwriter.finish_doc()
    self._added = True
    self.docnum += 1


def _pool_positions(pool, fieldname: str, docnum: int, format_, positions: dict[str, list[int]]) -> int:
    """Pool one field's postings from its terms' positions as ``Positions.word_values``
    and the pool's ``add`` make them (see :func:`_positions_word_values`); returns the
    field's length (its terms' frequencies). The pool's size is counted as its ``add``
    counts it, and checked once for the field: its runs may split elsewhere, and
    the sorted postings are the same."""
    boost = format_.field_boost
    encode = format_.encode
    tails = _ONE_POSITION
    append = pool.current.append
    overhead = 150 + len(fieldname)
    size = length = 0
    for term, poslist in positions.items():
        tbytes = term.encode("utf-8")
        count = len(poslist)
        if count == 1:
            vbytes = _ONE_COUNT + (tails.get(poslist[0]) or _one_position(poslist[0]))
            append((fieldname, tbytes, docnum, 1.0 * boost, vbytes))
        else:
            vbytes = encode(poslist)
            append((fieldname, tbytes, docnum, float(count) * boost, vbytes))
        size += overhead + 2 * len(tbytes) + len(vbytes)
        length += count
    if positions:
        pool.fieldnames.add(fieldname)
        pool.currentsize += size
        if pool.currentsize > pool.limit:
            pool.save()
    return length


def _add_posting(self, id_, weight, vbytes, length=None) -> None:
    """Whoosh's ``W3PostingsWriter.add_posting`` without its four type assertions per
    posting (the values come from Whoosh's own formats; the arrays refuse wrong types)."""
    if len(self._ids) >= self._blocklimit:
        self._write_block()
    self._ids.append(id_)
    self._weights.append(weight)
    if weight > self._maxweight:
        self._maxweight = weight
    if vbytes:
        self._values.append(vbytes)
    if length:
        minlength = self._minlength
        if minlength is None or length < minlength:
            self._minlength = length
        if length > self._maxlength:
            self._maxlength = length


def _pool_add(self, item) -> None:
    """Whoosh's ``PostingPool.add`` without its assertions: the same size estimate, so
    the pool spills its runs to disk at the same points."""
    fieldname, tbytes, _, _, vbytes = item
    self.fieldnames.add(fieldname)
    self.currentsize += 150 + len(fieldname) + 2 * len(tbytes) + len(vbytes or "")
    if self.currentsize > self.limit:
        self.save()
    self.current.append(item)


def _in_term_order(postings: list) -> list:
    """*postings* (fieldname, term bytes, docnum, weight, value) sorted as whole tuples,
    as Whoosh's pool sorts them, but by ranking their terms.

    A writer adds each document's postings after the previous one's, so a term's
    postings come in document order: a stable sort by term alone gives the tuples'
    order, and only the terms (a few per cent of the postings) are compared as
    tuples. Postings not in that order (a term's document number not above its last
    one) are sorted as Whoosh sorts them.
    """
    ids: dict = {}
    number = ids.setdefault
    collecting = gc.isenabled()
    gc.disable()  # a tuple a posting, none of them garbage: no collection to walk the pool
    try:
        term_ids = np.fromiter([number((p[0], p[1]), len(ids)) for p in postings], np.int64, len(postings))
    finally:
        if collecting:
            gc.enable()
    terms = list(ids)
    rank = np.empty(len(terms), np.int64)
    rank[sorted(range(len(terms)), key=terms.__getitem__)] = np.arange(len(terms))
    keys = rank[term_ids]
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    docnums = np.fromiter([p[2] for p in postings], np.int64, len(postings))[order]
    if np.any((keys[1:] == keys[:-1]) & (docnums[1:] <= docnums[:-1])):
        return sorted(postings)
    return list(map(postings.__getitem__, order.tolist()))


def _pool_items(self, maxfiles=128):
    """Whoosh's ``SortingPool.items``; a pool that never spilled to disk (all of
    Savoir's writers) has its postings put in order by :func:`_in_term_order`."""
    if self.runs:
        return ORIGINALS[(writing.PostingPool, "items")](self, maxfiles)
    return _in_term_order(self.current)


#: Whoosh's own functions, before :func:`apply` (the tests compare with them)
ORIGINALS = {
    (whoosh3.W3PerDocReader, "_cached_reader"): whoosh3.W3PerDocReader._cached_reader,
    (structfile.BufferFile, "__init__"): structfile.BufferFile.__init__,
    (codec_base.FieldWriter, "add_postings"): codec_base.FieldWriter.add_postings,
    (whoosh3.W3PostingsWriter, "add_posting"): whoosh3.W3PostingsWriter.add_posting,
    (writing.PostingPool, "add"): writing.PostingPool.add,
    (writing.PostingPool, "items"): writing.PostingPool.items,
    (writing.SegmentWriter, "_flush_segment"): writing.SegmentWriter._flush_segment,
    (writing.SegmentWriter, "add_document"): writing.SegmentWriter.add_document,
    (writing.SegmentWriter, "_assemble_segment"): writing.SegmentWriter._assemble_segment,
    (formats.Positions, "word_values"): formats.Positions.word_values,
}


def apply() -> None:
    whoosh3.W3PerDocReader._cached_reader = _cached_reader
    structfile.BufferFile.__init__ = _buffer_file_init
    codec_base.FieldWriter.add_postings = _add_postings
    whoosh3.W3PostingsWriter.add_posting = _add_posting
    writing.PostingPool.add = _pool_add
    writing.PostingPool.items = _pool_items
    writing.SegmentWriter._flush_segment = _flush_segment
    writing.SegmentWriter.add_document = _add_document
    writing.SegmentWriter._assemble_segment = _assemble_segment
    formats.Positions.word_values = _positions_word_values


def unapply() -> None:
    """Whoosh as it ships again, in this process and the writer processes it forks
    (``bench/scale.py`` measures raw Whoosh so; :func:`apply` puts the fixes back)."""
    for (owner, name), original in ORIGINALS.items():
        setattr(owner, name, original)


apply()
