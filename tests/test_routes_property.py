"""Every route's parameters, generated (hypothesis), against a small real index.

What must hold for any input: no 5xx, a bounded time per request, and nothing the
user typed comes back unescaped in a page. Examples are derandomised (the same run
every time) and few (~200 requests in all) so the suite stays fast.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

import tests.memory_connector as memory
from crawler.runner import Savoir
from indexer.search import FACETS
from indexer.store import persons
from tests.conftest import make_settings, memory_source
from webui.app import create_app

#: seconds one request may take on a small index, whatever it asks
REQUEST_LIMIT = 2.0
MARKER = "zq7marker"
#: markup a user may type; none of it may come back as markup
PAYLOADS = [
    f"<i{MARKER}>",
    f'"{MARKER}',
    f"'{MARKER}",
    f"<script>{MARKER}</script>",
    f'"><svg onload={MARKER}>',
    f"javascript:{MARKER}",
]
RAW_FORMS = [f"<i{MARKER}", f'"{MARKER}', f"'{MARKER}", f"<script>{MARKER}", f"<svg onload={MARKER}"]

PROPERTY_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("property")
    saved = dict(memory.CONTENT)
    when = datetime(2024, 5, 1, tzinfo=UTC)
    memory.CONTENT.clear()
    memory.CONTENT["wiki"] = {
        "a": {
            "title": "Procurement fraud red flags",
            "text": "Procurement fraud and telework.",
            "modified": when,
        },
        "b": {
            "title": "Télétravail et déconnexion",
            "text": "Le télétravail des employés.",
            "language": "fr",
        },
        "c": {
            "title": "Access to information backlog",
            "text": "Clearing an ATIP backlog.",
            "tags": ["atip"],
        },
    }
    memory.CONTENT["secret"] = {"s": {"title": "Restricted casework", "text": "Nightjarring vendor Zyxor."}}
    savoir = Savoir(
        make_settings(tmp_path),
        [memory_source("wiki"), memory_source("secret", acl=("fraud-unit",))],
    )
    savoir.crawl()
    savoir.refresh_people(force=True)
    app = create_app(savoir=savoir, test_config={"TESTING": True})
    with savoir.store.engine.connect() as conn:
        app.config["PERSON_IDS"] = [r.id for r in conn.execute(select(persons))]
    yield app.test_client()
    savoir.close()
    memory.CONTENT.clear()
    memory.CONTENT.update(saved)


text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(PAYLOADS),
    st.builds(
        lambda a, p, b: f"{a} {p} {b}", st.text(max_size=12), st.sampled_from(PAYLOADS), st.text(max_size=12)
    ),
    st.sampled_from(
        ["procurement fraud", "télétravail", "frod", "acces to informaton", '"access to', "a OR"]
    ),
    st.builds(lambda n: "x" * n, st.integers(0, 1500)),
    st.builds(
        lambda f, v: f"{f}:{v}",
        st.sampled_from(["agency", "year", "after", "author", "lang"]),
        st.text(max_size=10),
    ),
)
number = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.sampled_from(["", "1", "2", "0", "-1", "1e3", "١", "99999999999999999999999"]),
    text,
)
#: names url_for would obey, and names no route knows
HOSTILE_NAMES = ["endpoint", "_external", "_scheme", "_anchor", "_method", "values", "filename", "x"]


def params_for(names: list[str]) -> st.SearchStrategy:
    values = {name: text for name in names}
    values["page"] = number
    values["sort"] = st.one_of(st.sampled_from(["relevance", "date"]), text)
    values["lang"] = st.one_of(st.sampled_from(["en", "fr", "und"]), text)
    pair = st.sampled_from(sorted(values)).flatmap(lambda n: st.tuples(st.just(n), values[n]))
    return st.lists(pair, max_size=6)


SEARCH_NAMES = ["q", "page", "sort", "lang", *FACETS, *HOSTILE_NAMES]
PAGE_NAMES = ["ui", "lang", *HOSTILE_NAMES]


def check(client, path: str, pairs: list[tuple[str, str]], headers=None) -> None:
    started = time.perf_counter()
    response = client.get(path, query_string=pairs, headers=headers or {})
    took = time.perf_counter() - started
    assert response.status_code < 500, (path, pairs)
    assert took < REQUEST_LIMIT, (path, pairs, took)
    body = response.get_data(as_text=True)
    if response.mimetype == "text/html":
        for raw in RAW_FORMS:
            assert raw not in body, (path, pairs, raw)
        assert "evil.example" not in body
    elif path.startswith("/api/"):
        assert response.mimetype == "application/json"


@PROPERTY_SETTINGS
@given(pairs=params_for(SEARCH_NAMES), api=st.booleans())
def test_search_routes_take_any_parameters(client, pairs, api):
    check(client, "/api/search" if api else "/", pairs, headers={"Host": "evil.example"})


@PROPERTY_SETTINGS
@given(pairs=params_for(SEARCH_NAMES))
def test_search_page_with_a_query_takes_any_other_parameters(client, pairs):
    check(client, "/", [("q", "procurement"), *[(n, v) for n, v in pairs if n != "q"]])


@settings(PROPERTY_SETTINGS, max_examples=60)
@given(
    segment=st.one_of(
        st.integers(-10, 2**70).map(str),
        st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="/?#"), max_size=30),
        st.sampled_from(["1", "2", "3", "fraud", "atip", "NO%00PE"]),
    ),
    kind=st.sampled_from(["people", "communities", "documents"]),
    pairs=params_for(PAGE_NAMES),
)
def test_people_and_community_routes_take_any_id(client, segment, kind, pairs):
    check(client, f"/{kind}/{segment}", pairs)


@settings(PROPERTY_SETTINGS, max_examples=20)
@given(pairs=params_for(PAGE_NAMES))
def test_community_list_and_known_people_take_any_parameters(client, pairs):
    check(client, "/communities", pairs)
    for person_id in client.application.config["PERSON_IDS"][:2]:
        check(client, f"/people/{person_id}", pairs)


@PROPERTY_SETTINGS
@given(
    pairs=params_for(SEARCH_NAMES),
    path=st.sampled_from(["/api/v1/search", "/api/v1/experts", "/feeds/search.atom"]),
    with_query=st.booleans(),
    segment=st.text(
        alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="?#"), max_size=30
    ),
)
def test_machine_interfaces_take_any_parameters(client, pairs, path, with_query, segment):
    from xml.etree import ElementTree as ET

    if with_query:
        pairs = [("q", "procurement nightjarring"), *[(n, v) for n, v in pairs if n != "q"]]
    for url in (path, f"/api/v1/documents/{segment}", "/opensearch.xml", "/api/v1/openapi.json"):
        check(client, url, pairs)
        response = client.get(url, query_string=pairs)
        body = response.get_data(as_text=True)
        assert "Zyxor" not in body and "Restricted casework" not in body  # an anonymous viewer
        if response.status_code == 200 and response.mimetype.endswith("xml"):
            ET.fromstring(response.get_data())  # well-formed whatever was asked
