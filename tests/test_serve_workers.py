"""``savoir serve`` answers from several processes, and stops cleanly on Ctrl-C.

Search is CPU-bound Python: in one process concurrent requests share one GIL. With
``--workers 2`` the requests must be answered by two different processes, both
children of the one ``serve`` process, each with its own view of the index.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT, free_port

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="pre-fork serving needs fork()")


def _parent(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


@pytest.fixture
def server(tmp_path, savoir_factory, memory_content):
    from tests.conftest import memory_source

    memory_content["wiki"] = {"a": {"title": "Telework", "text": "Telework policy for every agency."}}
    # a crawled data directory, as a worker would leave it
    savoir = savoir_factory([memory_source()])
    savoir.crawl()
    savoir.close()
    port = free_port()
    settings = tmp_path / "settings.toml"
    settings.write_text(f'[store]\ndata_dir = "{tmp_path / "data"}"\n[web]\nport = {port}\n')
    (tmp_path / "sources.toml").write_text("")
    proc = subprocess.Popen(
        [sys.executable, "-m", "webui.cli", "--config", str(settings), "serve", "--workers", "2"],
        cwd=tmp_path,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(f"{base}/healthz", timeout=5)
            break
        except requests.ConnectionError:
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "serve never answered"
            time.sleep(0.2)
    yield proc, base
    if proc.poll() is None:
        proc.kill()
        proc.communicate(timeout=10)


def test_concurrent_requests_are_answered_by_several_processes(server):
    proc, base = server

    def ask(_: int) -> tuple[int, str, str]:
        # a new connection each time: a kept-alive one stays with the process that took it
        answer = requests.get(f"{base}/healthz", headers={"Connection": "close"}, timeout=30)
        search = requests.get(f"{base}/api/search", params={"q": "telework"}, timeout=30)
        return answer.json()["pid"], search.status_code, answer.headers.get("Server", "")

    pids: set[int] = set()
    with ThreadPoolExecutor(max_workers=16) as pool:
        for _ in range(20):  # the kernel hands each connection to whichever worker is free
            for pid, status, server_name in pool.map(ask, range(16)):
                assert status == 200
                assert server_name == "Savoir"
                pids.add(pid)
            if len(pids) > 1:
                break
    assert len(pids) == 2, pids
    assert proc.pid not in pids  # the master only hands out connections
    assert all(_parent(pid) == proc.pid for pid in pids)
    # every worker finds the document in its own view of the index
    found = {requests.get(f"{base}/api/search", params={"q": "telework"}, timeout=30).json()["total"]}
    assert found == {1}


def test_ctrl_c_stops_the_server_and_its_workers(server):
    proc, base = server
    workers = {requests.get(f"{base}/healthz", timeout=10).json()["pid"]}
    os.kill(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err, err
    assert "Savoir is serving on" in out
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
