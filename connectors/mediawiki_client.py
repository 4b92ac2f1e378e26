"""The MediaWiki Action API (``api.php``) through the crawler's HTTP session.

JSON with ``formatversion=2`` and ``maxlag`` on every request, ``continue`` followed to
the end (pages of one generator batch merged across prop continuations), login with a
bot password (the session keeps the cookie; ``assert=user`` afterwards, so a lost
session is an error, not a silent switch to anonymous reading), and every way a URL
can fail to be a usable wiki API turned into a message an admin can act on.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from connectors._text import source_error
from connectors.base import (
    ConnectorConfigError,
    ConnectorError,
    CredentialError,
    FetchError,
    SourceUnavailableError,
)

__all__ = ["ApiError", "MediaWikiApi", "ReplicationLagError"]

_EDIT_URI = re.compile(r"""<link[^>]+rel=["']EditURI["'][^>]+href=["']([^"'?]+api\.php)""", re.IGNORECASE)
CHECK_API_URL = "api_url usually ends with /api.php or /w/api.php (the wiki's Special:Version names it)"


class ApiError(ConnectorError):
    """The API answered with an error ``code`` (for one request, e.g. one page)."""

    def __init__(self, message: str, code: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.transient = transient


class ReplicationLagError(SourceUnavailableError):
    """The wiki refused the request because its database replicas lag behind (maxlag)."""


class MediaWikiApi:
    """One wiki's ``api.php``; :meth:`call` one request, :meth:`query` a continued query."""

    def __init__(self, http: Any, url: str, *, username: str = "", password: str = "", maxlag: int = 5):
        self.http = http
        self.url = url
        self.username = username
        self.password = password
        self.maxlag = maxlag
        self.logged_in = False

    # -- requests -----------------------------------------------------------------
    def call(self, params: dict[str, Any], *, post: bool = False, relogin: bool = True) -> dict[str, Any]:
        """One request; raises :class:`FetchError` (HTTP), :class:`ApiError` or a ConnectorError."""
        data = {"format": "json", "formatversion": "2", "maxlag": str(self.maxlag), **params}
        if self.logged_in:
            data["assert"] = "user"
        resp = self.http.post(self.url, data=data) if post else self.http.get(self.url, params=data)
        try:
            body = resp.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ConnectorConfigError(self._not_an_api(resp))
        error = body.get("error")
        if not error:
            return body
        code, info = str(error.get("code", "")), str(error.get("info", "")).strip()
        if code == "assertuserfailed" and relogin:
            self.logged_in = False
            self.login()
            return self.call(params, post=post, relogin=False)
        raise self._error(code, info, resp)

    def query(
        self, params: dict[str, Any], start: dict[str, Any] | None = None
    ) -> Iterator[tuple[dict[str, Any], dict[str, Any] | None]]:
        """Run ``action=query`` to its end. Yields ``(result, next)`` once per complete
        batch: the ``query`` object (``pages`` as a dict by page id, merged across prop
        continuations) and the ``continue`` parameters of the following batch (None at
        the end), which resume the query when passed back as *start*."""
        cont: dict[str, Any] = dict(start or {"continue": ""})
        merged: dict[str, Any] = {}
        while True:
            body = self.call({"action": "query", **params, **cont})
            _merge(merged, body.get("query") or {})
            nxt = body.get("continue")
            if body.get("batchcomplete") or not nxt:
                yield merged, nxt
                merged = {}
            if not nxt:
                return
            cont = nxt

    def login(self) -> None:
        """Log in with a bot password (``User@botname``); the session keeps the cookie."""
        tokens = self.call({"action": "query", "meta": "tokens", "type": "login"}, relogin=False)
        token = (tokens.get("query") or {}).get("tokens", {}).get("logintoken")
        if not token:
            raise ConnectorConfigError(
                f"{self.url} gave no login token: is this a MediaWiki API? check api_url"
            )
        answer = self.call(
            {"action": "login", "lgname": self.username, "lgpassword": self.password, "lgtoken": token},
            post=True,
            relogin=False,
        ).get("login", {})
        result, reason = answer.get("result"), " ".join(str(answer.get("reason", "")).split())
        if result == "Success":
            self.logged_in = True
            return
        if result == "Aborted":
            raise CredentialError(
                f"{self.url} accepts only bot passwords for API login: create one at "
                "Special:BotPasswords and set username to 'User@botname' and password to the bot password"
            )
        if result in ("WrongToken", "NeedToken"):
            raise CredentialError(
                f"{self.url} lost the login session ({result}): something between Savoir and the wiki drops cookies"
            )
        raise CredentialError(
            f"{self.url} refused the login of {self.username!r} ({reason or result}): check username "
            "('User@botname', from Special:BotPasswords) and password (the bot password)"
        )

    # -- errors ---------------------------------------------------------------------
    def fetch_error(self, exc: FetchError) -> ConnectorError:
        """The message for a request that failed at the HTTP level (used by ``check()``)."""
        if exc.status == 404:
            if api := self._advertised_api():
                return ConnectorConfigError(
                    f"{self.url} is a page of a MediaWiki wiki, not its API: set api_url to {api}"
                )
            return ConnectorConfigError(
                f"{self.url} answered HTTP 404: there is no MediaWiki API at this address; {CHECK_API_URL}"
            )
        if exc.status == 403:
            return ConnectorConfigError(
                f"{self.url} answered HTTP 403: the web server refuses API requests (api.php disabled or "
                "this client blocked); ask the wiki's admins to allow Savoir's user agent, or check api_url"
            )
        return source_error(self.url, exc, "api_url")

    def _advertised_api(self, resp: Any = None) -> str | None:
        """The api.php a MediaWiki page links to (``rel=EditURI``), if *resp* or the URL is one."""
        if resp is None:
            try:
                resp = self.http.get(self.url)  # a wiki page answers 404 to API parameters
            except FetchError:
                return None
        if "html" not in resp.headers.get("Content-Type", ""):
            return None
        match = _EDIT_URI.search(resp.text[:200_000])
        return match.group(1) if match else None

    def _not_an_api(self, resp: Any) -> str:
        ctype = resp.headers.get("Content-Type", "").split(";")[0].strip() or "no content type"
        if api := self._advertised_api(resp):
            return f"{self.url} is a page of a MediaWiki wiki, not its API: set api_url to {api}"
        return f"{self.url} is not a MediaWiki API (it answered {ctype}, not JSON): check api_url; {CHECK_API_URL}"

    def _error(self, code: str, info: str, resp: Any) -> ConnectorError:
        if code == "maxlag":
            wait = resp.headers.get("Retry-After", "a few")
            return ReplicationLagError(
                f"{self.url}: the wiki's database lags behind ({info}; maxlag is {self.maxlag}s) and it asks "
                f"clients to wait {wait}s: try later (a run resumes from its last checkpoint)"
            )
        if code == "readapidenied":
            if not self.username:
                return CredentialError(
                    f"{self.url}: this wiki requires login to read: set username and password "
                    "(a bot password from Special:BotPasswords)"
                )
            return CredentialError(f"{self.url}: {self.username!r} may not read this wiki: ask its admins")
        if code == "moduledisabled":
            return ConnectorConfigError(
                f"{self.url}: {info} Savoir needs action=query and action=parse: ask the wiki's admins to enable them"
            )
        if code == "assertuserfailed":
            return CredentialError(
                f"{self.url}: the login session was lost twice in a row: check the bot password"
            )
        transient = code in ("ratelimited", "readonly") or code.startswith("internal_api_error")
        return ApiError(f"{self.url}: API error {code}: {info}", code, transient=transient)


def _merge(into: dict[str, Any], part: dict[str, Any]) -> None:
    """Merge one response's ``query`` into the batch: lists grow, pages merge by id."""
    for key, value in part.items():
        if key == "pages":
            pages = into.setdefault("pages", {})
            for page in value:
                mine = pages.setdefault(page.get("pageid") or page.get("title"), {})
                for name, item in page.items():
                    if isinstance(item, list):
                        mine.setdefault(name, []).extend(item)
                    else:
                        mine[name] = item
        elif isinstance(value, list):
            into.setdefault(key, []).extend(value)
        else:
            into[key] = value
