"""Serving the Flask app: several worker processes, or one waitress process.

A search is CPU-bound Python (query parsing, numpy over postings, Jinja). In one
process every request shares one GIL, so 20 clients got less than one client did
(issue 23). ``serve`` therefore runs gunicorn's pre-fork server: one master that owns
the socket, and *workers* processes that each open the store and the read-only Whoosh
index for themselves (after the fork: SQLite connections and open index files must not
cross it) and see new commits the way one process does. The master replaces a worker
that dies or hangs past :data:`WORKER_TIMEOUT`.

Where gunicorn is not there (or cannot fork: Windows), or with one worker, the app is
served by waitress in this process, as before.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import Any

import click

log = logging.getLogger(__name__)

#: seconds a worker may spend on one request before the master replaces it (a search
#: has its own budget of about a second; this is the last line of defence)
WORKER_TIMEOUT = 60
#: requests a worker answers before the master replaces it by a fresh one, with some
#: jitter so that workers do not restart together: whatever a request left behind
#: (fragmented heap, caches grown by one odd query) is bounded by it
MAX_REQUESTS = 50_000
MAX_REQUESTS_JITTER = 5_000


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


def multiprocess_available() -> bool:
    if not hasattr(os, "fork"):
        return False
    try:
        import gunicorn  # noqa: F401
    except ImportError:
        return False
    return True


def cannot_listen(host: str, port: int, exc: OSError) -> click.ClickException:
    return click.ClickException(
        f"cannot listen on {host}:{port}: {exc.strerror}; stop what uses it or pass --port"
    )


def run_app(app, host: str, port: int, threads: int = 8, announce: str = "") -> None:
    """Serve *app* with waitress in this process (Flask's own server is for development).

    *announce* is printed once the socket is bound, never before.
    """
    from waitress import create_server

    try:
        server = create_server(app, host=host, port=port, threads=threads, ident="Savoir")
    except OSError as exc:
        raise cannot_listen(host, port, exc) from None
    if announce:
        click.echo(announce)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


def run_workers(
    make_app: Callable[[], Any], host: str, port: int, *, workers: int, threads: int, announce: str = ""
) -> None:
    """Serve the app that *make_app* builds in each of *workers* processes (gunicorn).

    Each worker answers *threads* requests at once (I/O overlaps; Python work does not).
    """
    from gunicorn.app.base import BaseApplication
    from gunicorn.http import wsgi

    wsgi.SERVER = "Savoir"  # the Server header names the product, as waitress's ident does

    def when_ready(server) -> None:
        if announce:
            click.echo(announce)
            sys.stdout.flush()

    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread" if threads > 1 else "sync",
        "threads": threads,
        "timeout": WORKER_TIMEOUT,
        "graceful_timeout": 10,
        "keepalive": 5,
        "max_requests": MAX_REQUESTS,
        "max_requests_jitter": MAX_REQUESTS_JITTER,
        "loglevel": logging.getLevelName(
            min(logging.getLogger().getEffectiveLevel(), logging.WARNING)
        ).lower(),
        "accesslog": None,
        "proc_name": "savoir-serve",
        "when_ready": when_ready,
        # workers build the app after the fork: nothing open crosses it
        "preload_app": False,
    }

    class Server(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self):
            return make_app()

    try:
        Server().run()
    except KeyboardInterrupt:
        pass
