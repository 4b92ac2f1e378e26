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
        [memory_source("wiki")],
        people={"communities_file": str(tmp_path / "communities.toml")},
        agencies={"records": {"name_en": "Records Agency", "name_fr": "Agence des dossiers"}},
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
    facets = html[html.index('class="facets"') :]
    assert "Accès à l&#39;information" in facets and "atip<" not in facets
    assert "français" in facets and ">Page<" in facets


def test_a_page_past_the_end_is_the_last_page(client):
    response = client.get("/?q=information&page=999&ui=en")
    assert response.status_code == 302
    assert "page=2" in response.headers["Location"]  # 12 documents, 10 a page
    last = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Page 2 of 2" in last


@pytest.mark.parametrize(
    "ui, agency, kind", [("en", "Records Agency", "Page"), ("fr", "Agence des dossiers", "Page")]
)
def test_agencies_show_their_configured_name_in_the_ui_language(client, ui, agency, kind):
    html = unescape(client.get(f"/?q=information&ui={ui}").get_data(as_text=True))
    facets = html[html.index('class="facets"') :]
    results = html[html.index('class="results"') : html.index('class="facets"')]
    assert f">{agency}</a>" in facets and ">records<" not in facets
    assert f'<span class="agency">{agency}</span>' in results
    person = re.search(r'href="(/people/\d+)"', results).group(1)
    assert agency in unescape(client.get(f"{person}?ui={ui}").get_data(as_text=True))
    # a filter link still carries the id, the name is only what people read
    assert "agency=records" in facets


def test_numbers_and_dates_follow_the_ui_locale(client):
    english = unescape(client.get("/?q=information&ui=en").get_data(as_text=True))
    french = unescape(client.get("/?q=information&ui=fr").get_data(as_text=True))
    assert "12 results" in english and "12 résultats" in french
    # the memory source dates its documents 2025-01-01
    assert '<time datetime="2025-01-01">Jan 1, 2025</time>' in english
    assert '<time datetime="2025-01-01">1 janv. 2025</time>' in french


def test_counts_are_singular_and_plural_in_each_language():
    from flask import Flask, g

    from webui import i18n

    app = Flask(__name__)
    i18n.install(app)
    with app.test_request_context():
        g.ui_lang = "en"
        assert [i18n.results_count(n) for n in (1, 2, 1234)] == ["1 result", "2 results", "1,234 results"]
    with app.test_request_context():
        g.ui_lang = "fr"
        # French: 0 and 1 are singular; thousands grouped by a (narrow) no-break space
        assert [i18n.results_count(n) for n in (0, 1, 2)] == ["0 résultat", "1 résultat", "2 résultats"]
        assert i18n.results_count(1234).replace("\u202f", " ").replace("\xa0", " ") == "1 234 résultats"


def test_agency_names_are_read_and_checked():
    from config.loader import ConfigError, build_settings

    settings = build_settings(
        {
            "agencies": {
                "records": {"name_en": "Records Agency", "name_fr": "Agence des dossiers"},
                "cra": {"name_fr": "ARC"},
            }
        },
        env={},
    )
    assert settings.agencies["records"].name("fr") == "Agence des dossiers"
    assert settings.agencies["cra"].name("en") == "ARC"  # the other language's name, then the id
    for data, message in [
        ({"records": {"name": "Records"}}, "unknown field 'name'"),
        ({"records": {"name_en": 3}}, "expected text"),
        ({"records": {}}, "give name_en, name_fr or both"),
        ({"bad id!": {"name_en": "X"}}, "an agency id is"),
        ({"records": "Records"}, "expected a table"),
    ]:
        with pytest.raises(ConfigError, match=re.escape(message)):
            build_settings({"agencies": data}, env={}, source="my.toml")


def test_a_date_range_filters_and_is_kept_by_the_toggle(client):
    def total(url: str) -> str:
        html = unescape(client.get(url).get_data(as_text=True))
        found = re.search(r'id="results-title">([^<]*)<', html)
        return found.group(1).strip() if found else "no results block"

    # the memory source dates every document 2025-01-01; both ends are included
    assert total("/?q=information&after=2024-12&before=2025-01-01&ui=en") == "12 results"
    assert total("/?q=information&after=2025-01-02&ui=en") == "0 results"
    assert total("/?q=information&before=2024&ui=en") == "0 results"
    html = client.get("/?q=information&after=2024-12-01&ui=en").get_data(as_text=True)
    assert 'id="after" name="after" type="date" value="2024-12-01"' in html
    assert "after=2024-12-01" in switch_link(html)
    refused = client.get("/?q=information&after=yesterday&ui=fr")
    assert refused.status_code == 400
    assert "« after »" in refused.get_data(as_text=True) and "2025-06-30" in refused.get_data(as_text=True)


def test_sources_show_their_name(savoir_factory, memory_content):
    from dataclasses import replace

    memory_content["wiki"] = {"a": {"title": "Travel guide", "text": "Travel guide for every agency."}}
    savoir = savoir_factory([replace(memory_source("wiki"), name="Records wiki")])
    savoir.crawl()
    html = create_app(savoir=savoir).test_client().get("/?q=travel&ui=en").get_data(as_text=True)
    facets = html[html.index('class="facets"') :]
    results = html[html.index('class="results"') : html.index('class="facets"')]
    assert ">Records wiki</a>" in facets and "source=wiki" in facets
    assert "· Records wiki ·" in results


def test_french_pages_show_no_english_ui_words(client):
    """Every English message whose French differs, written out on a French page, is a
    string the page forgot to translate."""
    from babel.messages.pofile import read_po

    from tests.test_ui_catalogue import PO

    with PO.open("rb") as fh:
        catalogue = read_po(fh, locale="fr")
    english = {
        m.id
        for m in catalogue
        if isinstance(m.id, str) and m.id != m.string and "%(" not in m.id and len(m.id.split()) >= 2
    }
    person = re.search(r'href="(/people/\d+)"', client.get("/?q=information").get_data(as_text=True)).group(1)
    pages = ["/", "/?q=information", "/?q=zzyzxq", "/tips", "/documents/wiki:p1", person, "/communities"]
    pages += ["/communities/atip", "/no/such/page"]
    for path in pages:
        html = client.get(path + ("&" if "?" in path else "?") + "ui=fr").get_data(as_text=True)
        text = unescape(re.sub(r"<[^>]+>", " ", html.split("<body>", 1)[1]))
        text = re.sub(r"\s+", " ", text)
        assert [m for m in english if m in text] == [], path
    # the check can fail: the English page has them
    text = unescape(re.sub(r"<[^>]+>", " ", client.get("/?q=information&ui=en").get_data(as_text=True)))
    assert any(m in re.sub(r"\s+", " ", text) for m in english)


@pytest.mark.parametrize("query", ["information", "demande", "access exemptions"])
def test_every_facet_count_is_what_its_link_returns(client, query):
    html = client.get(f"/?q={query}&ui=en").get_data(as_text=True)
    facets = html[html.index('class="facets"') : html.index('class="date-range"')]
    links = re.findall(r'<li><a href="([^"]+)"[^>]*>[^<]*</a> <span class="count">\((\d+)\)</span>', facets)
    assert len(links) >= 4
    for href, count in links:
        followed = unescape(client.get(unescape(href)).get_data(as_text=True))
        total = re.search(r'id="results-title">([\d,]+) results?', followed).group(1)
        assert int(total.replace(",", "")) == int(count), href
