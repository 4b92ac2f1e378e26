"""Search page and its JSON twin."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _

from indexer.experts import ExpertFinder
from indexer.search import FACETS, MAX_QUERY_CHARS, SearchRequest
from webui.identity import current_user
from webui.params import Param, query_args, read_params

bp = Blueprint("search", __name__)

#: the last results page a link may ask for
MAX_PAGE = 1000


def _groups() -> tuple[str, ...]:
    # Until sign-in exists every visitor is anonymous and sees public documents only.
    return current_user().groups


#: the date range's two ends (the query's own after:/before: syntax, as parameters)
DATE_RANGE = ("after", "before")
#: the facets a link may carry as filters (``lang``: the documents' language; the UI's is ``ui``)
FILTER_PARAMS = tuple(
    Param("lang", choices=("en", "fr", "und"), multiple=True, max_values=3)
    if name == "lang"
    else Param(name, pattern=r"\d{4}", pattern_hint="2025", multiple=True)
    if name == "year"
    else Param(name, multiple=True)
    for name in FACETS
) + tuple(
    # a date range, both ends included: a year, a month or a day (what <input type=date> sends)
    Param(name, pattern=r"\d{4}(-\d{2}(-\d{2})?)?", pattern_hint="2025-06-30", multiple=True, max_values=1)
    for name in DATE_RANGE
)
#: what the search page and /api/search accept; everything else is ignored
SEARCH_PARAMS = (
    Param("q", default="", max_length=MAX_QUERY_CHARS),
    Param("page", int, default=1, low=1, high=MAX_PAGE),
    Param("sort", default="relevance", choices=("relevance", "date")),
    Param("ui", choices=("en", "fr")),  # the UI's language (read in app.py), kept out of links
    *FILTER_PARAMS,
)


def _run_search(params: dict):
    from webui.app import get_searcher

    savoir = current_app.extensions["savoir"]
    query = params["q"].strip()
    filters = {p.name: params[p.name] for p in FILTER_PARAMS if params[p.name]}
    search_request = SearchRequest(
        query=query,
        groups=_groups(),
        page=params["page"],
        page_size=savoir.settings.web.page_size,
        sort=params["sort"],
        filters=filters,
    )
    if not query and not filters:
        return search_request, None, []
    searcher = get_searcher(current_app)
    results = searcher.search(search_request)
    finder = ExpertFinder(searcher, savoir.store, savoir.settings.experts)
    # the experts vote with this search's own top documents (not a second search)
    top = results.ranked[: savoir.settings.experts.top_documents]
    experts = finder.suggest(search_request, ranked=top, scores=results.ranked_scores) if query else []
    return search_request, results, experts


@bp.route("/")
def home():
    from webui.app import get_searcher

    params = read_params(SEARCH_PARAMS, request.args)
    search_request, results, experts = _run_search(params)
    counts = get_searcher(current_app).visible_counts(_groups())
    savoir = current_app.extensions["savoir"]
    if results is not None and search_request.query and savoir.settings.federation.enabled:
        from webui.federated_page import federated_results

        # the peers' hits merged with this node's; the experts panel stays this node's
        results = federated_results(
            savoir, get_searcher(current_app), search_request, results, current_user()
        )

    def link(**changes):
        # only declared, validated parameters: never request.args (url_for would obey
        # _external, _scheme, _anchor... and an unknown "endpoint" would fail)
        return url_for("search.home", **query_args(params, SEARCH_PARAMS, **changes))

    if results is not None and results.pages and search_request.page > results.pages:
        # a page past the end (an old link, a hand-typed number) is the last page
        return redirect(link(page=results.pages if results.pages > 1 else None))

    return render_template(
        "search/home.html",
        # with nothing asked yet: the communities' names as searches to start from
        examples=[c.name(g.ui_lang) for c in savoir_communities()][:6] if results is None else [],
        req=search_request,
        results=results,
        experts=experts,
        counts=counts,
        facet_names=FACETS,
        link=link,
        clear_link=link(page=None, **{name: None for name in (*FACETS, *DATE_RANGE)}),
        date_range=DATE_RANGE,
        lang=g.ui_lang,
    )


def savoir_communities():
    return list(current_app.extensions["savoir"].communities)


TIPS_PARAMS = (Param("ui", choices=("en", "fr")),)


@bp.route("/tips")
def tips():
    """How to write a search: only the syntax indexer/search.py and indexer/query.py read."""
    read_params(TIPS_PARAMS, request.args)
    syntax = [
        (_('"access to information"'), _("Quotes: these words together, in this order.")),
        (_("procurement OR contracting"), _("OR (in capitals): either word.")),
        (_("fraud -phishing"), _("A minus sign before a word: leave out documents that have it.")),
        (_("telework lang:fr"), _("lang:fr or lang:en: documents in that language only.")),
    ]
    filters = [
        ("agency:records", _("one agency (its id, as the filter links show it)")),
        ("kind:file", _("one type: page, post, file, comment, news")),
        ("community:atip", _("one community of practice")),
        ("tag:privacy", _("a tag or category the source gave")),
        ('author:"Ana Lopez"', _("written or edited by this person")),
        ("year:2025", _("written or changed that year")),
        ("after:2024-01 before:2025-06-30", _("a date range (a year, a month or a day; both ends included)")),
    ]
    return render_template("search/tips.html", tips=syntax, filters=filters)


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def hit_json(h) -> dict[str, Any]:
    return {
        "id": h.id,
        "title": h.title,
        "url": h.url,
        "agency": h.agency,
        "source": h.source,
        "kind": h.kind,
        "language": h.language,
        "date": _iso(h.date),
        "score": round(h.score, 4),
        "snippet": h.snippet,  # HTML: escaped text, <mark> around matched words
        "authors": h.authors,
        "alternates": h.alternates,
    }


def expert_json(e) -> dict[str, Any]:
    return {
        "person_id": e.person_id,
        "name": e.name,
        "agency": e.agency,
        # how the agency is known: "directory", "email" (its domain) or "source"
        "agency_from": e.agency_from,
        "languages": e.languages,
        "last_active": _iso(e.last_active),
        "inactive": e.inactive,
        "score": round(e.score, 6),
        "counts": e.counts,  # role -> documents, over the whole evidence list
        "evidence": [
            {
                "id": ev.document_id,
                "title": ev.title,
                "url": ev.url,
                "source": ev.source,
                "roles": ev.roles,
                "date": _iso(ev.date),
                "matched_terms": ev.matched_terms,  # the query's own words it matched
                "weight": round(ev.weight, 6),
            }
            for ev in e.evidence
        ],
    }


@bp.route("/api/search")
def api_search():
    search_request, results, experts = _run_search(read_params(SEARCH_PARAMS, request.args))
    if results is None:
        return jsonify({"error": "give a query with ?q=", "parameter": "q"}), 400
    return jsonify(search_json(search_request, results, experts))


def search_json(search_request, results, experts) -> dict[str, Any]:
    """A search's answer as JSON: /api/search and /api/v1/search (which adds "pages")."""
    return {
        "query": search_request.query,
        "total": results.total,
        "page": search_request.page,
        "took_ms": round(results.took_ms, 1),
        "facets": {k: dict(v) for k, v in results.facets.items()},
        "hits": [hit_json(h) for h in results.hits],
        "suggestion": results.suggestion,
        "relaxed": results.relaxed,
        # the search stopped at its budget: these are the results found until then
        "partial": results.partial,
        "limits": results.limits,
        "experts": [expert_json(e) for e in experts],
    }


#: characters of a document's text its page previews
PREVIEW_CHARS = 1500


def _visible_document(doc_id: str):
    """The stored document if this viewer may see it, else 404 (never 403: a restricted
    document does not exist for someone outside its groups)."""
    from flask import abort

    if len(doc_id) > 600:
        abort(404)
    savoir = current_app.extensions["savoir"]
    doc = savoir.store.documents_by_id([doc_id]).get(doc_id)
    if doc is None or not set(doc.acl or ()) & set(_groups()):
        abort(404)
    return doc


def _contributors(doc_id: str) -> list[dict]:
    """Who did what on a document, people with a page linked; minor edits left out."""
    from sqlalchemy import select

    from indexer.store import contributions, people, persons

    savoir = current_app.extensions["savoir"]
    with savoir.store.read_connection() as conn:
        rows = list(
            conn.execute(
                select(
                    contributions.c.role,
                    contributions.c.time,
                    contributions.c.minor,
                    people.c.name.label("raw_name"),
                    persons.c.id.label("person_id"),
                    persons.c.name,
                    persons.c.opted_out,
                    persons.c.is_bot,
                    persons.c.mass_editor,
                )
                .join(people, people.c.id == contributions.c.person_id)
                .outerjoin(persons, persons.c.id == people.c.person_id)
                .where(contributions.c.document_id == doc_id)
                .order_by(contributions.c.id)
            )
        )
    out: dict[tuple, dict] = {}
    for r in rows:
        if r.minor:
            continue
        linked = r.person_id is not None and not (r.opted_out or r.is_bot)
        key = (r.person_id if linked else r.raw_name,)
        entry = out.setdefault(
            key,
            {
                "name": (r.name if linked else r.raw_name),
                "person_id": r.person_id if linked else None,
                "roles": [],
                "time": r.time,
            },
        )
        if r.role not in entry["roles"]:
            entry["roles"].append(r.role)
        if r.time and (entry["time"] is None or r.time > entry["time"]):
            entry["time"] = r.time
    return list(out.values())


DOCUMENT_PARAMS = (Param("ui", choices=("en", "fr")),)


@bp.route("/documents/<path:doc_id>")
def document(doc_id: str):
    """One document: what it is, who wrote it, its other-language version, where it lives."""
    read_params(DOCUMENT_PARAMS, request.args)
    doc = _visible_document(doc_id)
    savoir = current_app.extensions["savoir"]
    twin = None
    if doc.translation_of:
        found = savoir.store.documents_by_id([doc.translation_of]).get(doc.translation_of)
        if found is not None and set(found.acl or ()) & set(_groups()):
            twin = found
    preview = doc.text[:PREVIEW_CHARS].rsplit(" ", 1)[0] + (" …" if len(doc.text) > PREVIEW_CHARS else "")
    return render_template(
        "search/document.html",
        doc=doc,
        twin=twin,
        contributors=_contributors(doc.id),
        paragraphs=[p for p in preview.split("\n\n") if p.strip()][:12],
        communities=[
            savoir.communities.by_id.get(c) for c in doc.communities if c in savoir.communities.by_id
        ],
    )
