"""The search UI's language, its toggle, facet labels, pages past the end."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest

from tests.conftest import memory_source
from webui.app import create_app

NOW = datetime.now(UTC)


@pytest.fixture
def client(savoir_factory, memory_content, tmp_path):
    (tmp_path / "communities.toml").write_text(
        '[[community]]\nid = "atip"\nname_en = "Access to information"\n'
        'name_fr = "Accès à l\'information"\nkeywords = ["access to information", "accès à l\'information"]\n',
        "utf-8",
    )
    pages = {}
    for i in range(12):
        lang = "fr" if i % 3 == 0 else "en"
        text = (
            f"Demande d'accès à l'information numéro {i}: délais et exemptions."
            if lang == "fr"
            else f"Access to information request {i}: deadlines and exemptions."
        )
        pages[f"p{i}"] = {
            "title": text.split(":")[0],
            "text": text,
            "language": lang,
            "contributions": [("Ana Lopez", None, "author", NOW - timedelta(days=10 + i), 900, False, None)],
        }
    memory_content["wiki"] = pages
    savoir = savoir_factory(
        [memory_source("wiki")], people={"communities_file": str(tmp_path / "communities.toml")}
    )
    savoir.crawl()
    savoir.refresh_people(force=True)
    return create_app(savoir=savoir, test_config={"TESTING": True}).test_client()


def switch_link(html: str) -> str:
    return unescape(re.search(r'class="lang-switch"[^>]*href="([^"]*)"', html).group(1))


def test_the_ui_language_and_the_document_language_are_two_choices(client):
    english_ui = client.get("/?q=information&lang=fr", headers={"Accept-Language": "en"})
    html = english_ui.get_data(as_text=True)
    # the French-documents filter keeps an English page and sets no language cookie
    assert '<html lang="en">' in html and "savoir_ui" not in english_ui.headers.get("Set-Cookie", "")
    assert 'lang="fr"' in html and "Refine" in html
    french_ui = client.get("/?q=information&ui=fr", headers={"Accept-Language": "en"})
    assert '<html lang="fr">' in french_ui.get_data(as_text=True)
    assert "savoir_ui=fr" in french_ui.headers["Set-Cookie"]
    # the choice is remembered: the next page without ?ui= is French
    assert '<html lang="fr">' in client.get("/?q=information").get_data(as_text=True)


def test_the_toggle_keeps_the_query_and_filters(client):
    html = client.get("/?q=information&lang=en&sort=date", headers={"Accept-Language": "en"}).get_data(
        as_text=True
    )
    link = switch_link(html)
    assert link.startswith("/?") and "q=information" in link and "lang=en" in link and "sort=date" in link
    assert link.endswith("ui=fr")
    toggled = client.get(link).get_data(as_text=True)
    assert '<html lang="fr">' in toggled and "Affiner" in toggled
    # the toggle back keeps them too
    assert "q=information" in switch_link(toggled) and switch_link(toggled).endswith("ui=en")


def test_facets_read_as_words_in_the_ui_language(client):
    html = client.get("/?q=information&ui=fr").get_data(as_text=True)
    facets = html[html.index('class="facets"') : html.index('class="results"')]
    assert "Accès à l&#39;information" in facets and "atip<" not in facets
    assert "français" in facets and ">Page<" in facets


def test_a_page_past_the_end_is_the_last_page(client):
    response = client.get("/?q=information&page=999&ui=en")
    assert response.status_code == 302
    assert "page=2" in response.headers["Location"]  # 12 documents, 10 a page
    last = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Page 2 of 2" in last
