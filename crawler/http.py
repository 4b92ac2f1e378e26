"""The one HTTP session every connector receives.

Politeness lives here, not in connectors (as Scrapy keeps it out of spiders):
robots.txt (protego, cached per origin, Crawl-delay honoured), a minimum delay
between requests to one host with jitter, growing with the host's latency, a
per-host concurrency limit, retries with capped exponential backoff on connection
errors, 429 and 5xx (honouring Retry-After), conditional GET with remembered
ETag/Last-Modified, response size and time limits, a redirect limit and an honest
User-Agent.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import os
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import requests
from protego import Protego

from config.loader import HttpSettings
from connectors.base import IN_CRAWLER_SESSION, FetchError, RobotsDisallowed

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

__all__ = ["FetchError", "RobotsDisallowed", "HttpSession", "HttpCache", "HttpSettings", "IN_CRAWLER_SESSION"]


@dataclass
class HostSlot:
    lock: threading.Lock = field(default_factory=threading.Lock)
    inflight: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(1))
    next_time: float = 0.0
    crawl_delay: float = 0.0
    latency: float = 0.0  # smoothed seconds per response


class HostSlots:
    """The politeness slots of every host, shared by all sessions of a process: two runs
    (the worker's threads) reading one host take turns, as one run's requests do."""

    def __init__(self) -> None:
        self._slots: dict[str, HostSlot] = {}
        self._lock = threading.Lock()

    def get(self, host: str, concurrency: int) -> HostSlot:
        with self._lock:
            slot = self._slots.get(host)
            if slot is None:
                slot = HostSlot(inflight=threading.Semaphore(max(1, concurrency)))
                self._slots[host] = slot
            return slot


#: the process's slots (a session may be given its own, e.g. for a benchmark)
SHARED_SLOTS = HostSlots()


@dataclass
class HttpStats:
    requests: Counter = field(default_factory=Counter)  # per host
    bytes: int = 0
    not_modified: int = 0
    retries: int = 0


class HttpCache:
    """Validators and bodies of earlier responses, on disk, for conditional GET.

    The body is kept so that a 304 still gives the connector the page (a web crawl
    needs its links). Files are written atomically; a damaged entry is ignored.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _paths(self, key: str) -> tuple[Path, Path]:
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
        folder = self.root / digest[:2]
        return folder / f"{digest}.json", folder / f"{digest}.body"

    def get(self, key: str) -> tuple[dict[str, Any], bytes] | None:
        meta_path, body_path = self._paths(key)
        try:
            meta = json.loads(meta_path.read_text("utf-8"))
            body = body_path.read_bytes()
        except (OSError, ValueError):
            return None
        if meta.get("key") != key or len(body) != meta.get("size"):
            return None
        return meta, body

    def put(self, key: str, headers: dict[str, str], body: bytes) -> None:
        meta_path, body_path = self._paths(key)
        meta_path.parent.mkdir(parents=True, exist_ok=True)
        meta = {"key": key, "size": len(body), "headers": headers}
        for path, data in ((body_path, body), (meta_path, json.dumps(meta).encode("utf-8"))):
            tmp = path.with_suffix(path.suffix + f".{os.getpid()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)


KEPT_HEADERS = ("content-type", "etag", "last-modified", "content-language", "link")


class HttpSession:
    """A polite HTTP client, thread-safe. Connectors call :meth:`get` (or :meth:`post`)."""

    def __init__(
        self,
        settings: HttpSettings | None = None,
        *,
        cache: HttpCache | None = None,
        clock=time.monotonic,
        sleep=time.sleep,
        slots: HostSlots | None = None,
    ) -> None:
        self.settings = settings or HttpSettings()
        self._session = requests.Session()
        self._session.headers["User-Agent"] = self.settings.user_agent
        if self.settings.contact:
            self._session.headers["From"] = self.settings.contact
        self._session.max_redirects = self.settings.max_redirects
        self._slots = slots or SHARED_SLOTS
        self._robots: dict[str, Protego | None] = {}
        self._robots_text: dict[str, str | None] = {}
        self._robots_lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep
        self.cache = cache if self.settings.conditional_get else None
        self.stats = HttpStats()
        #: request authentication (e.g. ``("user", "password")``) set by a connector
        self.auth: Any = None

    # -- politeness -----------------------------------------------------------
    def _slot(self, host: str) -> HostSlot:
        return self._slots.get(host, self.settings.per_host_concurrency)

    def host_delay(self, host: str) -> float:
        """The current minimum gap between two requests to *host*."""
        slot = self._slot(host)
        delay = max(self.settings.min_delay, slot.crawl_delay)
        if self.settings.adaptive_delay and self.settings.min_delay > 0:
            delay = max(delay, slot.latency)
        return delay

    def _take_turn(self, host: str, slot: HostSlot) -> None:
        """Wait until *host* may get another request, and book the next turn."""
        with slot.lock:
            wait = slot.next_time - self._clock()
            if wait > 0:
                self._sleep(wait)
            delay = self.host_delay(host)
            if delay > 0 and self.settings.jitter > 0:
                delay += random.uniform(0, delay * self.settings.jitter)
            slot.next_time = self._clock() + delay

    def _push_back(self, slot: HostSlot, seconds: float) -> None:
        with slot.lock:
            slot.next_time = max(slot.next_time, self._clock() + seconds)

    def robots_txt(self, origin: str) -> str | None:
        """The text of *origin*'s robots.txt (None when it has none), fetched once per session."""
        with self._robots_lock:
            if origin in self._robots_text:
                return self._robots_text[origin]
            text: str | None = None
            try:
                resp = self.request("GET", urljoin(origin, "/robots.txt"), check_robots=False, auxiliary=True)
                if resp.status_code == 200:
                    text = resp.text
            except FetchError as exc:
                if exc.status is None or exc.status >= 500:
                    log.info("robots.txt of %s unavailable (%s); crawling as allowed", origin, exc.reason)
            self._robots_text[origin] = text
            return text

    def _robots_for(self, url: str) -> Protego | None:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        text = self.robots_txt(origin)
        with self._robots_lock:
            if origin in self._robots:
                return self._robots[origin]
            parser = Protego.parse(text) if text is not None else None
            self._robots[origin] = parser
        if parser is not None:
            delay = parser.crawl_delay(self.settings.user_agent)
            if delay:
                self._slot(parts.netloc).crawl_delay = float(delay)
        return parser

    def allowed(self, url: str) -> bool:
        if not self.settings.obey_robots:
            return True
        parser = self._robots_for(url)
        return parser is None or parser.can_fetch(url, self.settings.user_agent)

    def not_a_page(self, resp: requests.Response) -> None:
        """A connector says a response revalidated by a 304 gave no document (a hub page,
        a duplicate): it leaves the count of unchanged pages, which then adds up."""
        if getattr(resp, "from_cache", False) and not getattr(resp, "_savoir_discounted", False):
            resp._savoir_discounted = True  # type: ignore[attr-defined]
            self.stats.not_modified -= 1

    # -- requests -------------------------------------------------------------
    def get(
        self, url: str, *, params: dict | None = None, headers: dict | None = None, auxiliary: bool = False
    ) -> requests.Response:
        """GET *url* politely; raise :class:`FetchError` when it finally fails.

        An unchanged page revalidated with a 304 is returned from the cache with
        ``resp.from_cache = True`` and status 200. *auxiliary*: see :meth:`request`.
        """
        return self.request("GET", url, params=params, headers=headers, auxiliary=auxiliary)

    def post(
        self, url: str, *, data: Any = None, json: Any = None, headers: dict | None = None
    ) -> requests.Response:
        return self.request("POST", url, data=data, json=json, headers=headers)

    def request(
        self, method: str, url: str, *, check_robots: bool = True, auxiliary: bool = False, **kwargs: Any
    ) -> requests.Response:
        """One request, its redirects followed here: every hop waits for its host's turn
        and is checked against that host's robots.txt.

        *auxiliary* marks the crawl's own bookkeeping (robots.txt, sitemaps): its 304s are
        not counted among unchanged pages.
        """
        if urlsplit(url).scheme not in ("http", "https"):
            raise FetchError(url, "only http and https URLs can be fetched")
        origin_host = urlsplit(url).netloc
        current, hops = url, 0
        while True:
            if check_robots and not self.allowed(current):
                raise RobotsDisallowed(current)
            same_host = urlsplit(current).netloc == origin_host
            resp = self._fetch(
                current,
                method,
                kwargs,
                use_cache=method == "GET" and check_robots,
                auth=self.auth if same_host else None,
                auxiliary=auxiliary,
            )
            location = resp.headers.get("Location")
            if resp.status_code not in REDIRECT_STATUSES or not location:
                return resp
            hops += 1
            if hops > self.settings.max_redirects:
                raise FetchError(url, f"more than {self.settings.max_redirects} redirects")
            current = urljoin(current, location)
            if urlsplit(current).scheme not in ("http", "https"):
                raise FetchError(url, f"redirected to {current}, which is not http(s)")
            if resp.status_code == 303 or (resp.status_code in (301, 302) and method == "POST"):
                method = "GET"
                kwargs = {k: v for k, v in kwargs.items() if k not in ("data", "json")}

    def _fetch(
        self,
        url: str,
        method: str,
        kwargs: dict[str, Any],
        *,
        use_cache: bool,
        auth: Any = None,
        auxiliary: bool = False,
    ) -> requests.Response:
        host = urlsplit(url).netloc
        slot = self._slot(host)
        s = self.settings
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        headers = dict(kwargs.pop("headers", None) or {})
        cache_key = url + (
            "?" + urlencode(sorted(kwargs["params"].items()), doseq=True) if kwargs.get("params") else ""
        )
        cached = self.cache.get(cache_key) if (self.cache and use_cache) else None
        if cached:
            kept = cached[0]["headers"]
            if "etag" in kept:
                headers["If-None-Match"] = kept["etag"]
            if "last-modified" in kept:
                headers["If-Modified-Since"] = kept["last-modified"]
        attempt = 0
        while True:
            attempt += 1
            self._take_turn(host, slot)
            retry_after: float | None = None
            with slot.inflight:
                token = IN_CRAWLER_SESSION.set(True)
                started = self._clock()
                try:
                    self.stats.requests[host] += 1
                    resp = self._session.request(
                        method,
                        url,
                        headers=headers,
                        timeout=s.timeout,
                        stream=True,
                        auth=auth,
                        allow_redirects=False,
                        **kwargs,
                    )
                    body = self._read_capped(resp, url)
                    error: FetchError | None = None
                except FetchError as exc:
                    if not exc.transient:
                        raise
                    error = exc
                except requests.Timeout:
                    error = FetchError(url, f"no answer within {s.timeout:g}s", transient=True)
                except requests.ConnectionError as exc:
                    error = FetchError(url, f"connection failed ({_short_reason(exc)})", transient=True)
                except requests.RequestException as exc:
                    raise FetchError(url, f"bad request: {_short_reason(exc)}") from None
                finally:
                    IN_CRAWLER_SESSION.reset(token)
                latency = self._clock() - started
            if error is None:
                slot.latency = latency if slot.latency == 0 else (slot.latency + latency) / 2
                if resp.status_code == 304 and cached:
                    if not auxiliary:
                        self.stats.not_modified += 1
                    return _from_cache(resp, url, cached)
                if resp.status_code in RETRY_STATUSES:
                    retry_after = _retry_after_seconds(resp.headers.get("Retry-After"))
                    error = FetchError(
                        url, f"HTTP {resp.status_code}", status=resp.status_code, transient=True
                    )
                elif resp.status_code >= 400:
                    raise FetchError(url, f"HTTP {resp.status_code}", status=resp.status_code)
                else:
                    resp._content = body  # type: ignore[attr-defined]
                    resp._content_consumed = True  # type: ignore[attr-defined]
                    resp.from_cache = False  # type: ignore[attr-defined]
                    self.stats.bytes += len(body)
                    if self.cache and use_cache and resp.status_code == 200:
                        kept = {k: resp.headers[k] for k in KEPT_HEADERS if k in resp.headers}
                        if "etag" in kept or "last-modified" in kept:
                            self.cache.put(cache_key, kept, body)
                    return resp
            if attempt > s.max_retries:
                raise error
            if retry_after is not None and retry_after > s.max_retry_after:
                raise FetchError(
                    url,
                    f"server asked to wait {retry_after:.0f}s (more than max_retry_after)",
                    status=error.status,
                    transient=True,
                )
            wait = (
                retry_after
                if retry_after is not None
                else min(s.backoff_cap, s.backoff_base * 2 ** (attempt - 1))
            )
            self.stats.retries += 1
            log.info(
                "retrying %s in %.1fs after %s (attempt %d of %d)",
                url,
                wait,
                error.reason,
                attempt,
                s.max_retries + 1,
            )
            self._push_back(slot, wait)

    def _read_capped(self, resp: requests.Response, url: str) -> bytes:
        limit = self.settings.max_bytes
        declared = resp.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > limit:
            resp.close()
            raise FetchError(url, f"response of {int(declared)} bytes exceeds the {limit}-byte limit")
        chunks, size = [], 0
        deadline = self._clock() + self.settings.timeout * 3
        try:
            for chunk in resp.iter_content(64 * 1024):
                size += len(chunk)
                if size > limit:
                    raise FetchError(url, f"response exceeds the {limit}-byte limit")
                if self._clock() > deadline:
                    raise FetchError(
                        url, f"body took longer than {self.settings.timeout * 3:g}s", transient=True
                    )
                chunks.append(chunk)
        except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError) as exc:
            raise FetchError(
                url, f"truncated or damaged response ({type(exc).__name__})", transient=True
            ) from None
        except requests.exceptions.ConnectionError as exc:
            raise FetchError(
                url, f"connection lost while reading ({_short_reason(exc)})", transient=True
            ) from None
        finally:
            resp.close()
        if (
            declared
            and declared.isdigit()
            and size < int(declared)
            and "Content-Encoding" not in resp.headers
        ):
            raise FetchError(url, f"truncated response: {size} of {declared} bytes", transient=True)
        return b"".join(chunks)

    def close(self) -> None:
        self._session.close()


def _from_cache(resp: requests.Response, url: str, cached: tuple[dict[str, Any], bytes]) -> requests.Response:
    meta, body = cached
    out = requests.Response()
    out.status_code = 200
    out.url = resp.url or url
    out.headers.update(meta["headers"])
    out._content = body  # type: ignore[attr-defined]
    out._content_consumed = True  # type: ignore[attr-defined]
    out.encoding = requests.utils.get_encoding_from_headers(out.headers)
    out.request = resp.request
    out.from_cache = True  # type: ignore[attr-defined]
    return out


def _short_reason(exc: Exception) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "timed out", "Connection reset"):
        if marker in text:
            return marker
    return type(exc).__name__


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
