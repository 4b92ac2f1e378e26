"""RSS 2.0 and Atom feeds: one document per entry.

Client part: fetch through the crawler's session, parse with feedparser, refuse what
is not a feed. Mapping part: an entry's id, link, authors (``dc:creator``, ``<author>``,
Atom ``<author>``), dates, categories, full content (over the summary) as plain text,
language and hreflang twins.

One source may read several feeds (a blog's category feeds, its other language's
feed); an entry met in two of them is one document. Each feed is fetched with a
conditional GET: when it answers 304 on an incremental run, it is not even parsed.
An entry's comment feed (RSS ``wfw:commentRss`` or Atom's ``rel="replies"`` feed link,
as WordPress and most blog engines give them) names its commenters, who become
contributors with the commenter role; it is read when the entry is new or changed, or
when its comment count (``slash:comments``, ``thr:total``) moved. Comments are not
documents of their own here: a feed gives a comment's words but seldom a stable,
linkable place for it (the wordpress connector does both).
"""

from __future__ import annotations

import calendar
import dataclasses
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import feedparser

from connectors._text import html_fragment_to_text, join_blocks, normalise_language, parse_date, source_error
from connectors.base import (
    Checkpoint,
    Connector,
    ConnectorConfigError,
    Contribution,
    Document,
    Failure,
    FetchError,
    Item,
    Person,
    Role,
    register,
    setting,
)
from connectors.web import normalise_url

log = logging.getLogger(__name__)

FEED_TYPES = ("application/atom+xml", "application/rss+xml", "application/xml", "text/xml")
HTML_CONTENT = ("text/html", "application/xhtml+xml", "html", "xhtml")
_EMAIL = r"([^\s()<>@]+@[^\s()<>@]+)"
_AUTHOR_PATTERNS = (
    (re.compile(rf"^{_EMAIL}\s*\((.+)\)$"), 2, 1),  # email (Name): RSS <author>
    (re.compile(rf"^(.+?)\s*\({_EMAIL}\)$"), 1, 2),  # Name (email): feedparser's Atom rendering
    (re.compile(rf"^(.+?)\s*<{_EMAIL}>$"), 1, 2),  # Name <email>
    (re.compile(rf"^{_EMAIL}$"), 0, 1),  # email
)


@dataclass
class FeedSettings:
    url: str = setting("", label="Feed URL", help="Address of an RSS 2.0 or Atom feed.")
    urls: list[str] = setting(
        default_factory=list,
        label="More feed URLs",
        help="Other feeds read as the same source (category feeds, the other language's feed).",
    )
    kind: str = setting("post", label="Document kind", help="What the entries are: post, news or page.")
    comments: bool = setting(
        True,
        label="Read comment feeds",
        help="Follow each entry's comment feed (wfw:commentRss) for commenters.",
    )


@register("feed")
class FeedConnector(Connector):
    """Read an RSS or Atom feed. Old entries fall off feeds: absence is not deletion."""

    Settings = FeedSettings
    document_kinds = ("post", "news", "page")
    full_run_lists_everything = False
    #: a entry also crawled as a web page is kept from here (crawler/url_owners.py)
    url_rank = 1

    # -- client --------------------------------------------------------------------
    def check(self) -> None:
        for url in self._feeds():
            self._parse(url, self._fetch(url))

    def _feeds(self) -> list[str]:
        urls = [u.strip() for u in [self.settings.url, *self.settings.urls] if u and u.strip()]
        if not urls:
            raise ConnectorConfigError("no feed: set url (and urls for more feeds)")
        for url in urls:
            if not url.lower().startswith(("http://", "https://")):
                raise ConnectorConfigError(f"feed URL {url!r} is not an http(s) URL: check url and urls")
        if self.settings.kind not in self.document_kinds:
            kinds = ", ".join(self.document_kinds)
            raise ConnectorConfigError(f"kind {self.settings.kind!r} is not one of {kinds}: check kind")
        return list(dict.fromkeys(urls))

    def _fetch(self, url: str) -> Any:
        try:
            return self.http.get(url)
        except FetchError as exc:
            raise source_error(url, exc, "url") from None

    def _parse(self, url: str, resp: Any) -> Any:
        headers = {"content-location": resp.url}
        content_type = resp.headers.get("Content-Type", "")
        if "xml" in content_type or "rss" in content_type or "atom" in content_type:
            headers["content-type"] = content_type
        parsed = feedparser.parse(resp.content, response_headers=headers)
        if not parsed.entries and (parsed.bozo or not parsed.version):
            problem = parsed.get("bozo_exception") or "no RSS or Atom element"
            raise ConnectorConfigError(
                f"{url} is not a readable RSS or Atom feed ({_one_line(problem)}): check url"
            )
        return parsed

    # -- the run -------------------------------------------------------------------
    def documents(self, checkpoint: Checkpoint | None = None) -> Iterator[Item]:
        feeds = self._feeds()
        state = checkpoint.state if checkpoint else {}
        before: dict[str, Any] = dict(state.get("feeds") or {})
        if "updated" in state and "feeds" not in state:  # the one-feed checkpoint of before
            before[feeds[0]] = {"updated": state["updated"]}
        after: dict[str, Any] = {}
        seen: set[str] = set()
        for url in feeds:
            mine = before.get(url) if checkpoint is not None else None
            resp = self._fetch(url)
            if mine is not None and getattr(resp, "from_cache", False):
                after[url] = mine  # 304: nothing changed since the last run
                continue
            after[url] = yield from self._entries(url, self._parse(url, resp), mine or {}, seen)
        yield Checkpoint({"feeds": after})

    def _entries(self, url: str, parsed: Any, mine: dict[str, Any], seen: set[str]) -> Iterator[Item]:
        """One feed's new or changed entries; returns that feed's new checkpoint state."""
        since = parse_date(mine.get("updated"))
        counts: dict[str, str] = dict(mine.get("comments") or {})
        newest = since
        entries = list(parsed.entries)
        by_link = {_entry_link(e): native for e in entries if (native := _native_id(e)) and _entry_link(e)}
        for position, entry in enumerate(entries, start=1):
            native = _native_id(entry)
            if native is None:
                title = _one_line(entry.get("title") or "untitled")
                yield Failure(
                    self.doc_id(f"entry-{position}"),
                    f"{url}: entry {position} ({title!r}) has neither id/guid nor link, so no stable id",
                )
                continue
            if native in seen:
                continue
            seen.add(native)
            try:
                doc = self._document(native, entry, parsed.feed, by_link)
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                yield Failure(self.doc_id(native), f"{native}: unreadable entry ({_one_line(exc)})")
                continue
            changed = doc.modified or doc.created
            if changed is not None and (newest is None or changed > newest):
                newest = changed
            count = _comment_count(entry)
            recounted = bool(count) and counts.get(native) != count
            if count:
                counts[native] = count
            if since is not None and changed is not None and changed <= since and not recounted:
                continue
            if not doc.text:
                yield Failure(doc.id, f"{native}: no text")
                continue
            yield self._with_commenters(doc, entry)
        state: dict[str, Any] = {"updated": newest.isoformat() if newest else None}
        if counts:
            state["comments"] = dict(sorted(counts.items()))
        return state

    def _with_commenters(self, doc: Document, entry: Any) -> Document:
        """*doc* with the people its comment feed names as commenters."""
        url = _comment_feed(entry)
        if not self.settings.comments or not url.lower().startswith(("http://", "https://")):
            return doc
        if _comment_count(entry) == "0":
            return doc  # the feed says there is none: no request
        try:
            parsed = feedparser.parse(self.http.get(url).content)
        except FetchError as exc:
            log.info(
                "%s: comment feed %s unreadable (%s); commenters left out", self.source.id, url, exc.reason
            )
            return doc
        authors = {" ".join(c.person.name.casefold().split()) for c in doc.contributions}
        people: dict[str, dict[str, Any]] = {}
        for comment in parsed.entries:
            for person in _people(comment):
                key = " ".join(person.name.casefold().split())
                if key in authors:
                    continue
                mine = people.setdefault(key, {"person": person, "time": None, "size": 0})
                when = _time(comment, "published") or _time(comment, "updated")
                if when is not None and (mine["time"] is None or when > mine["time"]):
                    mine["time"] = when
                mine["size"] += len(_entry_text(comment))
        commenters = tuple(
            Contribution(p["person"], Role.COMMENTER, time=p["time"], size=p["size"]) for p in people.values()
        )
        return dataclasses.replace(doc, contributions=doc.contributions + commenters)

    def ids(self) -> Iterator[str]:
        """The entries the feeds list now (no comment feed is read)."""
        seen: set[str] = set()
        for url in self._feeds():
            for entry in self._parse(url, self._fetch(url)).entries:
                native = _native_id(entry)
                if native and native not in seen:
                    seen.add(native)
                    yield self.doc_id(native)

    # -- mapping -------------------------------------------------------------------
    def _document(self, native: str, entry: Any, feed: Any, by_link: dict[str, str]) -> Document:
        title = _plain(entry.get("title_detail") or {}, entry.get("title", ""))
        text = _entry_text(entry) or title
        language = normalise_language(_entry_language(entry) or feed.get("language"))
        created = _time(entry, "published") or _time(entry, "updated")
        modified = _time(entry, "updated") or created
        people = _people(entry) or _people(feed)
        contributions = tuple(
            Contribution(person, Role.AUTHOR, time=created, size=len(text)) for person in people
        )
        tags = tuple(
            dict.fromkeys(
                t
                for t in (
                    (tag.get("term") or tag.get("label") or "").strip() for tag in entry.get("tags", [])
                )
                if t
            )
        )
        alternates: dict[str, str] = {}
        for link in entry.get("links", []):
            lang = normalise_language(link.get("hreflang"))
            if link.get("rel", "alternate") == "alternate" and lang and lang != language and link.get("href"):
                alternates.setdefault(lang, link["href"])
        translation_of = None
        if language:
            earlier = [lang for lang in sorted(alternates) if lang < language and alternates[lang] in by_link]
            translation_of = self.doc_id(by_link[alternates[earlier[0]]]) if earlier else None
        return Document(
            id=self.doc_id(native),
            # normalised as the web connector does, so the two copies of a post meet
            url=normalise_url(_entry_link(entry) or "") or _entry_link(entry) or native,
            title=title or _one_line(text)[:120],
            text=text,
            kind=self.settings.kind,
            language=language,
            created=created,
            modified=modified,
            contributions=contributions,
            tags=tags,
            translation_of=translation_of,
            alternates=alternates,
            source=self.source.id,
            agency=self.source.agency,
        )


def _comment_feed(entry: Any) -> str:
    """An entry's comment feed: RSS ``wfw:commentRss``, or Atom's ``rel="replies"`` feed link."""
    url = str(entry.get("wfw_commentrss") or "").strip()
    if url:
        return url
    for link in entry.get("links", []):
        if link.get("rel") == "replies" and link.get("type") in FEED_TYPES and link.get("href"):
            return str(link["href"]).strip()
    return ""


def _comment_count(entry: Any) -> str:
    """How many comments the feed says an entry has (``slash:comments``, ``thr:total``,
    ``thr:count``), as text; "" when it does not say."""
    for value in (entry.get("slash_comments"), entry.get("thr_total")):
        if value is not None and str(value).strip():
            return str(value).strip()
    for link in entry.get("links", []):
        if link.get("rel") == "replies" and link.get("type") in FEED_TYPES and link.get("thr:count"):
            return str(link["thr:count"]).strip()
    return ""


def _native_id(entry: Any) -> str | None:
    value = (entry.get("id") or _entry_link(entry) or "").strip()
    return value or None


def _plain(detail: Any, value: str) -> str:
    if detail.get("type") in HTML_CONTENT or "<" in value:
        return " ".join(html_fragment_to_text(value).split())
    return " ".join(value.split())


def _entry_text(entry: Any) -> str:
    """Full content (HTML first) over the summary, as plain text."""
    contents = list(entry.get("content", []))
    contents.sort(key=lambda c: c.get("type") not in HTML_CONTENT)
    candidates = [*contents, entry.get("summary_detail") or {}]
    for detail in candidates:
        value = (detail.get("value") or "").strip()
        if not value:
            continue
        if detail.get("type") in HTML_CONTENT or "<" in value:
            return html_fragment_to_text(value)
        return join_blocks([" ".join(p.split()) for p in re.split(r"\n\s*\n", value)])
    return ""


def _entry_language(entry: Any) -> str | None:
    for detail in (*entry.get("content", []), entry.get("title_detail"), entry.get("summary_detail")):
        if detail and detail.get("language"):
            return detail["language"]
    return entry.get("language")


def _time(entry: Any, name: str) -> datetime | None:
    # dict.get: feedparser's own get() maps updated to published, with a warning
    parsed = dict.get(entry, f"{name}_parsed")
    if parsed:
        return datetime.fromtimestamp(calendar.timegm(parsed), UTC)
    return parse_date(dict.get(entry, name))


def _entry_link(entry: Any) -> str | None:
    """The entry's own page: feedparser's ``link`` is the last alternate, maybe a translation's."""
    own = [
        link["href"]
        for link in entry.get("links", [])
        if link.get("rel", "alternate") == "alternate" and link.get("href") and not link.get("hreflang")
    ]
    return own[0] if own else entry.get("link")


def _people(item: Any) -> list[Person]:
    """Authors as the feed names them (dc:creator, <author>, Atom <author>).

    feedparser's own split of an RSS ``<author>`` string ("email (Name)") mangles
    non-ASCII names, so that string is parsed here and feedparser's copy of it is
    dropped; the same name given with and without an email is one person.
    """
    raw = (item.get("author") or "").strip()
    parsed = _person_from_string(raw) if raw else None
    people: list[Person] = []
    for author in item.get("authors", []):
        name, email = (author.get("name") or "").strip(), author.get("email")
        if email and parsed and parsed.email and parsed.email.startswith(email.lower()):
            continue  # feedparser's mangled split of the raw <author> string
        if name or email:
            people.append(Person(name or email, email))
    if parsed and (parsed.email or not people):
        people.append(parsed)
    best: dict[str, Person] = {}
    for person in people:
        key = " ".join(person.name.casefold().split())
        if key not in best or (person.email and not best[key].email):
            best[key] = person
    return list(best.values())


def _person_from_string(value: str) -> Person | None:
    for pattern, name_group, email_group in _AUTHOR_PATTERNS:
        if match := pattern.match(value):
            email = match.group(email_group)
            return Person(match.group(name_group).strip() if name_group else email, email)
    return Person(value.strip()) if value.strip() else None


def _one_line(value: object) -> str:
    return " ".join(str(value).split())
