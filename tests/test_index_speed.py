"""The parallel index writer writes what the plain one writes.

Big batches go to Whoosh's writer processes as stored documents: the processes
detect the languages, route the text, analyse it and add the words to the
vocabulary themselves (see ``indexer.index._StoredMpWriter``). The index they build
must hold the same documents, terms, postings (positions included) and stored
fields as the one the plain in-process writer builds, through a crawl, an update
with deletions, and a rebuild.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from crawler.runner import Savoir
from indexer import index as index_module
from indexer.index import SearchIndex
from indexer.search import Searcher, SearchRequest
from tests.conftest import make_settings, memory_source

EN = [
    "The committee reviewed the budget for the northern region and approved the plan.",
    "Employees who work from home must follow the security policy of the department.",
    "Open data: the dataset of bridges is published every month with its inspection dates.",
]
FR = [
    "Le comité a examiné le budget de la région du nord et il a approuvé le plan.",
    "Les employés qui travaillent à domicile doivent suivre la politique de sécurité.",
    "Données ouvertes : le jeu de données des ponts est publié chaque mois avec les dates.",
]


def collection(count: int) -> dict[str, dict]:
    pages: dict[str, dict] = {}
    for i in range(count):
        when = datetime(2020 + i % 6, 1 + i % 12, 1 + i % 27, tzinfo=UTC)
        en = f"{EN[i % 3]}\n\nNote {i} about telework, section {i % 11}.\n\n{EN[(i + 1) % 3]}"
        pages[f"en{i:03d}"] = {
            "title": f"Report {i} on the {['budget', 'telework', 'bridges'][i % 3]}",
            "text": en + (f"\n\n{FR[i % 3]}" if i % 5 == 0 else ""),  # a quoted French block
            "language": "en" if i % 4 else None,
            "author": f"Author {i % 9}",
            "tags": [f"tag{i % 4}"],
            "modified": when,
            "acl": ["public"] if i % 10 else ["restricted"],
        }
        if i % 2 == 0:
            pages[f"fr{i:03d}"] = {
                "title": f"Rapport {i} sur le {['budget', 'télétravail', 'ponts'][i % 3]}",
                "text": f"{FR[i % 3]}\n\nNote {i} sur le télétravail, section {i % 11}.",
                "language": "fr",
                "translation_of": f"wiki:en{i:03d}",
                "author": f"Auteur {i % 7}",
                "modified": when,
            }
    return pages


def dump(index: SearchIndex) -> tuple[dict, dict]:
    """(stored fields by id, {(field, term): {id: encoded posting}}) of the live documents."""
    with index.searcher() as searcher:
        reader = searcher.reader()
        ids = {docnum: fields["id"] for docnum, fields in reader.iter_docs()}
        stored = {fields["id"]: fields for _, fields in reader.iter_docs()}
        postings: dict = {}
        for field, term in reader.all_terms():
            matcher = reader.postings(field, term)
            found = {}
            while matcher.is_active():
                if matcher.id() in ids:
                    found[ids[matcher.id()]] = matcher.value()
                matcher.next()
            if found:
                postings[(field, term)] = found
    assert len(stored) == len(ids), "a document is in the index twice"
    return stored, postings


def words(index: SearchIndex) -> set[str]:
    index.vocabulary.refresh()
    return set(index.vocabulary.words())


@pytest.fixture
def two_savoirs(tmp_path, memory_content):
    """A Savoir whose index writes in-process and one whose batches all go to the
    writer processes (same documents)."""
    made = []

    def make(name: str) -> Savoir:
        savoir = Savoir(make_settings(tmp_path / name), [memory_source()])
        made.append(savoir)
        return savoir

    yield make
    for savoir in made:
        savoir.close()


def crawl(savoir: Savoir, parallel: bool, monkeypatch) -> None:
    monkeypatch.setattr(index_module, "PARALLEL_FROM", 1 if parallel else 10**9)
    try:
        savoir.crawl(full=True)
    finally:
        monkeypatch.undo()


def test_parallel_writer_indexes_like_the_plain_one(two_savoirs, memory_content, monkeypatch):
    if min(os.cpu_count() or 1, index_module.MAX_PROCS) < 2:
        pytest.fail("this machine has one core: the parallel writer is never used here")
    memory_content["wiki"] = collection(160)  # 240 documents: job files for both processes
    plain, parallel = two_savoirs("plain"), two_savoirs("parallel")
    crawl(plain, False, monkeypatch)
    crawl(parallel, True, monkeypatch)
    assert plain.open_index().doc_count() == parallel.open_index().doc_count() == 240
    # two writer processes, a segment each (the plain writer makes one)
    assert len(parallel.open_index().ix._segments()) == 2
    assert dump(parallel.open_index()) == dump(plain.open_index())
    assert words(parallel.open_index()) == words(plain.open_index())
    assert {"telework", "bridges", "teletravail", "inspection"} <= words(parallel.open_index())

    # updates and deletions through the parallel writer: one copy each, the new text
    pages = memory_content["wiki"]
    changed, gone = set(range(0, 40, 3)), set(range(1, 30, 7))  # en015 both
    for i in changed:
        pages[f"en{i:03d}"]["text"] += f"\n\nAddendum {i}: the zeppelin hangar is now closed."
    for i in gone:
        del pages[f"en{i:03d}"]
    crawl(plain, False, monkeypatch)
    crawl(parallel, True, monkeypatch)
    live = len(pages)
    assert parallel.open_index().doc_count() == plain.open_index().doc_count() == live
    assert dump(parallel.open_index()) == dump(plain.open_index())
    searcher = Searcher(parallel.open_index(), parallel.store)
    hits = searcher.search(SearchRequest("zeppelin hangar", groups=("public", "restricted")))
    assert hits.total == len(changed - gone)
    assert "zeppelin" in words(parallel.open_index())

    # a rebuild through the writer processes gives the same index again
    monkeypatch.setattr(index_module, "PARALLEL_FROM", 1)
    assert plain.open_index().rebuild(plain.store) == live
    monkeypatch.undo()
    assert dump(plain.open_index()) == dump(parallel.open_index())
    assert words(plain.open_index()) == words(parallel.open_index())


def test_merges_run_in_the_writer_processes_and_keep_the_index_whole(
    two_savoirs, memory_content, monkeypatch
):
    memory_content["wiki"] = collection(20)  # 30 documents
    plain, parallel = two_savoirs("plain"), two_savoirs("parallel")
    for savoir in (plain, parallel):
        crawl(savoir, False, monkeypatch)
    pages = memory_content["wiki"]
    merged = False
    for step in range(10):
        # each step changes three documents: a small segment each time, and deletions
        for i in range(3):
            pages[f"en{(step * 3 + i) % 20:03d}"]["text"] += f"\n\nRevision {step} of the ferry timetable."
        crawl(plain, False, monkeypatch)
        segments_before = len(parallel.open_index().ix._segments())
        crawl(parallel, True, monkeypatch)
        segments_after = len(parallel.open_index().ix._segments())
        merged = merged or segments_after < segments_before
        assert parallel.open_index().doc_count() == 30
        assert dump(parallel.open_index()) == dump(plain.open_index())
    assert merged, "Whoosh's policy never chose a merge: the test does not test it"
    assert len(parallel.open_index().ix._segments()) <= 6
    hits = Searcher(parallel.open_index(), parallel.store).search(
        SearchRequest("ferry timetable", groups=("public", "restricted"))
    )
    assert hits.total == 20


def test_language_verdicts_found_by_writer_processes_are_kept_for_the_next_ones(
    two_savoirs, memory_content, monkeypatch, tmp_path
):
    """The writer processes start as copies of the parent: the langdetect verdicts they
    find come back to its cache, so the next catch-up's processes do not detect the
    same block again (and the parent, which never detects here, knows them)."""
    from indexer import language

    # no function word of either language: only langdetect decides this block
    block = (
        "Dépenses, recettes, investissements, subventions, emprunts, remboursements, "
        "provisions, réserves, excédents, déficits, trésorerie, amortissements."
    )
    calls = tmp_path / "langdetect-calls"
    detect = language.detect_langs

    def counted(text):
        with calls.open("a", encoding="utf-8") as out:  # from whichever process calls it
            out.write(f"{os.getpid()}\t{text == block}\n")
        return detect(text)

    pages = collection(40)
    pages["en001"]["text"] += f"\n\n{block}"
    pages["en001"]["language"] = None
    memory_content["wiki"] = pages
    savoir = two_savoirs("parallel")
    monkeypatch.setattr(language, "_verdicts", language._Verdicts(1000))
    monkeypatch.setattr(language, "detect_langs", counted)
    monkeypatch.setattr(index_module, "PARALLEL_FROM", 1)
    savoir.crawl(full=True)
    lines = [line.split("\t") for line in calls.read_text("utf-8").splitlines()]
    block_calls = [pid for pid, is_block in lines if is_block == "True"]
    assert len(block_calls) == 1 and int(block_calls[0]) != os.getpid()  # a writer process found it
    assert language._verdicts.get(block) == (True, "fr")  # and the parent has its verdict

    # the block again, in another document: the next writer processes know it already
    pages["en002"]["text"] += f"\n\n{block}"
    pages["en002"]["language"] = None
    savoir.crawl(full=True)
    lines = [line.split("\t") for line in calls.read_text("utf-8").splitlines()]
    assert [pid for pid, is_block in lines if is_block == "True"] == block_calls
    searcher = Searcher(savoir.open_index(), savoir.store)
    assert searcher.search(SearchRequest("trésorerie amortissements", groups=("public",))).total == 2


def test_one_writer_takes_a_catch_up_of_up_to_catch_up_chunk_changes(
    two_savoirs, memory_content, monkeypatch
):
    """A crawl's catch-up (every ``index_every`` documents) is written by one writer up
    to CATCH_UP_CHUNK changes: bigger batches make fewer, bigger segments."""
    memory_content["wiki"] = collection(160)  # 240 documents
    big, small = two_savoirs("big"), two_savoirs("small")
    monkeypatch.setattr(index_module, "PARALLEL_FROM", 1)
    big.crawl(full=True)
    monkeypatch.setattr(index_module, "CATCH_UP_CHUNK", 100)
    small.crawl(full=True)
    assert len(big.open_index().ix._segments()) == 2  # one writer, a segment a process
    # three writers of at most 100 documents (one job file each, so one process each)
    assert len(small.open_index().ix._segments()) == 3
    assert dump(big.open_index()) == dump(small.open_index())


def test_a_writer_process_that_dies_fails_the_catch_up_and_the_next_one_completes(
    two_savoirs, memory_content, monkeypatch
):
    """A writer process killed mid-batch: its segment never arrives, so the commit fails
    (nothing of the batch is kept, the watermark stays) and leaves the index writable;
    the next catch-up replays the batch from the store."""
    memory_content["wiki"] = collection(160)  # 240 documents
    savoir = two_savoirs("parallel")
    index = savoir.open_index()
    monkeypatch.setattr(index_module, "PARALLEL_FROM", 1)
    savoir.crawl(full=True)
    watermark = index.watermark
    for i in range(0, 60, 2):
        memory_content["wiki"][f"en{i:03d}"]["text"] += "\n\nThe lighthouse keeper retired."
    process_file = index_module._FieldsTask._process_file
    monkeypatch.setattr(index_module, "CATCH_UP_CHUNK", 10**6)
    monkeypatch.setattr(index_module._FieldsTask, "_process_file", lambda self, *job: os._exit(3))
    monkeypatch.setattr(savoir.settings.crawler, "index_every", 10**6)
    savoir.crawl(full=True)  # the store has the changes; the index update failed
    assert index.watermark == watermark
    monkeypatch.setattr(index_module._FieldsTask, "_process_file", process_file)
    assert index.catch_up(savoir.store) == 30
    hits = Searcher(index, savoir.store).search(
        SearchRequest("lighthouse keeper", groups=("public", "restricted"))
    )
    assert hits.total == 30 and index.doc_count() == 240
