"""Issue 18 item 5: the versioned JSON API and its OpenAPI description, over a small
real index with one restricted source."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from indexer.store import persons
from tests.conftest import memory_source
from webui.app import create_app

NOW = datetime.now(UTC)
OUTSIDER = ("public",)
INSIDER = ("public", "fraud-unit")


def c(name, role="author", days=30, email=None):
    return (name, email, role, NOW - timedelta(days=days), 1500, False, None)


def page(title, text, *contributions, days=30, **extra):
    return {
        "title": title,
        "text": text,
        "contributions": list(contributions),
        "language": "en",
        "modified": NOW - timedelta(days=days),
        **extra,
    }


@pytest.fixture
def world(savoir_factory, memory_content):
    memory_content["wiki"] = {
        "p1": page(
            "Procurement fraud red flags",
            "Procurement fraud red flags in bid evaluation.",
            c("Pat Public"),
            c("Max Mixed", "editor"),
            days=5,
        ),
        "p2": page(
            "Fraude dans les marchés publics",
            "Les signaux de fraude dans les marchés publics.",
            c("Pat Public"),
            language="fr",
            translation_of="wiki:p1",
            days=3,
        ),
        "p3": page("Telework guide", "Telework guidance for managers.", c("Max Mixed"), days=9),
        # a control character XML cannot hold, and markup, in what a source gave
        "p4": page(
            "Vendor\x0b list <b>& co</b>", "Nightjar survey of the vendor list.", c("Max Mixed"), days=20
        ),
    }
    memory_content["fraud-unit"] = {
        "r1": page(
            "Procurement fraud casework <Zyxor>",
            "Procurement fraud casework: the nightjarring scheme and vendor Zyxor.",
            c("Rita Restricted", email="rita@fraud.example"),
            days=1,
        ),
    }
    savoir = savoir_factory(
        [memory_source("wiki"), memory_source("fraud-unit", agency="records", acl=("fraud-unit",))]
    )
    savoir.crawl()
    savoir.refresh_people(force=True)
    return savoir


def client_for(savoir, groups, **config):
    test_config = {"TESTING": True, "TEST_USER_GROUPS": list(groups), **config}
    return create_app(savoir=savoir, test_config=test_config).test_client()


# -- /api/v1/search ------------------------------------------------------------------


@pytest.mark.parametrize("groups", [OUTSIDER, INSIDER])
def test_search_answers_what_the_viewer_may_see(world, groups):
    body = client_for(world, groups).get("/api/v1/search?q=procurement+fraud").get_json()
    ids = {h["id"] for h in body["hits"]}
    assert "wiki:p1" in ids
    assert ("fraud-unit:r1" in ids) == (groups == INSIDER)
    assert ("fraud-unit" in body["facets"]["source"]) == (groups == INSIDER)
    assert body["page"] == 1 and body["pages"] == 1 and body["total"] == len(ids)
    assert set(body) >= {"facets", "suggestion", "relaxed", "partial", "limits", "experts", "took_ms"}
    names = {e["name"] for e in body["experts"]}
    assert "Pat Public" in names
    assert ("Rita Restricted" in names) == (groups == INSIDER)
    for expert in body["experts"]:
        assert expert["evidence"] and {"id", "roles", "matched_terms"} <= set(expert["evidence"][0])
        if groups == OUTSIDER:
            assert all(ev["id"] != "fraud-unit:r1" for ev in expert["evidence"])


def test_search_keeps_the_old_api_shape(world):
    client = client_for(world, INSIDER)
    old = client.get("/api/search?q=procurement+fraud").get_json()
    new = client.get("/api/v1/search?q=procurement+fraud").get_json()
    assert set(new) - set(old) == {"pages"}
    assert [h["id"] for h in old["hits"]] == [h["id"] for h in new["hits"]]


def test_search_filters_and_pages_like_the_search_page(world):
    client = client_for(world, INSIDER)
    body = client.get("/api/v1/search?q=fraud&lang=fr").get_json()
    assert [h["id"] for h in body["hits"]] == ["wiki:p2"]
    past = client.get("/api/v1/search?q=fraud&page=7").get_json()
    assert past["page"] == 7 and past["pages"] == 1 and past["hits"] == []


@pytest.mark.parametrize(
    "path, parameter",
    [
        ("/api/v1/search", "q"),
        ("/api/v1/search?q=", "q"),
        ("/api/v1/search?q=fraud&page=0", "page"),
        ("/api/v1/search?q=fraud&page=x", "page"),
        ("/api/v1/search?q=fraud&sort=oldest", "sort"),
        ("/api/v1/search?q=fraud&year=20", "year"),
        ("/api/v1/search?q=fraud&lang=de", "lang"),
        ("/api/v1/search?q=a&q=b", "q"),
        ("/api/v1/search?q=" + "x" * 3000, "q"),
        ("/api/v1/experts", "q"),
        ("/api/v1/experts?q=%20", "q"),
        ("/api/v1/experts?q=fraud&agency=" + "x" * 300, "agency"),
    ],
)
def test_bad_parameters_say_what_to_fix_in_json(world, path, parameter):
    response = client_for(world, OUTSIDER).get(path)
    assert response.status_code == 400
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["parameter"] == parameter
    assert parameter in body["error"] and len(body["error"]) > 20


def test_unknown_parameters_are_ignored(world):
    response = client_for(world, OUTSIDER).get("/api/v1/search?q=telework&endpoint=x&_external=1&foo=bar")
    assert response.status_code == 200
    assert [h["id"] for h in response.get_json()["hits"]] == ["wiki:p3"]


# -- /api/v1/experts -----------------------------------------------------------------


@pytest.mark.parametrize("groups", [OUTSIDER, INSIDER])
def test_experts_alone_follow_the_acl(world, groups):
    body = client_for(world, groups).get("/api/v1/experts?q=procurement+fraud").get_json()
    assert set(body) == {"query", "experts"}
    names = [e["name"] for e in body["experts"]]
    assert "Pat Public" in names
    assert ("Rita Restricted" in names) == (groups == INSIDER)
    assert ("casework" in str(body)) == (groups == INSIDER)


# -- /api/v1/documents/<id> ----------------------------------------------------------


def test_a_document_has_its_metadata_contributors_and_other_version(world):
    with world.store.engine.connect() as conn:
        ids = {r.name: r.id for r in conn.execute(select(persons))}
    body = client_for(world, OUTSIDER).get("/api/v1/documents/wiki:p2").get_json()
    assert body["title"] == "Fraude dans les marchés publics"
    assert body["language"] == "fr" and body["source"] == "wiki" and body["kind"] == "page"
    assert body["page"] == "/documents/wiki:p2"
    assert body["other_language"]["id"] == "wiki:p1"
    assert body["other_language"]["api"] == "/api/v1/documents/wiki:p1"
    assert body["contributors"] == [
        {
            "name": "Pat Public",
            "person_id": ids["Pat Public"],
            "roles": ["author"],
            "last": body["contributors"][0]["last"],
        }
    ]
    p1 = client_for(world, OUTSIDER).get("/api/v1/documents/wiki:p1").get_json()
    assert {(c["name"], tuple(c["roles"])) for c in p1["contributors"]} == {
        ("Pat Public", ("author",)),
        ("Max Mixed", ("editor",)),
    }


@pytest.mark.parametrize("groups, status", [(OUTSIDER, 404), (INSIDER, 200)])
def test_a_restricted_document_is_unknown_outside_its_group(world, groups, status):
    client = client_for(world, groups)
    response = client.get("/api/v1/documents/fraud-unit:r1")
    assert response.status_code == status
    if status == 404:
        unknown = client.get("/api/v1/documents/fraud-unit:nope")
        assert unknown.status_code == 404
        assert response.get_json() == unknown.get_json()
        assert "casework" not in response.get_data(as_text=True)
    else:
        assert response.get_json()["title"] == "Procurement fraud casework <Zyxor>"


# -- the OpenAPI description ----------------------------------------------------------


def _rule_path(rule: str) -> str:
    """``/api/v1/documents/<path:doc_id>`` as OpenAPI writes it: ``/api/v1/documents/{doc_id}``."""
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)


def test_openapi_describes_every_route_and_every_declared_parameter(world):
    client = client_for(world, OUTSIDER)
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.1")
    app = client.application
    rules = {_rule_path(r.rule): r for r in app.url_map.iter_rules()}
    for path, item in spec["paths"].items():
        assert path in rules, f"{path} is documented but no route"
        rule = rules[path]
        operation = item.get("get") or item["post"]  # peers' signed calls are POSTs
        documented = {p["name"] for p in operation.get("parameters", ()) if p["in"] == "query"}
        view = app.view_functions[rule.endpoint]
        declared = {p.name for p in getattr(view, "params", ())}
        assert declared <= documented, (path, declared - documented)
        path_params = {p["name"] for p in operation.get("parameters", ()) if p["in"] == "path"}
        assert path_params == set(rule.arguments), path
        for response in operation["responses"].values():
            for media in response.get("content", {}).values():
                ref = media.get("schema", {}).get("$ref")
                if ref:
                    assert ref.rsplit("/", 1)[1] in spec["components"]["schemas"]
    # and every machine route is documented
    machine = {
        p
        for p in rules
        if p.startswith(("/api/", "/feeds/")) or p in ("/opensearch.xml", "/metrics", "/healthz")
    }
    assert machine <= set(spec["paths"])


def test_openapi_parameters_match_what_the_route_accepts(world):
    spec = client_for(world, OUTSIDER).get("/api/v1/openapi.json").get_json()
    params = {p["name"]: p for p in spec["paths"]["/api/v1/search"]["get"]["parameters"]}
    assert params["page"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 1000, "default": 1}
    assert params["sort"]["schema"]["enum"] == ["relevance", "date"]
    assert params["lang"]["schema"]["type"] == "array"
    assert re.fullmatch(params["year"]["schema"]["items"]["pattern"], "2025")
