"""Index replicas: web hosts that keep their own index and share only the database.

Two ``savoir serve`` processes, each with its own data directory (its own index), follow
one PostgreSQL store that a crawl in this process writes. Each applies the store's new
changes to its index and reports its watermark; the change log is pruned only below the
slowest live one. A replica that stays away past ``replica_live_seconds`` no longer
holds the log back, and when it comes back behind the pruned log it rebuilds itself and
says so.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import requests

from crawler.runner import Savoir
from tests.conftest import ROOT, free_port, make_settings, memory_source

pytestmark = pytest.mark.slow


def wait_for(check, timeout=120.0, every=0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        time.sleep(every)


def _serve(tmp_path, name, database_url):
    """A web host with its own data directory; started again, it keeps its old index."""
    folder = tmp_path / name
    settings = folder / "settings.toml"
    if not settings.exists():
        folder.mkdir()
        (folder / "sources.toml").write_text("")
        settings.write_text(
            f'[store]\ndata_dir = "{folder / "data"}"\ndatabase_url = "{database_url}"\n'
            f'replica_name = "{name}"\nreplica_live_seconds = 10\n'
            f"[web]\nport = {free_port()}\nfollow_store_seconds = 0.3\n"
        )
    port = int(settings.read_text().split("port = ")[1].split()[0])
    proc = subprocess.Popen(
        [sys.executable, "-m", "webui.cli", "--config", str(settings), "serve", "--workers", "1"],
        cwd=folder,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"

    def up():
        try:
            return requests.get(f"{base}/healthz", timeout=5).ok
        except requests.ConnectionError:
            assert proc.poll() is None, proc.stderr.read()
            return False

    wait_for(up, timeout=90)
    return proc, base


def _finds(base, word):
    answer = requests.get(f"{base}/api/v1/search", params={"q": word}, timeout=30)
    return answer.ok and any(word in h["title"].lower() for h in answer.json()["hits"])


def test_two_web_hosts_follow_one_store_and_the_log_waits_for_the_slowest(
    tmp_path, fresh_postgres, memory_content
):
    memory_content["wiki"] = {"p0": {"title": "Alpha telework page", "text": "Telework alpha."}}
    writer = Savoir(make_settings(tmp_path / "worker", fresh_postgres), [memory_source()])
    writer.crawl()
    web = {name: _serve(tmp_path, name, fresh_postgres) for name in ("web1", "web2")}
    try:
        for _, base in web.values():
            wait_for(lambda base=base: _finds(base, "alpha"))

        def add(word):
            version = len(memory_content["wiki"])  # an incremental crawl takes newer versions
            memory_content["wiki"][word] = {
                "title": f"{word.title()} telework page",
                "text": f"Telework {word}.",
                "version": version,
            }
            (report,) = writer.crawl()
            assert report.added == 1, report.summary()

        add("bravo")  # a new document reaches both hosts' own indexes
        for _, base in web.values():
            wait_for(lambda base=base: _finds(base, "bravo"))
        store = writer.store
        newest = store.max_change_seq()
        wait_for(lambda: {r["name"]: r["watermark"] for r in store.replicas()}.get("web2") == newest)

        proc2, _ = web.pop("web2")  # web2 goes away, holding watermark `newest`
        proc2.kill()
        proc2.communicate(timeout=10)
        add("charlie")
        wait_for(lambda: _finds(web["web1"][1], "charlie"))
        # web2 is still live for the log: what it has not seen is kept
        assert store.oldest_change_seq() <= newest + 1
        time.sleep(10.5)  # past replica_live_seconds: web2 no longer holds the log back
        add("delta")
        wait_for(lambda: _finds(web["web1"][1], "delta"))
        wait_for(lambda: store.oldest_change_seq() > newest + 1)

        # web2 comes back with its old index, behind the pruned log: it rebuilds by itself
        web["web2"] = _serve(tmp_path, "web2", fresh_postgres)
        base2 = web["web2"][1]
        for word in ("alpha", "charlie", "delta"):
            wait_for(lambda word=word: _finds(base2, word))
    finally:
        for proc, _ in web.values():
            if proc.poll() is None:
                proc.terminate()
        outputs = {name: proc.communicate(timeout=30)[1] for name, (proc, _) in web.items()}
        writer.close()
        for name, text in outputs.items():
            print(f"--- {name} stderr ---\n{text}")
    assert "older than the store's change log; rebuilding it" in outputs["web2"]
