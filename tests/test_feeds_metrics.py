"""Issue 18 item 5: the Atom feed of a search, the OpenSearch description and
/metrics, over the same small real index as tests/test_api_v1.py."""

from __future__ import annotations

import json
import re
from xml.etree import ElementTree as ET

import feedparser
import pytest

from tests import test_api_v1
from tests.test_api_v1 import INSIDER, OUTSIDER, client_for

#: the same small world (fixture) as the API's tests
world = test_api_v1.world

OUTSIDE_ADDRESS = {"REMOTE_ADDR": "203.0.113.9"}


def feed(client, query: str):
    response = client.get("/feeds/search.atom?" + query)
    assert response.status_code == 200
    assert response.mimetype == "application/atom+xml"
    parsed = feedparser.parse(response.get_data())
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    return parsed


# -- the Atom feed -------------------------------------------------------------------


@pytest.mark.parametrize("groups", [OUTSIDER, INSIDER])
def test_the_feed_holds_the_newest_documents_the_viewer_may_see(world, groups):
    parsed = feed(client_for(world, groups), "q=procurement+fraud")
    titles = [e.title for e in parsed.entries]
    expected = ["Procurement fraud red flags"]
    if groups == INSIDER:  # a day old: the newest
        expected.insert(0, "Procurement fraud casework <Zyxor>")
    assert titles[: len(expected)] == expected
    raw = str(parsed)
    assert ("casework" in raw) == (groups == INSIDER)
    assert ("Rita Restricted" in raw) == (groups == INSIDER)
    updated = [e.updated_parsed for e in parsed.entries]
    assert updated == sorted(updated, reverse=True)
    assert parsed.feed.title == "Savoir: procurement fraud"


def test_feed_entries_have_link_date_summary_authors_and_language(world):
    parsed = feed(client_for(world, OUTSIDER), "q=fraude+march%C3%A9s")
    entry = next(e for e in parsed.entries if e.title == "Fraude dans les marchés publics")
    assert entry.id == "http://localhost/documents/wiki:p2"
    assert entry.link == "http://localhost/documents/wiki:p2"  # memory:// is not a link to give
    assert entry.updated_parsed
    assert [a.name for a in entry.authors] == ["Pat Public"]
    assert entry.title_detail.language == "fr"
    # plain text: the snippet's <mark> is gone, its words stay
    assert entry.summary_detail.type == "text/plain"
    assert "fraude" in entry.summary.lower() and "<mark>" not in entry.summary


def test_the_feed_escapes_what_sources_and_users_give(world):
    client = client_for(world, OUTSIDER)
    parsed = feed(client, "q=vendor+list")
    assert [e.title for e in parsed.entries] == ["Vendor list <b>& co</b>"]  # \x0b dropped
    payload = feed(client, "q=%3Cscript%3Ealert(1)%3C/script%3E+%22%3E%26")
    assert payload.feed.title == 'Savoir: <script>alert(1)</script> ">&'
    assert b"<script>" not in client.get("/feeds/search.atom?q=%3Cscript%3E").get_data()


def test_a_feed_of_filters_only_and_a_feed_of_nothing(world):
    client = client_for(world, OUTSIDER)
    parsed = feed(client, "lang=fr")
    assert [e.title for e in parsed.entries] == ["Fraude dans les marchés publics"]
    assert client.get("/feeds/search.atom").status_code == 400
    assert client.get("/feeds/search.atom?q=x&lang=de").status_code == 400


def test_the_search_page_links_its_feed_and_the_opensearch_description(world):
    client = client_for(world, OUTSIDER)
    html = client.get("/?q=telework&lang=en&page=1").get_data(as_text=True)
    assert '<link rel="alternate" type="application/atom+xml"' in html
    assert 'href="/feeds/search.atom?q=telework&amp;lang=en"' in html
    assert '<link rel="search" type="application/opensearchdescription+xml"' in html
    home = client.get("/").get_data(as_text=True)
    assert "application/atom+xml" not in home and "/opensearch.xml" in home
    bad = client.get("/?q=telework&page=0")
    assert bad.status_code == 400 and "application/atom+xml" not in bad.get_data(as_text=True)


# -- OpenSearch ----------------------------------------------------------------------


def test_the_opensearch_description(world):
    response = client_for(world, OUTSIDER).get("/opensearch.xml")
    assert response.status_code == 200
    assert response.mimetype == "application/opensearchdescription+xml"
    ns = {"os": "http://a9.com/-/spec/opensearch/1.1/"}
    root = ET.fromstring(response.get_data())
    assert root.findtext("os:ShortName", namespaces=ns) == "Savoir"
    templates = {u.get("type"): u.get("template") for u in root.findall("os:Url", ns)}
    assert templates["text/html"] == "http://localhost/?q={searchTerms}"
    assert templates["application/atom+xml"] == "http://localhost/feeds/search.atom?q={searchTerms}"


# -- /metrics ------------------------------------------------------------------------


def sample(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        match = re.fullmatch(r"([a-z_]+)(?:\{(.*)\})? (\S+)", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'([a-z_]+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match.group(3))
    return None


@pytest.mark.parametrize(
    "admin, environ, headers, status",
    [
        (False, OUTSIDE_ADDRESS, {}, 403),
        (True, OUTSIDE_ADDRESS, {}, 200),
        (False, {}, {}, 200),  # the test client is 127.0.0.1
        (False, {"REMOTE_ADDR": "::1"}, {}, 200),
        (False, {}, {"X-Forwarded-For": "203.0.113.9"}, 403),  # a proxy on this host
    ],
)
def test_metrics_are_for_loopback_clients_and_admins(world, admin, environ, headers, status):
    client = client_for(world, OUTSIDER, TEST_USER_ADMIN=admin)
    response = client.get("/metrics", environ_base=environ, headers=headers)
    assert response.status_code == status
    if status == 403:
        assert "savoir_" not in response.get_data(as_text=True)


def test_metrics_count_searches_and_read_the_store(world):
    client = client_for(world, OUTSIDER)
    before = client.get("/metrics").get_data(as_text=True)
    assert sample(before, "savoir_search_requests_total", route="api_v1.search") is None
    client.get("/api/v1/search?q=fraud")
    client.get("/api/v1/search?q=telework")
    client.get("/api/v1/search?page=0")
    client.get("/?q=fraud")
    response = client.get("/metrics")
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    text = response.get_data(as_text=True)
    assert sample(text, "savoir_search_requests_total", route="api_v1.search", status="200") == 2
    assert sample(text, "savoir_search_requests_total", route="api_v1.search", status="400") == 1
    assert sample(text, "savoir_search_requests_total", route="search.home", status="200") == 1
    assert sample(text, "savoir_search_duration_seconds_count", route="api_v1.search") == 3
    assert sample(text, "savoir_search_duration_seconds_bucket", route="api_v1.search", le="+Inf") == 3
    assert sample(text, "savoir_search_duration_seconds_sum", route="api_v1.search") > 0
    # the store: every live document (restricted ones too: these figures are for operators)
    assert sample(text, "savoir_documents", source="wiki") == 4
    assert sample(text, "savoir_documents", source="fraud-unit") == 1
    assert sample(text, "savoir_last_run_documents", source="wiki", status="success", change="added") == 4
    assert (
        sample(text, "savoir_last_run_finished_timestamp_seconds", source="fraud-unit", status="success") > 0
    )
    assert "# TYPE savoir_search_duration_seconds histogram" in text


def test_metrics_add_up_every_server_process(world):
    client = client_for(world, OUTSIDER)
    client.get("/api/v1/search?q=fraud")
    folder = world.settings.data_dir / "metrics"
    other = {"requests": {"api_v1.search 200": 5}, "latency": {"api_v1.search": [5] + [0] * 11 + [0.02]}}
    (folder / "99999-feedbeef.json").write_text(json.dumps(other), "utf-8")
    (folder / "99998-broken.json").write_text("{not json", "utf-8")
    text = client.get("/metrics").get_data(as_text=True)
    assert sample(text, "savoir_search_requests_total", route="api_v1.search", status="200") == 6
    assert sample(text, "savoir_search_duration_seconds_count", route="api_v1.search") == 6
    assert sample(text, "savoir_search_duration_seconds_bucket", route="api_v1.search", le="0.005") >= 5


def test_search_counters_from_many_threads_lose_nothing(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from webui.metrics import SearchCounters

    counters = SearchCounters(tmp_path / "metrics")
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: counters.record("api_v1.search", 200, i / 1000), range(200)))
    kept = json.loads(counters.path.read_text("utf-8"))  # what another process reads
    assert kept["requests"] == {"api_v1.search 200": 200}
    assert sum(kept["latency"]["api_v1.search"][:-1]) == 200
    requests, _ = SearchCounters(tmp_path / "metrics").totals()  # a fresh process
    assert requests == {"api_v1.search 200": 200}
