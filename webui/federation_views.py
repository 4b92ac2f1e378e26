"""Federation's routes: what peers ask this node, and the federated search users ask.

* ``POST /api/v1/federation/search`` — a peer's signed question (see
  :mod:`webui.federation`). Answered from this node's index only (a peer's question is
  never passed on: no loops), for the remote user's groups as this node maps them.
* ``POST /api/v1/federation/ping`` — signed too: ``savoir peers check`` proves the key.
* ``GET /api/v1/federated/search`` — this node and its peers, merged; the parameters of
  ``/api/v1/search``; ``peers`` says who answered, late or not at all.
"""

from __future__ import annotations

import json
import time

from flask import Blueprint, current_app, jsonify, request

from indexer.experts import ExpertFinder
from indexer.search import SearchRequest
from webui.api_views import API_SEARCH_PARAMS, declares
from webui.federation import (
    MAX_REMOTE_HITS,
    PING_PATH,
    SEARCH_PATH,
    Refused,
    breaker_for,
    federate,
    local_groups,
    verify,
)
from webui.identity import current_user
from webui.params import PARAM_REQUIRED, BadParameter, read_params

bp = Blueprint("federation", __name__, url_prefix="/api/v1")

#: the filters a peer may send (the search page's facets and date range)
_FILTERS = ("agency", "source", "kind", "lang", "communities", "year", "after", "before")
#: a peer's question is small; anything bigger is not one
MAX_BODY = 16_384


def _savoir():
    return current_app.extensions["savoir"]


def _verified():
    """The peer that signed this request, or a 401 whose body says why."""
    settings = _savoir().settings.federation
    if (request.content_length or 0) > MAX_BODY:  # refused before a byte of it is read
        raise Refused(f"request body over {MAX_BODY} bytes")
    body = request.stream.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        raise Refused(f"request body over {MAX_BODY} bytes")
    request.environ["savoir.body"] = body
    return verify(
        settings, request.method, request.path, request.headers, body, _savoir().store.first_use_of_nonce
    )


def _local_answer(query: str, filters: dict, groups: tuple[str, ...], limit: int, want_experts: bool) -> dict:
    """This node's own top *limit* hits, facets, total and experts, for *groups*."""
    from webui.app import get_searcher
    from webui.search_views import expert_json, hit_json

    savoir = _savoir()
    search_request = SearchRequest(query=query, groups=groups, page=1, page_size=limit, filters=filters)
    searcher = get_searcher(current_app)
    results = searcher.search(search_request)
    experts = []
    if want_experts and query:
        finder = ExpertFinder(searcher, savoir.store, savoir.settings.experts)
        top = results.ranked[: savoir.settings.experts.top_documents]
        experts = finder.suggest(search_request, ranked=top, scores=results.ranked_scores)
    return {
        "node": savoir.settings.federation.node,
        "agency": savoir.settings.federation.agency,
        "total": results.total,
        "hits": [hit_json(h) for h in results.hits],
        "facets": {k: dict(v) for k, v in results.facets.items()},
        "experts": [expert_json(e) for e in experts],
        "took_ms": round(results.took_ms, 1),
    }


def _clean_filters(raw) -> dict[str, list[str]]:
    if not isinstance(raw, dict):
        return {}
    out = {}
    for name in _FILTERS:
        values = raw.get(name)
        if isinstance(values, list):
            kept = [v for v in values if isinstance(v, str) and len(v) <= 200][:10]
            if kept:
                out[name] = kept
    return out


@bp.post("/federation/search")
def peer_search():
    """A peer's signed search, answered for the groups this node grants that peer's user."""
    try:
        peer = _verified()
    except Refused as why:
        return jsonify({"error": str(why)}), 401
    try:
        data = json.loads(request.environ["savoir.body"])
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("query"), str):
        return jsonify({"error": "the body must be a JSON object with a 'query' string"}), 400
    user = data.get("user") if isinstance(data.get("user"), dict) else {}
    groups = local_groups(peer, user.get("groups"))
    limit = data.get("limit")
    limit = (
        limit
        if isinstance(limit, int) and not isinstance(limit, bool) and 1 <= limit <= MAX_REMOTE_HITS
        else 20
    )
    if not groups:  # nothing of this node is shared with that user
        return jsonify(
            {"node": _savoir().settings.federation.node, "total": 0, "hits": [], "facets": {}, "experts": []}
        )
    answer = _local_answer(
        data["query"][:1000].strip(),
        _clean_filters(data.get("filters")),
        groups,
        limit,
        bool(data.get("experts", True)),
    )
    return jsonify(answer)


@bp.post("/federation/ping")
def peer_ping():
    """A signed ping: the key is accepted and the clocks agree (``savoir peers check``)."""
    try:
        peer = _verified()
    except Refused as why:
        return jsonify({"error": str(why)}), 401
    settings = _savoir().settings.federation
    return jsonify({"node": settings.node, "agency": settings.agency, "time": time.time(), "you": peer.name})


@bp.get("/federated/search")
@declares(API_SEARCH_PARAMS)  # documented by webui.openapi, as /api/v1/search's are
def federated_search():
    """This node's hits and its peers', merged by rank fusion, each labelled with its node."""
    from webui.search_views import FILTER_PARAMS

    savoir = _savoir()
    settings = savoir.settings.federation
    params = read_params(API_SEARCH_PARAMS, request.args)
    query = params["q"].strip()
    if not query:
        raise BadParameter("q", PARAM_REQUIRED, hint="?q=words")
    filters = {p.name: params[p.name] for p in FILTER_PARAMS if params[p.name]}
    page, size = params["page"], savoir.settings.web.page_size
    limit = min(MAX_REMOTE_HITS, page * size)
    user = current_user()
    if not settings.node:  # federation off: this node's answer, in the same shape
        local = _local_answer(query, filters, tuple(user.groups), limit, True)
        start = (page - 1) * size
        return jsonify({**local, "hits": local["hits"][start : start + size], "page": page, "peers": []})
    payload = {
        "query": query,
        "filters": filters,
        "limit": limit,
        "experts": True,
        "user": {"id": user.id or "anonymous", "groups": list(user.groups)},
    }
    breaker = breaker_for(savoir.settings.data_dir)

    def local():  # this node's own search, while the peers are asked
        return _local_answer(query, filters, tuple(user.groups), limit, True)

    return jsonify(federate(settings, local, payload, page, size, breaker))


__all__ = ["bp", "SEARCH_PATH", "PING_PATH"]
