"""The Whoosh index: derived from the store, rebuildable at any time.

The index keeps a watermark (the last store change it holds) next to its files.
:meth:`SearchIndex.catch_up` replays store changes past the watermark; replaying a
change twice is harmless (documents are updated by unique id), so a crash between
the store's commit and the index's commit loses nothing.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import queue
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import thread as futures_thread
from dataclasses import dataclass
from multiprocessing import Queue
from pathlib import Path

import numpy
from langdetect.detector_factory import init_factory as load_language_profiles
from whoosh import index as whoosh_index
from whoosh.fields import DATETIME, ID, KEYWORD, STORED, TEXT, Schema
from whoosh.multiproc import MpWriter, SubWriterTask
from whoosh.reading import SegmentReader, TermNotFound
from whoosh.writing import MERGE_SMALL

from config.loader import MemorySettings
from indexer import (
    flat_postings,
    language,
    whoosh_fixes,  # patches Whoosh before any index is opened
)
from indexer.accel import Accelerator
from indexer.analysis import english_analyzer, french_analyzer, neutral_analyzer
from indexer.communities import Communities
from indexer.index_lock import IndexBusy, IndexLock, guard_subwriters
from indexer.language import detect_blocks, detect_title, document_language
from indexer.people import normalise_name
from indexer.store import Store, StoredDocument
from indexer.translations import TableFile
from indexer.twins import load_map as load_twin_map
from indexer.vocabulary import DIRECTORY as VOCABULARY_DIR
from indexer.vocabulary import Vocabulary, collect_words, spellable, words_of_text

log = logging.getLogger(__name__)

# Whoosh's sub-writers die with their parent and never keep its lock (see index_lock)
guard_subwriters()

#: bump when the schema or the analysis changes: the index is then rebuilt
SCHEMA_VERSION = 6
WATERMARK_FILE = "savoir-watermark.json"

Progress = Callable[[int], None]
#: batches at least this big are written by several processes
PARALLEL_FROM = 1000
MAX_PROCS = 4
#: store changes applied by one writer (its processes' segments share them): a crawl
#: catches up every ``[crawler] index_every`` documents, so that setting, up to this
#: bound, is the size of the segments a crawl writes (bigger: fewer merges and fewer
#: posting blocks a document; the parent holds this many documents at once)
CATCH_UP_CHUNK = 10000
#: a rebuild commits its writers every REBUILD_CHUNK documents or more, in at most
#: REBUILD_COMMITS commits. Until a commit each writer process keeps its spilled
#: postings on disk (runs about five times the postings they become): a million
#: documents in one commit took 23 GB beside a 4.8 GB index. Each commit adds a
#: segment a process, and searches slow with segments, hence a bounded number.
REBUILD_CHUNK, REBUILD_COMMITS = 100_000, 4
#: megabytes of postings a writer process holds before it sorts them in runs on disk
WRITER_POOL_MB = 256
#: seconds a writer waits for another process's index lock
WRITER_TIMEOUT = 120.0
#: seconds an opener waits for a live rebuild to finish its swap
SWAP_WAIT = 10.0
#: the fields whose terms are text (matched words are evidence; the rest are filters)
TEXT_FIELDS = frozenset({"title_en", "body_en", "title_fr", "body_fr", "neutral"})
# every segment's flat postings are written as its postings are (in the process that
# writes it), not read back from it after the commit
whoosh_fixes.POSTINGS_CAPTURE = flat_postings.capture_for(TEXT_FIELDS)


def build_schema() -> Schema:
    en, fr, neutral = english_analyzer(), french_analyzer(), neutral_analyzer()
    return Schema(
        id=ID(stored=True, unique=True, sortable=True),
        source=ID(stored=True, sortable=True),
        agency=ID(stored=True, sortable=True),
        kind=ID(stored=True, sortable=True),
        lang=ID(stored=True, sortable=True),
        langs=KEYWORD(commas=True),
        year=ID(stored=True, sortable=True),
        date=DATETIME(stored=True, sortable=True),
        title=STORED(),
        url=STORED(),
        title_en=TEXT(analyzer=en, field_boost=2.0),
        body_en=TEXT(analyzer=en),
        title_fr=TEXT(analyzer=fr, field_boost=2.0),
        body_fr=TEXT(analyzer=fr),
        neutral=TEXT(analyzer=neutral),
        acl=KEYWORD(commas=True),
        tags=KEYWORD(commas=True, lowercase=True, stored=True),
        communities=KEYWORD(commas=True, stored=True),
        author=KEYWORD(commas=True, lowercase=True),
        twin=ID(stored=True, sortable=True),
    )


def index_fields(
    doc: StoredDocument,
    communities: Communities | None = None,
    inferred: dict[str, str] | None = None,
    words_into: set[str] | None = None,
) -> dict:
    """The Whoosh fields of one stored document (its text routed by language).

    *inferred* maps a document to the twin key of its other version when
    :mod:`indexer.twins` paired them without markup; an explicit link wins.
    *words_into* gathers the words of its text for the spelling vocabulary.
    """
    blocks = detect_blocks(doc.text, doc.language, words_into)
    body: dict[str | None, list[str]] = {"en": [], "fr": [], None: []}
    for block in blocks:
        body[block.language if block.language in ("en", "fr") else None].append(block.text)
    main = document_language(blocks, doc.language)
    title_lang = detect_title(doc.title, blocks, doc.language) or main
    date = doc.modified or doc.created
    people = [normalise_name(name) for name in doc.contributors]
    fields = {
        "id": doc.id,
        "source": doc.source_id,
        "agency": doc.agency,
        "kind": doc.kind,
        "lang": main or "und",
        "langs": ",".join(lang for lang in ("en", "fr") if body[lang]),
        "title": doc.title,
        "url": doc.url,
        "body_en": "\n\n".join(body["en"]),
        "body_fr": "\n\n".join(body["fr"]),
        # names, tags and text in no clear language (the title is in its language's field)
        "neutral": "\n".join([*doc.contributors, *doc.tags, *body[None]]),
        "acl": ",".join(doc.acl),
        "tags": ",".join(t.replace(",", " ") for t in doc.tags),
        "communities": ",".join(
            communities.memberships(doc.title, doc.text, doc.tags, doc.communities)
            if communities
            else doc.communities
        ),
        "author": ",".join(p for p in people if p),
        # twins share the original's id (the translation names it; the original names nothing)
        "twin": doc.translation_of or (inferred or {}).get(doc.id) or doc.id,
    }
    if title_lang == "fr":
        fields["title_fr"] = doc.title
    else:
        fields["title_en"] = doc.title
    if date is not None:
        fields["date"] = date.replace(tzinfo=None)
        fields["year"] = str(date.year)
    return fields


#: a job-file entry holding a stored document, turned into fields by the sub-writer
STORED_DOC = 1
#: the job (in place of a job file's name) of merging existing segments into one
MERGE_JOB = "savoir-merge-segment"
#: the files in which writer processes hand their langdetect verdicts back
VERDICTS = ".verdicts"


class _FieldsTask(SubWriterTask):
    """A Whoosh sub-writer process that turns stored documents into fields itself.

    Language per block, routing and analysis then run in the writer processes, one
    per core, instead of the language part in the parent alone while they wait. The
    words of each job's documents go to the vocabulary from here too (appended under
    its file lock, before the index commits, as the parent did).
    """

    def __init__(self, *args, communities: Communities, inferred: dict[str, str], vocabulary) -> None:
        super().__init__(*args)
        self.communities = communities
        self.inferred = inferred
        self.vocabulary = vocabulary
        #: the raw words this process already gave the vocabulary (folded once each)
        self._given: set[str] = set()

    def run(self) -> None:
        # forked from a thread of a pool (the worker's scheduler runs its crawls in
        # one), this process inherits concurrent.futures' list of that pool's threads,
        # and its exit joins them, itself among them: "cannot join current thread",
        # exit code 1 after its segment was handed back, and the commit was refused.
        # None of those threads exists here.
        futures_thread._threads_queues.clear()
        # langdetect's verdicts this process finds are handed back to the parent, whose
        # cache the next catch-up's processes inherit (each process starts as a copy of
        # the parent: without this, every catch-up detected the same blocks again)
        inherited = set(language._verdicts._kept)
        super().run()
        found = [
            (text, verdict) for text, verdict in language._verdicts._kept.items() if text not in inherited
        ]
        if found and self.running:
            name = f"{os.getpid()}-{time.monotonic_ns()}{VERDICTS}"
            with self.writer.temp_storage().create_file(name).raw_file() as handle:
                pickle.dump(found, handle, pickle.HIGHEST_PROTOCOL)

    def _process_file(self, filename: str, doc_count) -> None:
        writer = self.writer
        if filename == MERGE_JOB:  # doc_count is a list of segments (with this commit's deletions)
            # after this process's documents, in its segment (no document job comes after
            # a merge job), their postings streamed when the segment is written
            whoosh_fixes.add_segments(writer, doc_count)
            return
        storage = writer.temp_storage()
        words: set[str] = set()
        with storage.open_file(filename).raw_file() as handle:
            for _ in range(doc_count):
                code, item = pickle.load(handle)
                if code == STORED_DOC:
                    collect_words(item.title, words)
                    # the text's words as the language detection reads them (one pass)
                    item = index_fields(item, self.communities, self.inferred, words)
                writer.add_document(**item)
        storage.delete_file(filename)
        words -= self._given
        if words and self.vocabulary is not None:
            self._given |= words
            self.vocabulary.add(spellable(words))


class _StoredMpWriter(MpWriter):
    """Whoosh's MpWriter (one writer process per core, each writing its own segment)
    that also takes stored documents (:meth:`add_stored`) for its processes to index."""

    def __init__(self, ix, *, communities: Communities, inferred: dict[str, str], vocabulary, **kwargs):
        super().__init__(ix, **kwargs)
        self._fields_args = {"communities": communities, "inferred": inferred, "vocabulary": vocabulary}
        # unbounded (Whoosh's holds 4 jobs a process): a job is a file's name, and the
        # parent hands out a whole catch-up at once instead of waiting for a free place
        self.jobqueue = Queue()
        #: the segments a queued commit keeps (None: nothing queued yet)
        self._kept: list | None = None

    def _new_task(self):
        task = _FieldsTask(
            self.storage,
            self.indexname,
            self.jobqueue,
            self.resultqueue,
            self.subargs,
            self.multisegment,
            **self._fields_args,
        )
        self.tasks.append(task)
        task.start()
        return task

    def add_stored(self, doc: StoredDocument) -> None:
        self.docbuffer.append((STORED_DOC, doc))
        if not self._grouping and len(self.docbuffer) >= self.batchsize:
            self._enqueue()
        self._added_sub = True

    def _commit(self, mergetype, optimize, merge) -> None:
        """Merge what Whoosh's policy would, but in the writer processes (the parent
        alone merged, at ~5 ms of CPU a document, while they waited) and without
        Whoosh's posting pool (:func:`indexer.whoosh_fixes.merge_segments`): the
        chosen segments are split into one group per process, queued after the last
        documents, and each process writes the groups it takes into its own segment."""
        if self._kept is None and not self.queue_commit(mergetype, optimize, merge):
            super()._commit(mergetype, optimize, merge)
            return
        self.finish_commit()

    def queue_commit(self, mergetype=None, optimize=None, merge=None) -> bool:
        """Give the writer processes everything left of this commit (the last documents,
        the merges, then their end) without waiting for them: :meth:`finish_commit`
        then waits and commits. False (nothing queued) for a commit that is not this
        writer's own kind (another merge type, an optimize)."""
        mergetype = self.mergetype if mergetype is None else mergetype
        optimize = self.optimize if optimize is None else optimize
        merge = self.merge if merge is None else merge
        if not (mergetype is None and not optimize and merge):
            return False
        if self.docbuffer:
            self._enqueue()
        chosen = _chosen_merges(self)
        for group in _groups(chosen, len(self.tasks)):
            self.jobqueue.put((MERGE_JOB, group))
        self._kept = [segment for segment in self.segments if segment not in chosen]
        for _ in self.tasks:
            self.jobqueue.put(None)
        return True

    def finish_commit(self) -> None:
        """Wait for the writer processes of a queued commit and commit their segments."""
        assert self._kept is not None, "queue_commit first"
        results = self._results()
        if len(results) != len(self.tasks) or any(task.exitcode for task in self.tasks):
            # a process died: nothing of this commit is kept (the store replays it), and
            # the index's write lock and temporary files are let go for the next writer
            self._close_segment()
            self._finish()
            codes = [task.exitcode for task in self.tasks]
            raise RuntimeError(
                f"{len(self.tasks)} writer processes returned {len(results)} segments (exit codes {codes})"
            )
        final = self._kept + [segment for _, _, segment in results if segment.doc_count_all()]
        _take_verdicts(self.temp_storage())
        if self._added:
            final.append(self._finalize_segment())
        else:
            self._close_segment()
        self._commit_toc(final)
        self._finish()

    def _results(self) -> list:
        """The writer processes' segments, taken as they come, then the processes
        joined. Whoosh joined first: a process that does not end after handing its
        segment back (stuck in its exit) held the crawl forever; it is now given
        EXIT_GRACE seconds, then stopped (and the commit refused)."""
        results = []
        while len(results) < len(self.tasks):
            try:
                results.append(self.resultqueue.get(timeout=1))
            except queue.Empty:
                if any(task.is_alive() for task in self.tasks):
                    continue
                try:  # every process ended: a last segment may still be in the pipe
                    results.append(self.resultqueue.get(timeout=1))
                except queue.Empty:
                    break
        for task in self.tasks:
            task.join(EXIT_GRACE)
            if task.is_alive():
                log.error("writer process %s did not end after its work; stopped", task.pid)
                task.terminate()
                task.join()
        return results


#: seconds a writer process has to end after handing its segment back
EXIT_GRACE = 60.0


def _take_verdicts(storage) -> None:
    """Put the langdetect verdicts the writer processes left in *storage* into this
    process's cache (langdetect is seeded: a verdict only saves a later call's time)."""
    for name in storage.list():
        if name.endswith(VERDICTS):
            with storage.open_file(name).raw_file() as handle:
                found = pickle.load(handle)
            storage.delete_file(name)
            for text, verdict in found:
                language._verdicts.put(text, verdict)


class _MergePlan:
    """Stands for a writer in Whoosh's merge policy, to learn which segments it would
    merge without merging them."""

    def __init__(self, writer) -> None:
        self.storage, self.schema = writer.storage, writer.schema
        self.chosen: list = []

    def add_reader(self, reader) -> None:
        self.chosen.append(reader.segment())


#: the tail rule of :func:`merge_policy`: this many segments or more, each holding less
#: than 1/TAIL_SHARE of the index's documents, are merged into one
TAIL_COUNT, TAIL_SHARE = 6, 50


def merge_policy(writer, segments):
    """Which segments a commit merges: Whoosh's ``MERGE_SMALL``, and the tail of small
    segments it leaves.

    ``MERGE_SMALL`` merges the smallest segments once their count outgrows a Fibonacci
    number of documents, a rule made for segments of tens of documents: a crawl's
    catch-ups write segments of 5,000, and it let about twenty of them pile up before
    merging (at a million documents 20 of the 26 segments held 10% of the documents).
    Every segment costs every search a term look-up per word, so those 10% took a third
    of a search's time (bench/SCALE.md, stop 33). When ``MERGE_SMALL`` merges nothing,
    :data:`TAIL_COUNT` segments or more under 1/:data:`TAIL_SHARE` of the index are
    merged: never at 100,000 documents (5,000 is a twentieth), at a million about as many
    merged documents as before. Called as Whoosh calls a merge type (``add_reader`` for
    each merged segment; returns the others)."""
    plan = _MergePlan(writer)
    MERGE_SMALL(plan, segments)
    chosen = plan.chosen
    if not chosen:
        total = sum(segment.doc_count_all() for segment in segments)
        tail = [segment for segment in segments if segment.doc_count_all() * TAIL_SHARE < total]
        chosen = tail if len(tail) >= TAIL_COUNT else []
    for segment in chosen:
        reader = SegmentReader(writer.storage, writer.schema, segment)
        writer.add_reader(reader)
        reader.close()
    return [segment for segment in segments if not any(segment is c for c in chosen)]


def _chosen_merges(writer) -> list:
    plan = _MergePlan(writer)
    merge_policy(plan, writer.segments)
    return plan.chosen


def _groups(segments: list, count: int) -> list[list]:
    """*segments* in at most *count* groups of about as many documents each (each
    group is one merge job, taken by a writer process into its segment), in index order."""
    count = max(1, min(count, len(segments)))
    groups: list[list] = [[] for _ in range(count)]
    sizes = [0] * count
    for segment in sorted(segments, key=lambda s: -s.doc_count_all()):
        smallest = sizes.index(min(sizes))
        groups[smallest].append(segment)
        sizes[smallest] += segment.doc_count_all()
    order = {id(segment): i for i, segment in enumerate(segments)}
    return [sorted(group, key=lambda s: order[id(s)]) for group in groups if group]


def _add_stored(
    writer, doc: StoredDocument, fields: Callable[[StoredDocument], dict], *, update: bool
) -> None:
    """Add (or replace) *doc* through *writer*: in its writer processes when it has them."""
    if isinstance(writer, _StoredMpWriter):
        if update:
            writer.delete_by_term("id", doc.id)
        writer.add_stored(doc)
    elif update:
        writer.update_document(**fields(doc))
    else:
        writer.add_document(**fields(doc))


#: an id term's hash, to pick the segments that may hold it (a collision costs a lookup)
_id_hash = hash


@dataclass
class _QueuedCommit:
    """A catch-up whose writer processes still index (see ``catch_up(background=True)``)."""

    writer: _StoredMpWriter
    #: the last store change it holds: the watermark once it is committed
    seq: int
    count: int
    progress: Progress | None
    #: the documents it adds, updates or deletes
    ids: set[str]


class SearchIndex:
    def __init__(
        self, path: str | Path, communities: Communities | None = None, memory: MemorySettings | None = None
    ) -> None:
        self.path = Path(path)
        #: what searches may keep in memory ([memory]), given to the accelerator
        self.memory = memory
        self.communities = communities or Communities([])
        self.path.parent.mkdir(parents=True, exist_ok=True)
        #: held while this index is written (an flock: released by the kernel if we die)
        self._lock = IndexLock(self.path.with_name(self.path.name + ".lock"))
        #: held while a fresh copy is built in ``<index>.new``
        self._rebuild_lock = IndexLock(self.path.with_name(self.path.name + ".new.lock"))
        self._finish_interrupted_swap()
        self._remove_stale_build()
        self.path.mkdir(exist_ok=True)
        state = self._read_state()
        #: True when the index was built with another schema or communities (or is new):
        #: the caller then rebuilds it from the store, beside it, and swaps the copy in.
        #: Until then the index found here keeps answering searches.
        self.needs_rebuild = False
        #: this index's name in the store's ``index_replicas`` (None: not reported)
        self.replica_name: str | None = None
        self.replica_live_seconds = 86400.0
        self._write_lock = threading.RLock()
        #: what the open index was built with: a catch-up keeps it (only a rebuild changes it)
        self._built_with = {"schema": state.get("schema"), "communities": state.get("communities", "")}
        current = self._built_with == {"schema": SCHEMA_VERSION, "communities": self.communities.fingerprint}
        if whoosh_index.exists_in(str(self.path)):
            if not current:
                log.warning(
                    "index at %s has an older schema or communities; it is rebuilt from the store "
                    "beside the old one, which answers searches until the new one replaces it",
                    self.path,
                )
                self.needs_rebuild = True
            self.ix = whoosh_index.open_dir(str(self.path))
        else:
            # nothing to lose; at watermark 0 a catch-up replays the whole store, or
            # rebuilds when the store's change log was pruned
            self.needs_rebuild = True
            self._built_with = {"schema": SCHEMA_VERSION, "communities": self.communities.fingerprint}
            self.ix = whoosh_index.create_in(str(self.path), build_schema())
            self._write_state(0)
        #: vectorised query evaluation over this index (see indexer.accel)
        self.accel = Accelerator(self.ix, TEXT_FIELDS, self.memory)
        #: the collection's words, for "did you mean"
        self.vocabulary = Vocabulary(self.path / VOCABULARY_DIR)
        #: EN/FR versions paired without markup (indexer.twins), kept beside the index
        self.inferred_twins: dict[str, str] = load_twin_map(self.path)
        #: translations learned from twins, beside the index: read once per process
        #: (and again when relearned), not once per search
        self.learned = TableFile(self.path)
        #: the home page's counts per (index state, groups), filled by the searcher
        self.count_cache: dict = {}
        #: a background catch-up's commit, made by :meth:`finish_catch_up`
        self._queued: _QueuedCommit | None = None
        #: each live segment's id terms, hashed (see :meth:`_present`)
        self._id_hashes: dict[str, numpy.ndarray] = {}

    def _finish_interrupted_swap(self) -> None:
        """A rebuild killed between its two renames left ``index.old`` and no ``index``:
        put the finished copy in place (its watermark is written last), else the old one."""
        if self.path.exists():
            return
        if not self._rebuild_lock.acquire(0):
            # a live rebuild is between its two renames: its copy is in place at once
            deadline = time.monotonic() + SWAP_WAIT
            while not self.path.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            return
        try:
            fresh, old = self._fresh_path, self._old_path
            if (fresh / WATERMARK_FILE).exists() and whoosh_index.exists_in(str(fresh)):
                log.warning("a rebuild stopped during its swap; putting its finished copy in place")
                os.replace(fresh, self.path)
            elif old.exists():
                log.warning("a rebuild stopped during its swap; putting the previous index back")
                os.replace(old, self.path)
        finally:
            self._rebuild_lock.release()

    def _remove_stale_build(self) -> None:
        """Remove what a rebuild that died left behind (nobody holds its lock any more)."""
        leftovers = [p for p in (self._fresh_path, self._old_path) if p.exists()]
        if not leftovers or not self._rebuild_lock.acquire(0):
            return
        try:
            for leftover in leftovers:
                log.warning("removing %s, left by a rebuild that did not finish", leftover)
                shutil.rmtree(leftover, ignore_errors=True)
        finally:
            self._rebuild_lock.release()

    @property
    def _fresh_path(self) -> Path:
        return self.path.with_name(self.path.name + ".new")

    @property
    def _old_path(self) -> Path:
        return self.path.with_name(self.path.name + ".old")

    @staticmethod
    def peek(path: str | Path) -> tuple[int, int] | None:
        """(documents, watermark) of the index at *path*, read without writing anything."""
        path = Path(path)
        if not whoosh_index.exists_in(str(path)):
            return None
        ix = whoosh_index.open_dir(str(path), readonly=True)
        try:
            count = ix.doc_count()
        finally:
            ix.close()
        try:
            seq = int(json.loads((path / WATERMARK_FILE).read_text("utf-8")).get("seq", 0))
        except (FileNotFoundError, ValueError):
            seq = 0
        return count, seq

    # -- watermark ------------------------------------------------------------
    def _read_state(self) -> dict:
        try:
            return json.loads((self.path / WATERMARK_FILE).read_text("utf-8"))
        except (FileNotFoundError, ValueError):
            return {}

    def _write_state(self, seq: int) -> None:
        tmp = self.path / (WATERMARK_FILE + ".tmp")
        tmp.write_text(json.dumps(self._state(seq)), "utf-8")
        os.replace(tmp, self.path / WATERMARK_FILE)

    def _state(self, seq: int) -> dict:
        return {"seq": seq, **self._built_with}

    def _current_state(self, seq: int) -> dict:
        return {"seq": seq, "schema": SCHEMA_VERSION, "communities": self.communities.fingerprint}

    @property
    def watermark(self) -> int:
        return int(self._read_state().get("seq", 0))

    # -- writing --------------------------------------------------------------
    def _writer(self, ix, size: int, vocabulary: Vocabulary | None, **options):
        """A writer; big batches are indexed by one process per core (Whoosh's MpWriter,
        whose processes also detect the languages and add the words to *vocabulary*)."""
        procs = min(os.cpu_count() or 1, MAX_PROCS)
        if size >= PARALLEL_FROM and procs > 1:
            # langdetect's profiles (~1 s to load) read once here, not in each process
            load_language_profiles()
            return _StoredMpWriter(
                ix,
                communities=self.communities,
                inferred=self.inferred_twins,
                vocabulary=vocabulary,
                procs=procs,
                multisegment=True,
                # each process's posting pool: at 128 MB a catch-up of 10,000 documents
                # (5,000 a process) spilled it to disk twice, and pickling, reading and
                # merging those runs took ~20% of the processes' time (SCALE.md, stop 32)
                limitmb=WRITER_POOL_MB,
                **options,
            )
        writer = ix.writer(limitmb=256, **options)
        writer.mergetype = merge_policy
        return writer

    def _fields(self, doc: StoredDocument) -> dict:
        return index_fields(doc, self.communities, self.inferred_twins)

    def catch_up(
        self,
        store: Store,
        *,
        progress: Progress | None = None,
        chunk: int | None = None,
        wait: float | None = None,
        background: bool = False,
    ) -> int:
        """Apply every store change past the watermark; return how many documents.

        Raises :class:`IndexBusy` when another process holds the index for *wait* seconds
        (default :data:`WRITER_TIMEOUT`).

        *background* (a crawl's catch-ups between its store batches): the last writer's
        processes are left indexing while the caller goes on, holding the index's lock;
        their commit, and the watermark after it, is made by :meth:`finish_catch_up`,
        which every later write of this index (and :meth:`close`) calls first. At most
        one is in flight. Until it is committed its changes stay past the watermark, so
        a crash or a writer that fails loses nothing: the next catch-up replays them.
        """
        wait = WRITER_TIMEOUT if wait is None else wait
        chunk = CATCH_UP_CHUNK if chunk is None else chunk
        with self._write_lock:
            if self.needs_rebuild:
                # built with another schema or communities: only a rebuild brings it up to date
                finished = self.finish_catch_up()
                return finished + self._rebuild(store, progress)
            # a queued commit is finished in the loop, once the next changes are read:
            # its writer processes go on meanwhile (the index's lock is this process's)
            with self._lock.hold(wait, "the index update"):
                return self._catch_up_locked(store, progress, chunk, background)

    def finish_catch_up(self) -> int:
        """Wait for a background catch-up's writer processes, commit their segments and
        move the watermark; return its documents (0 when none is in flight).

        Raises what made it fail; its changes are then still past the watermark.
        """
        with self._write_lock:
            queued, self._queued = self._queued, None
            if queued is None:
                return 0
            try:
                queued.writer.finish_commit()
            except BaseException:
                if not queued.writer.is_closed:
                    queued.writer.cancel()
                raise
            finally:
                self._lock.release()  # taken again when it was queued
            self._write_state(queued.seq)
            if queued.progress:
                queued.progress(queued.count)
            return queued.count

    def _catch_up_locked(self, store: Store, progress: Progress | None, chunk: int, background: bool) -> int:
        oldest = store.oldest_change_seq()
        if oldest and self.watermark < oldest - 1:
            # changes this index never saw were pruned (it was restored from an old
            # copy, or built against another store): only a rebuild is complete
            log.warning("index %s is older than the store's change log; rebuilding it", self.path)
            finished = self.finish_catch_up()
            return finished + self._rebuild(store, progress)
        applied = self._catch_up(store, progress, chunk, background)
        if self.replica_name:
            store.report_replica(self.replica_name, self.watermark)
        if applied:
            # what every live index holds need not be replayed again; the newest row stays
            store.prune_changes(store.prune_floor(self.watermark, self.replica_live_seconds))
        return applied

    def follow(self, store: Store) -> int:
        """One step of following the store: apply its new changes if no other process is
        writing this index right now (never waits), and say this index is alive."""
        if self._queued is not None:  # a crawl of this process is writing it, and commits that
            return 0
        try:
            return self.catch_up(store, wait=0)
        except IndexBusy:
            return 0

    def _catch_up(self, store: Store, progress: Progress | None, chunk: int, background: bool = False) -> int:
        applied = 0
        # after a queued commit's changes: they are read again only if it fails
        seq = self._queued.seq if self._queued is not None else self.watermark
        queued_here = False
        while True:
            batch = store.changes_since(seq, limit=chunk)
            if not batch:
                break
            queued_here = False
            ids = list(dict.fromkeys(doc_id for _, doc_id in batch))
            docs = store.documents_by_id(ids)
            # new documents are added, not "updated": an update leaves a deleted copy
            # behind that still counts in the ranking statistics until segments merge.
            # Read while a queued commit's processes still index (this process alone
            # writes the index meanwhile): the documents that commit holds count as
            # present (an update of a document that turns out absent deletes nothing)
            present = self._present(ids)
            if self._queued is not None:
                present.update(i for i in ids if i in self._queued.ids)
                applied += self.finish_catch_up()
            writer = self._writer(self.ix, len(ids), self.vocabulary, timeout=WRITER_TIMEOUT)
            try:
                if not isinstance(writer, _StoredMpWriter):  # its processes add the words
                    self.vocabulary.add(words_of_text(*(t for d in docs.values() for t in (d.title, d.text))))
                for doc_id in ids:
                    doc = docs.get(doc_id)
                    if doc is None:  # deleted (tombstoned) or gone
                        if doc_id in present:
                            writer.delete_by_term("id", doc_id)
                    else:
                        _add_stored(writer, doc, self._fields, update=doc_id in present)
                seq = batch[-1][0]
                if background and isinstance(writer, _StoredMpWriter) and writer.queue_commit():
                    self._lock.acquire()  # kept, with Whoosh's own lock, until it is committed
                    self._queued = _QueuedCommit(writer, seq, len(ids), progress, set(ids))
                    queued_here = True
                    continue
                writer.commit()
            except BaseException:
                if not writer.is_closed:
                    writer.cancel()
                raise
            self._write_state(seq)
            applied += len(ids)
            if progress:
                progress(len(ids))
        if not queued_here:
            applied += self.finish_catch_up()  # one an earlier call queued: nothing came after it
        return applied

    def _present(self, ids: list[str]) -> set[str]:
        """Those of *ids* a live document of the committed index has.

        Whoosh looks a term up in every segment, ~7 us each: 1.9 s for 10,000 ids in a
        100k index's 22 segments, and more as the index grows. Each segment's id terms
        are hashed once (8 bytes a document, remembered while the segment lives), and an
        id is looked up only in the segments whose hashes hold it.
        """
        if not ids:
            return set()
        wanted = numpy.fromiter((_id_hash(i.encode("utf-8")) for i in ids), dtype=numpy.int64, count=len(ids))
        found: set[str] = set()
        live = set()
        with self.ix.searcher() as searcher:
            for reader, _ in searcher.reader().leaf_readers():
                if not isinstance(reader, SegmentReader):  # an empty index's
                    continue
                key = reader.segment().segment_id()
                live.add(key)
                hashes = self._id_hashes.get(key)
                if hashes is None:
                    hashes = numpy.fromiter((_id_hash(term) for term in reader.lexicon("id")), dtype=numpy.int64)
                    self._id_hashes[key] = hashes
                for position in numpy.flatnonzero(numpy.isin(wanted, hashes)).tolist():
                    doc_id = ids[position]
                    if doc_id in found:
                        continue
                    try:
                        reader.first_id("id", doc_id)  # a live document of this segment
                    except TermNotFound:  # a hash collision, or only deleted copies here
                        continue
                    found.add(doc_id)
        for key in set(self._id_hashes) - live:  # merged away
            del self._id_hashes[key]
        return found

    def retwin(
        self, store: Store, ids: list[str], inferred: dict[str, str], wait: float = WRITER_TIMEOUT
    ) -> None:
        """Re-index *ids* now that :mod:`indexer.twins` paired them as *inferred* says."""
        with self._write_lock:
            self.finish_catch_up()  # within the same hold: no catch-up can queue in between
            self._retwin_locked(store, ids, inferred, wait)

    def _retwin_locked(self, store: Store, ids: list[str], inferred: dict[str, str], wait: float) -> None:
        with self._lock.hold(wait, "the twin update"):
            self.inferred_twins = dict(inferred)
            docs = store.documents_by_id(ids)
            with self.ix.searcher() as searcher:
                present = [i for i in ids if i in docs and searcher.document_number(id=i) is not None]
            if not present:
                return
            # the words are in the vocabulary already
            with self._writer(self.ix, len(present), None, timeout=WRITER_TIMEOUT) as writer:
                for doc_id in present:
                    _add_stored(writer, docs[doc_id], self._fields, update=True)

    def rebuild(
        self,
        store: Store,
        *,
        progress: Progress | None = None,
        keep: Callable[[StoredDocument], bool] | None = None,
    ) -> int:
        """Build a fresh index from the store alone, then swap it in.

        *keep* (benchmarks only) leaves out the documents it refuses.
        """
        with self._write_lock:
            self.finish_catch_up()
            return self._rebuild(store, progress, keep)

    def _rebuild(self, store: Store, progress: Progress | None, keep=None) -> int:
        with self._rebuild_lock.hold(0, "the rebuild"):
            return self._build_and_swap(store, progress, keep)

    def _build_and_swap(self, store: Store, progress: Progress | None, keep) -> int:
        start_seq = store.max_change_seq()
        fresh = self._fresh_path
        shutil.rmtree(fresh, ignore_errors=True)
        fresh.mkdir(parents=True)
        ix = whoosh_index.create_in(str(fresh), build_schema())
        count = 0
        vocabulary = Vocabulary(fresh / VOCABULARY_DIR)
        words: set[str] = set()
        chunk = max(REBUILD_CHUNK, -(-store.counts()["documents"] // REBUILD_COMMITS))
        writer = None
        try:
            for doc in store.iter_documents():
                if keep is not None and not keep(doc):
                    continue
                if writer is None:
                    writer = self._writer(ix, PARALLEL_FROM, vocabulary)
                    parallel = isinstance(writer, _StoredMpWriter)  # its processes add the words
                _add_stored(writer, doc, self._fields, update=False)
                if not parallel:
                    collect_words(doc.title, words)
                    collect_words(doc.text, words)
                count += 1
                if progress and count % 100 == 0:
                    progress(100)
                if count % 5000 == 0:
                    vocabulary.add(spellable(words))
                    words.clear()
                if count % chunk == 0:
                    # the chunk's segments written (and merged by the policy): its
                    # writers' spilled postings and queued documents leave the disk
                    writer.commit()
                    writer = None
            vocabulary.add(spellable(words))
            vocabulary.close()
            if writer is not None:
                writer.commit()
        except BaseException:
            if writer is not None and not writer.is_closed:
                writer.cancel()
            raise
        if progress and count % 100:
            progress(count % 100)
        # written last: a copy with a watermark is complete (see _finish_interrupted_swap)
        (fresh / WATERMARK_FILE).write_text(json.dumps(self._current_state(start_seq)), "utf-8")
        # the swap waits for a catch-up running in another process (it writes the old copy)
        with self._lock.hold(WRITER_TIMEOUT, "the rebuild"):
            self.ix.close()
            self.vocabulary.close()
            old = self._old_path
            shutil.rmtree(old, ignore_errors=True)
            os.replace(self.path, old)
            os.replace(fresh, self.path)
            shutil.rmtree(old, ignore_errors=True)
            self.ix = whoosh_index.open_dir(str(self.path))
            self._built_with = {"schema": SCHEMA_VERSION, "communities": self.communities.fingerprint}
            self.needs_rebuild = False
            self.accel.close()
            self.accel = Accelerator(self.ix, TEXT_FIELDS, self.memory)
            self.vocabulary = Vocabulary(self.path / VOCABULARY_DIR)
            # changes committed while we were building are replayed now
            if keep is None:
                self._catch_up(store, None, 2000)
        return count

    def doc_count(self) -> int:
        return self.ix.doc_count()

    def searcher(self):
        return self.ix.searcher()

    def close(self) -> None:
        try:
            self.finish_catch_up()
        except Exception as exc:  # noqa: BLE001 - the store holds the truth; replayed later
            log.error("the index update in progress failed (replayed at the next catch-up): %s", exc)
        self.accel.close()
        self.vocabulary.close()
        self.ix.close()
