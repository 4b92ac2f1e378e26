"""The translation learner beside the people step, and its units read in two processes.

After a crawl the learner (seconds on one core) runs in a forked process while this
one resolves the people, and the learner reads, aligns and analyses the twins' units
in two processes. Each must give what one process gives, and a child that fails,
dies or hangs must cost nothing but time.
"""

from __future__ import annotations

import os
import time

import pytest

from indexer import forked, translations
from indexer.store import Store
from tests.conftest import memory_source
from tests.test_translations import dying_in_a_child
from tests.test_translations_speed import twin_pages


def _reaped(pid: int) -> bool:
    """Whether *pid*, a child of this process, is gone and reaped (other tests' servers
    may be children of this process too: only the named ones are looked at)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def test_forked_work_comes_back_and_a_failed_child_gives_no_answer(caplog):
    parent = os.getpid()
    children = []

    def run(work, what, **kwargs):
        child = forked.Forked(work, what=what)
        children.append(child.pid)
        return child.result(**kwargs)

    assert run(lambda: (os.getpid() != parent, [1, 2, 3]), "a sum") == (True, (True, [1, 2, 3]))

    def fails():
        raise ValueError("broken")

    with caplog.at_level("WARNING", logger="indexer.forked"):
        assert run(fails, "a failing job") == (False, None)
        assert run(lambda: os._exit(3), "a dying job") == (False, None)
        started = time.monotonic()
        assert run(lambda: time.sleep(60), "a hanging job", deadline=0.5) == (False, None)
    assert time.monotonic() - started < 10  # killed, not waited for
    assert "a dying job failed in its process (status" in caplog.text
    assert "a hanging job took over 0 s in its process; stopped" in caplog.text
    assert all(pid and _reaped(pid) for pid in children)


def test_a_store_in_memory_is_not_forked(tmp_path):
    assert Store(f"sqlite:///{tmp_path}/s.db").forkable
    assert not Store("sqlite://").forkable


def _twins(memory_content, count: int) -> None:
    def texts(n, en, fr):
        if n % 5 == 0:  # one paragraph only: the chunks hold different numbers of units
            return f"{en}.", f"{fr}."
        return f"{en}.\n\n{en} again, {n}.\n\n{en} once more.", f"{fr}.\n\n{fr} encore, {n}.\n\n{fr} une fois de plus."

    memory_content["wiki"] = twin_pages(count, texts, digits=3)


#: the pids of each ``forks`` fixture's children, by the fixture's list
made_pids: dict[int, list] = {}


@pytest.fixture
def forks(monkeypatch):
    """What the learner forked, by what it said the child does."""
    made: list[str] = []
    pids: list[int | None] = []
    made_pids[id(made)] = pids
    real = translations.Forked

    def counted(work, *, what, prepare=None):
        made.append(what)
        child = real(work, what=what, prepare=prepare)
        pids.append(child.pid)
        return child

    monkeypatch.setattr(translations, "Forked", counted)
    return made


def test_units_read_in_two_processes_are_those_read_in_one(savoir_factory, memory_content, monkeypatch, forks):
    _twins(memory_content, 48)
    savoir = savoir_factory([memory_source()])
    savoir.crawl()
    store = savoir.store
    pairs = sorted((f"wiki:p{n:03d}-en", f"wiki:p{n:03d}-fr") for n in range(48))
    monkeypatch.setattr(translations, "READ_PAIRS", 4)
    monkeypatch.setattr(translations, "PARALLEL_UNITS", 10**9)  # Model 1 in one process here
    monkeypatch.setattr(translations, "PARALLEL_PAIRS", 10**9)
    forks.clear()
    alone = list(translations._units_from_store(store, pairs))
    assert not forks and len(alone) > 100
    monkeypatch.setattr(translations, "PARALLEL_PAIRS", 8)
    for max_units, share in ((10**6, 0.5), (40, 0.5), (60, 0.2)):
        # every chunk taken by one side or the other; the first few only; two chunks
        # taken, the rest done when the merge reaches them
        monkeypatch.setattr(translations, "MAX_UNITS", max_units)
        monkeypatch.setattr(translations, "CHUNK_SHARE", share)
        forks.clear()
        assert list(translations._units_from_store(store, pairs)) == alone
        assert forks == ["reading the twins for the translations"]
    # a child that fails: the parent does its chunks
    monkeypatch.setattr(translations, "_take_chunks", dying_in_a_child(translations._take_chunks, 5))
    monkeypatch.setattr(translations, "MAX_UNITS", 10**6)
    assert list(translations._units_from_store(store, pairs)) == alone


def test_crawl_learns_the_translations_beside_the_people(savoir_factory, memory_content, monkeypatch, forks):
    _twins(memory_content, 40)
    monkeypatch.setattr(translations, "PARALLEL_PAIRS", 10**9)
    savoir = savoir_factory([memory_source()])
    people_in = []
    real_people = savoir.refresh_people

    def people(**kwargs):
        people_in.append(os.getpid())
        return real_people(**kwargs)

    monkeypatch.setattr(savoir, "refresh_people", people)
    savoir.crawl()
    assert forks == ["learning the translations"] and set(people_in) == {os.getpid()}
    index = savoir.open_index()
    learned = translations.TranslationTable.load(index.path)
    assert learned.twins == 40 and len(learned) > 0
    assert savoir.store.get_meta("people_fingerprint")  # the people step ran
    # the same table as learned here, in one process
    here = translations.refresh(savoir.store, index, force=True)
    assert (here.to_fr, here.to_en, here.units) == (learned.to_fr, learned.to_en, learned.units)
    assert forks == ["learning the translations"]

    # what the people step raises is raised once the learner is done and its table saved
    translations.table_path(index.path).unlink()

    def broken():
        raise RuntimeError("people failed")

    with pytest.raises(RuntimeError, match="people failed"):
        savoir.refresh_cross_language(index, force=True, meanwhile=broken)
    assert translations.TranslationTable.load(index.path).to_fr == learned.to_fr
    pids = made_pids[id(forks)]
    assert len(pids) == 2 and all(pid and _reaped(pid) for pid in pids)  # the crawl's, and this one

    # a learner that dies: learned here, the same table
    translations.table_path(index.path).unlink()
    monkeypatch.setattr(translations, "learn_from_store", dying_in_a_child(translations.learn_from_store, 4))
    savoir.refresh_cross_language(index, force=True, meanwhile=lambda: None)
    assert translations.TranslationTable.load(index.path).to_fr == learned.to_fr


def test_a_forked_child_leaves_the_parents_connections_alone(database_url):
    """The child reads on connections of its own; the parent's pooled one, which the
    child inherited and dropped (then collected its garbage), still serves the parent."""
    import gc

    from sqlalchemy import text

    store = Store(database_url)
    store.set_meta("before", "1")
    session = "SELECT pg_backend_pid()" if store.dialect == "postgresql" else "SELECT 1"
    with store.engine.connect() as conn:
        mine = conn.execute(text(session)).scalar()

    def read():
        gc.collect()
        with store.engine.connect() as conn:
            theirs = conn.execute(text(session)).scalar()
        gc.collect()
        return store.get_meta("before"), theirs

    done, (meta, theirs) = forked.Forked(read, what="a read", prepare=store.after_fork).result()
    assert done and meta == "1"
    with store.engine.connect() as conn:
        assert conn.execute(text(session)).scalar() == mine  # the same session, not a new one
    if store.dialect == "postgresql":
        assert theirs != mine
    store.set_meta("after", "2")
    assert store.get_meta("after") == "2"
