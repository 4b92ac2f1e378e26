"""Search page and its JSON twin."""

from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, render_template, request, url_for

from indexer.experts import ExpertFinder
from indexer.search import FACETS, SearchRequest
from webui.identity import current_user

bp = Blueprint("search", __name__)


def _groups() -> tuple[str, ...]:
    # Until sign-in exists every visitor is anonymous and sees public documents only.
    return current_user().groups


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    try:
        value = int(request.args.get(name, default))
    except (TypeError, ValueError):
        return default
    return max(low, min(high, value))


def _run_search():
    from webui.app import get_searcher

    savoir = current_app.extensions["savoir"]
    query = request.args.get("q", "").strip()
    filters = {name: request.args.getlist(name) for name in FACETS if request.args.getlist(name)}
    sort = "date" if request.args.get("sort") == "date" else "relevance"
    search_request = SearchRequest(
        query=query,
        groups=_groups(),
        page=_int_arg("page", 1, 1, 1000),
        page_size=savoir.settings.web.page_size,
        sort=sort,
        filters=filters,
    )
    if not query and not filters:
        return search_request, None, []
    searcher = get_searcher(current_app)
    results = searcher.search(search_request)
    experts = (
        ExpertFinder(searcher, savoir.store, savoir.settings.experts).suggest(search_request) if query else []
    )
    return search_request, results, experts


@bp.route("/")
def home():
    search_request, results, experts = _run_search()
    savoir = current_app.extensions["savoir"]
    counts = savoir.store.counts()

    def link(**changes):
        args = request.args.to_dict(flat=False)
        for key, value in changes.items():
            if value is None:
                args.pop(key, None)
            else:
                args[key] = value if isinstance(value, list) else [value]
        return url_for("search.home", **args)

    return render_template(
        "search/home.html",
        req=search_request,
        results=results,
        experts=experts,
        counts=counts,
        facet_names=FACETS,
        link=link,
        clear_link=link(page=None, **{name: None for name in FACETS}),
        lang=g.ui_lang,
    )


@bp.route("/api/search")
def api_search():
    search_request, results, experts = _run_search()
    if results is None:
        return jsonify({"error": "give a query with ?q="}), 400
    return jsonify(
        {
            "query": search_request.query,
            "total": results.total,
            "page": search_request.page,
            "took_ms": round(results.took_ms, 1),
            "facets": {k: dict(v) for k, v in results.facets.items()},
            "hits": [
                {
                    "id": h.id,
                    "title": h.title,
                    "url": h.url,
                    "agency": h.agency,
                    "source": h.source,
                    "kind": h.kind,
                    "language": h.language,
                    "date": h.date.isoformat() if h.date else None,
                    "score": round(h.score, 4),
                    "snippet": h.snippet,
                    "authors": h.authors,
                    "alternates": h.alternates,
                }
                for h in results.hits
            ],
            "suggestion": results.suggestion,
            "relaxed": results.relaxed,
            "experts": [
                {
                    "person_id": e.person_id,
                    "name": e.name,
                    "agency": e.agency,
                    "score": round(e.score, 6),
                    "counts": e.counts,
                    "evidence": [
                        {
                            "id": ev.document_id,
                            "title": ev.title,
                            "url": ev.url,
                            "source": ev.source,
                            "roles": ev.roles,
                            "date": ev.date.isoformat() if ev.date else None,
                            "matched_terms": ev.matched_terms,
                        }
                        for ev in e.evidence
                    ],
                }
                for e in experts
            ],
        }
    )
