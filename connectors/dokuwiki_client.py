"""DokuWiki's XML-RPC API (``/lib/exe/xmlrpc.php``), through the crawler's session.

Bodies are built and read with :mod:`xmlrpc.client` (serialisation only); every
request goes through the crawler's :class:`~crawler.http.HttpSession`. The client logs
in once with ``dokuwiki.login`` (the session keeps the cookie), pages through page
histories, and turns what the wiki answers into exceptions an admin can act on.

DokuWiki 2022-07-31 sends most of its errors ("page does not exist", "no changes in
the timeframe") as an empty struct instead of an XML-RPC fault (its server returns the
exception object unserialised); none of the methods used here returns an empty struct
otherwise, so :meth:`DokuWikiClient.call` raises :class:`DokuWikiFault` for both.
"""

from __future__ import annotations

import xmlrpc.client
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote
from xml.parsers.expat import ExpatError

from connectors._text import source_error
from connectors.base import ConnectorConfigError, ConnectorError, CredentialError, FetchError

if TYPE_CHECKING:  # pragma: no cover
    from crawler.http import HttpSession

__all__ = ["DokuWikiClient", "DokuWikiFault", "Version"]

#: ``$conf['remote']`` is off
REMOTE_DISABLED = -32605
#: "There are no changes in the specified timeframe"
NO_CHANGES = 321


class DokuWikiFault(ConnectorError):
    """The wiki refused one call (an XML-RPC fault, or DokuWiki's empty-struct error).

    Reading one page, it becomes a :class:`~connectors.base.Failure`; listing pages or
    changes, it stops the run with this message.
    """

    def __init__(self, method: str, code: int | None, message: str) -> None:
        super().__init__(f"{method} failed: {message}" + (f" (fault {code})" if code is not None else ""))
        self.method = method
        self.code = code


@dataclass(frozen=True)
class Version:
    """One line of a page's history."""

    version: int  # unix time of the revision, DokuWiki's revision id
    type: str  # C create, E edit, e minor edit, R revert, D delete
    user: str  # empty for anonymous and external (on-disk) edits
    summary: str = ""

    @property
    def time(self) -> datetime:
        return datetime.fromtimestamp(self.version, UTC)


class DokuWikiClient:
    def __init__(self, http: HttpSession, url: str, username: str = "", password: str = "") -> None:
        base = url.strip().split("?", 1)[0].split("#", 1)[0].rstrip("/")
        if base.endswith("/doku.php"):
            base = base[: -len("/doku.php")]
        if not base.lower().startswith(("http://", "https://")):
            raise ConnectorConfigError(f"wiki URL {url!r} is not an http(s) URL: check url")
        self.http = http
        self.base = base
        self.endpoint = f"{base}/lib/exe/xmlrpc.php"
        self.username = username
        if username:
            self._login(username, password)

    def page_url(self, page: str) -> str:
        return f"{self.base}/doku.php?id={quote(page, safe=':')}"

    # -- transport -----------------------------------------------------------
    def call(self, method: str, *params: Any) -> Any:
        body = xmlrpc.client.dumps(params, method, encoding="utf-8").encode("utf-8")
        try:
            resp = self.http.post(self.endpoint, data=body, headers={"Content-Type": "text/xml"})
        except FetchError as exc:
            raise self._refused(exc, method) from None
        try:
            (result,), _ = xmlrpc.client.loads(resp.content)
        except xmlrpc.client.Fault as fault:
            if fault.faultCode == REMOTE_DISABLED:
                raise ConnectorConfigError(
                    f"{self.endpoint}: the wiki's API is disabled: an admin must turn on 'remote' "
                    "(Admin > Configuration Settings > Authentication, $conf['remote'] = 1)"
                ) from None
            raise DokuWikiFault(method, fault.faultCode, " ".join(str(fault.faultString).split())) from None
        except (ExpatError, xmlrpc.client.ResponseError, ValueError, TypeError):
            raise ConnectorConfigError(
                f"{self.endpoint} did not answer {method} in XML-RPC: is {self.base} a DokuWiki? check url"
            ) from None
        if result == {}:
            raise DokuWikiFault(method, None, "the wiki refused the call without saying why")
        return result

    def _refused(self, exc: FetchError, method: str) -> Exception:
        if exc.status == 401:
            who = f"the login of {self.username!r}" if self.username else "anonymous clients"
            return CredentialError(
                f"{self.endpoint}: the wiki refused {method} to {who} (HTTP 401): "
                "set username and password of an account allowed to use the API"
            )
        if exc.status == 403:
            return CredentialError(
                f"{self.endpoint}: user {self.username or '(anonymous)'!r} may not call {method} (HTTP 403): "
                "add the user or one of its groups to the wiki's 'remoteuser' setting "
                "(Admin > Configuration Settings > Authentication)"
            )
        if exc.status == 404:
            return ConnectorConfigError(
                f"{self.endpoint} answered HTTP 404: no DokuWiki API there; check url "
                "(the wiki's base address, where doku.php is)"
            )
        return source_error(self.endpoint, exc, "url")

    def _login(self, username: str, password: str) -> None:
        if self.call("dokuwiki.login", username, password):
            return
        try:  # a wiki without ACLs has no logins and needs none
            self.call("dokuwiki.getVersion")
        except CredentialError:
            raise CredentialError(
                f"{self.base} refused the login of {username!r}: check username and password"
            ) from None

    # -- methods ---------------------------------------------------------------
    def version(self) -> str:
        return str(self.call("dokuwiki.getVersion"))

    def server_time(self) -> int:
        return int(self.call("dokuwiki.getTime"))

    def acls(self) -> dict[str, dict[str, int]]:
        """The wiki's ACL, {scope: {"@group" or user: permission}} (superusers only)."""
        table = self.call("plugin.acl.listAcls")
        return {
            str(scope): {str(who): int(perm) for who, perm in (rules or {}).items()}
            for scope, rules in (table or {}).items()
        }

    def pages(self, namespace: str = "") -> list[str]:
        """Every page id in *namespace* and below (all pages for "") the account may read.

        ``dokuwiki.getPagelist`` reads the page files, so it also lists pages written on
        disk that the search index behind ``wiki.getAllPages`` has not seen yet.
        """
        return sorted(str(page["id"]) for page in self.call("dokuwiki.getPagelist", namespace, {"depth": 0}))

    def html(self, page: str) -> str:
        return str(self.call("wiki.getPageHTML", page))

    def versions(self, page: str) -> list[Version]:
        """The page's history back to its creation, newest first.

        DokuWiki sends ``$conf['recent']`` lines a call; paging stops at the creation
        (what came before it belongs to a deleted earlier page of the same name).
        """
        found: dict[int, Version] = {}
        while True:
            batch = self.call("wiki.getPageVersions", page, len(found))
            fresh = [
                Version(
                    int(v["version"]),
                    str(v.get("type") or "E"),
                    str(v.get("user") or ""),
                    str(v.get("sum") or ""),
                )
                for v in batch
                if int(v["version"]) not in found
            ]
            found.update((v.version, v) for v in fresh)
            if not fresh or any(v.type == "C" for v in fresh):
                return sorted(found.values(), key=lambda v: v.version, reverse=True)

    def recent_changes(self, since: int) -> list[dict[str, Any]]:
        """The latest change of every page changed at or after *since* (unix time), oldest first."""
        try:
            changes = self.call("wiki.getRecentChanges", since)
        except DokuWikiFault as fault:
            if fault.code in (None, NO_CHANGES):
                return []
            raise
        return sorted(changes, key=lambda c: (int(c["version"]), str(c["name"])))
