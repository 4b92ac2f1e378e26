"""DokuWiki: one document per page, with its history as contributions.

Client part: :mod:`connectors.dokuwiki_client` (XML-RPC through the crawler's session,
login, history paging, errors). Mapping part, here: a page's rendered HTML as plain
text, its first heading as title, and its history as contributions: the creator is
the author, other people's edits make them editors, minor edits and reverts weigh
nothing, and edits without a user (anonymous, or files changed on disk) are ignored.

A full run walks ``dokuwiki.getPagelist`` (the page files, per namespace); an
incremental run asks ``wiki.getRecentChanges`` for what changed since the checkpoint,
and a changed page whose file is gone is a :class:`Deletion`. DokuWiki trims its recent
changes after ``recent_days`` (7 by default), so an older checkpoint walks every page.
"""

from __future__ import annotations

import dataclasses
import html
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from connectors._text import html_fragment_to_text
from connectors.base import (
    Checkpoint,
    Connector,
    ConnectorConfigError,
    Contribution,
    CredentialError,
    Deletion,
    Document,
    Failure,
    Item,
    Person,
    Profile,
    Role,
    SourceUnavailableError,
    register,
    setting,
)
from connectors.dokuwiki_client import DokuWikiClient, DokuWikiFault, Version
from connectors.identity import emails_for, mail_links, plausible_name, user_page_facts
from connectors.wiki_acl import dokuwiki_page_groups, dokuwiki_scopes, namespace_groups

log = logging.getLogger(__name__)

#: a full walk saves a checkpoint every this many pages, so a crash resumes mid-walk
CHECKPOINT_EVERY = 50
#: DokuWiki's default ``recent_days``: older recent changes may have been trimmed
RECENT_DAYS = 7
#: minor edits and reverts: kept as evidence, weigh nothing
MINOR_TYPES = frozenset({"e", "R"})
_HEADING = re.compile(r"<h[1-6][^>]*>(.*?)</h[1-6]>", re.IGNORECASE | re.DOTALL)


@dataclass
class DokuWikiSettings:
    url: str = setting(label="Wiki URL", help="The wiki's base address, where doku.php is.")
    username: str = setting(
        "",
        label="Username",
        help="An account allowed to use the API (the wiki's remoteuser setting); empty to read anonymously.",
    )
    password: str = setting("", label="Password", secret=True, help="That account's password.")
    namespaces: list[str] = setting(
        default_factory=list,
        label="Namespaces",
        help="Only pages in these namespaces and below, e.g. records, atip:guides; empty for the whole wiki.",
    )
    communities: dict = setting(
        default_factory=dict,
        label="Communities",
        help='Namespace to community (or list of communities), e.g. atip = "access-to-information".',
    )
    acl_groups: dict = setting(
        default_factory=dict,
        label="Wiki groups to Savoir groups",
        help="When set, the wiki's ACL is read (needs a superuser account) and a page is seen by the "
        'groups mapped from the wiki groups that may read it, e.g. ALL = "public", finance = "fin-unit". '
        "Wiki groups not listed see nothing through Savoir.",
    )
    namespace_acl: dict = setting(
        default_factory=dict,
        label="Groups per namespace",
        help='Namespace to the Savoir groups that may see its pages, e.g. private = ["hr"]; the most '
        "specific namespace wins, over the wiki's ACL too.",
    )
    discussion_namespaces: list[str] = setting(
        default_factory=lambda: ["discussion", "talk"],
        label="Discussion namespaces",
        help="Pages under these namespaces are discussions: the people there are commenters, "
        "not authors of the topic (the discussion plugin's default is 'discussion').",
    )
    user_namespace: str = setting(
        "user",
        label="User pages namespace",
        help="Where people's own pages are (user:amelie.bernier): their first heading and email "
        "name the person behind a login. Empty to not read them.",
    )


@register("dokuwiki")
class DokuWikiConnector(Connector):
    """Read a DokuWiki through its XML-RPC API."""

    Settings = DokuWikiSettings
    _dokuwiki: DokuWikiClient | None = None  # logged in on first use
    _acl: dict | None = None  # the wiki's ACL, read once per run when acl_groups is set

    # -- client ------------------------------------------------------------------
    def _client(self) -> DokuWikiClient:
        if self._dokuwiki is None:
            s = self.settings
            self._dokuwiki = DokuWikiClient(self.http, s.url, s.username, s.password)
        return self._dokuwiki

    def check(self) -> None:
        client = self._client()
        client.version()
        self._read_acl(client)
        for namespace in self._namespaces():
            if not client.pages(namespace):
                pages = client.pages()
                known = ", ".join(sorted({p.split(":", 1)[0] for p in pages if ":" in p})) or "none"
                raise ConnectorConfigError(
                    f"{client.base} has no page the account may read in namespace {namespace!r}; "
                    f"top namespaces it can read: {known}; check namespaces"
                )

    def ids(self) -> Iterable[str]:
        return [self.doc_id(page) for page in self._pages(self._client())]

    def _pages(self, client: DokuWikiClient) -> list[str]:
        namespaces = self._namespaces()
        if not namespaces:
            return client.pages()
        return sorted({page for namespace in namespaces for page in client.pages(namespace)})

    # -- the run -------------------------------------------------------------------
    def documents(self, checkpoint: Checkpoint | None = None) -> Iterator[Item]:
        """The pages, each followed by what it says about its contributors (signatures)
        and by the user page of each login not read before.

        Checkpoints carry the logins whose user page was read, so an incremental run
        reads only newcomers' pages; a full walk reads them all again.
        """
        state = checkpoint.state if checkpoint else {}
        incremental = state.get("since") is not None and "after" not in state
        self._read_users: set[str] = set(state.get("people", [])) if incremental else set()
        self._markup: dict[str, str] = {}  # a page's HTML until its signatures are read
        for item in self._documents(checkpoint):
            if isinstance(item, Checkpoint):
                item = Checkpoint({**item.state, "people": sorted(self._read_users)})
            yield item
            if isinstance(item, Document):
                yield from self._profiles_from(item)

    def _documents(self, checkpoint: Checkpoint | None = None) -> Iterator[Item]:
        client = self._client()
        self._read_acl(client)
        state = dict(checkpoint.state) if checkpoint else {}
        since = state.get("since")
        if since is not None and "after" not in state:
            now = client.server_time()
            if now - int(since) <= RECENT_DAYS * 86400:
                yield from self._changes(client, int(since), set(state.get("done", [])))
                return
            log.info("checkpoint older than %d days: walking every page of %s", RECENT_DAYS, client.base)
            state = {"since": now}
        yield from self._walk(client, state)

    def _walk(self, client: DokuWikiClient, state: dict) -> Iterator[Item]:
        """Every page in id order; ``after`` resumes a walk a crash cut short."""
        since = int(state.get("since") or client.server_time())
        after = str(state.get("after", ""))
        pages = [page for page in self._pages(client) if page > after]
        read_at_since: set[str] = set()  # their change at *since* need not be read again
        for count, page in enumerate(pages, start=1):
            item = self._page(client, page)
            if isinstance(item, Document) and item.modified and int(item.modified.timestamp()) == since:
                read_at_since.add(page)
            yield item
            if count % CHECKPOINT_EVERY == 0 and count < len(pages):
                yield Checkpoint({"since": since, "after": page})
        if after:  # pages before the cursor may have changed while the walk was cut short
            yield from self._changes(client, since, read_at_since, skip=set(pages))
        else:
            yield Checkpoint({"since": since, "done": sorted(read_at_since)})

    def _changes(
        self,
        client: DokuWikiClient,
        since: int,
        done: set[str],
        skip: frozenset[str] | set[str] = frozenset(),
    ) -> Iterator[Item]:
        """Pages changed at or after *since*; *done* were already read at exactly *since*."""
        newest, at_newest = since, set(done)
        for change in client.recent_changes(since):
            page, version = str(change["name"]), int(change["version"])
            if version > newest:
                newest, at_newest = version, set()
            if version == newest:
                at_newest.add(page)
            if (version == since and page in done) or page in skip or not self._wanted(page):
                continue
            # the change's size is that of the page file now: none when it was deleted
            yield self._page(client, page) if change.get("size") else Deletion(self.doc_id(page))
        yield Checkpoint({"since": newest, "done": sorted(at_newest)})

    def _page(self, client: DokuWikiClient, page: str) -> Document | Deletion | Failure:
        try:
            versions = client.versions(page)
            markup = client.html(page)
        except (DokuWikiFault, SourceUnavailableError) as exc:
            return Failure(
                self.doc_id(page), f"{page}: {exc}", transient=isinstance(exc, SourceUnavailableError)
            )
        if not markup.strip():  # the wiki renders a missing page as nothing: deleted since listed
            return Deletion(self.doc_id(page))
        title = _title(markup) or page.rsplit(":", 1)[-1].replace("_", " ")
        created, modified = _dates(versions)
        if hasattr(self, "_markup"):  # a run (not a settings check) reads signatures
            self._markup[self.doc_id(page)] = markup
        return Document(
            id=self.doc_id(page),
            url=client.page_url(page),
            title=title,
            text=html_fragment_to_text(markup) or title,  # a page of images only still has a name
            kind="page",
            created=created,
            modified=modified,
            contributions=_as_comments(contributions(versions))
            if any(
                _in_namespace(page, ns.strip(":"))
                for ns in self.settings.discussion_namespaces
                if ns.strip(":")
            )
            else contributions(versions),
            communities=self._communities(page),
            acl=self._page_acl(page),
            source=self.source.id,
            agency=self.source.agency,
        )

    # -- who the logins are -------------------------------------------------------------
    def _profiles_from(self, doc: Document) -> Iterator[Profile]:
        """Signatures on the page (a mail link whose text names one of its contributors),
        then the user pages of its contributors not read yet."""
        logins = [c.person.username for c in doc.contributions if c.person.username]
        markup = self._markup.pop(doc.id, "")
        if markup and "mailto:" in markup.lower():
            for login, (name, email) in emails_for(logins, mail_links(markup)).items():
                yield Profile(login, name, email, evidence=f"signature on {doc.url}")
        namespace = self.settings.user_namespace.strip().strip(":")
        for login in logins:
            if namespace and login not in self._read_users:
                self._read_users.add(login)
                profile = self._user_page(f"{namespace}:{login}", login)
                if profile is not None:
                    yield profile

    def _user_page(self, page: str, login: str) -> Profile | None:
        """The person's own page: its first heading if it names them, and an email."""
        client = self._client()
        try:
            markup = client.html(page)
        except (DokuWikiFault, SourceUnavailableError) as exc:
            log.info("%s: user page %s not read: %s", self.source.id, page, exc)
            return None
        if not markup.strip():
            return None
        name = _title(markup)
        if not plausible_name(name, login):
            name = ""
        mails = [email for email, _ in mail_links(markup)]
        email = (
            mails[0] if mails else user_page_facts(html_fragment_to_text(markup), login, wikitext=False)[1]
        )
        return Profile(login, name, email, evidence=client.page_url(page)) if name or email else None

    # -- who may see a page ----------------------------------------------------------
    def _read_acl(self, client: DokuWikiClient) -> None:
        if not self.settings.acl_groups:
            return
        try:
            self._acl = client.acls()
        except (DokuWikiFault, CredentialError) as exc:
            # fail closed: without the ACL, restricted pages would become public
            raise ConnectorConfigError(
                f"{client.base}: acl_groups is set but the wiki's ACL cannot be read ({exc}): "
                "use a superuser account (the wiki's 'superuser' setting), or remove acl_groups "
                "and write namespace_acl"
            ) from None

    def _page_acl(self, page: str) -> tuple[str, ...] | None:
        """The Savoir groups that may see *page*; None: the source's default acl."""
        namespaces = [scope[:-2] for scope in dokuwiki_scopes(page)[1:-1]]
        ruled = namespace_groups(namespaces, self.settings.namespace_acl)
        if ruled is not None:
            return ruled
        if self._acl is not None:
            return dokuwiki_page_groups(page, self._acl, self.settings.acl_groups)
        return None

    # -- mapping -------------------------------------------------------------------
    def _namespaces(self) -> list[str]:
        return [ns.strip().strip(":") for ns in self.settings.namespaces if ns.strip().strip(":")]

    def _wanted(self, page: str) -> bool:
        namespaces = self._namespaces()
        return not namespaces or any(_in_namespace(page, ns) for ns in namespaces)

    def _communities(self, page: str) -> tuple[str, ...]:
        found: list[str] = []
        for namespace, names in sorted(self.settings.communities.items()):
            if _in_namespace(page, str(namespace).strip(":")):
                found += [names] if isinstance(names, str) else [str(n) for n in names]
        return tuple(dict.fromkeys(n.strip() for n in found if n.strip()))


def contributions(versions: list[Version]) -> tuple[Contribution, ...]:
    """A page's history -> its author (the creator), then its editors by first edit.

    Only what followed the page's last deletion counts (what came before is gone).
    Edits without a user are ignored; if the creator is anonymous, the first named
    person with a substantive edit is the author. An editor whose every edit was minor
    or a revert gets a ``minor`` contribution, which weighs nothing.
    """
    life = _current_life(versions)
    undone = _undone(life)
    named = [v for v in life if v.user]
    if not named:
        return ()
    creator = next(
        (v for v in named if v.type == "C"), next((v for v in named if v.type not in MINOR_TYPES), named[0])
    )
    edits: dict[str, list[Version]] = {}
    for v in named:
        if v.user != creator.user:
            edits.setdefault(v.user, []).append(v)
    result = [Contribution(_person(creator.user), Role.AUTHOR, time=creator.time)]
    for user, theirs in edits.items():
        substantive = [v for v in theirs if v.type not in MINOR_TYPES and v.version not in undone]
        latest = (substantive or theirs)[-1]
        result.append(Contribution(_person(user), Role.EDITOR, time=latest.time, minor=not substantive))
    return tuple(result)


def _as_comments(found: tuple[Contribution, ...]) -> tuple[Contribution, ...]:
    """On a discussion page everyone is a commenter (a discussion is not the topic's content)."""
    return tuple(dataclasses.replace(c, role=Role.COMMENTER) for c in found)


#: DokuWiki's revert summary ("old revision restored (2024/01/02 10:00)") names the
#: revision it brought back, in the wiki's date format; the default format is matched
_RESTORED = re.compile(r"\((\d{4})/(\d{2})/(\d{2}) (\d{2}):(\d{2})\)")


def _undone(life: list[Version]) -> set[int]:
    """Versions a revert threw away: those after the restored revision (by the minute
    its summary names), else the edit just before the revert. They weigh nothing, so a
    vandal's edits never make an expert (and the patroller's reverts weigh nothing too)."""
    out: set[int] = set()
    for position, v in enumerate(life):
        if v.type != "R":
            continue
        match = _RESTORED.search(v.summary)
        if match:
            restored = datetime(*map(int, match.groups()), tzinfo=UTC).timestamp()
            out.update(w.version for w in life[:position] if w.version >= restored + 60)
        elif position and life[position - 1].user != v.user:
            out.add(life[position - 1].version)
    return out


def _dates(versions: list[Version]) -> tuple[datetime | None, datetime | None]:
    live = _current_life(versions)
    return (live[0].time, live[-1].time) if live else (None, None)


def _current_life(versions: list[Version]) -> list[Version]:
    """The versions after the page's last deletion, oldest first."""
    history = sorted(versions, key=lambda v: v.version)
    deletions = [i for i, v in enumerate(history) if v.type == "D"]
    return history[deletions[-1] + 1 :] if deletions else history


def _person(user: str) -> Person:
    # DokuWiki's API names people by login only; the store's alias table maps logins to people
    return Person(user, username=user)


def _title(markup: str) -> str:
    match = _HEADING.search(markup)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", match.group(1))).split()) if match else ""


def _in_namespace(page: str, namespace: str) -> bool:
    return page.startswith(namespace + ":")
