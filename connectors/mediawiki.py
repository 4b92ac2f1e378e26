"""MediaWiki wikis through the Action API: one document per page.

A full run reads the whole revision history in a few requests (``list=allrevisions``,
hundreds of revisions per request), then lists the pages of the configured namespaces
in batches (``generator=allpages`` with their URL, language and categories) and parses
each page once (``action=parse``: templates expanded, HTML to plain text). An
incremental run asks what happened since the last run: revisions
(``list=allrevisions``) and the log (``list=logevents``: deletions, moves, restores,
imports, language changes), then refetches only those pages; a page that is gone, or
is now a redirect or in another namespace, becomes a :class:`Deletion`. Neither has a
horizon, unlike recent changes ($wgRCMaxAge). The page id is the native id: it
survives moves.

Contributions come from the history, one per person: the creator is the author,
everyone else an editor, with the time of their last edit, the bytes they changed and
whether all their edits were minor. Anonymous edits are ignored, and so are accounts in
the ``bot`` group unless ``exclude_bots`` is off.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from bs4 import BeautifulSoup

from connectors._text import as_str_list, html_fragment_to_text, normalise_language, parse_date
from connectors.base import (
    Checkpoint,
    Connector,
    ConnectorConfigError,
    Contribution,
    Deletion,
    Document,
    Failure,
    FetchError,
    Item,
    Person,
    Profile,
    Role,
    register,
    setting,
)
from connectors.identity import names_for, user_links, user_page_facts
from connectors.mediawiki_client import ApiError, MediaWikiApi

log = logging.getLogger(__name__)

PAGE_PROPS = {"prop": "info|categories", "inprop": "url", "clshow": "!hidden", "cllimit": "max"}
HISTORY_PROPS = "ids|timestamp|user|flags|size|sha1"
PARSE_OPTIONS = {"disableeditsection": "1", "disablelimitreport": "1"}
GONE = ("missingtitle", "nosuchpageid")
NOISE = ".mw-editsection, sup.reference, .noprint, .navbox, .toc, .mw-empty-elt"
MIN_VERSION = (1, 27)  # list=allrevisions


@dataclass
class MediaWikiSettings:
    api_url: str = setting(
        label="API URL",
        help="The wiki's api.php, e.g. https://wiki.example.org/w/api.php (see Special:Version).",
    )
    namespaces: list[str] = setting(
        default_factory=lambda: ["0"],
        label="Namespaces",
        help="Numbers or names of the namespaces to index (0 or Main is the main namespace).",
    )
    username: str = setting(
        "", label="Bot user name", help="For private wikis: 'User@botname' from Special:BotPasswords."
    )
    password: str = setting("", label="Bot password", help="The bot password itself.", secret=True)
    communities: dict = setting(
        default_factory=dict,
        label="Communities by category",
        help="Category name -> community (or list of communities) its pages belong to.",
    )
    exclude_bots: bool = setting(
        True, label="Exclude bots", help="Ignore edits by accounts in the bot group."
    )
    namespace_acl: dict = setting(
        default_factory=dict,
        label="Groups per namespace",
        help="Namespace (name or number) to the Savoir groups that may see its pages, e.g. Restricted = "
        '["fraud-unit"]. MediaWiki\'s API does not say who may read a page (read restrictions come '
        "from extensions), so a crawl account that can read restricted namespaces needs this.",
    )
    maxlag: int = setting(
        5, label="Maximum database lag", help="Seconds; a wiki lagging more asks us to come back later."
    )
    batch_size: int = setting(
        50, label="Pages per batch", help="Pages listed per request and between checkpoints (at most 50)."
    )


@dataclass(frozen=True)
class Site:
    lang: str
    namespaces: tuple[int, ...]
    time: str  # the server's clock when the run started


@register("mediawiki")
class MediaWikiConnector(Connector):
    """Pages of a MediaWiki wiki with their authors, editors and categories."""

    Settings = MediaWikiSettings

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        s = self.settings
        self.api = MediaWikiApi(
            self.http, s.api_url.strip(), username=s.username.strip(), password=s.password, maxlag=s.maxlag
        )
        self._bots: frozenset[str] | None = None
        self._communities = {_key(k): as_str_list(v) for k, v in (s.communities or {}).items()}

    # -- connection -------------------------------------------------------------------
    def check(self) -> None:
        self._connect()

    def _connect(self) -> Site:
        url = self.api.url
        if not re.match(r"https?://[^/]+", url, re.IGNORECASE):
            raise ConnectorConfigError(f"api_url {url!r} is not an http(s) URL: check api_url")
        if not 1 <= self.settings.batch_size <= 50:
            raise ConnectorConfigError(f"batch_size {self.settings.batch_size} is not between 1 and 50")
        params = {"meta": "siteinfo", "siprop": "general|namespaces|namespacealiases", "curtimestamp": "1"}
        try:
            if self.api.username and not self.api.logged_in:
                self.api.login()
            body = self.api.call({"action": "query", **params})
        except FetchError as exc:
            raise self.api.fetch_error(exc) from None
        info = body.get("query") or {}
        generator = str(info.get("general", {}).get("generator", ""))
        if not generator.startswith("MediaWiki "):
            raise ConnectorConfigError(f"{url} answered JSON but is not a MediaWiki API: check api_url")
        version = tuple(int(n) for n in re.findall(r"\d+", generator)[:2])
        if version < MIN_VERSION:
            raise ConnectorConfigError(f"{url} runs {generator}; Savoir needs MediaWiki 1.27 or later")
        user_space = (info.get("namespaces") or {}).get("2") or {}
        prefixes = {str(user_space.get("*") or ""), str(user_space.get("canonical") or ""), "User"}
        prefixes.update(str(a.get("*") or "") for a in info.get("namespacealiases", []) if a.get("id") == 2)
        self._user_prefixes = tuple(sorted(p for p in prefixes if p))
        return Site(info["general"].get("lang", ""), self._namespace_ids(info), body["curtimestamp"])

    def _namespace_ids(self, info: dict[str, Any]) -> tuple[int, ...]:
        spaces = [ns for ns in info.get("namespaces", {}).values() if ns["id"] >= 0]
        known: dict[str, int] = {"main": 0, "(main)": 0}
        for ns in spaces:
            known.update(
                {_key(n): ns["id"] for n in (str(ns["id"]), ns.get("name"), ns.get("canonical")) if n}
            )
        known.update({_key(a["alias"]): a["id"] for a in info.get("namespacealiases", []) if a["id"] >= 0})
        wanted = [_key(str(n)) for n in self.settings.namespaces] or ["0"]
        unknown = [n for n in wanted if n not in known]
        if unknown:
            listing = ", ".join(f"{ns['id']} ({ns.get('name') or 'Main'})" for ns in spaces)
            raise ConnectorConfigError(
                f"namespace {unknown[0]!r} does not exist on {self.api.url}; it has {listing}: check namespaces"
            )
        self._namespace_acl = self._acl_rules(known, spaces)
        return tuple(dict.fromkeys(known[n] for n in wanted))

    def _acl_rules(self, known: dict[str, int], spaces: list[dict[str, Any]]) -> dict[int, tuple[str, ...]]:
        rules: dict[int, tuple[str, ...]] = {}
        for name, groups in (self.settings.namespace_acl or {}).items():
            if _key(str(name)) not in known:
                listing = ", ".join(f"{ns['id']} ({ns.get('name') or 'Main'})" for ns in spaces)
                # a misspelt restricted namespace would make its pages public: refuse to run
                raise ConnectorConfigError(
                    f"namespace_acl names {name!r}, which does not exist on {self.api.url}; it has {listing}"
                )
            rules[known[_key(str(name))]] = tuple(as_str_list(groups))
        return rules

    # -- runs ---------------------------------------------------------------------------
    def documents(self, checkpoint: Checkpoint | None = None) -> Iterator[Item]:
        """The pages, each followed by the display names its signatures give its
        contributors, and at the end what the run's people's user pages say."""
        self._logins: dict[str, None] = {}
        self._signed: dict[str, str] = {}  # page id -> parsed HTML, until its signatures are read
        for item in self._documents(checkpoint):
            yield item
            if isinstance(item, Document):
                yield from self._profiles_from(item)
        yield from self._user_pages()

    def _documents(self, checkpoint: Checkpoint | None = None) -> Iterator[Item]:
        site = self._connect()
        state = checkpoint.state if checkpoint else {}
        if state.get("since") and "namespace" not in state:
            yield from self._changes(site, state["since"])
            yield Checkpoint({"since": site.time})
            return
        started = state.get("started") or site.time
        histories = self._all_histories(site)
        namespaces = list(site.namespaces)
        first = namespaces.index(state["namespace"]) if state.get("namespace") in namespaces else 0
        for ns in namespaces[first:]:
            params = {"generator": "allpages", "gapnamespace": ns, "gapfilterredir": "nonredirects"}
            start = state.get("next") if ns == state.get("namespace") else None
            batches = self.api.query({**params, "gaplimit": self.settings.batch_size, **PAGE_PROPS}, start)
            for batch, nxt in batches:
                for page in _in_order(batch):
                    yield self._item(page, site, histories.get(page["pageid"]))
                if nxt:
                    yield Checkpoint({"started": started, "namespace": ns, "next": nxt})
        yield Checkpoint({"since": started})

    def _changes(self, site: Site, since: str) -> Iterator[Item]:
        """Pages touched since *since*: new revisions, then the log (deletions, moves...)."""
        touched: dict[int, None] = {}
        spaces = "|".join(map(str, site.namespaces))
        revisions = {"list": "allrevisions", "arvprop": "ids", "arvnamespace": spaces, "arvlimit": "max"}
        for batch, _ in self.api.query({**revisions, "arvstart": since, "arvdir": "newer"}):
            touched.update((entry["pageid"], None) for entry in batch.get("allrevisions", []))
        events = {"list": "logevents", "leprop": "ids|title|type|details", "lelimit": "max"}
        for batch, _ in self.api.query({**events, "lestart": since, "ledir": "newer"}):
            for event in batch.get("logevents", []):
                spaces_seen = {event.get("ns"), (event.get("params") or {}).get("target_ns")}
                if event.get("logpage") and spaces_seen & set(site.namespaces):
                    touched[event["logpage"]] = None
        ids = list(touched)
        log.info("%s: %d pages changed or logged since %s", self.source.id, len(ids), since)
        size = self.settings.batch_size
        for chunk in (ids[i : i + size] for i in range(0, len(ids), size)):
            for batch, _ in self.api.query({"pageids": "|".join(map(str, chunk)), **PAGE_PROPS}):
                for page in _in_order(batch):
                    yield self._item(page, site, None)

    def ids(self) -> Iterable[str]:
        for ns in self._connect().namespaces:
            params = {
                "list": "allpages",
                "apnamespace": ns,
                "apfilterredir": "nonredirects",
                "aplimit": "max",
            }
            for batch, _ in self.api.query(params):
                for page in batch.get("allpages", []):
                    yield self.doc_id(str(page["pageid"]))

    # -- history --------------------------------------------------------------------------
    def _all_histories(self, site: Site) -> dict[int, list[dict[str, Any]]]:
        """Every revision of the configured namespaces, by page id (a few requests per thousand)."""
        spaces = "|".join(map(str, site.namespaces))
        params = {"list": "allrevisions", "arvprop": HISTORY_PROPS, "arvnamespace": spaces, "arvlimit": "max"}
        histories: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for batch, _ in self.api.query(params):
            for entry in batch.get("allrevisions", []):
                histories[entry["pageid"]].extend(entry.get("revisions", []))
        return histories

    def _history(self, pageid: int) -> list[dict[str, Any]]:
        params = {"prop": "revisions", "pageids": pageid, "rvprop": HISTORY_PROPS, "rvlimit": "max"}
        revisions: list[dict[str, Any]] = []
        for batch, _ in self.api.query({**params, "rvdir": "newer"}):
            for page in batch.get("pages", {}).values():
                revisions.extend(page.get("revisions", []))
        return revisions

    def _bot_names(self) -> frozenset[str]:
        if self._bots is None:
            names: set[str] = set()
            if self.settings.exclude_bots:
                for batch, _ in self.api.query({"list": "allusers", "augroup": "bot", "aulimit": "max"}):
                    names.update(user["name"] for user in batch.get("allusers", []))
            self._bots = frozenset(names)
        return self._bots

    # -- who the logins are ---------------------------------------------------------------
    def _profiles_from(self, doc: Document) -> Iterator[Profile]:
        """Signatures on the page: a link to a contributor's user page that gives their name."""
        logins = [c.person.username for c in doc.contributions if c.person.username]
        self._logins.update((login, None) for login in logins)
        markup = self._signed.pop(doc.id, "")
        if not markup:
            return
        for login, name in names_for(logins, user_links(markup, self._user_prefixes)).items():
            yield Profile(login, name, evidence=f"signature on {doc.url}")

    def _user_pages(self) -> Iterator[Profile]:
        """Each login's user page, 50 a request: its first heading and email."""
        logins = list(self._logins)
        prefix = "User"
        for start in range(0, len(logins), 50):
            chunk = logins[start : start + 50]
            params = {
                "titles": "|".join(f"{prefix}:{login}" for login in chunk),
                "prop": "revisions",
                "rvprop": "content",
                "rvslots": "main",
            }
            by_title = {f"{prefix}:{login}".casefold(): login for login in chunk}
            try:
                batches = list(self.api.query(params))
            except (ApiError, FetchError) as exc:
                log.info("%s: user pages not read: %s", self.source.id, exc)
                return
            for batch, _ in batches:
                # the API normalises titles (User:abernier -> User:Abernier) and localises the prefix
                for entry in batch.get("normalized", []):
                    if entry.get("from", "").casefold() in by_title:
                        by_title[entry.get("to", "").casefold()] = by_title[entry["from"].casefold()]
                for page in batch.get("pages", {}).values():
                    login = by_title.get(str(page.get("title", "")).casefold())
                    revisions = page.get("revisions") or []
                    if not login or not revisions:
                        continue
                    slot = (revisions[0].get("slots") or {}).get("main") or revisions[0]
                    name, email = user_page_facts(str(slot.get("*") or slot.get("content") or ""), login)
                    if name or email:
                        yield Profile(login, name, email, evidence=f"{self.source.id} user page of {login}")

    # -- mapping ----------------------------------------------------------------------------
    def _item(self, page: dict[str, Any], site: Site, history: list[dict[str, Any]] | None) -> Item:
        doc_id = self.doc_id(str(page["pageid"]))
        if page.get("missing") or page.get("invalid"):
            return Deletion(doc_id)
        if page.get("redirect") or page.get("ns") not in site.namespaces:
            return Deletion(doc_id, "now a redirect or outside the indexed namespaces")
        title = page["title"]
        try:
            parsed = self.api.call(
                {"action": "parse", "pageid": page["pageid"], "prop": "text", **PARSE_OPTIONS}
            )
            history = history or self._history(page["pageid"])
        except ApiError as exc:
            if exc.code in GONE:
                return Deletion(doc_id)
            return Failure(doc_id, f"{title}: {exc}", transient=exc.transient)
        except FetchError as exc:
            return Failure(doc_id, f"{title}: {exc.url}: {exc.reason}", transient=exc.transient)
        markup = parsed.get("parse", {}).get("text", "")
        text = _plain_text(markup)
        if hasattr(self, "_signed"):
            self._signed[doc_id] = markup
        revisions = sorted(history, key=lambda r: (r.get("timestamp", ""), r.get("revid", 0)))
        categories = tuple(c["title"].split(":", 1)[-1] for c in page.get("categories", []))
        language = normalise_language(page.get("pagelanguage"))
        return Document(
            id=doc_id,
            url=page.get("fullurl") or self.api.url,
            title=title,
            text=text or title,
            language=language if language != normalise_language(site.lang) else None,
            created=parse_date(revisions[0]["timestamp"]) if revisions else None,
            modified=parse_date(revisions[-1]["timestamp"]) if revisions else None,
            contributions=_as_comments(contributions(revisions, self._bot_names()))
            if page.get("ns", 0) % 2
            else contributions(revisions, self._bot_names()),
            tags=categories,
            communities=tuple(
                dict.fromkeys(c for cat in categories for c in self._communities.get(_key(cat), []))
            ),
            acl=getattr(self, "_namespace_acl", {}).get(page.get("ns")),
        )


def contributions(revisions: list[dict[str, Any]], bots: frozenset[str]) -> tuple[Contribution, ...]:
    """One contribution per person from a page's revisions, oldest first (see module doc).

    A revert (a revision whose text is exactly that of an older one, by its SHA-1, as
    MediaWiki's own revert detection does) and the edits it undid weigh nothing: the
    patroller and the vandal are both kept as minor contributions.
    """
    sizes = {r.get("revid"): r.get("size", 0) for r in revisions}
    undone = _reverts(revisions)
    people: dict[str, dict[str, Any]] = {}
    previous = 0
    for position, rev in enumerate(revisions):
        size = rev.get("size", 0)
        before = sizes.get(rev.get("parentid"), previous) if rev.get("parentid") else 0
        changed, previous = abs(size - before), size
        user = rev.get("user")
        if not user or rev.get("anon") or rev.get("temp") or rev.get("userhidden") or user in bots:
            continue
        when, minor = parse_date(rev.get("timestamp")), bool(rev.get("minor"))
        if position in undone:
            changed, minor = 0, True
        if user not in people:
            role = Role.AUTHOR if position == 0 else Role.EDITOR
            people[user] = {"role": role, "time": when, "size": changed, "minor": minor}
        else:
            mine = people[user]
            mine.update(time=when, size=mine["size"] + changed, minor=mine["minor"] and minor)
    return tuple(Contribution(Person(user, username=user), **data) for user, data in people.items())


def _as_comments(found: tuple[Contribution, ...]) -> tuple[Contribution, ...]:
    """On a talk page (odd namespaces) everyone is a commenter: a discussion is not the
    topic's content, and its creator did not write the page it discusses."""
    return tuple(dataclasses.replace(c, role=Role.COMMENTER) for c in found)


def _reverts(revisions: list[dict[str, Any]]) -> set[int]:
    """Positions of reverts and of the edits they undid (within the last 15 revisions)."""
    out: set[int] = set()
    seen: dict[str, int] = {}
    for position, rev in enumerate(revisions):
        digest = rev.get("sha1")
        if digest and digest in seen and position - seen[digest] > 1 and position - seen[digest] <= 15:
            out.update(range(seen[digest] + 1, position + 1))
        if digest:
            seen[digest] = position
    return out


def _plain_text(html: str) -> str:
    """Parser output -> text: edit links, reference marks, navboxes and the TOC dropped."""
    soup = BeautifulSoup(html, "lxml")
    for noise in soup.select(NOISE):
        noise.decompose()
    body = soup.body or soup
    return html_fragment_to_text("".join(str(child) for child in body.children))


def _in_order(batch: dict[str, Any]) -> list[dict[str, Any]]:
    return sorted(batch.get("pages", {}).values(), key=lambda p: (p.get("ns", 0), p.get("title", "")))


def _key(name: str) -> str:
    return " ".join(name.replace("_", " ").split()).casefold()
