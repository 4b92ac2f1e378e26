"""kill -9 while the index is being written: nothing waits on a lock afterwards.

A real ``savoir crawl`` and a real ``savoir reindex`` (files connector, a few thousand
text files, so Whoosh's multi-process writer is used) are killed with SIGKILL while
their writer processes exist. Then ``crawl``, ``status`` and ``serve`` run at once
(no 120 s wait on MAIN_WRITELOCK) and the index holds exactly what the store holds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT, free_port

pytestmark = pytest.mark.slow

FILES = 3000


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # the command name may hold spaces: the parent pid is the 2nd field after ")"
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            out.append(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def site(tmp_path):
    share = tmp_path / "share"
    share.mkdir()
    for i in range(FILES):
        (share / f"note{i:05d}.txt").write_text(
            f"Note {i} about telework and procurement in region {i % 13}.\n" + "filler " * (i % 50)
        )
    (tmp_path / "sources.toml").write_text(
        f'[[source]]\nid = "share"\nkind = "files"\nagency = "records"\n[source.settings]\nroot = "{share}"\n'
    )
    port = free_port()
    settings = tmp_path / "settings.toml"
    settings.write_text(
        f'[store]\ndata_dir = "{tmp_path / "data"}"\n'
        "[crawler]\nbatch_size = 100\nindex_every = 1200\n"
        f"[web]\nport = {port}\nthreads = 2\n"
    )
    return settings, port


def _cli(settings: Path, *args: str, **popen):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, "-m", "webui.cli", "--config", str(settings), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def _run(settings: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    proc = _cli(settings, *args)
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _held(path: Path) -> bool:
    from indexer.index_lock import IndexLock

    lock = IndexLock(path)
    if not path.exists() or not lock.acquire(0):
        return path.exists()
    lock.release()
    return False


def _stored(data: Path) -> int:
    import sqlite3

    try:
        with sqlite3.connect(data / "savoir.db", timeout=1) as db:
            return db.execute("select count(*) from documents").fetchone()[0]
    except sqlite3.Error:
        return 0


def _kill_while_writing(proc: subprocess.Popen, data: Path, min_stored: int = 0) -> list[int]:
    """SIGKILL *proc* (only it, as ``kill -9 PID`` does) while it writes the index: once
    Whoosh's writer processes run (one per core), or on one core once it holds the lock
    with at least *min_stored* documents in the store."""
    parallel = (os.cpu_count() or 1) > 1
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read()
        writers = _children(proc.pid)
        if parallel:
            writing = len(writers) >= 2
        else:
            locked = _held(data / "index.lock") or _held(data / "index.new.lock")
            writing = locked and _stored(data) >= min_stored
        if writing:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            return [pid for pid in writers if _alive(pid)]
        time.sleep(0.02)
    pytest.fail("the index was never being written")


def _no_orphans(writers: list[int]) -> None:
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in writers):
        if time.monotonic() > deadline:
            for pid in writers:  # do not leave them behind after a failure
                os.kill(pid, signal.SIGKILL)
            pytest.fail("Whoosh writer processes outlived their parent")
        time.sleep(0.1)


def _check_recovered(settings: Path, port: int, data: Path) -> None:
    started = time.monotonic()
    status = _run(settings, "status", timeout=30)
    assert status.returncode == 0, status.stderr
    assert "Traceback" not in status.stderr and "LockError" not in status.stderr
    assert time.monotonic() - started < 20

    started = time.monotonic()
    crawl = _run(settings, "crawl", "--no-progress", timeout=90)
    assert crawl.returncode == 0, crawl.stderr
    assert "share: success" in crawl.stdout, crawl.stdout
    assert "Traceback" not in crawl.stderr

    from indexer.index import SearchIndex
    from indexer.store import Store

    store = Store(f"sqlite:///{data / 'savoir.db'}")
    index = SearchIndex(data / "index")
    try:
        assert store.counts()["documents"] == FILES
        assert index.doc_count() == FILES
        with index.searcher() as searcher:
            assert {f["id"] for f in searcher.all_stored_fields()} == store.live_ids("share")
        assert not (data / "index.new").exists()
    finally:
        index.close()
        store.close()

    server = _cli(settings, "serve")
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = requests.get(f"http://127.0.0.1:{port}/static/savoir.css", timeout=5)
                break
            except requests.ConnectionError:
                assert server.poll() is None, server.stderr.read()
                assert time.monotonic() < deadline, "serve never answered"
                time.sleep(0.2)
        # serve opened the index (create_app does) and answers
        assert response.status_code == 200, response.text[:500]
    finally:
        server.terminate()
        _, err = server.communicate(timeout=30)
    assert "Traceback" not in err and "LockError" not in err, err


def test_kill_9_during_a_crawl_index_write(tmp_path, site):
    settings, port = site
    writers = _kill_while_writing(
        _cli(settings, "crawl", "--no-progress"), tmp_path / "data", min_stored=1200
    )
    _no_orphans(writers)
    # the killed run is "interrupted" at once, with what its committed batches did
    from indexer.store import Store

    store = Store(f"sqlite:///{tmp_path / 'data' / 'savoir.db'}")
    committed = store.counts()["documents"]
    store.close()
    assert committed >= 1200
    status = _run(settings, "status", timeout=30)
    assert "last run #1 interrupted" in status.stdout, status.stdout
    assert f"{committed} fetched" in status.stdout and f"+{committed} added" in status.stdout
    _check_recovered(settings, port, tmp_path / "data")


def test_kill_9_during_a_reindex(tmp_path, site):
    settings, port = site
    first = _run(settings, "crawl", "--no-progress", timeout=120)
    assert first.returncode == 0, first.stderr
    writers = _kill_while_writing(_cli(settings, "reindex", "--no-progress"), tmp_path / "data")
    assert (tmp_path / "data" / "index.new").exists()  # killed mid-build
    _no_orphans(writers)
    _check_recovered(settings, port, tmp_path / "data")


def test_status_reads_the_index_without_writing_or_waiting(tmp_path, site):
    """status opens the index read-only: a live writer holding it delays nothing."""
    settings, _ = site
    first = _run(settings, "crawl", "--no-progress", timeout=120)
    assert first.returncode == 0, first.stderr
    from indexer.index_lock import IndexLock

    data = tmp_path / "data"
    before = sorted((p.name, p.stat().st_mtime_ns) for p in (data / "index").rglob("*"))
    lock = IndexLock(data / "index.lock")
    assert lock.acquire(0)
    try:
        started = time.monotonic()
        status = _run(settings, "status", timeout=30)
        assert time.monotonic() - started < 15
        # serve does not wait for the writer either: it serves what the index holds
        _, port = site
        server = _cli(settings, "serve")
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    answer = requests.get(f"http://127.0.0.1:{port}/static/savoir.css", timeout=5)
                    break
                except requests.ConnectionError:
                    assert server.poll() is None, server.stderr.read()
                    assert time.monotonic() < deadline, "serve waited for the index writer"
                    time.sleep(0.2)
            assert answer.status_code == 200
        finally:
            server.terminate()
            server.wait(timeout=30)
    finally:
        lock.release()
    assert status.returncode == 0, status.stderr
    assert f"index: {FILES} documents" in status.stdout
    assert sorted((p.name, p.stat().st_mtime_ns) for p in (data / "index").rglob("*")) == before
