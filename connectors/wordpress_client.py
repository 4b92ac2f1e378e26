"""The WordPress REST API through the crawler's HTTP session.

Found from the site's address alone: every WordPress page answers with
``Link: <ROOT>; rel="https://api.w.org/"`` (and the same ``<link>`` in its HTML head),
where ROOT is ``/wp-json/`` with pretty permalinks and ``/index.php?rest_route=/``
with plain ones. Routes are built on that root either way. Collections are read 100
items a page, as far as ``X-WP-TotalPages`` says. Application passwords go as HTTP
basic auth through the session (only to the site's own host). Every way a URL can fail
to be a readable WordPress API becomes a message an admin can act on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit, urlunsplit

from connectors._text import source_error
from connectors.base import (
    ConnectorConfigError,
    ConnectorError,
    CredentialError,
    FetchError,
    SourceUnavailableError,
)

__all__ = ["WordPressApi", "PER_PAGE"]

API_REL = "https://api.w.org/"
PER_PAGE = 100
_HEAD_LINK = re.compile(r"""<link[^>]+rel=["']https://api\.w\.org/["'][^>]*>""", re.IGNORECASE)
_HREF = re.compile(r"""href=["']([^"']+)["']""", re.IGNORECASE)
_GENERATOR = re.compile(r"""<meta[^>]+name=["']generator["'][^>]+content=["']WordPress""", re.IGNORECASE)


class WordPressApi:
    """One site's REST API: :meth:`connect` finds it, :meth:`get` and :meth:`pages` read it."""

    def __init__(self, http: Any, site_url: str, *, user: str = "", password: str = "") -> None:
        self.http = http
        self.site_url = site_url
        self.user = user
        self.password = password
        self.root: str | None = None
        self.index: dict[str, Any] = {}
        #: items per request (WordPress's maximum); smaller only to test paging on small sites
        self.per_page = PER_PAGE
        if user and http is not None:
            # the session sends it to the site's own host only, never across a redirect
            http.auth = (user, password)

    # -- discovery ---------------------------------------------------------------------
    def connect(self) -> dict[str, Any]:
        """Find the API root from the site's address and read its index (name, namespaces)."""
        if self.root is None:
            self.root = self._discover()
        body = self._json(self.root, {"_fields": "name,home,namespaces"}, "site_url")
        if not isinstance(body, dict) or "wp/v2" not in (body.get("namespaces") or []):
            raise ConnectorConfigError(
                f"{self.root} is a REST API without WordPress's wp/v2 routes (a plugin may have removed "
                "them): ask the site's admin to enable the core REST API"
            )
        self.index = body
        return body

    def _discover(self) -> str:
        url = self.site_url
        try:
            resp = self.http.get(url)
        except FetchError as exc:
            raise source_error(url, exc, "site_url") from None
        link = (resp.links.get(API_REL) or {}).get("url")
        ctype = resp.headers.get("Content-Type", "")
        text = resp.text[:300_000] if ("html" in ctype or "json" in ctype) else ""
        if not link and "html" in ctype:
            tag = _HEAD_LINK.search(text)
            href = _HREF.search(tag.group(0)) if tag else None
            link = href.group(1) if href else None
        if link:
            return urljoin(resp.url or url, link)
        if "json" in ctype and '"namespaces"' in text:
            return resp.url or url  # the address given is the API root itself
        if _GENERATOR.search(text):
            raise ConnectorConfigError(
                f"{url} is a WordPress site but does not announce its REST API (no Link "
                f'rel="{API_REL}"): a plugin disables or hides it; ask the site\'s admin to enable it'
            )
        raise ConnectorConfigError(
            f"{url} does not look like a WordPress site (no REST API link in its headers or HTML): "
            "check site_url (the blog's home page)"
        )

    # -- requests ----------------------------------------------------------------------
    def route(self, path: str, params: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        """The URL and query parameters of *path* (``wp/v2/posts``) under the API root."""
        assert self.root is not None, "connect() first"
        parts = urlsplit(self.root)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        if "rest_route" in query:  # plain permalinks: the route is a parameter
            query["rest_route"] = "/" + path.strip("/")
            base = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        else:
            base = self.root.rstrip("/") + "/" + path.strip("/")
        return base, {**query, **(params or {})}

    def get(self, path: str, params: dict[str, Any] | None = None) -> tuple[Any, Any]:
        """One request to a route: (decoded JSON, response)."""
        url, query = self.route(path, params)
        return self._json(url, query, "site_url", with_response=True)

    def pages(
        self, path: str, params: dict[str, Any], start: int = 1
    ) -> Iterator[tuple[list[dict[str, Any]], int, int]]:
        """A collection page by page from *start*: (items, page number, total pages)."""
        page, total = start, None
        while total is None or page <= total:
            body, resp = self.get(path, {**params, "per_page": self.per_page, "page": page})
            if not isinstance(body, list):
                raise SourceUnavailableError(
                    f"{resp.url}: expected a list of items, got {type(body).__name__}: try again later"
                )
            header = resp.headers.get("X-WP-TotalPages", "")
            total = int(header) if header.isdigit() else (page if len(body) < self.per_page else page + 1)
            yield body, page, total
            if not body:
                return
            page += 1

    def _json(
        self, url: str, params: dict[str, Any] | None, where: str, *, with_response: bool = False
    ) -> Any:
        try:
            resp = self.http.get(url, params=params)
        except FetchError as exc:
            raise self.error(url, exc) from None
        try:
            body = json.loads(resp.content)
        except ValueError:
            ctype = resp.headers.get("Content-Type", "").split(";")[0].strip() or "no content type"
            raise SourceUnavailableError(
                f"{resp.url or url} answered {ctype} that is not JSON (a cache, a login page or a PHP error "
                "in front of the REST API?): try again later, or check site_url"
            ) from None
        return (body, resp) if with_response else body

    def error(self, url: str, exc: FetchError) -> ConnectorError:
        """The message for a request the site refused or failed."""
        if exc.status == 401:
            if self.user:
                return CredentialError(
                    f"{url} answered HTTP 401: WordPress refused the application password of {self.user!r}; "
                    "check user (the login name) and application_password (Users > Profile > Application "
                    "Passwords; they need HTTPS unless the site is a local one)"
                )
            return CredentialError(
                f"{url} answered HTTP 401: this site's REST API is for signed-in users only (a plugin "
                "restricts it): set user and application_password"
            )
        if exc.status == 403:
            return CredentialError(
                f"{url} answered HTTP 403: the site refuses this REST request (a security plugin or the web "
                "server blocks it, or the account may not read it); ask the site's admin to allow Savoir"
            )
        if exc.status == 404:
            return ConnectorConfigError(
                f"{url} answered HTTP 404: the REST API route is missing (WordPress older than 4.7, or the "
                "API disabled by a plugin): check site_url"
            )
        return source_error(url, exc, "site_url")
