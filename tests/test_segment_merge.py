"""Segments merged without Whoosh's posting pool hold what Whoosh's own merge gives.

:func:`indexer.whoosh_fixes.merge_segments` streams each term's postings segment by
segment instead of pooling and sorting them again. Two copies of one index, with
several segments and deleted documents, are merged into one segment, one by Whoosh's
``add_reader`` (the pool) and one by ``merge_segments``: the merged segments must be
the same document for document number (stored fields, field lengths, columns),
term for term (statistics, postings with their weights and encoded positions), and
the posting files' bytes too.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime

import pytest
from whoosh import index as whoosh_index
from whoosh.reading import SegmentReader

from indexer.index import build_schema, index_fields
from indexer.store import StoredDocument
from indexer.whoosh_fixes import merge_segments

WORDS = (
    "budget committee region approved plan employees home security policy department open data "
    "bridges inspection published month telework procurement fraud access information"
).split()
MOTS = (
    "comité budget région approuvé plan employés domicile sécurité politique ministère données "
    "ouvertes ponts inspection publié mois télétravail approvisionnement fraude accès"
).split()


def document(i: int) -> StoredDocument:
    english = i % 3 != 0
    words = WORDS if english else MOTS
    # long and short texts: postings of more than one block (128) and inlined ones
    body = " ".join(words[(i * 7 + k * k) % len(words)] for k in range(5 + i % 40))
    text = f"{body}.\n\n{'Note' if english else 'Remarque'} {i} {words[i % len(words)]} zz{i % 17}."
    when = datetime(2016 + i % 9, 1 + i % 12, 1 + i % 28, tzinfo=UTC)
    return StoredDocument(
        id=f"d{i:04d}",
        source_id=f"src{i % 3}",
        agency=["finance", "health", "transport"][i % 3],
        kind="page",
        url=f"https://example.org/{i}",
        title=f"{'Report' if english else 'Rapport'} {i} {words[(i * 3) % len(words)]}",
        text=text,
        language=("en" if english else "fr") if i % 4 else None,
        created=when,
        modified=when,
        tags=[f"tag{i % 5}"] if i % 2 else [],
        communities=[],
        acl=["public"] if i % 10 else ["restricted"],
        translation_of=f"d{i - 1:04d}" if i % 6 == 1 else None,
        alternates={},
        content_hash="",
        deleted=False,
        authors=[],
        contributors=[f"Person {i % 11}", f"Editor {i % 4}"][: 1 + i % 2],
    )


def build(path, sizes: list[int], deleted: set[str]):
    """An index of one segment per entry of *sizes*, then *deleted* deleted."""
    path.mkdir()
    ix = whoosh_index.create_in(str(path), build_schema())
    n = 0
    for size in sizes:
        with ix.writer() as writer:
            writer.merge = False
            for _ in range(size):
                writer.add_document(**index_fields(document(n)))
                n += 1
    with ix.writer() as writer:
        writer.merge = False
        for doc_id in sorted(deleted):
            writer.delete_by_term("id", doc_id)
    return ix


def contents(ix, segment) -> dict:
    """Everything a segment holds, by document number and by term."""
    reader = SegmentReader(ix.storage, ix.schema, segment)
    try:
        count = reader.doc_count_all()
        out: dict = {"count": count, "stored": [reader.stored_fields(d) for d in range(count)]}
        for name, field in ix.schema.items():
            if field.scorable:
                out[f"length:{name}"] = [reader.doc_field_length(d, name) for d in range(count)]
                out[f"total:{name}"] = reader.field_length(name)
                out[f"min-max:{name}"] = (reader.min_field_length(name), reader.max_field_length(name))
            if field.column_type and reader.has_column(name):
                column = reader.column_reader(name)
                out[f"column:{name}"] = [column[d] for d in range(count)]
        terms = {}
        for fieldname, btext in reader.all_terms():
            info = reader.term_info(fieldname, btext)
            matcher = reader.postings(fieldname, btext)
            postings = []
            while matcher.is_active():
                postings.append((matcher.id(), matcher.weight(), matcher.value()))
                matcher.next()
            stats = (
                info.weight(),
                info.doc_frequency(),
                info.min_length(),
                info.max_length(),
                info.max_weight(),
                info.min_id(),
                info.max_id(),
            )
            terms[(fieldname, btext)] = (stats, postings)
        out["terms"] = terms
        return out
    finally:
        reader.close()


def posting_bytes(ix, segment) -> bytes:
    storage = segment.open_compound_file(ix.storage) if segment.is_compound() else ix.storage
    with storage.open_file(segment.make_filename(".pst")) as handle:
        return handle.read()


@pytest.mark.parametrize("deleted", [set(), {"d0003", "d0050", "d0051", "d0199", "d0230"}])
def test_streamed_merge_writes_what_whoosh_merge_writes(tmp_path, deleted):
    sizes = [150, 90, 3, 1, 60]  # 304 documents in five segments
    ix = build(tmp_path / "a", sizes, deleted)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    segments = ix._segments()
    assert len(segments) == len(sizes)

    # Whoosh's merge: every segment through the pool into a writer's new segment
    with ix.writer() as writer:
        for segment in segments:
            reader = SegmentReader(ix.storage, ix.schema, segment)
            writer.add_reader(reader)
            reader.close()
        writer.mergetype = lambda w, segs: []  # the merged segments leave the index
    (pooled,) = ix._segments()

    other = whoosh_index.open_dir(str(tmp_path / "b"))
    streamed = merge_segments(other, other._segments(), limitmb=32)
    assert contents(other, streamed) == contents(ix, pooled)
    assert contents(ix, pooled)["count"] == sum(sizes) - len(deleted)
    assert posting_bytes(other, streamed) == posting_bytes(ix, pooled)
    # the segment is usable as an index's only segment
    with other.writer() as writer:
        writer.mergetype = lambda w, segs: [streamed]
    with other.searcher() as searcher:
        assert searcher.doc_count() == sum(sizes) - len(deleted)
        assert searcher.document_number(id="d0004") is not None
        assert all(searcher.document_number(id=doc_id) is None for doc_id in deleted)
    ix.close()
    other.close()


@pytest.mark.parametrize("limitmb", [1, 64])
def test_patched_writer_writes_what_whoosh_writes(tmp_path, monkeypatch, limitmb):
    """The posting writer, the posting pool and ``add_postings`` of indexer.whoosh_fixes
    (no assertions, lengths read once per field, terms ranked instead of every
    posting sorted, text fields' postings pooled in one loop) against Whoosh's own:
    the same segment, byte for byte, with a pool small enough to spill runs to disk
    and with one that holds them all."""
    from indexer import whoosh_fixes

    def one_segment(path):
        path.mkdir()
        ix = whoosh_index.create_in(str(path), build_schema())
        with ix.writer(limitmb=limitmb) as writer:
            for n in range(400):
                fields = index_fields(document(n))
                if n % 50 == 7:  # boosted documents go Whoosh's way
                    fields["_boost"] = 1.5
                writer.add_document(**fields)
        (segment,) = ix._segments()
        return ix, segment

    patched, patched_segment = one_segment(tmp_path / "patched")
    with monkeypatch.context() as m:
        for (owner, name), original in whoosh_fixes.ORIGINALS.items():
            m.setattr(owner, name, original)
        plain, plain_segment = one_segment(tmp_path / "plain")
    assert contents(patched, patched_segment) == contents(plain, plain_segment)
    assert posting_bytes(patched, patched_segment) == posting_bytes(plain, plain_segment)


def test_segments_added_after_new_documents_stream_like_add_reader(tmp_path):
    """What a writer process does with a merge job: segments added after its own new
    documents (pooled), written into its one segment: the same as Whoosh's add_reader."""
    from whoosh.writing import SegmentWriter

    from indexer.whoosh_fixes import add_segments

    deleted = {"d0010", "d0100", "d0101"}
    build(tmp_path / "a", [150, 40, 2], deleted)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    made = {}
    for name, way in (("a", "pool"), ("b", "streamed")):
        ix = whoosh_index.open_dir(str(tmp_path / name))
        segments = ix._segments()
        writer = SegmentWriter(ix, limitmb=1)  # a pool that spills its runs to disk
        for n in range(500, 620):
            writer.add_document(**index_fields(document(n)))
        if way == "pool":
            for segment in segments:
                reader = SegmentReader(ix.storage, ix.schema, segment)
                writer.add_reader(reader)
                reader.close()
        else:
            add_segments(writer, segments)
        writer.mergetype = lambda w, segs: []
        writer.commit()
        (made[way],) = ix._segments()
        made[f"{way}-ix"] = ix
    pooled, streamed = (
        contents(made["pool-ix"], made["pool"]),
        contents(made["streamed-ix"], made["streamed"]),
    )
    assert streamed == pooled and pooled["count"] == 120 + 192 - len(deleted)
    assert posting_bytes(made["streamed-ix"], made["streamed"]) == posting_bytes(
        made["pool-ix"], made["pool"]
    )
    for way in ("pool", "streamed"):
        made[f"{way}-ix"].close()


def test_postings_put_in_term_order_as_whoosh_sorts_them():
    """The pool's ranking of terms gives the order of sorting whole postings: for a
    writer's postings (each term's in document order), and for postings that are not
    (a term's document number repeated or going back), which are sorted as they are."""
    import random

    from indexer.whoosh_fixes import _in_term_order

    rng = random.Random(7)
    terms = [(field, f"t{n}".encode()) for field in ("body_en", "acl", "title_fr") for n in range(40)]
    added = []
    for docnum in range(300):
        for field, term in rng.sample(terms, 12):
            added.append((field, term, docnum, rng.choice([1.0, 2.0]), b"v%d" % rng.randrange(5)))
    assert _in_term_order(added) == sorted(added)
    assert _in_term_order([]) == []
    # Whoosh's spelling words come with document number 0 again and again; a merge
    # through the pool may bring a term's documents in any order
    repeated = added + [("body_en", b"t3", 0, 1, b""), ("body_en", b"t3", 0, 1, b"a")]
    going_back = added + [(added[0][0], added[0][1], 0, 5.0, b"")]
    for postings in (repeated, going_back):
        rng.shuffle(postings)
        assert _in_term_order(postings) == sorted(postings)


def test_fixes_can_be_undone_and_put_back():
    """bench/scale.py measures raw Whoosh as it ships, in a process that imported
    Savoir: ``unapply`` puts back every original, ``apply`` every fix."""
    from indexer import whoosh_fixes

    patched = {key: getattr(*key) for key in whoosh_fixes.ORIGINALS}
    try:
        whoosh_fixes.unapply()
        assert all(getattr(*key) is original for key, original in whoosh_fixes.ORIGINALS.items())
    finally:
        whoosh_fixes.apply()
    assert {key: getattr(*key) for key in whoosh_fixes.ORIGINALS} == patched
    assert all(patched[key] is not original for key, original in whoosh_fixes.ORIGINALS.items())
