"""The worker: schedules, queued "run now" requests, leases, and SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime

import pytest

import tests.crash_crawl  # noqa: F401 - registers "slow-memory"
from crawler.runner import Savoir
from crawler.worker import Worker, next_runs, trigger_for
from indexer.index import SearchIndex
from indexer.store import Store
from tests.conftest import ROOT, make_settings, memory_source


def wait_for(predicate, timeout: float = 30.0, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("condition not reached in time")


def test_schedules_from_intervals_and_cron(savoir_factory):
    a = memory_source("a")
    a.schedule = "every 30m"
    b = memory_source("b")
    b.schedule = "0 2 * * *"
    c = memory_source("c")
    c.enabled = False
    c.schedule = "every 1h"
    savoir = savoir_factory([a, b, c])
    worker = Worker(savoir)
    assert worker.schedule() == 2
    jobs = {job.id: job for job in worker.scheduler.get_jobs()}
    assert set(jobs) == {"sync:a", "sync:b"}
    assert all(job.max_instances == 1 and job.coalesce for job in jobs.values())
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    upcoming = next_runs(savoir, now)
    assert upcoming["b"] == datetime(2026, 1, 2, 2, 0, tzinfo=UTC)
    assert "c" not in upcoming
    assert trigger_for(a).interval.total_seconds() == 1800


def test_queued_run_is_picked_up_within_seconds(savoir_factory, memory_content, database_url):
    memory_content["wiki"] = {"a": {"text": "Security screening for contractors."}}
    savoir = savoir_factory([memory_source()], database_url)
    worker = Worker(savoir, poll_seconds=0.1)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        requested = time.monotonic()
        savoir.store.request_run("wiki", requested_by="test")
        wait_for(lambda: savoir.store.last_runs().get("wiki", {}).get("status") == "success", timeout=10)
        assert time.monotonic() - requested < 5
        assert savoir.store.pending_requests() == []
    finally:
        worker.stop.set()
        thread.join(10)
    assert not thread.is_alive()


def test_two_workers_never_run_the_same_source_at_once(tmp_path, memory_content, database_url):
    from tests.crash_crawl import corpus

    memory_content["wiki"] = corpus(300)
    source = memory_source()
    source.kind = "slow-memory"
    settings = make_settings(tmp_path, database_url, crawler={"batch_size": 20})
    one, two = Savoir(settings, [source]), Savoir(settings, [source])
    # both open the index first: an opener that finds another process creating the index
    # waits for it, and that wait (not the lease) could let the first run finish
    one.open_index()
    two.open_index()
    results = {}

    def run(name, savoir):
        results[name] = savoir.crawl(owner=f"test-{name}")

    first = threading.Thread(target=run, args=("one", one))
    first.start()
    wait_for(lambda: one.store.lease_holder("source:wiki") is not None)
    run("two", two)
    first.join(60)
    assert results["two"][0].status == "skipped" and "test-one" in results["two"][0].error
    assert results["one"][0].status == "success" and results["one"][0].added == 300
    assert one.store.lease_holder("source:wiki") is None
    one.close()
    two.close()


def test_an_interrupted_run_is_resumed_once_even_while_the_resume_has_not_started_its_run(
    savoir_factory, memory_content
):
    """The poll that sees an interrupted run schedules its resume; the polls after it,
    until the resumed run has stored its own row, still see "interrupted". They must not
    start a second run of the source in the same worker (it holds the same lease owner, so
    the lease would not stop it, and two runs of one source race each other)."""
    memory_content["wiki"] = {"a": {"text": "Security screening for contractors."}}
    savoir = savoir_factory([memory_source()])
    run_id = savoir.store.start_run("wiki", "full")
    savoir.store.update_run(run_id, status="interrupted")
    worker = Worker(savoir, poll_seconds=0.1)
    entered, release = threading.Event(), threading.Event()
    calls = []
    crawl = savoir.crawl

    def slow_crawl(*args, **kwargs):
        calls.append(args)
        entered.set()
        release.wait(10)  # the resumed run has not stored its row yet
        return crawl(*args, **kwargs)

    savoir.crawl = slow_crawl
    worker.scheduler.start()
    try:
        assert worker.take_over_interrupted() == ["wiki"]
        assert entered.wait(10)
        assert worker.scheduler.get_job("resume:wiki") is None  # the job is running
        assert worker.take_over_interrupted() == []
        assert worker.take_over_interrupted() == []
        # a "run now" for the source while it runs in this worker waits for no second run
        savoir.store.request_run("wiki", requested_by="test")
        assert worker.poll_requests() == 1
        release.set()
        wait_for(lambda: savoir.store.last_runs()["wiki"]["status"] == "success", timeout=10)
    finally:
        release.set()
        worker.scheduler.shutdown(wait=True)
    assert len(calls) == 1
    assert [r["status"] for r in savoir.store.runs("wiki")] == ["success", "interrupted"]


def test_lease_rules(database_url):
    store = Store(database_url)
    assert store.acquire_lease("source:x", "w1", 60)
    assert not store.acquire_lease("source:x", "w2", 60)
    assert store.acquire_lease("source:x", "w1", 60)  # renewal by the holder
    store.release_lease("source:x", "w1")
    assert store.acquire_lease("source:x", "w2", 60)
    assert store.acquire_lease("source:y", "w1", -1)  # already expired
    assert store.acquire_lease("source:y", "w2", 60)  # an expired lease is taken over
    store.close()


@pytest.mark.slow
def test_sigterm_finishes_the_batch_and_the_next_start_resumes(tmp_path):
    count = 2000
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    settings = make_settings(tmp_path)

    def start():
        return subprocess.Popen(
            [sys.executable, "-m", "tests.worker_main", str(tmp_path), str(count)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    proc = start()
    store = wait_for(lambda: (settings.data_dir / "savoir.db").exists() and Store(settings.database_url))
    store.request_run("wiki", requested_by="test")
    wait_for(lambda: store.counts()["documents"] >= 300)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "worker exited cleanly" in out and "Traceback" not in err
    (run,) = store.runs("wiki")
    assert run["status"] == "interrupted"
    done = store.counts()["documents"]
    assert 300 <= done < count

    # the next start resumes the interrupted run from its checkpoint
    proc = start()
    try:
        wait_for(lambda: store.last_runs()["wiki"]["status"] == "success", timeout=60)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)
    runs = store.runs("wiki")
    assert [r["status"] for r in runs] == ["success", "interrupted"]
    assert runs[0]["mode"] == "incremental"
    assert runs[0]["error"] is None  # the index update too
    assert SearchIndex.peek(settings.index_dir)[0] == count
    assert store.counts()["documents"] == count
    assert sum(r["added"] for r in runs) == count  # nothing added twice
    store.close()


@pytest.mark.slow
def test_a_worker_killed_mid_run_is_taken_over_by_another_on_the_shared_postgresql(tmp_path, fresh_postgres):
    """Two worker processes, each with its own data directory (two hosts, as far as
    their indexes go), share one PostgreSQL. The one running the source is killed with
    SIGKILL mid-run: the other sees its lease die, marks the run interrupted and resumes
    it from the last checkpoint. Nothing is lost or stored twice."""
    count = 1500
    env = dict(os.environ, PYTHONPATH=str(ROOT))

    def start(name):
        # the log goes to a file: kept whatever becomes of the process, and never a full
        # pipe that blocks it
        with open(tmp_path / f"{name}.log", "w") as log_file:
            return subprocess.Popen(
                [sys.executable, "-m", "tests.worker_main", str(tmp_path / name), str(count), fresh_postgres],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=log_file,
                text=True,
            )

    workers = {"one": start("one"), "two": start("two")}
    store = Store(fresh_postgres)
    try:
        for name, proc in workers.items():
            assert proc.stdout.readline().strip() == "worker ready", (tmp_path / f"{name}.log").read_text()
        store.request_run("wiki", requested_by="test")
        holder = wait_for(lambda: store.lease_holder("source:wiki"), timeout=30)
        wait_for(lambda: store.counts()["documents"] >= 300, timeout=60)
        pid = int(holder.split(":")[1])
        victim = next(name for name, proc in workers.items() if proc.pid == pid)
        workers[victim].kill()  # SIGKILL: no batch finished, no lease released
        workers[victim].communicate(timeout=10)
        at_kill = store.counts()["documents"]
        assert at_kill < count, "the run ended before the kill; make the source slower"
        wait_for(lambda: store.last_runs()["wiki"]["status"] == "success", timeout=120)
        runs = store.runs("wiki")
        assert [r["status"] for r in runs] == ["success", "interrupted"]
        assert runs[0]["mode"] == "incremental"  # resumed from its checkpoint, not from scratch
        assert runs[0]["fetched"] < count
        # its index took every document, the dead worker's too (a writer process forked
        # from the scheduler's thread pool once exited 1 and the update was refused)
        assert runs[0]["error"] is None
        assert store.counts()["documents"] == count  # nothing lost (ids are unique: nothing twice)
        survivor_name = next(name for name in workers if name != victim)
        survivor = workers[survivor_name]
        assert survivor.poll() is None
        survivor.send_signal(signal.SIGTERM)
        survivor.communicate(timeout=30)
        err = (tmp_path / f"{survivor_name}.log").read_text()
        assert "Traceback" not in err, err
        assert SearchIndex.peek(make_settings(tmp_path / survivor_name).index_dir)[0] == count
    finally:
        for name, proc in workers.items():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.communicate(timeout=30)
            # shown when the test fails, the dead workers' too
            print(f"worker {name} (pid {proc.pid}, exit {proc.returncode}) logged:")
            print((tmp_path / f"{name}.log").read_text())
        print("runs:", store.runs("wiki"))
        store.close()


def test_a_worker_whose_start_fails_retries_and_then_serves(savoir_factory, memory_content, monkeypatch, caplog):
    """The store refusing the worker's first steps (a database restarting, a conflict
    with another process) is logged and retried: the worker does not die at its start."""
    memory_content["wiki"] = {"a": {"text": "Security screening for contractors."}}
    savoir = savoir_factory([memory_source()])
    calls = []
    mark = savoir.mark_interrupted_runs

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("the database is starting up")
        return mark()

    monkeypatch.setattr(savoir, "mark_interrupted_runs", flaky)
    worker = Worker(savoir, poll_seconds=0.05)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        savoir.store.request_run("wiki", requested_by="test")
        wait_for(lambda: savoir.store.last_runs().get("wiki", {}).get("status") == "success", timeout=20)
    finally:
        worker.stop.set()
        thread.join(10)
    assert not thread.is_alive()
    assert len(calls) >= 3
    failures = [r.getMessage() for r in caplog.records if "could not start" in r.getMessage()]
    assert len(failures) == 2 and "the database is starting up" in failures[0]


def test_a_worker_stopped_while_it_cannot_start_ends(savoir_factory, monkeypatch):
    savoir = savoir_factory([memory_source()])
    monkeypatch.setattr(savoir, "open_index", lambda: (_ for _ in ()).throw(OSError("disk gone")))
    worker = Worker(savoir, poll_seconds=0.05)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    time.sleep(0.3)
    worker.stop.set()
    thread.join(5)
    assert not thread.is_alive()
    assert not worker.scheduler.running
