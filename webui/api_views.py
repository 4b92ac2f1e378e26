"""The versioned JSON API (``/api/v1/...``): what the search page shows, for programs.

Every route answers the same viewer with the same ACL as its page: it reuses the search
page's :func:`~webui.search_views._run_search` and the document page's
:func:`~webui.search_views._visible_document`. Its parameters are declared with
:class:`~webui.params.Param` (and documented from those declarations by
:mod:`webui.openapi`); a bad one is a 400 whose JSON body names the parameter and
says what to fix (``app.py``'s error page answers ``/api/`` paths in JSON).
The unversioned ``/api/search`` stays as it was for existing callers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from flask import Blueprint, current_app, jsonify, request, url_for

from webui.params import PARAM_REQUIRED, BadParameter, Param, read_params
from webui.search_views import (
    SEARCH_PARAMS,
    _contributors,
    _groups,
    _iso,
    _run_search,
    _visible_document,
    expert_json,
    search_json,
)

bp = Blueprint("api_v1", __name__, url_prefix="/api/v1")

#: the search parameters minus ``ui`` (a JSON answer has no UI language)
API_SEARCH_PARAMS = tuple(p for p in SEARCH_PARAMS if p.name != "ui")
#: the experts of a search: its words and filters (they vote with its first page)
EXPERTS_PARAMS = tuple(p for p in API_SEARCH_PARAMS if p.name not in ("page", "sort"))
DOCUMENT_PARAMS: tuple[Param, ...] = ()


def declares(params: Sequence[Param]) -> Callable:
    """Mark a view with the parameters it reads (the OpenAPI description and its test
    read them from here)."""

    def mark(view: Callable) -> Callable:
        view.params = tuple(params)  # type: ignore[attr-defined]
        return view

    return mark


def _need_query() -> BadParameter:
    return BadParameter("q", PARAM_REQUIRED, hint="?q=words")


@bp.get("/search")
@declares(API_SEARCH_PARAMS)
def search():
    """Hits, facets, spelling suggestion and experts: the search page's answer."""
    search_request, results, experts = _run_search(read_params(API_SEARCH_PARAMS, request.args))
    if results is None:
        raise _need_query()
    return jsonify({**search_json(search_request, results, experts), "pages": results.pages})


@bp.get("/experts")
@declares(EXPERTS_PARAMS)
def experts():
    """The experts panel alone: who knows about these words, with the documents that say so."""
    params = read_params(EXPERTS_PARAMS, request.args)
    if not params["q"].strip():
        raise _need_query()
    search_request, _, found = _run_search({**params, "page": 1, "sort": "relevance"})
    return jsonify({"query": search_request.query, "experts": [expert_json(e) for e in found]})


@bp.get("/documents/<path:doc_id>")
@declares(DOCUMENT_PARAMS)
def document(doc_id: str):
    """One document's metadata, contributors and other-language version; a document this
    viewer may not see is a 404 exactly like an unknown id."""
    doc = _visible_document(doc_id)
    savoir = current_app.extensions["savoir"]
    twin = None
    if doc.translation_of:
        found = savoir.store.documents_by_id([doc.translation_of]).get(doc.translation_of)
        if found is not None and set(found.acl or ()) & set(_groups()):
            twin = {
                "id": found.id,
                "title": found.title,
                "language": found.language,
                "url": found.url,
                "api": url_for("api_v1.document", doc_id=found.id),
            }
    communities = []
    for cid in doc.communities:
        known = savoir.communities.by_id.get(cid)
        if known is not None:
            communities.append({"id": cid, "name_en": known.name("en"), "name_fr": known.name("fr")})
    return jsonify(
        {
            "id": doc.id,
            "title": doc.title,
            "url": doc.url,
            "page": url_for("search.document", doc_id=doc.id),
            "agency": doc.agency,
            "source": doc.source_id,
            "kind": doc.kind,
            "language": doc.language,
            "created": _iso(doc.created),
            "modified": _iso(doc.modified),
            "tags": doc.tags,
            "communities": communities,
            "authors": doc.authors,
            "contributors": [
                {
                    "name": c["name"],
                    "person_id": c["person_id"],  # None: not a person with a page
                    "roles": c["roles"],
                    "last": _iso(c["time"]),
                }
                for c in _contributors(doc.id)
            ],
            "other_language": twin,
        }
    )


@bp.get("/openapi.json")
@declares(())
def openapi():
    from webui.openapi import describe

    return jsonify(describe(current_app))
