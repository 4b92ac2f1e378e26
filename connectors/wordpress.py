"""WordPress sites through the REST API: posts, pages and their comments.

Pointed at the blog's address, the connector finds the API (wordpress_client.py), then
reads posts and pages 100 at a time with ``_embed`` (authors, categories, tags in the
same answer) and, for each such page, the comments of those posts in one more request.
A checkpoint follows every page, so a stopped run resumes where it was.

Comments: every approved comment's author is a contributor of the post with the
commenter role (their time is their last comment, their size what they wrote). A
comment of at least ``comment_min_words`` words is also a document of its own (kind
``comment``, authored by the commenter, linked to the post at ``#comment-N``): the
thread under a post is where peers from other agencies show what they know, and a
substantive comment should be found by its own words and credit its writer as the
author of those words; a "Thanks!" is only a trace of who read the post.

Incremental runs ask for what was modified after the newest ``modified_gmt`` seen
(less ``overlap_seconds``, for saves that were committed while the last run listed),
plus posts with comments newer than that, and compare cheap id listings
(``_fields=id``) with the ids the last run knew to find deletions. A post's language
is WordPress's ``lang`` field when a bilingual plugin exposes one; its ``translations``
field pairs the two versions as twins. Private posts (and drafts, when asked for) need
an application password and are indexed only for the groups in ``private_acl``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors._text import as_str_list, html_fragment_to_text, normalise_language, parse_date
from connectors.base import (
    Checkpoint,
    Connector,
    ConnectorConfigError,
    Contribution,
    Deletion,
    Document,
    Exclusion,
    Failure,
    Item,
    Person,
    Role,
    register,
    setting,
)
from connectors.web import normalise_url
from connectors.wordpress_client import WordPressApi

log = logging.getLogger(__name__)

TYPES = {"posts": "post", "pages": "page"}
EMBED = "author,wp:term"
COMMENT_FIELDS = "id,post,parent,author,author_name,date_gmt,link,content,_links,_embedded"


@dataclass
class WordPressSettings:
    site_url: str = setting(label="Site URL", help="The blog's home page, e.g. https://blog.example.gc.ca/.")
    user: str = setting("", label="User", help="For private posts: the login of the account below.")
    application_password: str = setting(
        "",
        label="Application password",
        help="Made under Users > Profile > Application Passwords (WordPress 5.6+, HTTPS).",
        secret=True,
    )
    private_acl: list[str] = setting(
        default_factory=list,
        label="Groups for private posts",
        help="Savoir groups that may see private posts (and drafts). Empty: private posts are not indexed.",
    )
    include_drafts: bool = setting(
        False, label="Include drafts", help="Index drafts too (for private_acl only)."
    )
    content: list[str] = setting(
        default_factory=lambda: ["posts", "pages"], label="Content", help="Which of posts and pages to index."
    )
    comment_min_words: int = setting(
        25,
        label="Words for a comment document",
        help="Comments this long are documents of their own; every commenter is a contributor of the post.",
    )
    communities: dict = setting(
        default_factory=dict,
        label="Communities by category",
        help="Category or tag name -> community (or list of communities) its posts belong to.",
    )
    overlap_seconds: int = setting(
        300, label="Incremental overlap", help="Seconds re-read before the last change seen (safety margin)."
    )


@register("wordpress")
class WordPressConnector(Connector):
    """Posts, pages and comments of a WordPress site, with authors and commenters."""

    Settings = WordPressSettings
    document_kinds = ("post", "page", "comment")
    #: a post also crawled as a web page or read from a feed is kept from here (crawler/url_owners.py)
    url_rank = 2

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        s = self.settings
        self.api = WordPressApi(
            self.http, s.site_url.strip(), user=s.user.strip(), password=s.application_password
        )
        self._communities = {_key(k): as_str_list(v) for k, v in (s.communities or {}).items()}

    # -- settings and connection --------------------------------------------------------
    def check(self) -> None:
        self._connect()

    def _connect(self) -> None:
        s = self.settings
        if not s.site_url.strip().lower().startswith(("http://", "https://")):
            raise ConnectorConfigError(f"site_url {s.site_url!r} is not an http(s) URL: check site_url")
        unknown = [c for c in s.content if c not in TYPES]
        if unknown or not s.content:
            raise ConnectorConfigError(f"content {s.content!r}: choose among {', '.join(TYPES)}")
        if bool(s.user.strip()) != bool(s.application_password):
            raise ConnectorConfigError("set both user and application_password, or neither")
        if s.include_drafts and not s.application_password:
            raise ConnectorConfigError(
                "include_drafts needs user and application_password (drafts are private)"
            )
        if self.api.root is not None:
            return
        self.api.connect()
        if self.api.user:
            # WordPress reads a wrong application password as no password at all (public
            # posts only, no error): ask who we are, so that it fails loudly instead
            body, _ = self.api.get("wp/v2/users/me", {"_fields": "id,slug"})
            if not isinstance(body, dict) or not body.get("id"):
                raise ConnectorConfigError(f"{self.api.root}: users/me did not name the account: check user")

    def _statuses(self) -> str:
        if not self.api.user:
            return "publish"
        return "publish,private" + (",draft" if self.settings.include_drafts else "")

    # -- runs ----------------------------------------------------------------------------
    def documents(self, checkpoint: Checkpoint | None = None) -> Iterator[Item]:
        self._connect()
        state = dict(checkpoint.state) if checkpoint else {}
        if state.get("since") and "phase" not in state:
            yield from self._changes(state)
            return
        yield from self._full(state)

    def _full(self, state: dict[str, Any]) -> Iterator[Item]:
        resumed = "phase" in state
        newest = state.get("newest")
        known: dict[str, list[int]] = {"posts": [], "pages": [], "comments": []}
        bases = list(self.settings.content)
        first = bases.index(state["phase"]) if state.get("phase") in bases else 0
        for base in bases[first:]:
            start = int(state.get("page", 1)) if base == state.get("phase") else 1
            params = {"status": self._statuses(), "orderby": "id", "order": "asc", "_embed": EMBED}
            for items, page, total in self.api.pages(f"wp/v2/{base}", params, start):
                for item in self._with_comments(items):
                    newest = _later(newest, _changed(item))
                    yield item
                    _remember(known, item, self)
                if page < total:
                    yield Checkpoint({"phase": base, "page": page + 1, "newest": newest})
        if resumed:  # the ids seen before the resume point are not in memory: list them
            known = self._listing()
        yield Checkpoint({"since": newest, **known})

    def _changes(self, state: dict[str, Any]) -> Iterator[Item]:
        since = parse_date(state["since"])
        assert since is not None
        after = (since - timedelta(seconds=max(0, self.settings.overlap_seconds))).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
        newest = state["since"]
        found: dict[int, dict[str, Any]] = {}
        for base in self.settings.content:
            params = {
                "status": self._statuses(),
                "modified_after": after,
                "orderby": "modified",
                "order": "asc",
                "_embed": EMBED,
            }
            for items, _, _ in self.api.pages(f"wp/v2/{base}", params):
                found.update((item["id"], item) for item in items)
        # a new comment does not change its post's modified time: ask for new comments
        commented: set[int] = set()
        for comments, _, _ in self.api.pages(
            "wp/v2/comments", {"after": after, "_fields": "id,post,date_gmt"}
        ):
            for comment in comments:
                newest = _later(newest, comment.get("date_gmt"))
                commented.add(int(comment.get("post") or 0))
        missing = sorted(commented - set(found) - {0})
        for base in self.settings.content:
            size = self.api.per_page
            for chunk in (missing[i : i + size] for i in range(0, len(missing), size)):
                params = {"status": self._statuses(), "include": ",".join(map(str, chunk)), "_embed": EMBED}
                for items, _, _ in self.api.pages(f"wp/v2/{base}", params):
                    found.update((item["id"], item) for item in items)
            missing = sorted(set(missing) - set(found))
        items = sorted(found.values(), key=lambda i: (i.get("modified_gmt") or "", i["id"]))
        log.info("%s: %d posts or pages changed or commented since %s", self.source.id, len(items), after)
        for start in range(0, len(items), self.api.per_page):
            for item in self._with_comments(items[start : start + self.api.per_page]):
                newest = _later(newest, _changed(item))
                yield item
        known = {k: list(v) for k, v in state.items() if k in ("posts", "pages", "comments")}
        if known:
            current = self._listing()
            for base, ids in current.items():
                for gone in sorted(set(known.get(base, [])) - set(ids)):
                    yield Deletion(self.doc_id(f"{_prefix(base)}-{gone}"))
            known = current
        yield Checkpoint({"since": newest, **known})

    def ids(self) -> Iterable[str]:
        self._connect()
        listing = self._listing()
        for base in ("posts", "pages", "comments"):
            for native in listing.get(base, []):
                yield self.doc_id(f"{_prefix(base)}-{native}")

    def _listing(self) -> dict[str, list[int]]:
        """The ids of what a full run indexes, cheaply: posts and pages by id and status,
        comments by id, post and length."""
        out: dict[str, list[int]] = {}
        indexed_posts: set[int] = set()
        for base in self.settings.content:
            params = {
                "status": self._statuses(),
                "orderby": "id",
                "order": "asc",
                "_fields": "id,status,content.protected",
            }
            ids = []
            for items, _, _ in self.api.pages(f"wp/v2/{base}", {**params, "context": "view"}):
                for item in items:
                    if self._acl(item) != () and not _protected(item):
                        ids.append(int(item["id"]))
            out[base] = ids
            indexed_posts.update(ids)
        comments = []
        params = {"orderby": "id", "order": "asc", "_fields": "id,post,content"}
        for items, _, _ in self.api.pages("wp/v2/comments", params):
            for comment in items:
                if int(comment.get("post") or 0) in indexed_posts and self._is_document(comment):
                    comments.append(int(comment["id"]))
        out["comments"] = comments
        return out

    # -- comments --------------------------------------------------------------------------
    def _with_comments(self, items: list[dict[str, Any]]) -> Iterator[Item]:
        """Each post or page with its commenters, then its comment documents."""
        wanted = [item["id"] for item in items if self._acl(item) != () and not _protected(item)]
        threads: dict[int, list[dict[str, Any]]] = defaultdict(list)
        if wanted:
            params = {
                "post": ",".join(map(str, wanted)),
                "orderby": "date_gmt",
                "order": "asc",
                "_embed": "author",
                "_fields": COMMENT_FIELDS,
            }
            for comments, _, _ in self.api.pages("wp/v2/comments", params):
                for comment in comments:
                    threads[int(comment.get("post") or 0)].append(comment)
        for item in items:
            yield from self._post_items(item, threads.get(item["id"], []))

    def _is_document(self, comment: dict[str, Any]) -> bool:
        text = html_fragment_to_text(_rendered(comment.get("content")))
        return len(text.split()) >= max(1, self.settings.comment_min_words)

    # -- mapping -----------------------------------------------------------------------------
    def _acl(self, item: dict[str, Any]) -> tuple[str, ...] | None:
        """None: the source's default; (): not to be indexed (private, no groups for it)."""
        if item.get("status", "publish") == "publish":
            return None
        return tuple(as_str_list(self.settings.private_acl))

    def _post_items(self, item: dict[str, Any], thread: list[dict[str, Any]]) -> Iterator[Item]:
        kind = item.get("type") if item.get("type") in ("post", "page") else "post"
        doc_id = self.doc_id(f"{kind}-{item['id']}")
        url = normalise_url(item.get("link") or "") or self.api.site_url
        acl = self._acl(item)
        if acl == ():
            yield Exclusion(doc_id, "scope", f"{url}: {item.get('status')}; set private_acl to index it")
            return
        if _protected(item):
            yield Exclusion(doc_id, "scope", f"{url}: password-protected")
            return
        title = _own_title(item)
        text = html_fragment_to_text(_rendered(item.get("content"))) or title
        if not text:
            yield Failure(doc_id, f"{url}: no title and no text")
            return
        created, modified = parse_date(item.get("date_gmt")), parse_date(item.get("modified_gmt"))
        embedded = item.get("_embedded") or {}
        people = [_person(a) for a in embedded.get("author", []) if isinstance(a, dict) and a.get("name")]
        if not people:
            people = [Person(f"WordPress user {item.get('author')}", username=str(item.get("author")))]
        contributions = [Contribution(p, Role.AUTHOR, time=created, size=len(text)) for p in people[:1]]
        contributions += _commenters(thread, {people[0]})
        terms = [
            t.get("name", "")
            for group in embedded.get("wp:term", [])
            if isinstance(group, list)
            for t in group
        ]
        tags = tuple(dict.fromkeys(" ".join(html_fragment_to_text(t).split()) for t in terms if t))
        lang = normalise_language(item.get("lang") if isinstance(item.get("lang"), str) else None)
        yield Document(
            id=doc_id,
            url=url,
            title=title or _first_words(text),
            text=text,
            kind=kind,
            language=lang,
            created=created,
            modified=modified or created,
            contributions=tuple(contributions),
            tags=tags,
            communities=tuple(dict.fromkeys(c for t in tags for c in self._communities.get(_key(t), []))),
            acl=acl,
            translation_of=self._twin(item, kind, lang),
            source=self.source.id,
            agency=self.source.agency,
        )
        for comment in thread:
            if self._is_document(comment):
                yield self._comment_document(comment, title or _first_words(text), acl)

    def _twin(self, item: dict[str, Any], kind: str, lang: str | None) -> str | None:
        """The version in the earliest other language, as the site's plugin pairs them."""
        translations = item.get("translations")
        if not lang or not isinstance(translations, dict):
            return None
        others = {
            normalise_language(str(k)): v
            for k, v in translations.items()
            if str(v).isdigit() and int(v) != item["id"]
        }
        earlier = sorted(k for k in others if k and k < lang)
        return self.doc_id(f"{kind}-{others[earlier[0]]}") if earlier else None

    def _comment_document(
        self, comment: dict[str, Any], post_title: str, acl: tuple[str, ...] | None
    ) -> Document:
        text = html_fragment_to_text(_rendered(comment.get("content")))
        when = parse_date(comment.get("date_gmt"))
        person = _commenter(comment)
        return Document(
            id=self.doc_id(f"comment-{comment['id']}"),
            url=comment.get("link") or self.api.site_url,  # with its #comment-N: not the post
            title=f"Re: {post_title}",
            text=text,
            kind="comment",
            created=when,
            modified=when,
            contributions=(Contribution(person, Role.AUTHOR, time=when, size=len(text)),),
            acl=acl,
            source=self.source.id,
            agency=self.source.agency,
        )


def _commenters(thread: list[dict[str, Any]], authors: set[Person]) -> list[Contribution]:
    """One commenter contribution per person: their last comment's time, all they wrote."""
    people: dict[Person, dict[str, Any]] = {}
    for comment in thread:
        person = _commenter(comment)
        if person in authors or not person.name:
            continue
        size = len(html_fragment_to_text(_rendered(comment.get("content"))))
        mine = people.setdefault(person, {"time": None, "size": 0})
        mine["time"] = _later_time(mine["time"], parse_date(comment.get("date_gmt")))
        mine["size"] += size
    return [Contribution(p, Role.COMMENTER, time=v["time"], size=v["size"]) for p, v in people.items()]


def _commenter(comment: dict[str, Any]) -> Person:
    users = (comment.get("_embedded") or {}).get("author") or []
    user = users[0] if users and isinstance(users[0], dict) and users[0].get("name") else None
    if user is not None:
        return _person(user)
    return Person(" ".join(str(comment.get("author_name") or "anonymous").split()))


def _person(user: dict[str, Any]) -> Person:
    return Person(" ".join(str(user["name"]).split()), username=str(user.get("slug") or "") or None)


def _remember(known: dict[str, list[int]], item: Item, connector: Connector) -> None:
    if not isinstance(item, Document):
        return
    kind, _, native = item.id[len(connector.source.id) + 1 :].partition("-")
    base = {"post": "posts", "page": "pages", "comment": "comments"}[kind]
    known[base].append(int(native))


def _own_title(item: dict[str, Any]) -> str:
    """The title without the "Private: " WordPress puts before a private post's (EN or FR site)."""
    title = " ".join(html_fragment_to_text(_rendered(item.get("title"))).split())
    if item.get("status") == "private":
        for prefix in ("Private: ", "Privé : ", "Privé\u00a0: "):
            if title.startswith(prefix):
                return title[len(prefix) :]
    return title


def _protected(item: dict[str, Any]) -> bool:
    content = item.get("content")
    return isinstance(content, dict) and bool(content.get("protected"))


def _rendered(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("rendered") or "")
    return str(value or "")


def _changed(item: Item) -> str | None:
    """The newest time a document shows: its change, or its newest comment's."""
    if not isinstance(item, Document):
        return None
    times = [t for t in (item.modified, item.created, *(c.time for c in item.contributions)) if t]
    return max(times).strftime("%Y-%m-%dT%H:%M:%S") if times else None


def _later(current: str | None, candidate: str | None) -> str | None:
    if not candidate:
        return current
    if not current:
        return candidate
    return max(current, candidate, key=lambda v: parse_date(v) or datetime.min.replace(tzinfo=UTC))


def _later_time(current: datetime | None, candidate: datetime | None) -> datetime | None:
    if current is None or (candidate is not None and candidate > current):
        return candidate
    return current


def _prefix(base: str) -> str:
    return {"posts": "post", "pages": "page", "comments": "comment"}[base]


def _first_words(text: str) -> str:
    return " ".join(text.split()[:12])


def _key(name: str) -> str:
    return " ".join(name.split()).casefold()
