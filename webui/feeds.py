"""Feeds for programs that watch or add Savoir: an Atom feed of any search (a saved
search's alerts) and the OpenSearch description browsers read to offer Savoir as a
search engine.

The feed searches exactly as the search page does (the viewer's groups, the same
Searcher and filters), newest first; it is built with ElementTree, so every title,
snippet and name is escaped, and characters XML cannot hold are dropped.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from xml.etree import ElementTree as ET

from flask import Blueprint, Response, current_app, g, render_template, request, url_for
from flask_babel import gettext
from markupsafe import Markup

from indexer.search import SearchRequest
from webui.api_views import declares
from webui.params import PARAM_REQUIRED, BadParameter, query_args, read_params
from webui.search_views import FILTER_PARAMS, SEARCH_PARAMS, _groups

bp = Blueprint("feeds", __name__)

ATOM = "http://www.w3.org/2005/Atom"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
ATOM_TYPE = "application/atom+xml"
#: entries in one feed (the newest documents that match)
FEED_ENTRIES = 20
#: what the feed reads: the search's words and filters (always newest first, one page)
FEED_PARAMS = (next(p for p in SEARCH_PARAMS if p.name == "q"), *FILTER_PARAMS)
#: characters XML 1.0 cannot hold (control characters a source may have left in a title)
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

ET.register_namespace("", ATOM)


def _text(value: object) -> str:
    return NOT_XML.sub("", str(value or ""))


def _add(parent: ET.Element, tag: str, text: object = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", {k: _text(v) for k, v in attrs.items()})
    if text is not None:
        element.text = _text(text)
    return element


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _first_seen(ids: list[str]) -> dict[str, datetime]:
    """When the store first saw these documents (the date of an undated one)."""
    if not ids:
        return {}
    from sqlalchemy import select

    from indexer.store import documents

    store = current_app.extensions["savoir"].store
    with store.read_connection() as conn:
        rows = conn.execute(select(documents.c.id, documents.c.first_seen).where(documents.c.id.in_(ids)))
        return {r.id: r.first_seen for r in rows}


def _safe_link(url: str) -> str | None:
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    return url if scheme in ("http", "https") else None


def feed_query(params: dict) -> tuple[str, dict[str, list[str]]]:
    return params["q"].strip(), {p.name: params[p.name] for p in FILTER_PARAMS if params[p.name]}


@bp.get("/feeds/search.atom")
@declares(FEED_PARAMS)
def search():
    from webui.app import get_searcher

    params = read_params(FEED_PARAMS, request.args)
    query, filters = feed_query(params)
    if not query and not filters:
        raise BadParameter("q", PARAM_REQUIRED, hint="?q=words")
    results = get_searcher(current_app).search(
        SearchRequest(query=query, groups=_groups(), page_size=FEED_ENTRIES, sort="date", filters=filters)
    )
    kept = query_args(params, FEED_PARAMS)
    lang = getattr(g, "ui_lang", "en")
    undated = _first_seen([h.id for h in results.hits if h.date is None])

    feed = ET.Element(f"{{{ATOM}}}feed", {XML_LANG: lang})
    self_url = url_for("feeds.search", _external=True, **kept)
    described = query or " ".join(f"{k}:{v}" for k, values in filters.items() for v in values)
    _add(feed, "id", self_url)
    _add(feed, "title", gettext("Savoir: %(q)s", q=described))
    _add(feed, "link", rel="self", type=ATOM_TYPE, href=self_url)
    _add(
        feed,
        "link",
        rel="alternate",
        type="text/html",
        href=url_for("search.home", _external=True, sort="date", **kept),
    )
    _add(_add(feed, "author"), "name", "Savoir")
    _add(feed, "generator", "Savoir")
    updated = _add(feed, "updated")
    newest: datetime | None = None
    for hit in results.hits:
        when = hit.date or undated.get(hit.id) or datetime(1970, 1, 1, tzinfo=UTC)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        newest = max(newest, when) if newest else when
        page = url_for("search.document", doc_id=hit.id, _external=True)
        entry = _add(feed, "entry")
        if hit.language in ("en", "fr"):
            entry.set(XML_LANG, hit.language)
        _add(entry, "id", page)
        _add(entry, "title", hit.title)
        _add(entry, "link", rel="alternate", href=_safe_link(hit.url) or page)
        if _safe_link(hit.url):
            _add(entry, "link", rel="related", type="text/html", href=page)
        _add(entry, "updated", _stamp(when))
        # the snippet is HTML (escaped text, <mark> around matches): the summary is its text
        _add(entry, "summary", Markup(hit.snippet).striptags(), type="text")
        for name in hit.authors:
            _add(_add(entry, "author"), "name", name)
        for term, value in (("agency", hit.agency), ("source", hit.source), ("kind", hit.kind)):
            if value:
                _add(entry, "category", term=value, label=term)
    updated.text = _stamp(newest or datetime.now(UTC))
    body = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return Response(body, mimetype=ATOM_TYPE)


@bp.get("/opensearch.xml")
@declares(())
def opensearch():
    lang = getattr(g, "ui_lang", "en")
    body = render_template(
        "opensearch.xml",
        description=gettext("Search what every agency knows, in English and French"),
        lang=lang,
        search_url=url_for("search.home", _external=True),
        feed_url=url_for("feeds.search", _external=True),
        api_url=url_for("api_v1.search", _external=True),
    )
    return Response(body, mimetype="application/opensearchdescription+xml")


@bp.app_context_processor
def feed_link() -> dict:
    def link() -> dict[str, str] | None:
        """The Atom feed of the search on this page, for ``<link rel="alternate">``
        (none on other pages, and none on the error page of a bad parameter)."""
        if request.endpoint != "search.home":
            return None
        try:
            read_params(SEARCH_PARAMS, request.args)
            params = read_params(FEED_PARAMS, request.args)
        except BadParameter:
            return None
        query, filters = feed_query(params)
        if not query and not filters:
            return None
        return {
            "href": url_for("feeds.search", **query_args(params, FEED_PARAMS)),
            "title": gettext("Savoir: %(q)s", q=query),
        }

    return {"feed_link": link}
