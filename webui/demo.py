"""``savoir demo``: serve the bundled intranet on loopback, crawl it, serve the UI.

Everything is embedded: SQLite and Whoosh under the data directory, the demo
intranet served by a small thread on 127.0.0.1, the real connectors crawling it.
"""

from __future__ import annotations

import functools
import http.server
import sys
import threading
from pathlib import Path

import click

from config.loader import AgencyNames, SourceConfig, load_settings
from crawler.runner import Savoir

DEMO_DIR = Path(__file__).resolve().parent.parent / "demo"
TEXT_TYPES = (".html", ".xml", ".atom", ".rss", ".txt")
AGENCIES = ("records", "fraud", "supply", "workplace")
#: the demo agencies' names (demo/README.md), unless the settings give their own
AGENCY_NAMES = {
    "records": AgencyNames("Records and Transparency Agency", "Agence des archives et de la transparence"),
    "fraud": AgencyNames("Fraud Prevention Service", "Service de prévention de la fraude"),
    "supply": AgencyNames("Public Supply Agency", "Agence d'approvisionnement public"),
    "workplace": AgencyNames(
        "Workplace Modernisation Office", "Bureau de modernisation du milieu de travail"
    ),
}


class DemoHandler(http.server.SimpleHTTPRequestHandler):
    """Serves demo/site at /, demo/feeds at /feeds/, demo/files at /files/; fills {{BASE}}."""

    base = ""

    def translate_path(self, path: str) -> str:
        clean = path.split("?", 1)[0].split("#", 1)[0]
        if clean.startswith("/feeds/"):
            root, rest = DEMO_DIR / "feeds", clean[len("/feeds/") :]
        elif clean.startswith("/files/"):
            root, rest = DEMO_DIR / "files", clean[len("/files/") :]
        else:
            root, rest = DEMO_DIR / "site", clean.lstrip("/")
        target = (root / rest).resolve()
        if root.resolve() not in target.parents and target != root.resolve():
            return str(root / "__missing__")
        return str(target)

    def send_head(self):  # noqa: D102
        path = Path(self.translate_path(self.path))
        if self.path == "/robots.txt":
            body = b"User-agent: *\nAllow: /\n"
            return self._send_bytes(body, "text/plain; charset=utf-8")
        if path.is_file() and path.suffix in TEXT_TYPES:
            body = path.read_bytes().replace(b"{{BASE}}", self.base.encode())
            ctype = {
                ".html": "text/html; charset=utf-8",
                ".xml": "application/xml",
                ".atom": "application/atom+xml",
                ".rss": "application/rss+xml",
                ".txt": "text/plain; charset=utf-8",
            }[path.suffix]
            return self._send_bytes(body, ctype)
        return super().send_head()

    def _send_bytes(self, body: bytes, ctype: str):
        import io

        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return io.BytesIO(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - quiet demo server
        return


def start_site(port: int) -> tuple[http.server.ThreadingHTTPServer, str]:
    base = f"http://127.0.0.1:{port}"
    handler = type("BoundDemoHandler", (DemoHandler,), {"base": base})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", port), functools.partial(handler, directory=str(DEMO_DIR))
    )
    threading.Thread(target=server.serve_forever, name="demo-site", daemon=True).start()
    return server, base


def demo_sources(base: str) -> list[SourceConfig]:
    sources = [
        SourceConfig(
            id=f"{agency}-site",
            kind="web",
            agency=agency,
            name=f"{agency} intranet",
            settings={
                "start_urls": [f"{base}/{agency}/index.html"],
                "sitemaps": [f"{base}/{agency}/sitemap.xml"],
            },
        )
        for agency in AGENCIES
    ]
    sources += [
        SourceConfig(
            id="records-blog",
            kind="feed",
            agency="records",
            name="Records blog",
            settings={"url": f"{base}/feeds/records-blog.atom"},
        ),
        SourceConfig(
            id="supply-blog",
            kind="feed",
            agency="supply",
            name="Supply blog",
            settings={"url": f"{base}/feeds/supply-blog.rss"},
        ),
    ]
    for agency in ("workplace", "fraud"):
        sources.append(
            SourceConfig(
                id=f"{agency}-drive",
                kind="files",
                agency=agency,
                name=f"{agency} shared drive",
                settings={"root": str(DEMO_DIR / "files" / agency), "base_url": f"{base}/files/{agency}/"},
            )
        )
    return sources


def run_demo(config_path: str | None, *, port: int, site_port: int, serve: bool) -> None:
    from webui.cli import _progress_factory, ensure_free, print_reports, run_app

    if serve:
        ensure_free("127.0.0.1", port)
    settings = load_settings(config_path)
    settings.http.min_delay = 0.0  # our own loopback server: no need to wait between requests
    settings.http.jitter = 0.0
    settings.people.file = str(DEMO_DIR / "people.toml")  # the demo's people directory
    settings.agencies = {**AGENCY_NAMES, **settings.agencies}
    try:
        server, base = start_site(site_port)
    except OSError as exc:
        raise click.ClickException(
            f"cannot serve the demo intranet on 127.0.0.1:{site_port}: {exc.strerror}; "
            "free the port or pass --site-port"
        ) from None
    click.echo(f"demo intranet at {base}/ ; data in {settings.data_dir}")
    savoir = Savoir(settings, demo_sources(base))
    factory = _progress_factory(True)
    reports = savoir.crawl(on_item_factory=factory)
    for bar in getattr(factory, "bars", []):
        bar.close()
    print_reports(reports)
    counts = savoir.store.counts()
    click.echo(f"indexed {counts['documents']} documents and {counts['people']} people")
    if not serve:
        server.shutdown()
        return
    from webui.app import create_app

    app = create_app(savoir=savoir)
    click.echo(f"\nSavoir demo: open http://127.0.0.1:{port}/  (Ctrl+C to stop)", file=sys.stderr)
    run_app(app, "127.0.0.1", port)
