"""Issue 18 item 5: the Atom feed of a search and the OpenSearch description, over
the same small real index as tests/test_api_v1.py."""

from __future__ import annotations

from xml.etree import ElementTree as ET

import feedparser
import pytest

from tests import test_api_v1
from tests.test_api_v1 import INSIDER, OUTSIDER, client_for

#: the same small world (fixture) as the API's tests
world = test_api_v1.world


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
