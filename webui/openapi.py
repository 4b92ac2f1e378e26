"""The OpenAPI 3.1 description of Savoir's machine interfaces, served at
``/api/v1/openapi.json``.

The parameters come from each view's own :class:`~webui.params.Param` declarations
(see :func:`webui.api_views.declares`), so what is documented is what is checked; the
paths and response schemas are written here. ``tests/test_api_v1.py`` holds the two
together: every documented path is a route, every declared parameter is documented.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from webui.params import Param

#: what each parameter means (names the routes share)
PARAM_TEXT = {
    "q": "The words to search for; `agency:x`-style filters may be written in the text.",
    "page": "The results page, from 1.",
    "sort": "`relevance` (the default) or `date` (newest first).",
    "agency": "Only documents of these agencies (repeat the parameter for several).",
    "source": "Only documents of these sources.",
    "kind": "Only documents of these kinds (page, file, post...).",
    "lang": "Only documents in these languages (not the language of the answer).",
    "year": "Only documents of these years (four digits).",
    "communities": "Only documents of these communities (ids).",
    "ui": "The language of the interface, `en` or `fr`.",
}

_STR = {"type": "string"}
_DATE = {"type": ["string", "null"], "format": "date-time"}
_STRINGS = {"type": "array", "items": _STR}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {"type": "string", "description": "What is wrong and how to fix it."},
            "parameter": {"type": "string", "description": "The query parameter to fix, when one is."},
        },
    },
    "Hit": {
        "type": "object",
        "properties": {
            "id": _STR,
            "title": _STR,
            "url": _STR,
            "agency": _STR,
            "source": _STR,
            "kind": _STR,
            "language": _STR,
            "date": _DATE,
            "score": {"type": "number"},
            "snippet": {"type": "string", "description": "HTML: escaped text, `<mark>` around matches."},
            "authors": _STRINGS,
            "alternates": {"type": "object", "additionalProperties": _STR},
        },
    },
    "Evidence": {
        "type": "object",
        "properties": {
            "id": _STR,
            "title": _STR,
            "url": _STR,
            "source": _STR,
            "roles": _STRINGS,
            "date": _DATE,
            "matched_terms": _STRINGS,
            "weight": {"type": "number"},
        },
    },
    "Expert": {
        "type": "object",
        "properties": {
            "person_id": {"type": "integer"},
            "name": _STR,
            "agency": _STR,
            "agency_from": {"type": ["string", "null"], "enum": ["directory", "email", "source", None]},
            "languages": _STRINGS,
            "last_active": _DATE,
            "inactive": {"type": "boolean"},
            "score": {"type": "number"},
            "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
            "evidence": {"type": "array", "items": {"$ref": "#/components/schemas/Evidence"}},
        },
    },
    "SearchResults": {
        "type": "object",
        "properties": {
            "query": _STR,
            "total": {"type": "integer"},
            "page": {"type": "integer"},
            "pages": {"type": "integer"},
            "took_ms": {"type": "number"},
            "facets": {
                "type": "object",
                "description": "facet -> value -> documents",
                "additionalProperties": {"type": "object", "additionalProperties": {"type": "integer"}},
            },
            "hits": {"type": "array", "items": {"$ref": "#/components/schemas/Hit"}},
            "suggestion": {"type": ["string", "null"], "description": "Did you mean"},
            "relaxed": {"type": "boolean", "description": "The hits match only some of the words."},
            "partial": {"type": "boolean", "description": "The search stopped at its time or size budget."},
            "limits": _STRINGS,
            "experts": {"type": "array", "items": {"$ref": "#/components/schemas/Expert"}},
        },
    },
    "FederatedResults": {
        "type": "object",
        "properties": {
            "node": {"type": "string", "description": "This node's name."},
            "total": {"type": "integer", "description": "The sum of every answering node's total."},
            "page": {"type": "integer"},
            "merged_hits": {"type": "integer", "description": "Hits in the merged list (pages of it)."},
            "took_ms": {"type": "number"},
            "facets": {
                "type": "object",
                "description": "facet -> value -> documents, summed over the nodes",
                "additionalProperties": {"type": "object", "additionalProperties": {"type": "integer"}},
            },
            "hits": {
                "type": "array",
                "description": "Hits with `node`, `node_agency` and `also_at` (other nodes that hold it).",
                "items": {"$ref": "#/components/schemas/Hit"},
            },
            "experts": {
                "type": "array",
                "description": "Experts with `node`: people of two nodes are never merged.",
                "items": {"$ref": "#/components/schemas/Expert"},
            },
            "peers": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "node": _STR,
                        "agency": _STR,
                        "status": {"enum": ["answered", "late", "failed", "skipped"]},
                        "took_ms": {"type": "number"},
                        "reason": _STR,
                    },
                },
            },
        },
    },
    "Experts": {
        "type": "object",
        "properties": {
            "query": _STR,
            "experts": {"type": "array", "items": {"$ref": "#/components/schemas/Expert"}},
        },
    },
    "Document": {
        "type": "object",
        "properties": {
            "id": _STR,
            "title": _STR,
            "url": {"type": "string", "description": "Where the document lives at its source."},
            "page": {"type": "string", "description": "Its page in Savoir."},
            "agency": _STR,
            "source": _STR,
            "kind": _STR,
            "language": {"type": ["string", "null"]},
            "created": _DATE,
            "modified": _DATE,
            "tags": _STRINGS,
            "communities": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"id": _STR, "name_en": _STR, "name_fr": _STR},
                },
            },
            "authors": _STRINGS,
            "contributors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "name": _STR,
                        "person_id": {"type": ["integer", "null"]},
                        "roles": _STRINGS,
                        "last": _DATE,
                    },
                },
            },
            "other_language": {
                "oneOf": [
                    {"type": "null"},
                    {
                        "type": "object",
                        "properties": {
                            "id": _STR,
                            "title": _STR,
                            "language": {"type": ["string", "null"]},
                            "url": _STR,
                            "api": _STR,
                        },
                    },
                ]
            },
        },
    },
}


def _json(schema: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}


def _error(text: str) -> dict[str, Any]:
    return {"description": text, "content": _json("Error")}


#: path (OpenAPI form) -> (endpoint, summary, responses)
OPERATIONS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "/api/v1/search": (
        "api_v1.search",
        "Search the documents this viewer may see: hits, facets, suggestion and experts.",
        {
            "200": {"description": "The results page.", "content": _json("SearchResults")},
            "400": _error("A parameter to fix (or neither a query nor a filter given)."),
        },
    ),
    "/api/v1/experts": (
        "api_v1.experts",
        "Who knows about these words, with the documents that say so.",
        {
            "200": {"description": "The experts.", "content": _json("Experts")},
            "400": _error("A parameter to fix (`q` is required)."),
        },
    ),
    "/api/v1/documents/{doc_id}": (
        "api_v1.document",
        "One document: metadata, contributors with roles, its other-language version.",
        {
            "200": {"description": "The document.", "content": _json("Document")},
            "404": _error("No such document, or not one this viewer may see."),
        },
    ),
    "/api/v1/openapi.json": (
        "api_v1.openapi",
        "This description.",
        {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}},
    ),
    "/api/search": (
        "search.api_search",
        "The unversioned search API (kept for existing callers; use /api/v1/search).",
        {
            "200": {"description": "As /api/v1/search without `pages`.", "content": _json("SearchResults")},
            "400": _error("A parameter to fix."),
        },
    ),
    "/feeds/search.atom": (
        "feeds.search",
        "An Atom feed of the newest documents matching a search (saved-search alerts).",
        {
            "200": {"description": "Atom 1.0", "content": {"application/atom+xml": {}}},
            "400": {"description": "A parameter to fix (an HTML page)."},
        },
    ),
    "/opensearch.xml": (
        "feeds.opensearch",
        "The OpenSearch description, so browsers can add Savoir as a search engine.",
        {"200": {"description": "OpenSearch 1.1", "content": {"application/opensearchdescription+xml": {}}}},
    ),
    "/healthz": (
        "healthz",
        "Liveness for a load balancer; `pid` tells which server process answered.",
        {"200": {"description": '`{"status": "ok", "pid": 1234}`', "content": {"application/json": {}}}},
    ),
    "/api/v1/federated/search": (
        "federation.federated_search",
        "This node's hits and its federation peers', merged by rank fusion; every hit names its "
        "node, and `peers` says which peers answered, were late, failed or were skipped.",
        {
            "200": {"description": "The merged results page.", "content": _json("FederatedResults")},
            "400": _error("A parameter to fix (`q` is required)."),
        },
    ),
    "/api/v1/federation/search": (
        "federation.peer_search",
        "For peer nodes only: a search signed with the pair's key (HMAC-SHA256 headers "
        "`X-Savoir-Node`, `-Timestamp`, `-Nonce`, `-Signature`), answered for the remote "
        "user's groups as this node maps them.",
        {
            "200": {
                "description": "This node's hits, facets and experts.",
                "content": {"application/json": {}},
            },
            "401": _error("Unknown node, stale, unsigned, forged or replayed request."),
        },
    ),
    "/api/v1/federation/ping": (
        "federation.peer_ping",
        "For peer nodes only: a signed ping (`savoir peers check`): the key is accepted.",
        {
            "200": {
                "description": "This node's name, agency and clock.",
                "content": {"application/json": {}},
            },
            "401": _error("Unknown node, stale, unsigned, forged or replayed request."),
        },
    ),
    "/metrics": (
        "metrics.metrics",
        "Prometheus metrics; only for loopback clients and administrators.",
        {
            "200": {"description": "Prometheus text format 0.0.4", "content": {"text/plain": {}}},
            "403": {"description": "Neither a loopback client nor an administrator."},
        },
    ),
}


#: the operations peers call with a signed JSON body
POST_ONLY = {"federation.peer_search": "post", "federation.peer_ping": "post"}


def param_schema(param: Param) -> dict[str, Any]:
    if param.kind is int:
        one: dict[str, Any] = {"type": "integer"}
        if param.low is not None:
            one["minimum"] = param.low
        if param.high is not None:
            one["maximum"] = param.high
    else:
        one = {"type": "string", "maxLength": param.max_length}
        if param.choices:
            one["enum"] = list(param.choices)
        if param.pattern:
            one["pattern"] = f"^(?:{param.pattern})$"
    if param.multiple:
        return {"type": "array", "items": one, "maxItems": param.max_values}
    if param.default is not None:
        one["default"] = param.default
    return one


def parameter(param: Param) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": param.name,
        "in": "query",
        "required": False,
        "description": PARAM_TEXT.get(param.name, ""),
        "schema": param_schema(param),
    }
    if param.multiple:
        out.update(style="form", explode=True)
    return out


def declared_params(app: Flask, endpoint: str) -> tuple[Param, ...]:
    if endpoint == "search.api_search":
        from webui.search_views import SEARCH_PARAMS

        return SEARCH_PARAMS
    return getattr(app.view_functions[endpoint], "params", ())


def describe(app: Flask) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for path, (endpoint, summary, responses) in OPERATIONS.items():
        params = [parameter(p) for p in declared_params(app, endpoint)]
        if "{doc_id}" in path:
            params.insert(
                0,
                {
                    "name": "doc_id",
                    "in": "path",
                    "required": True,
                    "description": "The document's id as search hits give it (may contain `/`).",
                    "schema": {"type": "string", "maxLength": 600},
                },
            )
        operation: dict[str, Any] = {"operationId": endpoint, "summary": summary, "responses": responses}
        if params:
            operation["parameters"] = params
        if endpoint == "search.api_search":
            operation["deprecated"] = True
        paths[path] = {POST_ONLY.get(endpoint, "get"): operation}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Savoir",
            "version": "1",
            "description": "Bilingual (EN/FR) enterprise search. Every answer holds only what the "
            "viewer's groups may see; parameters not listed are ignored.",
        },
        "paths": paths,
        "components": {"schemas": SCHEMAS},
    }
