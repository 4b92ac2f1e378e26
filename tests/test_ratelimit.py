"""Requests and sign-ins per client address, counted across every server process."""

from __future__ import annotations

import multiprocessing
import re

import pytest

from tests.conftest import memory_source
from webui.app import create_app
from webui.ratelimit import SharedWindow, client_address

OUTSIDE = {"REMOTE_ADDR": "203.0.113.9"}
NEIGHBOUR = {"REMOTE_ADDR": "203.0.113.10"}


def _spend(path: str, tries: int, results) -> None:
    window = SharedWindow(path)
    results.put(sum(window.allow("request:198.51.100.7", 40) for _ in range(tries)))


def test_processes_share_one_count(tmp_path):
    # two processes (as two gunicorn workers) each try 30 times against a limit of 40:
    # together they get exactly 40, not 40 each
    path = str(tmp_path / "ratelimit.bin")
    SharedWindow(path)
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    workers = [ctx.Process(target=_spend, args=(path, 30, results)) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
    assert sum(results.get(timeout=5) for _ in workers) == 40
    assert SharedWindow(path).allow("request:198.51.100.7", 40) is False
    assert SharedWindow(path).allow("request:198.51.100.8", 40) is True  # another address


def test_the_window_slides(tmp_path):
    window = SharedWindow(tmp_path / "w.bin")
    start = 600 * 60.0  # the start of a minute
    assert all(window.allow("k", 10, now=start + 1) for _ in range(10))
    assert not window.allow("k", 10, now=start + 59)
    # half way through the next minute, half of the last minute still counts
    allowed = sum(window.allow("k", 10, now=start + 90) for _ in range(10))
    assert allowed == 5
    # two minutes on, nothing is left of it
    assert all(window.allow("k", 10, now=start + 200) for _ in range(10))


def test_client_address_trusts_forwarded_for_only_from_a_proxy():
    trusted = ["10.0.0.1"]
    assert client_address("10.0.0.1", "198.51.100.7", trusted) == "198.51.100.7"
    assert client_address("10.0.0.1", "203.0.113.1, 198.51.100.7", trusted) == "198.51.100.7"
    assert client_address("10.0.0.1", "198.51.100.7, 10.0.0.1", trusted) == "198.51.100.7"
    # anyone else's header is ignored: a client cannot pick the address it is counted as
    assert client_address("203.0.113.5", "198.51.100.7", trusted) == "203.0.113.5"
    assert client_address("10.0.0.1", "not-an-address", trusted) == "10.0.0.1"
    assert client_address("10.0.0.1", None, trusted) == "10.0.0.1"


@pytest.fixture
def savoir(savoir_factory, memory_content):
    memory_content["wiki"] = {"p1": {"title": "Telework", "text": "Telework guide.", "language": "en"}}
    savoir = savoir_factory([memory_source("wiki")], web={"requests_per_minute": 5})
    savoir.crawl()
    return savoir


def test_pages_and_api_over_the_limit_get_429_in_the_visitors_language(savoir):
    client = create_app(savoir=savoir, test_config={"TESTING": True}).test_client()
    codes = [client.get("/?q=telework", environ_base=OUTSIDE).status_code for _ in range(5)]
    assert codes == [200] * 5
    page = client.get("/?q=telework&ui=fr", environ_base=OUTSIDE)
    assert page.status_code == 429 and page.headers["Retry-After"] == "60"
    assert "Trop de requêtes" in page.get_data(as_text=True)
    api = client.get("/api/v1/search?q=telework", environ_base=OUTSIDE)
    assert api.status_code == 429 and "Too many requests" in api.get_json()["error"]
    # another address, the health check and the server's own machine are not held back
    assert client.get("/?q=telework", environ_base=NEIGHBOUR).status_code == 200
    assert client.get("/healthz", environ_base=OUTSIDE).status_code == 200
    assert all(client.get("/?q=telework").status_code == 200 for _ in range(8))  # loopback


def test_the_limit_holds_across_server_processes(savoir):
    # two apps on one data directory stand for two worker processes
    first = create_app(savoir=savoir, test_config={"TESTING": True}).test_client()
    second = create_app(savoir=savoir, test_config={"TESTING": True}).test_client()
    codes = [(first if i % 2 else second).get("/", environ_base=OUTSIDE).status_code for i in range(7)]
    assert codes == [200] * 5 + [429] * 2


def test_a_proxys_clients_are_counted_one_by_one(savoir):
    savoir.settings.auth.trusted_proxies = ["10.0.0.1"]
    client = create_app(savoir=savoir, test_config={"TESTING": True}).test_client()
    proxy = {"REMOTE_ADDR": "10.0.0.1"}
    for _ in range(5):
        assert (
            client.get("/", environ_base=proxy, headers={"X-Forwarded-For": "198.51.100.1"}).status_code
            == 200
        )
    assert client.get("/", environ_base=proxy, headers={"X-Forwarded-For": "198.51.100.1"}).status_code == 429
    assert client.get("/", environ_base=proxy, headers={"X-Forwarded-For": "198.51.100.2"}).status_code == 200


def test_sign_in_attempts_are_counted_across_processes(savoir):
    savoir.settings.auth.signins_per_minute = 3
    savoir.settings.web.requests_per_minute = 0  # only the sign-in limit here
    apps = [create_app(savoir=savoir, test_config={"TESTING": True}).test_client() for _ in range(2)]
    codes = []
    for i in range(5):
        client = apps[i % 2]
        form = client.get("/sign-in", environ_base=OUTSIDE).get_data(as_text=True)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
        answer = client.post(
            "/sign-in",
            data={"username": "nobody", "password": "wrong-password-x", "csrf_token": csrf},
            environ_base=OUTSIDE,
        )
        codes.append(answer.status_code)
    assert codes == [401, 401, 401, 429, 429]
