"""The polite HTTP session against a misbehaving loopback server."""

from __future__ import annotations

import time

import pytest

from config.loader import HttpSettings
from crawler.http import FetchError, HttpCache, HttpSession, RobotsDisallowed
from tests.faultserver import FaultConfig, FaultServer


def session(**overrides) -> HttpSession:
    values = {"min_delay": 0.0, "jitter": 0.0, "max_retries": 2, "backoff_base": 0.1, "timeout": 1.0}
    values.update(overrides)
    return HttpSession(HttpSettings(**values))


@pytest.fixture
def server():
    with FaultServer() as s:
        yield s


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in zip(times, times[1:], strict=False)]


def test_one_request_per_second_is_never_exceeded(server):
    http = session(min_delay=1.0, jitter=0.1)
    for i in range(4):
        http.get(f"{server.base}/page/p{i}")
    times = server.times("/page/")
    assert len(times) == 4
    assert min(gaps(times)) >= 0.98  # 1 s minus the server's timestamp resolution


def test_robots_txt_is_fetched_once_and_obeyed(server):
    http = session()
    with pytest.raises(RobotsDisallowed):
        http.get(f"{server.base}/private/secret")
    http.get(f"{server.base}/page/a")
    assert server.hits["/robots.txt"] == 1
    assert not any(path.startswith("/private/") for _, path, _ in server.log)


def test_crawl_delay_from_robots_is_honoured():
    with FaultServer(FaultConfig(robots="User-agent: *\nCrawl-delay: 0.5\n")) as server:
        http = session()
        for i in range(3):
            http.get(f"{server.base}/page/p{i}")
        assert min(gaps(server.times("/page/"))) >= 0.48


def test_retry_after_is_waited_out(server):
    server.config.storm_count = 2
    http = session(max_retries=3)
    started = time.monotonic()
    resp = http.get(f"{server.base}/storm/x")
    assert resp.status_code == 200
    times = server.times("/storm/")
    assert len(times) == 3
    assert all(g >= 0.98 for g in gaps(times))  # Retry-After: 1
    assert time.monotonic() - started >= 1.98


def test_a_429_storm_ends_in_a_transient_error_after_the_retries(server):
    server.config.storm_count = 100
    server.config.retry_after = "0"
    http = session(max_retries=2)
    with pytest.raises(FetchError) as caught:
        http.get(f"{server.base}/storm/y")
    assert caught.value.status == 429 and caught.value.transient
    assert server.hits["/storm/y"] == 3


def test_too_long_retry_after_is_not_waited(server):
    server.config.retry_after = "3600"
    http = session(max_retries=3, max_retry_after=60)
    started = time.monotonic()
    with pytest.raises(FetchError, match="asked to wait 3600s"):
        http.get(f"{server.base}/storm/z")
    assert time.monotonic() - started < 1


def test_intermittent_500s_are_retried_with_backoff(server):
    http = session(backoff_base=0.2)
    assert http.get(f"{server.base}/flaky/a").status_code == 200
    times = server.times("/flaky/a")
    assert len(times) == 2 and gaps(times)[0] >= 0.19


def test_backoff_grows_exponentially_and_gives_up(server):
    http = session(max_retries=3, backoff_base=0.1)
    with pytest.raises(FetchError, match="HTTP 503"):
        http.get(f"{server.base}/down/a")
    g = gaps(server.times("/down/a"))
    assert len(g) == 3
    assert g[0] >= 0.09 and g[1] >= 0.19 and g[2] >= 0.39


def test_slow_server_times_out(server):
    server.config.slow_seconds = 2.0
    http = session(timeout=0.3, max_retries=1)
    started = time.monotonic()
    with pytest.raises(FetchError, match="no answer within 0.3s") as caught:
        http.get(f"{server.base}/slow/a")
    assert caught.value.transient
    assert server.hits["/slow/a"] == 2
    assert time.monotonic() - started < 2.0


def test_truncated_body_is_an_error_not_a_short_page(server):
    http = session(max_retries=1)
    with pytest.raises(FetchError, match="truncated"):
        http.get(f"{server.base}/truncated/a")
    assert server.hits["/truncated/a"] == 2


def test_redirect_loop_is_cut(server):
    http = session(max_redirects=4)
    with pytest.raises(FetchError, match="more than 4 redirects"):
        http.get(f"{server.base}/loop/0")
    assert len(server.times("/loop/")) == 5


def test_huge_response_is_refused(server):
    http = session(max_bytes=1024 * 1024)
    with pytest.raises(FetchError, match="exceeds the 1048576-byte limit"):
        http.get(f"{server.base}/huge/a")


def test_conditional_get_turns_unchanged_pages_into_304s(server, tmp_path):
    http = HttpSession(HttpSettings(min_delay=0, jitter=0), cache=HttpCache(tmp_path / "cache"))
    first = http.get(f"{server.base}/page/doc")
    again = HttpSession(HttpSettings(min_delay=0, jitter=0), cache=HttpCache(tmp_path / "cache"))
    second = again.get(f"{server.base}/page/doc")
    assert first.from_cache is False and second.from_cache is True
    assert second.content == first.content and second.headers["etag"] == '"v1-doc"'
    assert again.stats.not_modified == 1
    assert server.log[-1][2].get("If-None-Match") == '"v1-doc"'


def test_user_agent_names_a_contact(server):
    http = session(user_agent="SavoirBot/0.1 (+mailto:ops@agency.example)", contact="ops@agency.example")
    http.get(f"{server.base}/page/a")
    headers = server.log[-1][2]
    assert "ops@agency.example" in headers["User-Agent"] and headers["From"] == "ops@agency.example"


def test_unreachable_host_is_a_clear_transient_error():
    http = session(max_retries=0)
    with pytest.raises(FetchError, match="connection failed") as caught:
        http.get("http://127.0.0.1:9/nothing")
    assert caught.value.transient


def test_only_http_urls(server):
    with pytest.raises(FetchError, match="only http and https"):
        session().get("file:///etc/passwd")


def test_every_redirect_hop_waits_for_the_host_slot(server):
    """A redirect loop is fetched at the host's pace, not 2 ms apart."""
    http = session(min_delay=0.3, max_redirects=3)
    with pytest.raises(FetchError, match="more than 3 redirects"):
        http.get(f"{server.base}/loop/0")
    # robots.txt, then the 4 hops: every gap, robots.txt included, is at least the delay
    times = [t for t, path, _ in server.log]
    assert [p for _, p, _ in server.log] == ["/robots.txt", "/loop/0", "/loop/1", "/loop/2", "/loop/3"]
    # (server-side arrival times: a loaded machine may delay one arrival a little)
    assert min(gaps(times)) >= 0.2, gaps(times)


def test_a_redirect_into_a_disallowed_path_is_not_followed():
    pages = {"/moved": "unused"}
    with FaultServer(FaultConfig(pages=pages)) as server:
        http = session()
        # /loop/ redirects to the next /loop/ page; robots forbids from /loop/1 on
        server.config.robots = "User-agent: *\nDisallow: /loop/1\n"
        with pytest.raises(RobotsDisallowed):
            http.get(f"{server.base}/loop/0")
        assert server.hits.get("/loop/1", 0) == 0


def test_robots_txt_once_per_session_even_when_a_connector_reads_it(server):
    """The web connector reads robots.txt for its Sitemap: lines: the session's copy serves both."""
    http = session()
    assert "Disallow: /private/" in http.robots_txt(server.base)
    http.get(f"{server.base}/page/a")
    http.robots_txt(server.base)
    assert server.hits["/robots.txt"] == 1


def test_a_web_run_fetches_robots_txt_once_and_paces_every_request(tmp_path):
    """A whole web crawl: one robots.txt, and no two requests closer than min_delay."""
    from config.loader import SourceConfig
    from crawler.runner import Savoir
    from tests.conftest import make_settings

    home = (
        "<html lang='en'><title>Home</title><main><p>Intranet home.</p>"
        "<a href='/page/one.html'>one</a><a href='/loop/0'>loop</a><a href='/page/two.html'>two</a></main></html>"
    )
    with FaultServer(FaultConfig(pages={"/": home})) as server:
        source = SourceConfig(
            id="site", kind="web", agency="records", settings={"start_urls": [f"{server.base}/"]}
        )
        settings = make_settings(tmp_path, http={"min_delay": 0.3, "jitter": 0.0, "max_redirects": 2})
        savoir = Savoir(settings, [source])
        (report,) = savoir.crawl()
        savoir.close()
    assert server.hits["/robots.txt"] == 1
    times = [t for t, _, _ in server.log]
    assert min(gaps(times)) >= 0.2, [
        (round(g, 3), p) for g, (_, p, _) in zip(gaps(times), server.log[1:], strict=False)
    ]
    assert report.added == 3 and report.failed == 1  # home, one, two; the loop is a failure


def test_two_runs_reading_one_host_share_its_slot(server):
    """The worker runs sources in threads, each with its own session: one host, one pace."""
    import threading

    sessions = [session(min_delay=0.3), session(min_delay=0.3)]

    def read(http: HttpSession, name: str) -> None:
        for i in range(3):
            http.get(f"{server.base}/page/{name}{i}")

    threads = [threading.Thread(target=read, args=(s, n)) for s, n in zip(sessions, "ab", strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    times = server.times("/page/")
    assert len(times) == 6
    assert min(gaps(sorted(times))) >= 0.2, gaps(sorted(times))
