"""Issue 23 on the web side: ACL of people, counts and suggestions; declared parameters;
bounded "did you mean" and search budgets."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from indexer.search import SearchBudget, Searcher, SearchRequest
from indexer.store import persons
from tests.conftest import memory_source
from webui.app import create_app

NOW = datetime.now(UTC)
OUTSIDER = ("public",)
INSIDER = ("public", "fraud-unit")


def c(name, role="author", days=30, size=1500, email=None):
    return (name, email, role, NOW - timedelta(days=days), size, False, None)


def page(title, text, *contributions, **extra):
    return {"title": title, "text": text, "contributions": list(contributions), "language": "en", **extra}


@pytest.fixture
def world(savoir_factory, memory_content, tmp_path):
    (tmp_path / "communities.toml").write_text(
        '[[community]]\nid = "fraud"\nname_en = "Fraud prevention"\nname_fr = "Prévention de la fraude"\n'
        'keywords = ["procurement fraud", "fraude"]\n',
        "utf-8",
    )
    memory_content["wiki"] = {
        "p1": page(
            "Procurement fraud red flags",
            "Procurement fraud red flags in bid evaluation. Nightjars nest on the ground.",
            c("Pat Public"),
        ),
        "p2": page(
            "Procurement fraud hotline", "Procurement fraud hotline statistics.", c("Pat Public", days=40)
        ),
        "p3": page("Telework guide", "Telework guidance for managers.", c("Max Mixed")),
    }
    memory_content["fraud-unit"] = {
        "r1": page(
            "Procurement fraud casework",
            "Procurement fraud casework: the nightjarring scheme and vendor Zyxor.",
            c("Rita Restricted", email="rita@fraud.example"),
            c("Max Mixed", "editor", size=900, email="max.mixed@fraud.example"),
        ),
        "r2": page(
            "Procurement fraud interviews",
            "Procurement fraud interviews with vendor Zyxor.",
            c("Rita Restricted", days=50, email="rita@fraud.example"),
        ),
    }
    savoir = savoir_factory(
        [
            memory_source("wiki"),
            memory_source("fraud-unit", agency="records", acl=("fraud-unit",)),
        ]
    )
    savoir.crawl()
    savoir.refresh_people(force=True)
    with savoir.store.engine.connect() as conn:
        ids = {r.name: r.id for r in conn.execute(select(persons))}
    return savoir, ids


def client_for(savoir, groups):
    app = create_app(savoir=savoir, test_config={"TESTING": True, "TEST_USER_GROUPS": list(groups)})
    return app.test_client()


# -- people, lists, counts and suggestions follow the document ACL (items 3, 4, 7) ------


@pytest.mark.parametrize(
    "groups, name, status",
    [
        (OUTSIDER, "Rita Restricted", 404),  # known only from restricted documents
        (INSIDER, "Rita Restricted", 200),
        (OUTSIDER, "Pat Public", 200),
        (INSIDER, "Pat Public", 200),
        (OUTSIDER, "Max Mixed", 200),
        (INSIDER, "Max Mixed", 200),
    ],
)
def test_people_pages_exist_only_through_visible_documents(world, groups, name, status):
    savoir, ids = world
    response = client_for(savoir, groups).get(f"/people/{ids[name]}")
    assert response.status_code == status
    html = response.get_data(as_text=True)
    if status == 404:
        assert name not in html and "rita@fraud.example" not in html
    if groups == OUTSIDER:
        # nothing from the restricted source: titles, emails, words
        assert "casework" not in html and "fraud.example" not in html and "Zyxor" not in html


def test_a_person_page_shows_an_email_only_from_a_visible_identity(world):
    savoir, ids = world
    outside = client_for(savoir, OUTSIDER).get(f"/people/{ids['Max Mixed']}").get_data(as_text=True)
    inside = client_for(savoir, INSIDER).get(f"/people/{ids['Max Mixed']}").get_data(as_text=True)
    assert "max.mixed@fraud.example" not in outside
    assert "max.mixed@fraud.example" in inside and "Procurement fraud casework" in inside


@pytest.mark.parametrize("groups", [OUTSIDER, INSIDER])
@pytest.mark.parametrize(
    "path", ["/?q=procurement+fraud", "/api/search?q=procurement+fraud", "/communities/fraud"]
)
def test_people_lists_follow_the_acl(world, groups, path):
    savoir, _ = world
    body = client_for(savoir, groups).get(path).get_data(as_text=True)
    assert "Pat Public" in body
    assert ("Rita Restricted" in body) == (groups == INSIDER)


@pytest.mark.parametrize("groups, documents, sources", [(OUTSIDER, 3, 1), (INSIDER, 5, 2)])
def test_home_page_counts_only_what_the_viewer_may_see(world, groups, documents, sources):
    savoir, _ = world
    html = client_for(savoir, groups).get("/").get_data(as_text=True)
    assert f"{documents} documents from {sources} source{'s' if sources > 1 else ''}" in html


@pytest.mark.parametrize("groups, expected", [(OUTSIDER, None), (INSIDER, "nightjarring")])
def test_suggestions_never_reveal_a_word_only_restricted_documents_hold(world, groups, expected):
    savoir, _ = world
    # a public document holds "nightjars" (same stem); only a restricted one "nightjarring"
    searcher = Searcher(savoir.open_index(), savoir.store)
    assert searcher.search(SearchRequest("nightjarrinh", groups=groups)).suggestion == expected
    api = client_for(savoir, groups).get("/api/search?q=nightjarrinh").get_json()
    assert api["suggestion"] == expected
    # and a word of restricted documents only (no shared stem) is never proposed outside
    zyxor = searcher.search(SearchRequest("Zyxar", groups=groups)).suggestion
    assert zyxor == (None if groups == OUTSIDER else "zyxor")


# -- declared parameters (item 5) ----------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "/?endpoint=x",
        "/?q=fraud&endpoint=x",
        "/?q=fraud&_scheme=javascript",
        "/?q=fraud&_method=POST",
        "/?q=fraud&_anchor=x",
        "/?q=fraud&_external=1",
        "/?q=fraud&values=1&filename=x",
    ],
)
def test_unknown_parameters_are_ignored_never_forwarded(world, query):
    savoir, _ = world
    response = client_for(savoir, OUTSIDER).get(query, headers={"Host": "evil.example"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "evil.example" not in html and "javascript" not in html and "endpoint=" not in html
    assert "_anchor" not in html and "#x" not in html


@pytest.mark.parametrize(
    "query, fix",
    [
        ("/?q=fraud&page=0", "from 1 to 1000"),
        ("/?q=fraud&page=abc", "whole number"),
        ("/?q=fraud&page=99999999999999999999999", "whole number"),
        ("/?q=fraud&sort=sideways", "relevance, date"),
        ("/?q=fraud&q=other", "only once"),
        ("/?q=" + "x" * 1001, "at most 1000 characters"),
        ("/?q=fraud&year=twenty", "for example 2025"),
        ("/?q=fraud&lang=de", "en, fr, und"),
        ("/?q=fraud" + "&agency=a" * 21, "at most 20"),
    ],
)
def test_bad_parameters_are_400_with_what_to_fix(world, query, fix):
    savoir, _ = world
    client = client_for(savoir, OUTSIDER)
    response = client.get(query)
    assert response.status_code == 400 and fix in response.get_data(as_text=True)
    api = client.get("/api" + query.replace("/?", "/search?", 1))
    assert api.status_code == 400 and fix in api.get_json()["error"]


def test_a_bad_parameter_is_explained_in_the_ui_language(world):
    savoir, _ = world
    response = client_for(savoir, OUTSIDER).get("/?q=fraude&page=0", headers={"Accept-Language": "fr"})
    assert response.status_code == 400
    assert "doit être un nombre entier de 1 à 1000" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "path",
    [
        "/people/10000000000000000000",
        "/people/2147483648",
        "/people/-1",
        "/people/abc",
        "/communities/NO%00PE",
    ],
)
def test_out_of_range_ids_are_404(world, path):
    savoir, _ = world
    response = client_for(savoir, OUTSIDER).get(path)
    assert response.status_code == 404 and "Traceback" not in response.get_data(as_text=True)


# -- bounded "did you mean" and search budgets (item 1) --------------------------------


@pytest.mark.parametrize("word", ["x" * 300, "frauud" * 170, "procurment " * 40, "ab" * 20 + "c"])
def test_did_you_mean_is_bounded_for_any_input(world, word):
    savoir, _ = world
    searcher = Searcher(savoir.open_index(), savoir.store)
    started = time.perf_counter()
    searcher.search(SearchRequest(word))
    assert time.perf_counter() - started < 1.0


def test_a_search_past_its_budget_says_so(world):
    savoir, _ = world
    searcher = Searcher(savoir.open_index(), savoir.store, budget=SearchBudget(max_terms=20))
    results = searcher.search(SearchRequest("procurement fraud hotline statistics telework"))
    assert results.partial and "terms" in results.limits and results.total >= 1
    slow = Searcher(savoir.open_index(), savoir.store, budget=SearchBudget(seconds=0.0))
    assert "time" in slow.search(SearchRequest("procurment frawd")).limits
    cut = searcher.search(SearchRequest(" ".join(f"w{i}" for i in range(40))))
    assert "words" in cut.limits
    # the page and the API say so
    html = client_for(savoir, OUTSIDER).get("/?q=" + "+".join(f"fraud{i}" for i in range(40)))
    assert "reached its limits" in html.get_data(as_text=True)
    api = client_for(savoir, OUTSIDER).get("/api/search?q=" + "+".join(f"fraud{i}" for i in range(40)))
    assert api.get_json()["partial"] is True and "words" in api.get_json()["limits"]


def test_snippets_of_long_documents_read_only_windows_around_the_matches():
    from indexer.search import make_snippet

    text = (
        "Filler words about nothing in particular. " * 400 + "The procurement fraud hotline. " + "End. " * 50
    )
    snippet = make_snippet(text, {"en": {"procur", "fraud"}, "fr": set(), "neutral": set()}, "en")
    assert ">procurement</mark>" in snippet and ">fraud</mark>" in snippet
    plain = make_snippet("<b>short</b> text", {"en": {"none"}, "fr": set(), "neutral": set()}, "en")
    assert "<b>" not in plain


# -- the document page follows the document ACL ---------------------------------------


@pytest.mark.parametrize(
    "groups, doc_id, status",
    [
        (OUTSIDER, "wiki:p1", 200),
        (INSIDER, "wiki:p1", 200),
        (OUTSIDER, "fraud-unit:r1", 404),  # the same answer as a document that does not exist
        (INSIDER, "fraud-unit:r1", 200),
        (OUTSIDER, "wiki:nope", 404),
    ],
)
def test_a_document_page_exists_only_for_those_who_may_see_it(world, groups, doc_id, status):
    savoir, _ = world
    response = client_for(savoir, groups).get(f"/documents/{doc_id}")
    assert response.status_code == status
    body = response.get_data(as_text=True)
    if status == 404:
        assert "Zyxor" not in body and "Rita" not in body
    else:
        assert "Procurement fraud" in body and "Contributors" in body


def test_a_document_page_names_its_people_and_links_their_pages(world):
    savoir, ids = world
    body = client_for(savoir, INSIDER).get("/documents/fraud-unit:r1?ui=fr").get_data(as_text=True)
    assert f'href="/people/{ids["Rita Restricted"]}"' in body and "Max Mixed" in body
    assert "a rédigé" in body and "a modifié" in body and '<html lang="fr">' in body
