"""The command line and the search page, end to end over a memory source."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT, memory_source
from webui.app import create_app


def run_cli(*args, env_extra=None, cwd=None):
    import os

    env = dict(os.environ, PYTHONPATH=str(ROOT), **(env_extra or {}))
    return subprocess.run(
        [sys.executable, "-m", "webui.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd or ROOT,
        timeout=120,
    )


def test_bad_config_is_one_clear_line(tmp_path):
    bad = tmp_path / "settings.toml"
    bad.write_text("[web]\nport = 'eighty'\n")
    result = run_cli("--config", str(bad), "status")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "settings.toml: [web]: field 'port': expected a whole number" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_source_is_a_failed_run_with_a_reason(tmp_path):
    sources = tmp_path / "sources.toml"
    sources.write_text(
        '[[source]]\nid = "gone"\nkind = "feed"\nagency = "records"\n'
        '[source.settings]\nurl = "http://127.0.0.1:9/feed.xml"\n'
    )
    settings = tmp_path / "settings.toml"
    settings.write_text(
        f'[store]\ndata_dir = "{tmp_path / "data"}"\n[http]\nmax_retries = 0\nmin_delay = 0.0\n'
    )
    result = run_cli("--config", str(settings), "crawl", "--no-progress")
    assert result.returncode == 1, result.stderr
    assert "gone: failed" in result.stdout and "Traceback" not in result.stderr
    status = run_cli("--config", str(settings), "status")
    assert "last run #1 failed" in status.stdout


def test_unknown_source_on_the_command_line(tmp_path):
    settings = tmp_path / "settings.toml"
    settings.write_text(f'[store]\ndata_dir = "{tmp_path / "data"}"\n')
    result = run_cli("--config", str(settings), "crawl", "nope", "--no-progress")
    assert result.returncode == 2 and "sources.toml: sources file not found" in result.stderr
    (tmp_path / "sources.toml").write_text("")
    result = run_cli("--config", str(settings), "crawl", "nope", "--no-progress")
    assert result.returncode == 2 and "no source with id 'nope'" in result.stderr


@pytest.fixture
def client(savoir_factory, memory_content):
    memory_content["wiki"] = {
        "a": {
            "title": "Green procurement guide",
            "text": "Buy green: procurement with environmental criteria.",
            "language": "en",
        },
        "b": {
            "title": "Guide de l'approvisionnement écologique",
            "text": "Acheter vert : approvisionnement avec critères environnementaux.",
            "language": "fr",
        },
        "hidden": {
            "title": "Internal procurement audit",
            "text": "procurement audit findings",
            "acl": ["audit"],
        },
    }
    savoir = savoir_factory([memory_source()])
    savoir.crawl()
    app = create_app(savoir=savoir, test_config={"TESTING": True})
    return app.test_client()


def test_search_page_shows_hits_and_facets(client):
    page = client.get("/?q=procurement").get_data(as_text=True)
    assert "Green procurement guide" in page
    assert "Internal procurement audit" not in page  # anonymous users see public documents only
    assert 'aria-labelledby="filters-title"' in page and '"filters-title">Refine<' in page and "records" in page


def test_search_page_in_french(client):
    page = client.get("/?q=approvisionnement&ui=fr").get_data(as_text=True)
    assert '<html lang="fr">' in page and "Affiner" in page
    assert "approvisionnement écologique" in page


def test_query_is_escaped(client):
    page = client.get("/?q=<script>alert(1)</script>").get_data(as_text=True)
    assert "<script>alert(1)" not in page and "&lt;script&gt;" in page


def test_json_api(client):
    data = client.get("/api/search?q=procurement").get_json()
    # the French guide is found through the glossary, ranked after the English one
    assert data["total"] == 2 and [h["id"] for h in data["hits"]] == ["wiki:a", "wiki:b"]
    assert client.get("/api/search").status_code == 400


def test_sources_list_masks_secrets(tmp_path):
    (tmp_path / "sources.toml").write_text(
        '[[source]]\nid = "gcwiki"\nkind = "mediawiki"\nagency = "records"\n'
        '[source.settings]\napi_url = "https://wiki.example/api.php"\nusername = "Savoir@bot"\n'
        'password = "env:WIKI_PASSWORD"\n'
    )
    settings = tmp_path / "settings.toml"
    settings.write_text(f'[store]\ndata_dir = "{tmp_path / "data"}"\n')
    result = run_cli(
        "--config",
        str(settings),
        "sources",
        "list",
        "--settings",
        env_extra={"WIKI_PASSWORD": "hunter2-secret"},
    )
    assert result.returncode == 0, result.stderr
    assert "api_url = 'https://wiki.example/api.php'" in result.stdout
    assert "password = '********'" in result.stdout
    assert "hunter2" not in result.stdout + result.stderr


def test_hostile_document_content_is_neutralised(savoir_factory, memory_content):
    memory_content["evil"] = {
        "x": {
            "title": "<img src=x onerror=alert(1)> Procurement tricks",
            "text": "Procurement <script>alert('pwned')</script> guidance for buyers.",
            "language": "en",
        },
    }
    savoir = savoir_factory([memory_source("evil")])
    savoir.crawl()
    # a source that hands us a javascript: link
    from sqlalchemy import update

    from indexer.store import documents

    with savoir.store.begin() as conn:
        conn.execute(update(documents).values(url="javascript:alert(document.cookie)"))
    savoir.reindex()
    client = create_app(savoir=savoir, test_config={"TESTING": True}).test_client()
    page = client.get("/?q=procurement").get_data(as_text=True)
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "javascript:" not in page
    assert "&lt;script&gt;" in page  # shown as text, not run


def test_demo_on_a_busy_port_says_so_before_any_work(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli("demo", "--port", str(port), cwd=tmp_path)
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "savoir-data").exists()  # nothing crawled


def test_serve_answers_through_a_production_server(tmp_path):
    import os
    import time

    import requests

    from tests.conftest import free_port

    port = free_port()
    settings = tmp_path / "settings.toml"
    settings.write_text(f'[store]\ndata_dir = "{tmp_path / "data"}"\n[web]\nport = {port}\nthreads = 2\n')
    (tmp_path / "sources.toml").write_text("")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    server = subprocess.Popen(
        [sys.executable, "-m", "webui.cli", "--config", str(settings), "serve"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                response = requests.get(f"http://127.0.0.1:{port}/?q=telework", timeout=5)
                break
            except requests.ConnectionError:
                assert server.poll() is None, server.stderr.read()
                assert time.monotonic() < deadline, "the server never answered"
                time.sleep(0.2)
        assert response.status_code == 200
        assert response.headers["Server"] == "Savoir"  # waitress, not Werkzeug's development server
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_missing_secret_fails_only_the_source_that_needs_it(tmp_path):
    share = tmp_path / "share"
    share.mkdir()
    (share / "note.txt").write_text("Telework guidance for public servants.")
    (tmp_path / "sources.toml").write_text(
        '[[source]]\nid = "share"\nkind = "files"\nagency = "records"\n'
        f'[source.settings]\nroot = "{share}"\n'
        '[[source]]\nid = "wiki"\nkind = "mediawiki"\nagency = "records"\n'
        '[source.settings]\napi_url = "http://127.0.0.1:9/api.php"\nusername = "bot@x"\n'
        'password = "env:SAVOIR_TEST_UNSET_SECRET"\n'
    )
    settings = tmp_path / "settings.toml"
    settings.write_text(f'[store]\ndata_dir = "{tmp_path / "data"}"\n')
    status = run_cli("--config", str(settings), "status")
    assert status.returncode == 0, status.stderr
    assert "share" in status.stdout and "wiki" in status.stdout and "never run" in status.stdout
    crawl = run_cli("--config", str(settings), "crawl", "--no-progress")
    assert crawl.returncode == 1
    assert "share: success" in crawl.stdout
    assert "wiki: failed" in crawl.stdout
    assert "environment variable SAVOIR_TEST_UNSET_SECRET is not set" in crawl.stdout
    assert "Traceback" not in crawl.stderr
    status = run_cli("--config", str(settings), "status")
    assert "environment variable SAVOIR_TEST_UNSET_SECRET is not set" in status.stdout


def test_every_failure_is_reachable_from_status(tmp_path):
    share = tmp_path / "share"
    share.mkdir()
    (share / "good.txt").write_text("Telework guidance for public servants.")
    for i in range(8):
        (share / f"broken{i}.pdf").write_bytes(b"%PDF-1.4 not really")
    (share / "chart.png").write_bytes(b"\x89PNG image")  # no reader: an exclusion
    (tmp_path / "sources.toml").write_text(
        f'[[source]]\nid = "share"\nkind = "files"\nagency = "records"\n[source.settings]\nroot = "{share}"\n'
    )
    settings = tmp_path / "settings.toml"
    settings.write_text(f'[store]\ndata_dir = "{tmp_path / "data"}"\n')
    crawl = run_cli("--config", str(settings), "crawl", "--no-progress")
    assert "share: partial" in crawl.stdout
    assert crawl.stdout.count("    failed: broken") == 5, crawl.stdout
    assert "... and 3 more: savoir status share --failures" in crawl.stdout
    assert "pypdf" not in crawl.stderr and "WARNING" not in crawl.stderr, crawl.stderr

    assert "8 failed (excluded: 1 type)" in crawl.stdout
    status = run_cli("--config", str(settings), "status")
    assert "excluded (not failures): 1 type" in status.stdout
    assert status.stdout.count("failed: broken") == 5
    assert "... and 3 more failures: savoir status share --failures" in status.stdout
    seen = []
    for page in (1, 2, 3):
        listing = run_cli(
            "--config", str(settings), "status", "share", "--failures", "--per-page", "3", "--page", str(page)
        )
        assert listing.returncode == 0, listing.stderr
        assert f"page {page} of 3" in listing.stdout
        seen += [line for line in listing.stdout.splitlines() if line.startswith("  failed: broken")]
        assert ("next: savoir status share --failures --page" in listing.stdout) == (page < 3)
    assert len(seen) == len(set(seen)) == 8
    beyond = run_cli(
        "--config", str(settings), "status", "share", "--failures", "--per-page", "3", "--page", "4"
    )
    assert beyond.returncode == 2 and "has 3 page(s) of failures" in beyond.stderr

    # the next (incremental) run reads the broken files again: their failures do not vanish
    again = run_cli("--config", str(settings), "crawl", "--no-progress")
    assert "share: partial (incremental)" in again.stdout and "8 failed" in again.stdout


def test_sources_check_answers_in_seconds_for_a_refusing_host(tmp_path):
    """A check tries once (no retries, no backoff): default settings would retry 4 times."""
    import time

    (tmp_path / "sources.toml").write_text(
        '[[source]]\nid = "gone"\nkind = "feed"\nagency = "records"\n'
        '[source.settings]\nurl = "http://127.0.0.1:9/feed.xml"\n'
    )
    settings = tmp_path / "settings.toml"
    settings.write_text(f'[store]\ndata_dir = "{tmp_path / "data"}"\n')
    started = time.monotonic()
    result = run_cli("--config", str(settings), "sources", "check")
    took = time.monotonic() - started
    assert result.returncode == 1
    assert "gone: FAILED" in result.stdout and "Connection refused" in result.stdout, result.stdout
    assert took < 8, took


def test_serve_on_a_busy_port_says_so_and_nothing_else(tmp_path):
    import socket

    settings = tmp_path / "settings.toml"
    (tmp_path / "sources.toml").write_text("")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        settings.write_text(f'[store]\ndata_dir = "{tmp_path / "data"}"\n[web]\nport = {port}\n')
        result = run_cli("--config", str(settings), "serve")
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr and "Traceback" not in result.stderr
    assert "serving" not in result.stdout
