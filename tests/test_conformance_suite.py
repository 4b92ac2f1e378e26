"""The conformance suite's own guard: it must catch what it promises to catch, and let
the crawler's session through."""

from __future__ import annotations

import time
import urllib.request

import pytest
import requests

from config.loader import HttpSettings
from connectors.base import Checkpoint, Deletion, Document, Failure
from connectors.testing import FixtureServer, collect, guarded
from crawler.http import HttpSession


@pytest.fixture
def server(tmp_path):
    (tmp_path / "index.html").write_text("<p>hello</p>", encoding="utf-8")
    with FixtureServer(tmp_path) as served:
        yield served


def test_guard_lets_the_crawler_session_through(server):
    session = HttpSession(HttpSettings(min_delay=0, jitter=0))
    with guarded() as violations:
        assert session.get(f"{server.base}/").text == "<p>hello</p>"
    assert violations == []


def test_guard_catches_direct_requests_and_urllib(server):
    with guarded() as violations:
        with pytest.raises(AssertionError):
            requests.get(f"{server.base}/", timeout=5)
        with pytest.raises(AssertionError):
            urllib.request.urlopen(f"{server.base}/")
    assert len(violations) == 2
    assert "outside the crawler's HttpSession" in violations[0]


def test_guard_catches_sleep_from_connector_modules_only():
    sleeper = {"__name__": "connectors.sleepy", "time": time}
    exec("def nap():\n    time.sleep(0)\n", sleeper)
    with guarded() as violations:
        with pytest.raises(AssertionError, match="connectors never sleep"):
            sleeper["nap"]()
        time.sleep(0)  # a test module may sleep
    assert len(violations) == 1


def test_collect_splits_items_and_rejects_strangers():
    doc = Document(id="s:1", url="u", title="t", text="x")
    items = [doc, Deletion("s:2"), Failure("s:3", "bad"), Checkpoint({})]
    assert collect(items) == ([doc], [Deletion("s:2")], [Checkpoint({})], [Failure("s:3", "bad")])
    with pytest.raises(AssertionError, match="not a Document"):
        collect(["oops"])


def test_guard_lets_a_declared_non_http_server_through_and_nothing_else(server):
    import socket

    host, port = "127.0.0.1", int(server.base.rsplit(":", 1)[1])
    with guarded([(host, port)]) as violations:
        socket.create_connection((host, port), timeout=5).close()  # an SMB client's socket
        with pytest.raises(AssertionError):
            requests.get(f"{server.base}/", timeout=5)  # HTTP still needs the crawler's session
        with pytest.raises(AssertionError):
            socket.create_connection((host, port + 1 if port < 65535 else port - 1), timeout=5)
    assert len(violations) == 2
