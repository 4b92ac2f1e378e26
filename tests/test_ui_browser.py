"""The public search UI in a real browser (Debian's Chromium driven by Playwright), over a
real HTTP server on loopback: search, filter, toggle the language, page, open a
document and a person, by mouse and by keyboard; axe-core on every public page in both
languages (0 violations of any impact); reflow at 320 CSS px and at 200 % and 400 % zoom;
screenshots at 1366 px and 390 px under ``test-output/screenshots/`` (or
``$SAVOIR_TEST_OUTPUT/screenshots``).

The browser fixture and the Chromium check are the admin console's (tests/test_admin_browser.py).
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import pytest

from crawler.runner import Savoir
from tests.conftest import make_settings, memory_source, serve_in_thread
from tests.test_admin_browser import _needs_chromium, browser  # noqa: F401 - shared fixtures
from webui.app import create_app

NOW = datetime.now(UTC)
OUTPUT = Path(os.environ.get("SAVOIR_TEST_OUTPUT", Path(__file__).resolve().parent.parent / "test-output"))
COMMUNITIES = """
[[community]]
id = "atip"
name_en = "Access to information"
name_fr = "Accès à l'information"
description_en = "ATIP officers: requests, exemptions, extensions."
description_fr = "Agents de l'AIPRP : demandes, exceptions, prorogations."
keywords = ["access to information", "accès à l'information"]
"""


def _content() -> dict[str, dict]:
    wiki = {}
    for i in range(14):
        french = i % 3 == 0
        text = (
            f"Demande d'accès à l'information numéro {i} : délais, exceptions et prorogations."
            if french
            else f"Access to information request {i}: deadlines, exemptions and extensions for the information."
        )
        who = (
            ("Marie Roy", "marie.roy@records.example")
            if french
            else ("Ana Lopez", "ana.lopez@records.example")
        )
        wiki[f"p{i:02d}"] = {
            "title": text.split(":")[0].split(" :")[0],
            "text": text
            + "\n\n"
            + ("Le bureau répond en trente jours." if french else "The office answers in thirty days."),
            "language": "fr" if french else "en",
            "modified": NOW - timedelta(days=20 + i),
            "contributions": [(*who, "author", NOW - timedelta(days=20 + i), 900, False, None)],
        }
    blog = {
        f"b{i}": {
            "title": f"Fraud and information security note {i}",
            "text": f"Fraud investigators share information about phishing case {i}.",
            "kind": "post",
            "language": "en",
            "modified": NOW - timedelta(days=5 + i),
            "contributions": [
                (
                    "Sam Chen",
                    "sam.chen@fraud.example",
                    "author",
                    NOW - timedelta(days=5 + i),
                    700,
                    False,
                    None,
                )
            ],
        }
        for i in range(4)
    }
    return {"wiki": wiki, "blog": blog}


@pytest.fixture
def site(tmp_path, memory_content):
    """The public UI on a free loopback port, in a real threaded HTTP server."""
    memory_content.update(_content())
    (tmp_path / "communities.toml").write_text(COMMUNITIES, "utf-8")
    settings = make_settings(
        tmp_path,
        people={"communities_file": str(tmp_path / "communities.toml")},
        agencies={
            "records": {"name_en": "Records Agency", "name_fr": "Agence des dossiers"},
            "fraud": {"name_en": "Fraud Service", "name_fr": "Service de la fraude"},
        },
    )
    savoir = Savoir(settings, [memory_source("wiki"), memory_source("blog", agency="fraud")])
    savoir.crawl()
    savoir.refresh_people(force=True)
    app = create_app(savoir=savoir)
    try:
        with serve_in_thread(app) as base:
            yield base, savoir
    finally:
        savoir.close()


def _count(text: str) -> int:
    return int(re.sub(r"\D", "", text.split("(")[-1]))


def test_search_filter_toggle_page_and_open_a_document_and_a_person(site, browser):  # noqa: F811
    base, _ = site
    context = browser.new_context(locale="en-CA", viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.goto(f"{base}/")
    page.fill("#q", "information")
    page.press("#q", "Enter")
    assert page.locator("h1").inner_text().startswith("18 results")
    # a facet's count is what its click returns
    facet = page.locator("nav.facets a", has_text="Records Agency")
    expected = _count(facet.locator("xpath=..").inner_text())
    facet.click()
    assert "agency=records" in page.url
    assert page.locator("h1").inner_text().startswith(f"{expected} results")
    assert expected == 14
    # the toggle keeps the query and the filter, and changes only the UI's words
    page.click("a.lang-switch")
    assert page.locator("html").get_attribute("lang") == "fr"
    assert page.input_value("#q") == "information" and "agency=records" in page.url
    assert page.locator("h1").inner_text().startswith("14 résultats")
    assert page.locator("nav.facets a[aria-current=true]").inner_text() == "Agence des dossiers"
    # page 2 of 2, and no link past it
    page.click("nav.pager a[rel=next]")
    assert "Page 2 de 2" in page.locator("nav.pager").inner_text()
    assert page.locator("nav.pager a[rel=next]").count() == 0
    assert page.locator("ol.hits > li").count() == 4
    # a document's page, then a person's
    page.locator("ol.hits > li").first.locator("a", has_text="détails").click()
    assert page.url.startswith(f"{base}/documents/")
    assert page.locator("h1").count() == 1
    assert "Agence des dossiers" in page.locator("dl.profile").inner_text()
    page.locator("ul.contributors a").first.click()
    assert re.search(r"/people/\d+", page.url)
    assert page.locator("h1").inner_text() in ("Ana Lopez", "Marie Roy")
    assert "Agence des dossiers" in page.locator("dl.profile").inner_text()
    context.close()


def test_keyboard_only_the_skip_links_reach_each_region_and_results_come_before_experts(site, browser):  # noqa: F811
    base, _ = site
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.goto(f"{base}/?q=information&ui=en")  # a results page takes no autofocus: Tab starts at the top
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to results"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "results"
    page.keyboard.press("Tab")  # the next stop is in the results (sort links, then hits)
    assert page.evaluate("document.activeElement.closest('#results') !== null")
    # Tab order: every stop in the results, then the experts, then the filters
    order = page.evaluate(
        """() => [...document.querySelectorAll('a[href], button, input:not([type=hidden]), summary')]
             .map(e => e.closest('#results') ? 'results' : e.closest('#experts') ? 'experts'
                  : e.closest('#filters') ? 'filters' : 'other')"""
    )
    regions = [r for i, r in enumerate(order) if r != "other" and (i == 0 or order[i - 1] != r)]
    assert regions == ["results", "experts", "filters"]
    for target in ("experts", "filters"):
        page.goto(f"{base}/?q=information&ui=en")
        page.locator(f"a.skip[href='#{target}']").focus()
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.id") == target
    # the focused skip link is visible on screen
    page.locator("a.skip[href='#results']").focus()
    box = page.locator("a.skip[href='#results']").bounding_box()
    assert box and box["x"] >= 0 and box["y"] >= 0
    context.close()


def public_pages(base: str, savoir: Savoir) -> dict[str, str]:
    from sqlalchemy import select

    from indexer.store import persons

    with savoir.store.engine.connect() as conn:
        person = conn.execute(select(persons.c.id).where(persons.c.name == "Ana Lopez")).scalar_one()
    return {
        "search with results": f"{base}/?q=information",
        "empty search": f"{base}/",
        "no results": f"{base}/?q=zzyzxq+quuxbarr",
        "filtered, page 2": f"{base}/?q=information&agency=records&page=2",
        "document": f"{base}/documents/wiki:p01",
        "person": f"{base}/people/{person}",
        "communities": f"{base}/communities",
        "community": f"{base}/communities/atip",
        "tips": f"{base}/tips",
        "404": f"{base}/no/such/page",
    }


def test_axe_finds_no_violation_on_any_public_page_in_either_language(site, browser, capsys):  # noqa: F811
    base, savoir = site
    axe = (resources.files("axe_playwright_python") / "axe.min.js").read_text("utf-8")
    context = browser.new_context(bypass_csp=True)  # axe is an inline script
    page = context.new_page()
    table: dict[str, dict[str, list[str]]] = {}
    for name, url in public_pages(base, savoir).items():
        for lang in ("en", "fr"):
            response = page.goto(f"{url}{'&' if '?' in url else '?'}ui={lang}")
            assert response.status == (404 if name == "404" else 200), name
            assert page.locator("html").get_attribute("lang") == lang
            assert page.locator("h1").count() == 1, (name, lang)
            assert page.locator("main").count() == 1 and page.locator("header").count() == 1
            page.add_script_tag(content=axe)
            result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
            table.setdefault(name, {})[lang] = [f"{v['id']} ({v['impact']})" for v in result["violations"]]
    # the harness can fail: the same run on an unlabelled input finds a violation
    page.set_content('<!doctype html><html lang="en"><title>t</title><main><input type="text"></main></html>')
    page.add_script_tag(content=axe)
    control = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    assert any(v["id"] == "label" for v in control["violations"])
    context.close()
    with capsys.disabled():
        print("\naxe-core violations (any impact) on the public pages")
        print(f"  {'page':<20} {'en':>4} {'fr':>4}")
        for name, by_lang in table.items():
            print(
                f"  {name:<20} {len(by_lang['en']):>4} {len(by_lang['fr']):>4}  {' '.join(by_lang['en'] + by_lang['fr'])}"
            )
    assert {name: by_lang for name, by_lang in table.items() if any(by_lang.values())} == {}


#: CSS widths to reflow at: a 320 px phone, and a 1366 px screen at 200 % and 400 % zoom
REFLOW_WIDTHS = {"320 px": 320, "200 % zoom": 683, "400 % zoom": 341}
SCREENSHOT_PAGES = (
    "search with results",
    "empty search",
    "no results",
    "document",
    "person",
    "community",
    "tips",
)


def test_pages_reflow_without_horizontal_scrolling_and_screenshots_are_kept(site, browser, capsys):  # noqa: F811
    base, savoir = site
    pages = public_pages(base, savoir)
    shots = OUTPUT / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    overflowing = []
    saved = []
    for width in (1366, 390, *REFLOW_WIDTHS.values()):
        context = browser.new_context(viewport={"width": width, "height": 900})
        page = context.new_page()
        for name, url in pages.items():
            for lang in ("en", "fr"):
                page.goto(f"{url}{'&' if '?' in url else '?'}ui={lang}")
                fits = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
                if not fits:
                    overflowing.append(
                        (width, name, lang, page.evaluate("document.documentElement.scrollWidth"))
                    )
                if width in (1366, 390) and name in SCREENSHOT_PAGES:
                    path = shots / f"{name.replace(' ', '-')}-{lang}-{width}.png"
                    page.screenshot(path=str(path), full_page=True)
                    saved.append(path)
        context.close()
    with capsys.disabled():
        print(f"\n{len(saved)} screenshots in {shots}")
    assert all(p.stat().st_size > 1000 for p in saved) and len(saved) == 2 * 2 * len(SCREENSHOT_PAGES)
    assert overflowing == []


def test_the_overflow_check_can_fail(browser):  # noqa: F811
    context = browser.new_context(viewport={"width": 390, "height": 800})
    page = context.new_page()
    page.set_content('<!doctype html><html lang="en"><body><div style="width:698px">wide</div></body></html>')
    assert not page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    context.close()
