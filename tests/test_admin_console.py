"""The admin console: admins only, generated source forms, secrets, run now through the
worker, run history, enable/disable and schedules that persist, and who wins between
the sources file and the console."""

from __future__ import annotations

import html
import logging
import re
import threading
import time
from pathlib import Path

import pytest

from config import secrets
from crawler.runner import Savoir
from crawler.worker import Worker
from tests.conftest import make_settings, memory_source
from webui import admin_views
from webui.accounts import Accounts
from webui.app import create_app

PASSWORD = "correct-horse-battery"
SECRET = "Pw-Never-Shown-4242"
#: what no refused visitor may learn: a source's name, agency, a setting and a secret
HIDDEN = ("Hidden Fraud Wiki", "fraud-agency-x", SECRET)
#: these tests sign in many times from one address
AUTH = {"signins_per_minute": 100000}


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch):
    # argon2id at its real cost is slow on a busy machine; these tests check the console
    from argon2 import PasswordHasher

    from webui import accounts

    monkeypatch.setattr(accounts, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def world(tmp_path, memory_content):
    memory_content["wiki"] = {
        f"p{i:02d}": {"title": f"Page {i}", "text": f"Procurement note {i}."} for i in range(3)
    }
    wiki = memory_source("wiki", agency="fraud-agency-x")
    wiki.name = "Hidden Fraud Wiki"
    settings = make_settings(tmp_path, auth=AUTH)
    savoir = Savoir(settings, [wiki])
    accounts = Accounts(savoir.store, settings.auth)
    accounts.add("root", PASSWORD, admin=True)
    accounts.add("pat", PASSWORD)
    yield savoir
    savoir.close()


def app_for(savoir):
    return create_app(savoir=savoir, test_config={"TESTING": True})


def token(client, path="/sign-in") -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def signed_in(savoir, username):
    client = app_for(savoir).test_client()
    response = client.post(
        "/sign-in", data={"username": username, "password": PASSWORD, "csrf_token": token(client)}
    )
    assert response.status_code == 302
    return client


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


# -- who may enter -------------------------------------------------------------------

GET_ROUTES = [
    "/admin/",
    "/admin/sources",
    "/admin/sources/new",
    "/admin/sources/new?kind=files",
    "/admin/sources/wiki/edit",
    "/admin/sources/wiki/runs",
    "/admin/sources/wiki/runs/1",
    "/admin/people",
    "/admin/peers",
    "/admin/audit",
]
POST_ROUTES = [
    "/admin/sources/new?kind=files",
    "/admin/sources/wiki/edit",
    "/admin/sources/wiki/check",
    "/admin/sources/wiki/run",
    "/admin/sources/wiki/enabled",
    "/admin/sources/wiki/schedule",
    "/admin/sources/wiki/revert",
    "/admin/reindex",
    "/admin/people/1",
    "/admin/peers/check",
]


def test_the_lists_name_every_admin_route(world):
    """Adding an admin route without adding it here fails: the lists stay complete."""
    app = app_for(world)
    rules = {
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("admin.") or rule.endpoint == "auth.audit"
        for method in rule.methods & {"GET", "POST"}
    }
    listed = {(re.sub(r"\?.*", "", p), "GET") for p in GET_ROUTES} | {
        (re.sub(r"\?.*", "", p), "POST") for p in POST_ROUTES
    }
    generic = {(re.sub(r"<[^>]+>", "X", rule), method) for rule, method in rules}
    concrete = {
        (re.sub(r"/(wiki|1)(/|$)", r"/X\2", re.sub(r"/runs/1$", "/runs/X", path)), method)
        for path, method in listed
    }
    assert generic == concrete


def _refused_without_leak(response, anonymous: bool) -> None:
    body = text(response)
    if anonymous:
        assert response.status_code == 302
        assert "/sign-in" in response.headers["Location"]
    else:
        assert response.status_code == 403
    for hidden in HIDDEN:
        assert hidden not in body
    assert "Run history" not in body and "Test connection" not in body


@pytest.mark.parametrize("path", GET_ROUTES)
def test_anonymous_and_ordinary_users_cannot_read_admin_pages(world, path):
    world.store.save_console_source("wiki", {"settings": {"checkpoint_every": 7}})
    anonymous = app_for(world).test_client()
    _refused_without_leak(anonymous.get(path), anonymous=True)
    pat = signed_in(world, "pat")
    _refused_without_leak(pat.get(path), anonymous=False)


@pytest.mark.parametrize("path", POST_ROUTES)
def test_anonymous_and_ordinary_users_cannot_act(world, path):
    anonymous = app_for(world).test_client()
    data = {"csrf_token": token(anonymous), "enabled": "0", "schedule": "every 1m", "agency": "x"}
    _refused_without_leak(anonymous.post(path, data=data), anonymous=True)
    pat = signed_in(world, "pat")
    data["csrf_token"] = token(pat, "/")
    _refused_without_leak(pat.post(path, data=data), anonymous=False)
    # nothing was done
    assert world.store.pending_requests() == []
    assert world.store.console_sources() == {}
    assert world.store.get_meta("reindex_state") is None


def test_an_admin_form_without_its_csrf_token_is_refused(world):
    root = signed_in(world, "root")
    response = root.post("/admin/sources/wiki/run", data={})
    assert response.status_code == 400
    assert world.store.pending_requests() == []


# -- the sources page ------------------------------------------------------------------


def test_sources_page_shows_status_next_run_and_where_each_is_defined(world):
    world.crawl()
    root = signed_in(world, "root")
    page = text(root.get("/admin/sources"))
    assert "wiki – Hidden Fraud Wiki" in page
    assert "defined in sources.toml" in page
    assert "3 fetched, 3 added" in page  # the last run's counts
    assert "on request only (no schedule)" in page
    root.post(
        "/admin/sources/wiki/schedule",
        data={"schedule": "0 2 * * *", "csrf_token": token(root, "/admin/sources")},
    )
    page = text(root.get("/admin/sources"))
    assert re.search(r'<time datetime="[^"]+T02:00:00\+00:00">', page)  # next 02:00 UTC
    assert "The console overrides: schedule." in page
    french = text(root.get("/admin/sources?ui=fr"))
    assert "définie dans sources.toml" in french and "La console remplace : schedule." in french


# -- adding and editing through the generated form --------------------------------------


def make_share(root: Path) -> Path:
    root.mkdir()
    (root / "guide.txt").write_text("Procurement guide for buyers in every agency.", "utf-8")
    (root / "notes.md").write_text("Left out: the include patterns do not name it.", "utf-8")
    (root / "picture.xyz").write_bytes(b"no reader for this kind of file")
    for i in range(55):
        (root / f"broken-{i:02d}.pdf").write_bytes(b"%PDF-1.4\nthis is not really a pdf\n")
    return root


def add_files_source(client, share: Path, **extra):
    data = {
        "csrf_token": token(client, "/admin/sources/new?kind=files"),
        "kind": "files",
        "id": "share",
        "agency": "records",
        "name": "Records share",
        "schedule": "",
        "acl": "public",
        "enabled": "on",
        "s.root": str(share),
        "s.include": "*.txt\n*.pdf",
        "s.exclude": "",
        "s.max_bytes": "1000000",
        "s.kind": "file",
        "s.base_url": "",
    }
    data.update(extra)
    return client.post("/admin/sources/new?kind=files", data=data)


def test_the_form_has_one_input_per_setting_by_type_with_help(world):
    root = signed_in(world, "root")
    page = text(root.get("/admin/sources/new?kind=mediawiki"))
    assert '<input type="text" id="f-s-api_url" name="s.api_url"' in page
    assert '<textarea id="f-s-namespaces" name="s.namespaces"' in page and ">0</textarea>" in page
    assert '<input type="password" id="f-s-password" name="s.password" value=""' in page
    assert '<input type="checkbox" id="f-s-exclude_bots" name="s.exclude_bots" value="on" checked' in page
    assert '<input type="number" id="f-s-maxlag" name="s.maxlag" value="5" step="1"' in page
    assert '<textarea id="f-s-namespace_acl" name="s.namespace_acl"' in page  # a table
    # help from the dataclass, tied to its input
    assert 'aria-describedby="f-s-api_url-help"' in page
    assert "The wiki's api.php" in page
    assert page.count("<h1>") == 1
    # every registered kind gets a form, the test-only one too
    for kind in ("web", "feed", "files", "mediawiki", "dokuwiki", "memory"):
        assert root.get(f"/admin/sources/new?kind={kind}").status_code == 200
    assert "memory" in text(root.get("/admin/sources/new"))


def test_add_a_files_source_run_it_through_the_worker_and_read_its_history(world, tmp_path):
    share = make_share(tmp_path / "share")
    root = signed_in(world, "root")
    response = add_files_source(root, share)
    assert response.status_code == 302, text(response)
    page = text(root.get("/admin/sources"))
    assert "share – Records share" in page and "added in the console" in page
    # test connection shows check()'s answer
    assert "The source answered as configured." in text(
        root.post("/admin/sources/share/check", data={"csrf_token": token(root, "/admin/sources")})
    )
    # run now queues exactly what `savoir crawl --queue` queues; a worker (another Savoir
    # on the same store, as another process would be) picks it up
    root.post("/admin/sources/share/run", data={"csrf_token": token(root, "/admin/sources")})
    (request,) = world.store.pending_requests()
    assert request["source_id"] == "share" and request["requested_by"] == "root"
    worker_savoir = Savoir(world.settings, list(world._file_sources))
    worker = Worker(worker_savoir, poll_seconds=0.1)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while world.store.last_runs().get("share", {}).get("status") not in ("success", "partial", "failed"):
            assert time.monotonic() < deadline, "the worker did not run the source"
            time.sleep(0.1)
    finally:
        worker.stop.set()
        thread.join(20)
        worker_savoir.close()
    run = world.store.last_runs()["share"]
    assert run["added"] == 1 and run["failed"] == 55
    history = text(root.get("/admin/sources/share/runs"))
    assert f"#{run['id']}" in history and "failures: 55" in history and "1 scope, 1 type" in history
    detail = text(root.get(f"/admin/sources/share/runs/{run['id']}"))
    assert detail.count("<tr><td>") == 50 and "Failures (55)" in detail and "Page 1 of 2" in detail
    second = text(root.get(f"/admin/sources/share/runs/{run['id']}?page=2"))
    assert second.count("<tr><td>") == 5
    assert "broken-54.pdf" in second
    # the audit log has every action, with who and from where
    _, entries = Accounts(world.store, world.settings.auth).audit_entries()
    actions = {e["action"]: e for e in entries}
    assert {"source.add", "source.check", "source.run"} <= set(actions)
    assert actions["source.add"]["actor"] == "root" and actions["source.add"]["address"] == "127.0.0.1"


def test_bad_values_get_the_loaders_message_beside_the_field_and_keep_what_was_typed(world, tmp_path):
    root = signed_in(world, "root")
    response = add_files_source(root, tmp_path, **{"s.max_bytes": "lots", "name": "Typed name 42"})
    assert response.status_code == 422
    page = text(response)
    message = (
        "console: source 'share': [source.settings]: field 'max_bytes': expected a whole number, got 'lots'"
    )
    assert message in page
    assert '<p class="error" id="f-s-max_bytes-error">' in page
    assert 'aria-describedby="f-s-max_bytes-help f-s-max_bytes-error"' in page
    assert 'value="lots"' in page and 'value="Typed name 42"' in page
    assert world.store.console_sources() == {}
    bad_schedule = text(add_files_source(root, tmp_path, schedule="every tuesday"))
    assert (
        "field 'schedule': 'every tuesday' is neither 'every N[s|m|h|d]' nor a 5-field cron expression"
        in bad_schedule
    )
    taken = text(add_files_source(root, tmp_path, id="wiki"))
    assert "field 'id': another source already uses this id" in taken


def test_a_secret_never_reaches_a_page_the_audit_log_or_the_logs(world, caplog):
    caplog.set_level(logging.DEBUG)
    root = signed_in(world, "root")
    form = {
        "csrf_token": token(root, "/admin/sources/new?kind=mediawiki"),
        "id": "mw",
        "agency": "records",
        "acl": "public",
        "enabled": "on",
        "s.api_url": "http://127.0.0.1:9/api.php",
        "s.namespaces": "0",
        "s.username": "Crawler@savoir",
        "s.password": SECRET,
        "s.maxlag": "5",
        "s.batch_size": "50",
    }
    bodies = []
    refused = root.post("/admin/sources/new?kind=mediawiki", data={**form, "s.maxlag": "soon"})
    assert refused.status_code == 422
    bodies.append(text(refused))
    saved = root.post("/admin/sources/new?kind=mediawiki", data=form)
    assert saved.status_code == 302, text(saved)
    assert world.store.console_sources()["mw"]["settings"]["password"] == SECRET
    edit = root.get("/admin/sources/mw/edit")
    bodies.append(text(edit))
    assert "A value is stored; it is never shown." in bodies[-1]
    # an edit with the secret left empty keeps it
    kept = root.post(
        "/admin/sources/mw/edit",
        data={**form, "csrf_token": token(root, "/admin/sources/mw/edit"), "s.password": "", "s.maxlag": "7"},
    )
    assert kept.status_code == 302
    stored = world.store.console_sources()["mw"]["settings"]
    assert stored["password"] == SECRET and stored["maxlag"] == 7
    # the check of an unreachable wiki shows the connector's message, scrubbed
    check = root.post("/admin/sources/mw/check", data={"csrf_token": token(root, "/admin/sources")})
    bodies.append(text(check))
    assert "The source cannot be read as configured:" in bodies[-1]
    source = next(s for s in world.sources if s.id == "mw")
    with pytest.raises(Exception) as caught:  # noqa: PT011 - whichever error check() raises
        world.connector(source, world.http_session(checking=True)).check()
    assert "127.0.0.1:9" in str(caught.value) and secrets.scrub(str(caught.value)) in bodies[-1]
    for path in ("/admin/sources", "/admin/sources/mw/edit", "/admin/audit", "/admin/sources?ui=fr"):
        bodies.append(text(root.get(path)))
    assert all(SECRET not in body for body in bodies)
    _, entries = Accounts(world.store, world.settings.auth).audit_entries()
    assert entries and all(SECRET not in str(e) for e in entries)
    assert "settings.password" not in str(entries)  # it was kept, not changed
    assert SECRET not in caplog.text
    assert secrets.scrub(f"x {SECRET} y") == "x ******** y"


def test_enable_disable_and_schedule_persist_across_a_new_app_and_store(world, tmp_path):
    root = signed_in(world, "root")
    csrf = token(root, "/admin/sources")
    root.post("/admin/sources/wiki/enabled", data={"enabled": "0", "csrf_token": csrf})
    root.post("/admin/sources/wiki/schedule", data={"schedule": "every 45m", "csrf_token": csrf})
    refused = root.post("/admin/sources/wiki/schedule", data={"schedule": "61 * * * *", "csrf_token": csrf})
    assert refused.status_code == 422
    assert "<h1>Schedule not saved: wiki</h1>" in text(refused)
    assert "bad cron expression '61 * * * *'" in text(refused)
    # a new process: new Savoir, new store connection, same file sources
    wiki = memory_source("wiki", agency="fraud-agency-x")
    again = Savoir(make_settings(tmp_path, auth=AUTH), [wiki])
    try:
        (source,) = again.sources
        assert source.enabled is False and source.schedule == "every 45m"
        assert source.overridden == ("schedule", "enabled")
        worker = Worker(again)
        assert worker.schedule() == 0  # disabled: not scheduled, so the worker agrees
        page = text(signed_in(again, "root").get("/admin/sources"))
        assert "disabled" in page and 'value="every 45m"' in page
    finally:
        again.close()
    # enabling again, with the file's value, leaves only the schedule in the console
    root.post("/admin/sources/wiki/enabled", data={"enabled": "1", "csrf_token": csrf})
    assert world.store.console_sources()["wiki"] == {"schedule": "every 45m"}


def test_the_console_wins_field_by_field_and_the_file_still_counts_elsewhere(world):
    root = signed_in(world, "root")
    csrf = token(root, "/admin/sources")
    root.post("/admin/sources/wiki/schedule", data={"schedule": "every 2h", "csrf_token": csrf})
    edit = {
        "csrf_token": token(root, "/admin/sources/wiki/edit"),
        "agency": "fraud-agency-x",
        "name": "Hidden Fraud Wiki",
        "schedule": "every 2h",
        "acl": "public",
        "enabled": "on",
        "s.checkpoint_every": "9",
    }
    assert root.post("/admin/sources/wiki/edit", data=edit).status_code == 302
    assert world.store.console_sources()["wiki"] == {
        "schedule": "every 2h",
        "settings": {"checkpoint_every": 9},
    }
    # the file changes its name: the console did not set it, so the file's new value counts
    world._file_sources[0].name = "Renamed in the file"
    world.store.save_console_source("wiki", world.store.console_sources()["wiki"])  # any change reloads
    (source,) = world.sources
    assert source.name == "Renamed in the file" and source.schedule == "every 2h"
    assert source.settings["checkpoint_every"] == 9
    # forgetting the console's changes goes back to the file
    root.post("/admin/sources/wiki/revert", data={"csrf_token": csrf})
    (source,) = world.sources
    assert source.schedule == "" and "checkpoint_every" not in source.settings and source.overridden == ()


def test_reindex_runs_in_the_background_and_shows_its_state(world):
    world.crawl()
    root = signed_in(world, "root")
    response = root.post("/admin/reindex", data={"csrf_token": token(root, "/admin/sources")})
    assert response.status_code == 302
    for thread in admin_views.REBUILDS:
        thread.join(60)
    page = text(root.get("/admin/sources"))
    assert "Last rebuild: 3 documents" in page and "(asked by root)" in page
    assert world.store.lease_holder("reindex") is None
    assert "Page 1" in text(root.get("/?q=procurement"))  # searches answer from the new index
    # a rebuild whose process died (no lease left) is shown as interrupted, and can restart
    world.store.set_meta(
        "reindex_state", '{"status": "running", "by": "root", "started": "2026-01-01T00:00:00"}'
    )
    assert "stopped before the end" in text(root.get("/admin/sources"))


def test_people_directory_sets_agency_aliases_and_opt_out(world, memory_content):
    from datetime import UTC, datetime, timedelta

    when = datetime.now(UTC) - timedelta(days=3)
    memory_content["wiki"] = {
        f"p{i}": {
            "title": f"Vendor screening {i}",
            "text": "Vendor screening casework.",
            "contributions": [("Dana Scully", "dana@fbi.example", "author", when, 900, False, None)],
        }
        for i in range(3)
    }
    world.crawl()
    world.refresh_people(force=True)

    def experts():
        answer = app_for(world).test_client().get("/api/v1/experts?q=vendor+screening").get_json()
        return [e["name"] for e in answer["experts"]]

    assert experts() == ["Dana Scully"]
    root = signed_in(world, "root")
    page = text(root.get("/admin/people?q=dana"))
    assert "Dana Scully" in page and "1 person." in page
    person_id = int(re.search(r'action="/admin/people/(\d+)"', page).group(1))
    response = root.post(
        f"/admin/people/{person_id}",
        data={
            "csrf_token": token(root, "/admin/people"),
            "agency": "records",
            "aliases": "Scully, Dana\nD. Scully",
            "opt_out": "on",
        },
    )
    assert response.status_code == 302
    page = text(root.get("/admin/people?q=dana"))
    assert "records" in page and "Scully, Dana" in page and "not suggested (opted out)" in page
    assert "set in the console" in page
    # it survives a new process, and the experts honour it
    from sqlalchemy import select

    from indexer.store import persons

    with world.store.engine.connect() as conn:
        row = conn.execute(select(persons).where(persons.c.email == "dana@fbi.example")).one()
    assert row.agency == "records" and row.opted_out
    assert experts() == []
    again = Savoir(world.settings, list(world._file_sources))
    try:
        entry = again.directory.find("D. Scully", None, None, "wiki")
        assert entry and entry["agency"] == "records" and entry["opt_out"] is True
    finally:
        again.close()


def test_the_command_line_and_the_worker_follow_the_console_over_a_real_sources_file(tmp_path):
    from click.testing import CliRunner

    from config.loader import load_settings
    from webui import cli

    share = tmp_path / "share"
    share.mkdir()
    (share / "guide.txt").write_text("Procurement guide.", "utf-8")
    (tmp_path / "sources.toml").write_text(
        f"""
[[source]]
id = "share"
kind = "files"
agency = "records"
schedule = "every 6h"
settings = {{ root = "{share}" }}
""",
        "utf-8",
    )
    config = tmp_path / "savoir.toml"
    config.write_text(
        f'[store]\ndata_dir = "{tmp_path / "data"}"\n[crawler]\nsources_file = "sources.toml"\n'
        f"[auth]\nsignins_per_minute = {AUTH['signins_per_minute']}\n",
        "utf-8",
    )
    savoir = Savoir(load_settings(config, env={}))
    try:
        Accounts(savoir.store, savoir.settings.auth).add("root", PASSWORD, admin=True)
        root = signed_in(savoir, "root")
        csrf = token(root, "/admin/sources")
        assert "defined in sources.toml" in text(root.get("/admin/sources"))
        root.post("/admin/sources/share/enabled", data={"enabled": "0", "csrf_token": csrf})
        root.post("/admin/sources/share/schedule", data={"schedule": "every 3h", "csrf_token": csrf})
    finally:
        savoir.close()
    runner = CliRunner()
    listed = runner.invoke(cli.cli, ["--config", str(config), "sources", "list"], catch_exceptions=False)
    assert re.search(r"share\s+files\s+records\s+disabled\s+every 3h", listed.output), listed.output
    crawled = runner.invoke(cli.cli, ["--config", str(config), "crawl"], catch_exceptions=False)
    assert crawled.exit_code == 0
    again = Savoir(load_settings(config, env={}))
    try:
        assert again.store.last_runs() == {}  # disabled in the console: `savoir crawl` left it alone
        worker = Worker(again)
        assert worker.schedule() == 0
        # enabling it in the console reaches a running worker's schedule
        again.store.save_console_source("share", {"schedule": "every 3h"})
        assert worker.reschedule_if_changed()
        (job,) = worker.scheduler.get_jobs()
        assert job.id == "sync:share" and job.trigger.interval.total_seconds() == 3 * 3600
    finally:
        again.close()


def test_the_form_generator_covers_every_field_type_and_round_trips_through_the_loader():
    from dataclasses import dataclass

    from werkzeug.datastructures import MultiDict

    from config.loader import ConfigError, build_dataclass
    from connectors.base import setting
    from webui import admin_forms

    @dataclass
    class Everything:
        folder: Path = setting(label="Folder", help="Where the files are.")
        ratio: float = setting(0.5, label="Ratio")
        limit: int | None = setting(None, label="Limit")
        ports: list[int] = setting(default_factory=lambda: [80], label="Ports")
        groups: dict = setting(default_factory=dict, label="Groups")
        strict: bool = setting(False, label="Strict")
        token: str = setting("", label="Token", secret=True)

    widgets = {f.name: f.widget for f in admin_forms.build_fields(Everything, {})}
    assert widgets == {
        "s.folder": "text",
        "s.ratio": "number",
        "s.limit": "number",
        "s.ports": "lines",
        "s.groups": "table",
        "s.strict": "checkbox",
        "s.token": "password",
    }
    form = MultiDict(
        {
            "s.folder": "/srv/share",
            "s.ratio": "0.25",
            "s.limit": "",
            "s.ports": "8080\n8443\n",
            "s.groups": 'finance = "fin-unit"\nhr = ["hr", "managers"]',
            "s.strict": "on",
            "s.token": "",
        }
    )
    raw = admin_forms.read_settings(Everything, form, keep_secrets={"token": "kept-token-value"})
    built = build_dataclass(Everything, raw, "test")
    assert (
        built.ratio == 0.25 and built.limit is None and built.ports == [8080, 8443] and built.strict is True
    )
    assert (
        built.groups == {"finance": "fin-unit", "hr": ["hr", "managers"]}
        and built.token == "kept-token-value"
    )
    # what is stored shows again as it was written, the secret excepted
    shown = {
        f.name: f.value for f in admin_forms.build_fields(Everything, admin_forms.normalised(Everything, raw))
    }
    assert (
        shown["s.ports"] == "8080\n8443"
        and shown["s.groups"] == 'finance = "fin-unit"\nhr = ["hr", "managers"]'
    )
    assert shown["s.token"] == ""
    with pytest.raises(ConfigError, match="field 'groups': write one 'key = value' line per entry"):
        admin_forms.read_settings(
            Everything, MultiDict({"s.folder": "x", "s.groups": "no equals sign"}), keep_secrets={}
        )
    with pytest.raises(ConfigError, match="field 'folder' is required"):
        build_dataclass(
            Everything, admin_forms.read_settings(Everything, MultiDict({}), keep_secrets={}), "test"
        )
