"""Several hosts with the real thing: a PostgreSQL primary, its streaming replica, two
worker processes and two web nodes.

The primary and a ``pg_basebackup -R`` hot standby run on loopback (tests/servers/
postgres_replica.py). Two ``savoir worker`` processes share the primary; two ``savoir
serve`` web nodes each keep their own index, follow the store's change log and read
documents from the replica (``[store] read_url``), writing only their watermarks to the
primary. One worker is killed with SIGKILL mid-crawl and the other resumes the source
from its checkpoint; one web node is stopped until the change log is pruned past it and
rebuilds its index when it comes back; with the replica stopped, the web nodes answer
from the primary.

The servers are started once for the module; the tests run in order.
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

import tests.memory_connector as memory
from config.loader import ConfigError, build_settings
from crawler.runner import Savoir
from indexer.store import Store, StoreError
from tests.conftest import ROOT, free_port, make_settings, memory_source
from tests.servers.postgres_replica import PASSWORD, PrimaryWithReplica

COUNT = 1500  # the workers' source (tests/worker_main.py: slow-memory, batches of 50)
EXTRA = 20  # written later by this process, while a web node is away
LIVE_SECONDS = 6  # the web nodes' replica_live_seconds


def wait_for(check, timeout=90.0, every=0.2, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every)


# -- settings: fast, no server ---------------------------------------------------
@pytest.mark.parametrize(
    ("store", "message"),
    [
        ({"read_url": "postgresql+psycopg://s@replica/savoir"}, "'read_url' needs database_url"),
        (
            {"database_url": "postgresql+psycopg://s@db/savoir", "read_url": "sqlite:///x.db"},
            "'read_url' must be a PostgreSQL streaming replica",
        ),
        (
            {"database_url": "sqlite:///a.db", "read_url": "postgresql+psycopg://s@replica/savoir"},
            "'read_url' needs a PostgreSQL database_url",
        ),
        (
            {"database_url": "postgresql+psycopg://s@db/savoir", "read_url": "replica host, port 5432"},
            "'read_url' is not a database URL",
        ),
        ({"database_url": "postgres ql://nowhere"}, "'database_url' is not a database URL"),
    ],
)
def test_a_wrong_read_url_is_a_clear_settings_error(tmp_path, store, message):
    with pytest.raises(ConfigError) as caught:
        build_settings({"store": store}, env={}, base_dir=tmp_path, source="savoir.toml")
    assert message in str(caught.value) and str(caught.value).startswith("savoir.toml: [store]")


def test_a_read_url_password_never_shows_in_the_settings_error(tmp_path):
    store = {
        "database_url": "postgresql+psycopg://s@db/savoir",
        "read_url": "mysql://s:hush-7781@replica/savoir",
    }
    with pytest.raises(ConfigError) as caught:
        build_settings({"store": store}, env={}, base_dir=tmp_path)
    assert "hush-7781" not in str(caught.value) and "mysql://s:***@replica/savoir" in str(caught.value)


def test_a_sqlite_store_refuses_a_replica(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'savoir.db'}")
    with pytest.raises(StoreError, match="need PostgreSQL"):
        store.read_from_replica("postgresql+psycopg://s@replica/savoir")
    assert store.reads_from == "primary" and store.read_engine is store.engine
    store.close()


def test_change_rows_commit_in_the_order_of_their_numbers(fresh_postgres):
    """A transaction that took change seq N holds the change log until it commits: a
    later commit_batch waits, so no follower can see N+1 while N is still to come."""
    import threading

    from sqlalchemy import insert

    from connectors.base import Document
    from indexer.store import changes, now

    store = Store(fresh_postgres)
    run_id = store.start_run("wiki", "full")
    holding, release = threading.Event(), threading.Event()

    def slow_writer() -> None:
        with store.begin() as conn:
            store._order_changes(conn)
            conn.execute(insert(changes).values(document_id="wiki:first", time=now()))
            holding.set()
            release.wait(30)

    first = threading.Thread(target=slow_writer)
    first.start()
    assert holding.wait(30)
    doc = Document(
        id="wiki:second", url="https://wiki/second", title="Second", text="Second.", agency="records"
    )
    second = threading.Thread(
        target=lambda: store.commit_batch(run_id=run_id, source_id="wiki", upserts=[(doc, "h")])
    )
    second.start()
    try:
        second.join(1.0)
        assert second.is_alive(), "commit_batch did not wait for the change log"
        assert store.changes_since(0) == []  # nothing visible past a number still to come
    finally:
        release.set()
        first.join(30)
        second.join(30)
    assert [doc_id for _, doc_id in store.changes_since(0)] == ["wiki:first", "wiki:second"]
    store.close()


# -- the deployment ----------------------------------------------------------------
@pytest.fixture(scope="module")
def cluster():
    try:
        servers = PrimaryWithReplica().start()
    except RuntimeError as exc:
        pytest.fail(f"PostgreSQL primary and replica did not start: {exc}")
    yield servers
    servers.stop()


class WebNode:
    """A ``savoir serve`` process with its own data directory (its own index) reading
    the store from the replica; started again, it keeps its old index."""

    def __init__(self, folder: Path, name: str, cluster: PrimaryWithReplica) -> None:
        self.folder, self.name = folder, name
        folder.mkdir(parents=True)
        (folder / "sources.toml").write_text("")
        self.port = free_port()
        self.settings = folder / "settings.toml"
        self.settings.write_text(
            f'[store]\ndata_dir = "{folder / "data"}"\ndatabase_url = "{cluster.primary_url}"\n'
            f'read_url = "{cluster.replica_url}"\n'
            f'replica_name = "{name}"\nreplica_live_seconds = {LIVE_SECONDS}\n'
            f"[web]\nport = {self.port}\nfollow_store_seconds = 0.3\n"
        )
        self.log = folder / "stderr.log"
        self.proc: subprocess.Popen | None = None
        self.base = f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with open(self.log, "a", encoding="utf-8") as err:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "webui.cli",
                    "--config",
                    str(self.settings),
                    "serve",
                    "--workers",
                    "1",
                ],
                cwd=self.folder,
                env=dict(os.environ, PYTHONPATH=str(ROOT)),
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        wait_for(self.health, timeout=90, what=f"{self.name} to answer")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)

    def health(self) -> dict | None:
        try:
            answer = requests.get(f"{self.base}/healthz", timeout=5)
            return answer.json() if answer.ok else None
        except requests.ConnectionError:
            assert self.proc is not None and self.proc.poll() is None, self.stderr()
            return None

    def total(self, word: str) -> int:
        answer = requests.get(f"{self.base}/api/v1/search", params={"q": word}, timeout=30)
        assert answer.ok, answer.text
        return answer.json()["total"]

    def stderr(self) -> str:
        return self.log.read_text("utf-8", errors="replace") if self.log.exists() else ""


@pytest.fixture(scope="module")
def deployment(cluster, tmp_path_factory):
    root = tmp_path_factory.mktemp("hosts")
    web = {name: WebNode(root / name, name, cluster) for name in ("web1", "web2")}
    store = Store(cluster.primary_url)  # what an operator would look at: the primary
    try:
        for node in web.values():
            node.start()
        yield root, web, store
    finally:
        for node in web.values():
            node.stop()
        store.close()
        for node in web.values():
            print(f"--- {node.name} stderr ---\n{node.stderr()[-4000:]}")


def _start_worker(root: Path, name: str, url: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.worker_main", str(root / name), str(COUNT), url],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _reads_on_replica(cluster: PrimaryWithReplica, pid: int) -> int:
    """How many connections the web process *pid* holds on the replica."""
    return int(
        cluster.psql(
            cluster.replica_port,
            f"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'savoir reads {pid}'",
        )
    )


@pytest.mark.slow
def test_a_killed_worker_is_taken_over_and_web_nodes_reading_the_replica_find_everything(cluster, deployment):
    root, web, store = deployment
    workers = {name: _start_worker(root, name, cluster.primary_url) for name in ("worker1", "worker2")}
    try:
        for proc in workers.values():
            assert proc.stdout.readline().strip() == "worker ready", proc.stderr.read()
        store.request_run("wiki", requested_by="test")
        holder = wait_for(
            lambda: store.lease_holder("source:wiki"), timeout=30, what="a worker to take the run"
        )
        wait_for(lambda: store.counts()["documents"] >= 300, timeout=60, what="300 documents")
        pid = int(holder.split(":")[1])
        victim = next(name for name, proc in workers.items() if proc.pid == pid)
        workers[victim].kill()  # SIGKILL mid-crawl: no batch finished, no lease released
        workers[victim].communicate(timeout=10)
        assert store.counts()["documents"] < COUNT, "the run ended before the kill; make the source slower"
        wait_for(
            lambda: store.last_runs()["wiki"]["status"] == "success",
            timeout=120,
            what="the other worker to finish",
        )
        runs = store.runs("wiki")
        assert [r["status"] for r in runs] == ["success", "interrupted"]
        assert runs[0]["mode"] == "incremental" and runs[0]["fetched"] < COUNT  # resumed from its checkpoint
        assert sum(r["added"] for r in runs) == COUNT  # nothing stored twice
        assert store.counts()["documents"] == COUNT  # nothing lost
        survivor = next(proc for name, proc in workers.items() if name != victim)
        assert survivor.poll() is None
    finally:
        for proc in workers.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.communicate(timeout=30)

    # every document, once, in both web nodes' own indexes, read from the replica
    for node in web.values():
        wait_for(
            lambda node=node: node.total("servants") == COUNT, what=f"{node.name} to hold every document"
        )
        health = node.health()
        assert health["store_reads"] == "replica"
        assert _reads_on_replica(cluster, health["pid"]) >= 1
    assert cluster.streaming()  # a real standby, replaying the primary's WAL as it comes
    assert cluster.psql(cluster.replica_port, "SELECT pg_is_in_recovery()") == "t"

    # web2 goes away; past replica_live_seconds it no longer holds back the change log
    web1, web2 = web["web1"], web["web2"]
    watermarks = wait_for(
        lambda: (
            (w := {r["name"]: r["watermark"] for r in store.replicas()}).get("web2") == store.max_change_seq()
            and w
        ),
        what="web2 to report the newest change",
    )
    web2.stop()
    time.sleep(LIVE_SECONDS + 0.5)
    memory.CONTENT["extra"] = {
        f"x{i:02d}": {"title": f"Zebra notice {i}", "text": f"Zebra crossing notice {i}."}
        for i in range(EXTRA)
    }
    writer = Savoir(make_settings(root / "writer", cluster.primary_url), [memory_source("extra")])
    try:
        (report,) = writer.crawl()
        assert report.added == EXTRA, report.summary()
    finally:
        writer.close()
    wait_for(lambda: web1.total("zebra") == EXTRA, what="web1 to follow the new documents")
    wait_for(
        lambda: store.oldest_change_seq() > watermarks["web2"] + 1,
        what="the change log to be pruned past web2",
    )

    # web2 comes back behind the pruned log: it rebuilds by itself, from the replica
    web2.start()
    for node in (web1, web2):
        wait_for(
            lambda node=node: node.total("servants") == COUNT, what=f"{node.name}: every worker document"
        )
        wait_for(lambda node=node: node.total("zebra") == EXTRA, what=f"{node.name}: every later document")
        assert node.health()["store_reads"] == "replica"
    assert "older than the store's change log; rebuilding it" in web2.stderr()
    assert _reads_on_replica(cluster, web2.health()["pid"]) >= 1


@pytest.mark.slow
def test_web_nodes_answer_from_the_primary_while_the_replica_is_down(cluster, deployment):
    import indexer.store

    root, web, store = deployment
    web1 = web["web1"]
    before = web1.total("servants")
    assert before > 0
    logged = len(web1.stderr())
    mine = Store(cluster.primary_url, cluster.replica_url)  # what experts and pages read through
    with mine.read_connection() as conn:
        assert conn.exec_driver_sql("SELECT pg_is_in_recovery()").scalar() is True
    cluster.stop_replica()
    try:
        with mine.read_connection() as conn:  # the replica is down: the primary answers
            assert conn.exec_driver_sql("SELECT pg_is_in_recovery()").scalar() is False
        assert mine.reads_from == "primary (replica unavailable)"
        assert mine.read_engine is mine.engine
        mine.close()
        wait_for(
            lambda: web1.health()["store_reads"] == "primary (replica unavailable)",
            what="web1 to notice the replica is down",
        )
        assert web1.total("servants") == before  # still answers, documents read from the primary
        # new documents still reach web1's index: it follows the primary meanwhile
        memory.CONTENT["later"] = {"l0": {"title": "Quokka notice", "text": "Quokka notice while away."}}
        writer = Savoir(make_settings(root / "writer2", cluster.primary_url), [memory_source("later")])
        try:
            writer.crawl()
        finally:
            writer.close()
        wait_for(lambda: web1.total("quokka") == 1, what="web1 to follow the primary")
        hits = requests.get(f"{web1.base}/api/v1/search", params={"q": "quokka"}, timeout=30).json()["hits"]
        assert hits[0]["title"] == "Quokka notice"
    finally:
        cluster.start_replica()
    # back on the replica once it has replayed what web1 saw on the primary
    wait_for(
        lambda: web1.health()["store_reads"] == "replica",
        timeout=indexer.store.READ_RETRY_SECONDS * 3 + 30,
        what="web1 to read from the replica again",
    )
    assert web1.total("quokka") == 1
    log = web1.stderr()
    assert log[logged:].count("store reads fall back to the primary") == 1  # one line per outage
    assert PASSWORD not in log and "savoir:***@127.0.0.1" in log
