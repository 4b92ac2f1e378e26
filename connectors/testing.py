"""The conformance suite every connector's tests run.

Subclass :class:`ConnectorConformance` in a ``test_*.py`` module and provide:

- a ``make_connector`` fixture: a zero-argument callable returning a fresh connector
  reading the same source (with its HTTP session when it needs one);
- a ``mutate_source`` fixture: a zero-argument callable that changes or adds one
  document at the source (the incremental test calls it between two runs);
- the example settings, as an ``example_settings`` dict class attribute or fixture;
- ``expects_authors = False`` if the source does not name authors on every document.

Every run the suite makes goes through :func:`guarded`, which fails the test when the
connector reaches the network other than through the crawler's session, or sleeps. A
connector whose protocol is not HTTP (SMB) declares the one server it connects to
itself with an ``own_connections()`` method returning ``[(host, port)]``; the guard lets
sockets to those through and still fails any HTTP request made outside the session.
"""

from __future__ import annotations

import dataclasses
import socket
import sys
import time
import types
import typing
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar
from unittest import mock

import pytest
import requests.adapters

from config.loader import build_dataclass
from connectors.base import (
    IN_CRAWLER_SESSION,
    Checkpoint,
    Connector,
    Deletion,
    Document,
    Exclusion,
    Failure,
    Profile,
    Role,
    get_connector_class,
)

__all__ = ["ConnectorConformance", "FixtureServer", "Run", "collect", "guarded", "run_connector"]

ALLOWED_FIELD_TYPES = (str, int, float, bool, list[str], dict)


@dataclasses.dataclass
class Run:
    """What one call to ``documents()`` yielded, in order and sorted by type."""

    items: list[Any]
    docs: list[Document]
    deletions: list[Deletion]
    checkpoints: list[Checkpoint]
    failures: list[Failure]

    @property
    def doc_ids(self) -> list[str]:
        return [d.id for d in self.docs]

    @property
    def hashes(self) -> dict[str, str]:
        return {d.id: d.content_hash() for d in self.docs}


def collect(items: Iterable[Any]) -> tuple[list[Document], list[Deletion], list[Checkpoint], list[Failure]]:
    """Split a connector's items into (documents, deletions, checkpoints, failures)."""
    docs, deletions, checkpoints, failures = [], [], [], []
    for item in items:
        if isinstance(item, Document):
            docs.append(item)
        elif isinstance(item, Deletion):
            deletions.append(item)
        elif isinstance(item, Checkpoint):
            checkpoints.append(item)
        elif isinstance(item, Failure):
            failures.append(item)
        elif isinstance(item, (Exclusion, Profile)):
            continue  # left out on purpose, or facts about an account: not documents
        else:
            raise AssertionError(
                f"connector yielded {item!r}, which is not a Document/Deletion/Checkpoint/Failure"
            )
    return docs, deletions, checkpoints, failures


@contextmanager
def guarded(allow: Iterable[tuple[str, int]] = ()) -> Iterator[list[str]]:
    """Record (and fail) any network access outside the crawler's session and any sleep
    called from a ``connectors.*`` module. Yields the list of violations; it must stay empty.
    Violations also raise, but a connector may swallow that, hence the list. Sockets to
    the (host, port) pairs in *allow* are let through (a non-HTTP connector's server)."""
    violations: list[str] = []
    allowed = {(host, int(port)) for host, port in allow}
    original_send = requests.adapters.HTTPAdapter.send
    original_create = socket.create_connection
    original_sleep = time.sleep

    def violation(message: str) -> AssertionError:
        violations.append(message)
        return AssertionError(message)

    def send(adapter: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        if not IN_CRAWLER_SESSION.get():
            raise violation(f"direct HTTP request to {request.url} outside the crawler's HttpSession")
        return original_send(adapter, request, *args, **kwargs)

    def create_connection(address: Any, *args: Any, **kwargs: Any) -> Any:
        if not IN_CRAWLER_SESSION.get() and tuple(address[:2]) not in allowed:
            raise violation(f"direct socket connection to {address!r} outside the crawler's HttpSession")
        return original_create(address, *args, **kwargs)

    def urlopen(url: Any, *args: Any, **kwargs: Any) -> Any:
        raise violation(f"urllib.request.urlopen({getattr(url, 'full_url', url)!r}) called by a connector")

    def sleep(seconds: float) -> None:
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if caller.startswith("connectors."):
            raise violation(f"{caller} called time.sleep({seconds!r}); connectors never sleep")
        original_sleep(seconds)

    with (
        mock.patch.object(requests.adapters.HTTPAdapter, "send", send),
        mock.patch.object(socket, "create_connection", create_connection),
        mock.patch.object(urllib.request, "urlopen", urlopen),
        mock.patch.object(time, "sleep", sleep),
    ):
        yield violations


def own_connections(connector: Connector) -> list[tuple[str, int]]:
    """The servers a non-HTTP connector declares it connects to itself (none for HTTP)."""
    declared = getattr(connector, "own_connections", None)
    return list(declared()) if callable(declared) else []


def run_connector(connector: Connector, checkpoint: Checkpoint | None = None) -> Run:
    """One guarded ``documents(checkpoint)`` run, collected."""
    with guarded(own_connections(connector)) as violations:
        items = list(connector.documents(checkpoint))
    assert not violations, violations
    return Run(items, *collect(items))


def _is_utc(value: Any) -> bool:
    return value is None or (value.tzinfo is not None and value.utcoffset().total_seconds() == 0)


class ConnectorConformance:
    """Tests every connector passes. Not collected itself (no ``Test`` prefix)."""

    expects_authors: ClassVar[bool] = True
    #: a source with fewer documents may skip the resume test when it yields no mid-run checkpoint
    small_source: ClassVar[int] = 50

    @pytest.fixture
    def make_connector(self) -> Callable[[], Connector]:
        pytest.fail("a conformance subclass must provide the make_connector fixture")

    @pytest.fixture
    def mutate_source(self) -> Callable[[], Any]:
        pytest.fail("a conformance subclass must provide the mutate_source fixture")

    @pytest.fixture
    def full_run(self, make_connector: Callable[[], Connector]) -> Run:
        return run_connector(make_connector())

    def _example_settings(self, request: pytest.FixtureRequest) -> dict[str, Any]:
        value = getattr(type(self), "example_settings", None)
        if isinstance(value, dict):
            return value
        try:
            return request.getfixturevalue("example_settings")
        except pytest.FixtureLookupError:
            pytest.fail("provide example_settings (a dict class attribute or fixture)")

    # -- settings and registration -------------------------------------------------
    def test_settings_build_from_example(self, make_connector, request) -> None:
        cls = type(make_connector()).Settings
        assert dataclasses.is_dataclass(cls), "Settings must be a dataclass"
        built = build_dataclass(cls, dict(self._example_settings(request)), "example")
        assert isinstance(built, cls)
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            assert f.metadata.get("label"), f"setting {f.name!r} needs a label for the admin form"
            annotation = hints[f.name]
            inner = [a for a in typing.get_args(annotation) if a is not type(None)]
            if typing.get_origin(annotation) in (typing.Union, types.UnionType):
                annotation = inner[0]
            assert annotation in ALLOWED_FIELD_TYPES, (
                f"setting {f.name!r} has unsupported type {annotation!r}"
            )

    def test_registered_under_its_kind(self, make_connector) -> None:
        connector = make_connector()
        assert connector.kind, "register the connector class with @register(kind)"
        assert get_connector_class(connector.kind) is type(connector)

    def test_check_passes(self, make_connector) -> None:
        connector = make_connector()
        with guarded(own_connections(connector)) as violations:
            connector.check()
        assert not violations, violations

    # -- one full run ----------------------------------------------------------------
    def test_full_run_yields_documents_and_ends_with_checkpoint(self, full_run: Run) -> None:
        assert full_run.docs, "a full run of the test source yielded no document"
        assert isinstance(full_run.items[-1], Checkpoint), "a full run must end with a Checkpoint"

    def test_ids_carry_source_id_and_are_unique(self, full_run: Run, make_connector) -> None:
        prefix = f"{make_connector().source.id}:"
        for doc in full_run.docs:
            assert doc.id.startswith(prefix) and len(doc.id) > len(prefix), doc.id
            if doc.translation_of is not None:
                assert doc.translation_of.startswith(prefix), doc.translation_of
        duplicates = sorted({i for i in full_run.doc_ids if full_run.doc_ids.count(i) > 1})
        assert not duplicates, f"ids yielded twice in one run: {duplicates}"

    def test_documents_are_well_formed(self, full_run: Run, make_connector) -> None:
        kinds = type(make_connector()).document_kinds
        for doc in full_run.docs:
            assert doc.url and doc.title.strip(), doc.id
            assert doc.text.strip() and "\n\n\n" not in doc.text, doc.id
            assert doc.kind in kinds, f"{doc.id}: kind {doc.kind!r} not in document_kinds {kinds}"
            assert doc.language is None or (doc.language.isalpha() and doc.language.islower()), doc.language
            for lang, url in doc.alternates.items():
                assert lang.isalpha() and lang.islower() and "://" in url, (doc.id, lang, url)
            assert all(isinstance(t, str) and t for t in doc.tags), doc.id
            assert all(c.size >= 0 and c.person.name for c in doc.contributions), doc.id
        for failure in full_run.failures:
            assert failure.ref and failure.reason.strip() and "\n" not in failure.reason, failure

    def test_times_are_aware_utc(self, full_run: Run) -> None:
        for doc in full_run.docs:
            times = [doc.created, doc.modified, *(c.time for c in doc.contributions)]
            assert all(_is_utc(t) for t in times), f"{doc.id}: times must be aware UTC: {times}"

    def test_authors_present(self, full_run: Run) -> None:
        named = []
        for doc in full_run.docs:
            authors = [c for c in doc.contributions if c.role is Role.AUTHOR and c.person.name.strip()]
            if self.expects_authors:
                assert authors, f"{doc.id} has no author"
            named += authors
            # whoever a source names, it names properly
            for c in doc.contributions:
                assert c.person.name.strip() or c.person.email or c.person.username, (
                    f"{doc.id}: nameless person"
                )
        # a source whose formats do not all name authors still names them where it can
        assert named, "no document of the full run names an author"

    # -- several runs ------------------------------------------------------------------
    def test_stable_ids_and_hashes_across_runs(self, full_run: Run, make_connector) -> None:
        again = run_connector(make_connector())
        assert again.doc_ids == full_run.doc_ids
        assert again.hashes == full_run.hashes, (
            "content_hash() changed between two runs of an unchanged source"
        )

    def test_ids_match_full_run(self, full_run: Run, make_connector) -> None:
        # Feeds too: ids() lists what the source has now. (Their full runs are not used
        # for deletions, because old entries fall off a feed without being deleted.)
        connector = make_connector()
        with guarded(own_connections(connector)) as violations:
            listed = list(connector.ids())
        assert not violations, violations
        assert len(listed) == len(set(listed)), "ids() lists an id twice"
        docs = set(full_run.doc_ids)
        assert docs <= set(listed), f"ids() misses {sorted(docs - set(listed))}"
        # an item that failed to parse still exists at the source: it may be listed, nothing else
        extra = set(listed) - docs - {f.ref for f in full_run.failures}
        assert not extra, f"ids() lists ids the full run neither yielded nor reported: {sorted(extra)}"

    def test_incremental_after_change_is_subset_of_full(
        self, full_run: Run, make_connector, mutate_source
    ) -> None:
        end = full_run.items[-1]
        assert isinstance(end, Checkpoint)
        mutate_source()
        incremental = run_connector(make_connector(), end)
        after = run_connector(make_connector())
        changed = {i for i, h in after.hashes.items() if full_run.hashes.get(i) != h}
        assert changed, "mutate_source() changed no document"
        assert changed <= set(incremental.doc_ids), (
            f"incremental run missed {sorted(changed - set(incremental.doc_ids))}"
        )
        assert set(incremental.doc_ids) <= set(after.doc_ids)
        assert isinstance(incremental.items[-1], Checkpoint), "an incremental run must end with a Checkpoint"

    def test_resume_from_mid_run_checkpoint(self, full_run: Run, make_connector) -> None:
        positions = [i for i, item in enumerate(full_run.items[:-1]) if isinstance(item, Checkpoint)]
        positions = [i for i in positions if any(isinstance(x, Document) for x in full_run.items[i + 1 :])]
        if not positions:
            if len(full_run.docs) < self.small_source:
                # one fetch holds the whole source (a feed): resuming from the end of a
                # full run over an unchanged source brings nothing new and ends cleanly
                resumed = run_connector(make_connector(), full_run.items[-1])
                assert set(resumed.doc_ids) <= set(full_run.doc_ids)
                assert all(resumed.hashes[i] == full_run.hashes[i] for i in resumed.doc_ids)
                assert isinstance(resumed.items[-1], Checkpoint)
                return
            pytest.fail(
                f"{len(full_run.docs)} documents and no mid-run Checkpoint: a crash restarts from zero"
            )
        expected = set(full_run.doc_ids)
        for position in positions:
            before = {x.id for x in full_run.items[:position] if isinstance(x, Document)}
            resumed = run_connector(make_connector(), full_run.items[position])
            assert before | set(resumed.doc_ids) == expected, f"resume from item {position} lost or added ids"
            assert isinstance(resumed.items[-1], Checkpoint)


# -- a real HTTP server over a fixture folder -----------------------------------------

CONTENT_TYPES = {
    ".html": "text/html",
    ".htm": "text/html",
    ".xml": "application/xml",
    ".gz": "application/gzip",
    ".txt": "text/plain; charset=utf-8",
    ".rss": "application/rss+xml",
    ".atom": "application/atom+xml",
    ".pdf": "application/pdf",
}


class FixtureServer:
    """Serve a folder on 127.0.0.1 (a ``ThreadingHTTPServer`` in a thread), replacing
    ``{{BASE}}`` in every file by the server's base URL. ``X.gz`` that does not exist is
    served as ``X`` gzipped. ``headers[path]`` overrides response headers of one path and
    ``status[path]`` answers that path with a bare status code (fault injection).

    Use as a context manager; ``base`` is ``http://127.0.0.1:<port>``."""

    def __init__(self, root: Any) -> None:
        from pathlib import Path

        self.root = Path(root)
        self.headers: dict[str, dict[str, str]] = {}
        self.status: dict[str, int] = {}
        self.requests: list[str] = []
        self.base = ""
        self._server: Any = None
        self._thread: Any = None

    def __enter__(self) -> FixtureServer:
        import gzip
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import unquote, urlsplit

        fixture = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                path = unquote(urlsplit(self.path).path)
                fixture.requests.append(self.path)
                if path in fixture.status:
                    self._answer(fixture.status[path], b"", "text/plain")
                    return
                file = (fixture.root / path.lstrip("/")).resolve()
                if fixture.root.resolve() not in file.parents and file != fixture.root.resolve():
                    self._answer(404, b"not found", "text/plain")
                    return
                if file.is_dir():
                    file = file / "index.html"
                gzipped = not file.exists() and file.suffix == ".gz" and file.with_suffix("").is_file()
                source = file.with_suffix("") if gzipped else file
                if not source.is_file():
                    self._answer(404, b"<h1>Not found</h1>", "text/html")
                    return
                body = source.read_bytes().replace(b"{{BASE}}", fixture.base.encode("ascii"))
                if gzipped:
                    body = gzip.compress(body, mtime=0)
                ctype = CONTENT_TYPES.get(file.suffix.lower(), "application/octet-stream")
                self._answer(200, body, ctype, fixture.headers.get(path, {}))

            def _answer(
                self, code: int, body: bytes, ctype: str, extra: dict[str, str] | None = None
            ) -> None:
                headers = {"Content-Type": ctype, **(extra or {})}
                self.send_response(code)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="fixture-http",
            daemon=True,
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
