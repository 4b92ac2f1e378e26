"""Web sites: sitemaps first, then links inside the configured scope.

Client part: sitemap (index, gzip) reading, URL normalisation and scope, a
breadth-first crawl whose whole state fits in a checkpoint. Mapping part: one
HTML page -> one :class:`Document` with its main content only, deduplicated by
canonical URL and by text.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import re
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from lxml import etree

from connectors._text import (
    ExtractedHtml,
    decode_bytes,
    extract_html,
    normalise_language,
    parse_date,
    source_error,
    split_keywords,
)
from connectors.base import (
    Checkpoint,
    Connector,
    ConnectorConfigError,
    Contribution,
    Deletion,
    Document,
    Exclusion,
    Failure,
    FetchError,
    Item,
    Person,
    RobotsDisallowed,
    Role,
    register,
    setting,
)

log = logging.getLogger(__name__)

HTML_TYPES = ("text/html", "application/xhtml+xml")
DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_SITEMAP_BYTES = 50 * 1024 * 1024
MAX_SITEMAP_NESTING = 3
#: a page whose main content is at least this share of link text, over at least
#: HUB_MIN_LINKS links, lists other pages and says little itself
HUB_LINK_DENSITY = 0.5
HUB_MIN_LINKS = 8


@dataclass
class WebSettings:
    start_urls: list[str] = setting(
        label="Start URLs",
        help="Pages the crawl starts from. Only pages on the same host, under the same folder, are read.",
    )
    sitemaps: list[str] = setting(
        default_factory=list,
        label="Sitemaps",
        help="Sitemap or sitemap-index URLs. Empty: /sitemap.xml and robots.txt 'Sitemap:' lines are tried.",
    )
    include: list[str] = setting(
        default_factory=list, label="Include", help="Regular expressions; when set, a URL must match one."
    )
    exclude: list[str] = setting(
        default_factory=list, label="Exclude", help="Regular expressions; a URL matching one is skipped."
    )
    max_depth: int = setting(5, label="Maximum link depth", help="Links followed away from a start page.")
    max_pages: int = setting(10000, label="Maximum pages", help="Pages fetched per run at most.")
    follow_links: bool = setting(True, label="Follow links", help="Off: read only start pages and sitemaps.")
    skip_hubs: bool = setting(
        True,
        label="Skip link-list pages",
        help="Pages that are mostly links (indexes, menus) are crawled for their links but not indexed.",
    )


def normalise_url(url: str) -> str | None:
    """Canonical form used for ids and dedup; None for what is not an http(s) URL."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    query = sorted(
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not k.lower().startswith("utm_")
    )
    return urlunsplit((scheme, netloc, parts.path or "/", urlencode(query), ""))


@dataclass(frozen=True)
class Scope:
    """Same host and folder as a start URL, then the include/exclude regexes."""

    prefixes: tuple[tuple[str, str], ...]
    include: tuple[re.Pattern[str], ...]
    exclude: tuple[re.Pattern[str], ...]

    def allows(self, url: str) -> bool:
        parts = urlsplit(url)
        if not any(parts.netloc == host and parts.path.startswith(path) for host, path in self.prefixes):
            return False
        if self.include and not any(p.search(url) for p in self.include):
            return False
        return not any(p.search(url) for p in self.exclude)


@dataclass
class CrawlState:
    """Everything a resumed run needs; JSON-shaped through :meth:`to_state`."""

    started: str
    since: str | None = None
    seen: set[str] = field(default_factory=set)
    frontier: deque[tuple[str, int]] = field(default_factory=deque)
    hashes: dict[str, str] = field(default_factory=dict)  # native url -> text hash
    fetched: int = 0
    #: pages the previous runs indexed (native URLs): those that left the site are deleted
    known: set[str] = field(default_factory=set)
    #: this run: URLs fetched, native URLs indexed, URLs that failed
    visited: set[str] = field(default_factory=set)
    indexed: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    _owners: dict[str, str] = field(default_factory=dict, repr=False)  # text hash -> native url

    def claim(self, native: str, digest: str) -> str | None:
        """Record *native*'s text hash; return the other URL that has the same text, if any."""
        if not self._owners and self.hashes:
            self._owners = {h: u for u, h in sorted(self.hashes.items())}
        owner = self._owners.get(digest)
        if owner is not None and owner != native:
            return owner
        old = self.hashes.get(native)
        if old is not None and self._owners.get(old) == native:
            del self._owners[old]
        self.hashes[native] = digest
        self._owners[digest] = native
        return None

    def to_state(self, *, final: bool) -> dict[str, Any]:
        if final:  # what the next incremental run needs
            return {"since": self.started, "hashes": dict(sorted(self.hashes.items()))}
        return {
            "started": self.started,
            "since": self.since,
            "seen": sorted(self.seen),
            "frontier": [[url, depth] for url, depth in self.frontier],
            "hashes": dict(sorted(self.hashes.items())),
            "fetched": self.fetched,
            "known": sorted(self.known),
            "visited": sorted(self.visited),
            "indexed": sorted(self.indexed),
            "failed": sorted(self.failed),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> CrawlState:
        return cls(
            started=state["started"],
            since=state.get("since"),
            seen=set(state.get("seen", [])),
            frontier=deque((url, int(depth)) for url, depth in state["frontier"]),
            hashes=dict(state.get("hashes", {})),
            fetched=int(state.get("fetched", 0)),
            known=set(state.get("known", [])),
            visited=set(state.get("visited", [])),
            indexed=set(state.get("indexed", [])),
            failed=set(state.get("failed", [])),
        )

    def departed(self, listed: Iterable[str]) -> dict[str, str]:
        """Pages earlier runs indexed that this (complete) run shows are gone -> why."""
        present = self.seen | set(listed)
        out = {}
        for url in sorted(self.known - self.indexed - self.failed):
            if url in self.visited:
                out[url] = f"{url}: no longer a page to index (moved, noindex, a duplicate or not HTML)"
            elif url not in present:
                out[url] = f"{url}: no longer in the sitemaps nor linked from the site"
        return out


@register("web")
class WebConnector(Connector):
    """Crawl a web site's pages (HTML only), sitemaps first."""

    Settings = WebSettings
    document_kinds = ("page",)
    #: a Checkpoint is yielded after this many fetched pages
    checkpoint_every: ClassVar[int] = 50

    _full_run_ids: list[str] | None = None

    # -- settings and scope ------------------------------------------------------
    def _scope(self) -> Scope:
        s = self.settings
        if not s.start_urls:
            raise ConnectorConfigError("no start URL: set start_urls to at least one http(s) URL")
        prefixes = []
        for url in s.start_urls:
            norm = normalise_url(url)
            if norm is None:
                raise ConnectorConfigError(f"start URL {url!r} is not an http(s) URL: check start_urls")
            parts = urlsplit(norm)
            prefixes.append((parts.netloc, parts.path[: parts.path.rfind("/") + 1]))
        return Scope(tuple(prefixes), _compile(s.include, "include"), _compile(s.exclude, "exclude"))

    def _start_urls(self) -> list[str]:
        return list(dict.fromkeys(normalise_url(u) or u for u in self.settings.start_urls))

    # -- client --------------------------------------------------------------------
    def check(self) -> None:
        self._scope()
        for url in self._start_urls():
            resp = self._fetch_or_raise(url, "start_urls")
            if _content_type(resp) not in HTML_TYPES:
                raise ConnectorConfigError(
                    f"{url} is not an HTML page ({_content_type(resp) or 'no content type'}): check start_urls"
                )
        for url in self.settings.sitemaps:
            self._sitemap_root(self._fetch_or_raise(url, "sitemaps"), url, strict=True)

    def _fetch_or_raise(self, url: str, where: str) -> Any:
        try:
            return self.http.get(url)
        except FetchError as exc:
            raise source_error(url, exc, where) from None

    def _read_sitemaps(self) -> dict[str, str | None]:
        """Every in-scope page URL the sitemaps list, in their order -> raw lastmod."""
        scope = self._scope()
        queue: deque[tuple[str, int, bool]] = deque((u, 0, True) for u in self.settings.sitemaps)
        if not queue:
            queue.extend((u, 0, False) for u in self._default_sitemaps())
        entries: dict[str, str | None] = {}
        self._out_of_scope: list[str] = []
        done: set[str] = set()
        while queue:
            url, level, explicit = queue.popleft()
            if url in done:
                continue
            done.add(url)
            try:
                resp = self.http.get(url, auxiliary=True)
            except FetchError as exc:
                if explicit or exc.transient:
                    raise source_error(url, exc, "sitemaps") from None
                log.info("%s: no sitemap at %s (%s)", self.source.id, url, exc.reason)
                continue
            root = self._sitemap_root(resp, url, strict=explicit)
            if root is None:
                continue
            if _local(root) == "sitemapindex" and level < MAX_SITEMAP_NESTING:
                for loc, _ in _sitemap_entries(root, "sitemap"):
                    queue.append((urljoin(url, loc), level + 1, False))
            elif _local(root) == "urlset":
                for loc, lastmod in _sitemap_entries(root, "url"):
                    norm = normalise_url(urljoin(url, loc))
                    if norm and scope.allows(norm):
                        entries.setdefault(norm, lastmod)
                    elif norm:
                        self._out_of_scope.append(norm)
        return entries

    def _sitemap_exclusions(self) -> Iterator[Exclusion]:
        for url in dict.fromkeys(getattr(self, "_out_of_scope", [])):
            yield Exclusion(
                self.doc_id(url), "scope", f"{url}: listed by a sitemap, outside start_urls' scope"
            )

    def _default_sitemaps(self) -> list[str]:
        origins = dict.fromkeys(f"{urlsplit(u).scheme}://{urlsplit(u).netloc}" for u in self._start_urls())
        found: list[str] = []
        for origin in origins:
            found.append(f"{origin}/sitemap.xml")
            # the session's copy: robots.txt is fetched once per run and host
            robots = self.http.robots_txt(origin)
            for line in (robots or "").splitlines():
                key, _, value = line.partition(":")
                if key.strip().lower() == "sitemap" and value.strip():
                    found.append(value.strip())
        return list(dict.fromkeys(found))

    def _sitemap_root(self, resp: Any, url: str, *, strict: bool) -> Any:
        data = resp.content
        if data[:2] == b"\x1f\x8b":
            try:
                data = gzip.GzipFile(fileobj=io.BytesIO(data)).read(MAX_SITEMAP_BYTES + 1)
            except (OSError, EOFError) as exc:
                data = b""
                log.warning("%s: %s is a broken gzip file (%s)", self.source.id, url, exc)
        parser = etree.XMLParser(resolve_entities=False, no_network=True, recover=True, huge_tree=False)
        try:
            root = etree.fromstring(data, parser) if data and len(data) <= MAX_SITEMAP_BYTES else None
        except etree.XMLSyntaxError:
            root = None
        if root is None or _local(root) not in ("urlset", "sitemapindex"):
            if strict:
                raise ConnectorConfigError(
                    f"{url} is not a sitemap (no <urlset> or <sitemapindex>): check sitemaps"
                )
            log.warning("%s: %s is not a sitemap; ignored", self.source.id, url)
            return None
        return root

    # -- the crawl ---------------------------------------------------------------
    def documents(self, checkpoint: Checkpoint | None = None) -> Iterator[Item]:
        scope = self._scope()
        previous = checkpoint.state if checkpoint else {}
        sitemap = self._read_sitemaps()
        if "frontier" in previous:  # resume a run that stopped mid-way
            state = CrawlState.from_state(previous)
        else:
            state = CrawlState(started=datetime.now(UTC).isoformat(), since=previous.get("since"))
            if state.since:
                state.hashes = dict(previous.get("hashes", {}))
                state.known = set(state.hashes)
            since = parse_date(state.since)
            for url in [*self._start_urls(), *sitemap]:
                if url in state.seen:
                    continue
                state.seen.add(url)
                if since is None or _changed_since(sitemap.get(url), since):
                    state.frontier.append((url, 0))
            yield from self._sitemap_exclusions()
        ids: list[str] = []
        starts = set(self._start_urls())
        since_checkpoint = 0
        while state.frontier and state.fetched < self.settings.max_pages:
            url, depth = state.frontier.popleft()
            state.fetched += 1
            for item in self._crawl_page(url, depth, state, scope, sitemap, starts):
                # a page that failed for now still exists: ids() keeps it from deletion
                if isinstance(item, Document) or (isinstance(item, Failure) and item.transient):
                    ids.append(item.ref if isinstance(item, Failure) else item.id)
                yield item
            since_checkpoint += 1
            if since_checkpoint >= self.checkpoint_every and state.frontier:
                since_checkpoint = 0
                yield Checkpoint(state.to_state(final=False))
        if checkpoint is None:
            self._full_run_ids = ids
        if not state.frontier:
            # a complete walk: pages indexed before that it no longer meets are gone
            for url, reason in state.departed(sitemap).items():
                state.hashes.pop(url, None)
                yield Deletion(self.doc_id(url), reason)
        yield Checkpoint(state.to_state(final=True))

    def _crawl_page(
        self,
        url: str,
        depth: int,
        state: CrawlState,
        scope: Scope,
        sitemap: dict[str, str | None],
        starts: set[str],
    ) -> Iterator[Item]:
        state.visited.add(url)
        try:
            resp = self.http.get(url)
        except RobotsDisallowed as exc:
            if url in starts:
                raise source_error(url, exc, "start_urls") from None
            yield Exclusion(self.doc_id(url), "robots", f"{url}: disallowed by robots.txt")
            return
        except FetchError as exc:
            if url in starts:
                raise source_error(url, exc, "start_urls") from None
            gone = exc.status in (404, 410)
            if not gone:
                state.failed.add(url)
            yield Failure(self.doc_id(url), f"{url}: {exc.reason}", transient=exc.transient, gone=gone)
            return
        document = False
        for item in self._read_page(resp, url, depth, state, scope, sitemap, starts):
            document = document or isinstance(item, Document)
            yield item
        if not document and getattr(resp, "from_cache", False):
            # a hub, a duplicate, a redirect or a file: its 304 is not an unchanged document
            self.http.not_a_page(resp)

    def _read_page(
        self,
        resp: Any,
        url: str,
        depth: int,
        state: CrawlState,
        scope: Scope,
        sitemap: dict[str, str | None],
        starts: set[str],
    ) -> Iterator[Item]:
        final = normalise_url(resp.url) or url
        if final != url:
            if final in state.seen:
                return
            if not scope.allows(final):
                yield Exclusion(self.doc_id(url), "scope", f"{url}: redirected out of scope to {final}")
                return
            state.seen.add(final)
        if _content_type(resp) not in HTML_TYPES:
            if url in starts:
                raise ConnectorConfigError(
                    f"{url} is not an HTML page ({_content_type(resp)}): check start_urls"
                )
            kind = _content_type(resp) or "no content type"
            yield Exclusion(self.doc_id(final), "type", f"{final}: {kind} (a web source indexes HTML pages)")
            return
        page = extract_html(decode_bytes(resp.content, resp.headers.get("Content-Type"), html=True))
        if self.settings.follow_links and not page.nofollow and depth < self.settings.max_depth:
            for href in [*page.links, *page.alternates.values()]:
                link = normalise_url(urljoin(final, href))
                if link and link not in state.seen and scope.allows(link):
                    state.seen.add(link)
                    state.frontier.append((link, depth + 1))
        native = final
        if page.canonical:
            canonical = normalise_url(urljoin(final, page.canonical))
            if canonical and canonical != final and scope.allows(canonical):
                if canonical in state.seen:  # fetched, queued or unchanged: that page speaks for itself
                    return
                state.seen.add(canonical)
                native = canonical
        if page.noindex:
            return
        if (
            self.settings.skip_hubs
            and page.main_links >= HUB_MIN_LINKS
            and page.link_density >= HUB_LINK_DENSITY
        ):
            # a hub (an index or a menu page): its links are crawled, it is no document
            log.debug(
                "%s: %s is a hub page (%.0f%% link text); not indexed",
                self.source.id,
                native,
                page.link_density * 100,
            )
            return
        if not page.text:
            state.failed.add(native)
            yield Failure(self.doc_id(native), f"{native}: no text in the page's main content")
            return
        # the same text under another declared language is a twin (an untranslated
        # fallback at /fr/), never a duplicate: the language is part of the key
        digest = hashlib.sha256(f"{page.language or ''}\0{page.text}".encode()).hexdigest()[:16]
        owner = state.claim(native, digest)
        if owner is not None:
            log.debug("%s: %s repeats the text of %s; skipped", self.source.id, native, owner)
            return
        state.indexed.add(native)
        yield self._document(native, page, sitemap.get(native) or sitemap.get(url))

    def ids(self) -> Iterable[str]:
        """The ids of this connector's last full run (pages that failed transiently
        included), else those of a new crawl."""
        if self._full_run_ids is None:
            for _ in self.documents(None):
                pass
        return list(self._full_run_ids or [])

    # -- mapping -----------------------------------------------------------------
    def _document(self, url: str, page: ExtractedHtml, lastmod: str | None) -> Document:
        created = parse_date(
            page.first("dcterms.created", "article:published_time", "dc.date.created", "date")
        )
        modified = parse_date(page.first("dcterms.modified", "article:modified_time", "dc.date.modified"))
        modified = modified or parse_date(lastmod)
        contributions = []
        email = page.first("author-email", "author_email")
        for position, name in enumerate(
            dict.fromkeys(n.strip() for n in page.meta.get("author", []) if n.strip())
        ):
            person = Person(name, email if position == 0 else None)
            contributions.append(
                Contribution(person, Role.AUTHOR, time=created or modified, size=len(page.text))
            )
        alternates: dict[str, str] = {}
        for hreflang, href in page.alternates.items():
            lang, target = normalise_language(hreflang), normalise_url(urljoin(url, href))
            if lang and target and target != url and lang != page.language:
                alternates.setdefault(lang, target)
        translation_of = None
        if page.language:
            earlier = sorted(lang for lang in alternates if lang < page.language)
            translation_of = self.doc_id(alternates[earlier[0]]) if earlier else None
        tags = split_keywords([*split_keywords(page.first("keywords")), *page.meta.get("article:tag", [])])
        return Document(
            id=self.doc_id(url),
            url=url,
            title=page.title or url,
            text=page.text,
            kind="page",
            language=page.language,
            created=created,
            modified=modified,
            contributions=tuple(contributions),
            tags=tags,
            translation_of=translation_of,
            alternates=alternates,
            source=self.source.id,
            agency=self.source.agency,
        )


def _compile(patterns: list[str], name: str) -> tuple[re.Pattern[str], ...]:
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern))
        except re.error as exc:
            raise ConnectorConfigError(
                f"{name}: {pattern!r} is not a valid regular expression ({exc})"
            ) from None
    return tuple(compiled)


def _content_type(resp: Any) -> str:
    return resp.headers.get("Content-Type", "").split(";")[0].strip().lower()


def _local(element: Any) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def _sitemap_entries(root: Any, name: str) -> Iterator[tuple[str, str | None]]:
    for entry in root:
        if _local(entry) != name:
            continue
        values = {_local(child): (child.text or "").strip() for child in entry if _local(child)}
        if values.get("loc"):
            yield values["loc"], values.get("lastmod") or None


def _changed_since(lastmod: str | None, since: datetime) -> bool:
    """A page without lastmod may have changed; a date-only lastmod covers its whole day."""
    when = parse_date(lastmod)
    if when is None:
        return True
    if len(lastmod or "") <= 10:
        return when.date() >= since.date()
    return when > since
