"""Known secrets never appear in what Savoir prints, logs or stores.

Two ways they used to leak: a mistyped secret quoted by a settings error, and a
source's error message that quotes the credentials it was sent. The second is faked
here by a loopback "api.php" (fault injection: a real MediaWiki never echoes a
password) whose login refusal repeats the bot password.
"""

from __future__ import annotations

import http.server
import json
import logging
import os
import sqlite3
import subprocess
import sys
import threading
from urllib.parse import parse_qs, urlparse

import pytest

from config import secrets
from tests.conftest import ROOT

SECRET = "S3cretValid-4"
TYPO = "73310042"


def run_cli(config, *args, env_extra=None):
    env = dict(os.environ, PYTHONPATH=str(ROOT), **(env_extra or {}))
    return subprocess.run(
        [sys.executable, "-m", "webui.cli", "--config", str(config), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


@pytest.fixture
def echoing_wiki():
    """An api.php that refuses the login, quoting the credentials it got."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            return

        def _answer(self, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):  # noqa: N802
            query = parse_qs(urlparse(self.path).query)
            if query.get("meta") == ["tokens"]:
                self._answer({"query": {"tokens": {"logintoken": "abc+\\"}}})
            else:
                self._answer({"error": {"code": "readapidenied", "info": "log in first"}})

        def do_POST(self):  # noqa: N802
            form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
            name, password = form.get("lgname", [""])[0], form.get("lgpassword", [""])[0]
            self._answer({"login": {"result": "Failed", "reason": f"bad call ({name!r}, {password!r})"}})

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api.php"
    server.shutdown()
    server.server_close()


def _config(tmp_path, sources: str):
    (tmp_path / "sources.toml").write_text(sources)
    settings = tmp_path / "settings.toml"
    settings.write_text(
        f'[store]\ndata_dir = "{tmp_path / "data"}"\n[http]\nmax_retries = 0\nmin_delay = 0.0\n'
    )
    return settings


def test_a_mistyped_secret_is_never_printed(tmp_path):
    settings = _config(
        tmp_path,
        '[[source]]\nid = "wiki"\nkind = "mediawiki"\nagency = "records"\n'
        f'[source.settings]\napi_url = "http://127.0.0.1:9/api.php"\nusername = "bot@savoir"\npassword = {TYPO}\n',
    )
    for args in (
        ["sources", "list", "--settings"],
        ["sources", "check"],
        ["status"],
        ["crawl", "--no-progress"],
    ):
        result = run_cli(settings, *args)
        output = result.stdout + result.stderr
        assert TYPO not in output, (args, output)
        assert result.returncode == (0 if args == ["status"] else 2), (args, output)
        assert "field 'password': expected text, got a number (not shown: it is a secret)" in output
        assert "Traceback" not in output


def test_credentials_quoted_by_a_source_are_scrubbed_everywhere(tmp_path, echoing_wiki):
    settings = _config(
        tmp_path,
        '[[source]]\nid = "wiki"\nkind = "mediawiki"\nagency = "records"\n'
        f'[source.settings]\napi_url = "{echoing_wiki}"\nusername = "bot@savoir"\npassword = "env:WIKI_PASSWORD"\n',
    )
    env = {"WIKI_PASSWORD": SECRET}
    outputs = []
    for args in (["sources", "check"], ["-vv", "crawl", "--no-progress"], ["status"]):
        result = run_cli(settings, *args, env_extra=env)
        outputs.append(result.stdout + result.stderr)
    check, crawl, status = outputs
    assert "refused the login of 'bot@savoir' (bad call ('bot@savoir', '********'))" in check
    assert "wiki: failed" in crawl and "********" in crawl
    assert "failed" in status and "********" in status
    for output in outputs:
        assert SECRET not in output, output
    db = sqlite3.connect(tmp_path / "data" / "savoir.db")
    stored = db.execute("select coalesce(error, '') from runs").fetchall()
    stored += db.execute("select ref || ' ' || reason from run_failures").fetchall()
    db.close()
    assert stored and not any(SECRET in row[0] for row in stored), stored


def test_records_stored_before_the_scrubber_are_masked_on_display(tmp_path):
    settings = _config(
        tmp_path,
        '[[source]]\nid = "wiki"\nkind = "mediawiki"\nagency = "records"\n'
        '[source.settings]\napi_url = "http://127.0.0.1:9/api.php"\npassword = "env:WIKI_PASSWORD"\n',
    )
    from indexer.store import Store

    store = Store(f"sqlite:///{tmp_path / 'data' / 'savoir.db'}")
    run_id = store.start_run("wiki", "full")
    with store.begin() as conn:  # as an older version stored it, unscrubbed
        from sqlalchemy import insert, update

        from indexer.store import run_failures, runs

        conn.execute(update(runs).where(runs.c.id == run_id).values(status="failed", failed=1, error=SECRET))
        conn.execute(
            insert(run_failures).values(
                run_id=run_id, ref="wiki", reason=f"echo {SECRET}", transient=False, time=store_now()
            )
        )
    store.close()
    result = run_cli(settings, "status", env_extra={"WIKI_PASSWORD": SECRET})
    assert result.returncode == 0, result.stderr
    assert SECRET not in result.stdout and "********" in result.stdout


def store_now():
    from indexer.store import now

    return now()


def test_scrubber_masks_every_form_and_log_records(caplog):
    secrets.register("p@ss word/1")
    secrets.register(12345678)
    try:
        assert secrets.scrub("x p@ss word/1 y") == "x ******** y"
        assert secrets.scrub("url p%40ss%20word%2F1 and p%40ss+word%2F1") == "url ******** and ********"
        assert secrets.scrub("got 12345678") == "got ********"
        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "login %s failed", ("12345678",), None)
        secrets.ScrubbingFilter().filter(record)
        assert record.getMessage() == "login ******** failed"
    finally:
        secrets.forget_all()
