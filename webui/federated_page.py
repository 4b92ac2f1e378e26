"""The search page with federation on: this node's results and its peers', as one list.

The page keeps what only this node knows (the spelling suggestion, the experts panel
voted by its own documents); hits, the total, the facets and the pager come from the
merged answer of :func:`webui.federation.federate`, and a line says which peers did not
answer. A remote hit links to where it lives (its document page is on its own node), and
its snippet is rebuilt from text: only ``<mark>`` survives from what a peer sent.
"""

from __future__ import annotations

import html
import math
import re
from datetime import datetime
from types import SimpleNamespace

from markupsafe import Markup, escape

from indexer.search import SearchRequest
from webui.federation import MAX_REMOTE_HITS, breaker_for, federate

_MARK = re.compile(r"(</?mark>)")
_TAG = re.compile(r"<[^>]*>")


def safe_snippet(snippet: str | None) -> Markup:
    """A peer's snippet as this page shows it: its text escaped, its ``<mark>`` kept."""
    out = []
    for part in _MARK.split(snippet or ""):
        if part in ("<mark>", "</mark>"):
            out.append(part)
        else:
            out.append(str(escape(html.unescape(_TAG.sub("", part)))))
    text = "".join(out)
    # an unbalanced <mark> from a peer must not run over the rest of the page
    if text.count("<mark>") != text.count("</mark>"):
        text = text.replace("<mark>", "").replace("</mark>", "")
    return Markup(text)


def _when(value):
    if isinstance(value, datetime) or value is None:
        return value
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None


def federated_results(savoir, searcher, search_request: SearchRequest, results, user):
    """*results* (this node's page) with the peers' hits merged in, in the shape the
    search template reads, plus ``peers`` (each peer's outcome)."""
    from webui.search_views import hit_json

    settings = savoir.settings.federation
    size = search_request.page_size
    limit = min(MAX_REMOTE_HITS, search_request.page * size)
    top = SearchRequest(
        query=search_request.query,
        groups=search_request.groups,
        page=1,
        page_size=limit,
        sort=search_request.sort,
        filters=search_request.filters,
    )

    def local():
        found = searcher.search(top) if search_request.page > 1 or limit != size else results
        return {
            "total": found.total,
            "hits": [hit_json(h) for h in found.hits],
            "facets": {k: dict(v) for k, v in found.facets.items()},
            "experts": [],
        }

    payload = {
        "query": search_request.query,
        "filters": dict(search_request.filters),
        "limit": limit,
        "experts": False,  # the page's panel is this node's; /api/v1/federated/search merges them
        "user": {"id": user.id or "anonymous", "groups": list(user.groups)},
    }
    merged = federate(
        settings, local, payload, search_request.page, size, breaker_for(savoir.settings.data_dir)
    )
    hits = []
    for h in merged["hits"]:
        remote = h["node"] != settings.node
        hits.append(
            SimpleNamespace(
                id=h.get("id"),
                url=h.get("url"),
                title=h.get("title") or h.get("url"),
                agency=h.get("agency"),
                source=h.get("source"),
                kind=h.get("kind"),
                language=h.get("language"),
                date=_when(h.get("date")),
                authors=h.get("authors") or [],
                snippet=safe_snippet(h.get("snippet")) if remote else Markup(h.get("snippet") or ""),
                alternates=h.get("alternates") or {},
                node=h["node"],
                node_agency=h.get("node_agency"),
                remote=remote,
                also_at=h.get("also_at") or [],
            )
        )
    facets = {
        name: sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        for name, counts in merged["facets"].items()
    }
    pages = max(search_request.page, math.ceil(merged["merged_hits"] / size)) if merged["merged_hits"] else 0
    return SimpleNamespace(
        total=merged["total"],
        took_ms=merged["took_ms"],
        suggestion=results.suggestion,
        relaxed=results.relaxed,
        partial=results.partial,
        limits=results.limits,
        hits=hits,
        pages=pages,
        facets=facets,
        peers=[SimpleNamespace(**p) for p in merged["peers"]],
        federated=True,
    )
