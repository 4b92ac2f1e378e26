"""The one HTTP session every connector receives.

Politeness lives here, not in connectors: robots.txt (protego, cached per host,
Crawl-delay honoured), a minimum delay per host with jitter, retries with capped
exponential backoff on connection errors, 429 and 5xx (honouring Retry-After),
response size and time limits, a redirect limit and an honest User-Agent.
"""

from __future__ import annotations

import contextvars
import email.utils
import logging
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from protego import Protego

from config.loader import HttpSettings

log = logging.getLogger(__name__)

#: Set while a request goes through :class:`HttpSession`; the conformance suite
#: checks that no connector reaches the network any other way.
IN_CRAWLER_SESSION: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "savoir_in_crawler_session", default=False
)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class FetchError(Exception):
    """A URL could not be fetched; ``transient`` says whether a later try may work."""

    def __init__(self, url: str, reason: str, *, status: int | None = None, transient: bool = False):
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason
        self.status = status
        self.transient = transient


class RobotsDisallowed(FetchError):
    def __init__(self, url: str):
        super().__init__(url, "disallowed by robots.txt")


@dataclass
class HostSlot:
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_time: float = 0.0
    crawl_delay: float = 0.0


@dataclass
class HttpStats:
    requests: Counter = field(default_factory=Counter)  # per host
    bytes: int = 0
    not_modified: int = 0


class HttpSession:
    """A polite client. Thread-safe; one request at a time per host."""

    def __init__(self, settings: HttpSettings | None = None, *, clock=time.monotonic, sleep=time.sleep):
        self.settings = settings or HttpSettings()
        self._session = requests.Session()
        self._session.headers["User-Agent"] = self.settings.user_agent
        self._session.max_redirects = self.settings.max_redirects
        self._slots: dict[str, HostSlot] = {}
        self._slots_lock = threading.Lock()
        self._robots: dict[str, Protego | None] = {}
        self._clock = clock
        self._sleep = sleep
        self.stats = HttpStats()
        self.auth: Any = None

    # -- politeness -----------------------------------------------------------
    def _slot(self, host: str) -> HostSlot:
        with self._slots_lock:
            return self._slots.setdefault(host, HostSlot())

    def _wait_turn(self, slot: HostSlot) -> None:
        now = self._clock()
        if slot.next_time > now:
            self._sleep(slot.next_time - now)

    def _schedule_next(self, slot: HostSlot, extra: float = 0.0) -> None:
        delay = max(self.settings.min_delay, slot.crawl_delay)
        if delay > 0 and self.settings.jitter > 0:
            delay += random.uniform(0, delay * self.settings.jitter)
        slot.next_time = self._clock() + delay + extra

    def _robots_for(self, url: str) -> Protego | None:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin in self._robots:
            return self._robots[origin]
        parser: Protego | None = None
        try:
            resp = self._raw_get(urljoin(origin, "/robots.txt"), allow_robots=True)
            if resp.status_code == 200:
                parser = Protego.parse(resp.text)
        except FetchError as exc:
            log.info("no robots.txt for %s (%s); crawling as allowed", origin, exc.reason)
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

    # -- requests -------------------------------------------------------------
    def get(self, url: str, *, params: dict | None = None, headers: dict | None = None) -> requests.Response:
        """GET *url* politely; raise :class:`FetchError` when it finally fails."""
        return self.request("GET", url, params=params, headers=headers)

    def post(self, url: str, *, data: Any = None, json: Any = None, headers: dict | None = None) -> requests.Response:
        return self.request("POST", url, data=data, json=json, headers=headers)

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        if not self.allowed(url):
            raise RobotsDisallowed(url)
        return self._raw_get(url, method=method, **kwargs)

    def _raw_get(self, url: str, *, method: str = "GET", allow_robots: bool = False, **kwargs: Any) -> requests.Response:
        host = urlsplit(url).netloc
        slot = self._slot(host)
        s = self.settings
        attempt = 0
        while True:
            attempt += 1
            with slot.lock:
                self._wait_turn(slot)
                token = IN_CRAWLER_SESSION.set(True)
                retry_after: float | None = None
                try:
                    self.stats.requests[host] += 1
                    resp = self._session.request(
                        method, url, timeout=s.timeout, stream=True, auth=self.auth, **kwargs
                    )
                    body = self._read_capped(resp, url)
                except FetchError as exc:
                    self._schedule_next(slot)
                    if not exc.transient:
                        raise
                    error = exc
                except requests.TooManyRedirects:
                    self._schedule_next(slot)
                    raise FetchError(url, f"more than {s.max_redirects} redirects") from None
                except (requests.ConnectionError, requests.Timeout) as exc:
                    error: FetchError = FetchError(
                        url, f"connection failed: {type(exc).__name__}", transient=True
                    )
                    self._schedule_next(slot)
                else:
                    if resp.status_code in RETRY_STATUSES:
                        retry_after = _retry_after_seconds(resp.headers.get("Retry-After"))
                        error = FetchError(url, f"HTTP {resp.status_code}", status=resp.status_code, transient=True)
                        self._schedule_next(slot)
                    elif resp.status_code >= 400:
                        self._schedule_next(slot)
                        raise FetchError(url, f"HTTP {resp.status_code}", status=resp.status_code)
                    else:
                        self._schedule_next(slot)
                        resp._content = body  # type: ignore[attr-defined]
                        resp._content_consumed = True  # type: ignore[attr-defined]
                        self.stats.bytes += len(body)
                        return resp
                finally:
                    IN_CRAWLER_SESSION.reset(token)
            if attempt > s.max_retries:
                raise error
            if retry_after is not None and retry_after > s.max_retry_after:
                raise FetchError(url, f"server asked to wait {retry_after:.0f}s", status=error.status, transient=True)
            wait = retry_after if retry_after is not None else min(s.backoff_cap, s.backoff_base * 2 ** (attempt - 1))
            log.info("retrying %s in %.1fs after %s (attempt %d)", url, wait, error.reason, attempt)
            with slot.lock:
                slot.next_time = max(slot.next_time, self._clock() + wait)

    def _read_capped(self, resp: requests.Response, url: str) -> bytes:
        limit = self.settings.max_bytes
        declared = resp.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > limit:
            resp.close()
            raise FetchError(url, f"response of {int(declared)} bytes exceeds the {limit}-byte limit")
        chunks, size = [], 0
        try:
            for chunk in resp.iter_content(64 * 1024):
                size += len(chunk)
                if size > limit:
                    raise FetchError(url, f"response exceeds the {limit}-byte limit")
                chunks.append(chunk)
        except requests.exceptions.ChunkedEncodingError as exc:
            raise FetchError(url, f"truncated response ({exc.__class__.__name__})", transient=True) from None
        finally:
            resp.close()
        if declared and declared.isdigit() and size < int(declared) and "Content-Encoding" not in resp.headers:
            raise FetchError(url, f"truncated response: {size} of {declared} bytes", transient=True)
        return b"".join(chunks)

    def close(self) -> None:
        self._session.close()


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
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
