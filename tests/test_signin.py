"""Sign-in, groups from accounts and from a trusted proxy, CSRF, lockout, headers, audit."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from tests.conftest import memory_source
from webui.accounts import AccountError, Accounts
from webui.app import create_app

NOW = datetime.now(UTC)
PASSWORD = "correct-horse-battery"


def page(title, text, author):
    return {
        "title": title,
        "text": text,
        "language": "en",
        "contributions": [(author, None, "author", NOW - timedelta(days=5), 900, False, None)],
    }


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch):
    # argon2id at its real cost takes ~0.1-1 s a hash on a busy 2-core machine; the
    # tests check the logic, not the cost
    from argon2 import PasswordHasher

    from webui import accounts

    monkeypatch.setattr(accounts, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def world(savoir_factory, memory_content):
    memory_content["wiki"] = {"p1": page("Procurement guide", "Procurement guide for buyers.", "Pat Public")}
    memory_content["fraud-unit"] = {
        "r1": page("Procurement casework", "Procurement casework on vendor Zyxor.", "Rita Restricted")
    }
    savoir = savoir_factory(
        [memory_source("wiki"), memory_source("fraud-unit", agency="records", acl=("fraud-unit",))],
        auth={"max_failures": 3, "signins_per_minute": 50},
    )
    savoir.crawl()
    savoir.refresh_people(force=True)
    accounts = Accounts(savoir.store, savoir.settings.auth)
    accounts.add("rita", PASSWORD, groups=["fraud-unit"], display_name="Rita R.")
    accounts.add("pat", PASSWORD)
    accounts.add("root", PASSWORD, admin=True)
    return savoir, accounts


def app_for(savoir, **config):
    return create_app(savoir=savoir, test_config={"TESTING": True, **config})


def token(client, path="/sign-in") -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def sign_in(client, username, password=PASSWORD, **extra):
    return client.post(
        "/sign-in", data={"username": username, "password": password, "csrf_token": token(client)}, **extra
    )


def test_signed_in_users_see_their_groups_documents_and_no_one_else_does(world):
    savoir, _ = world
    client = app_for(savoir).test_client()
    assert "Zyxor" not in client.get("/?q=procurement").get_data(as_text=True)
    response = sign_in(client, "Rita")  # user names are not case-sensitive
    assert response.status_code == 302
    page_html = client.get("/?q=procurement").get_data(as_text=True)
    assert "Zyxor" in page_html and "Signed in as Rita R." in page_html
    assert client.get("/documents/fraud-unit:r1").status_code == 200
    # signing out ends it (with the form's token)
    client.post("/sign-out", data={"csrf_token": token(client, "/")})
    assert "Zyxor" not in client.get("/?q=procurement").get_data(as_text=True)
    assert client.get("/documents/fraud-unit:r1").status_code == 404
    other = app_for(savoir).test_client()
    sign_in(other, "pat")
    assert "Zyxor" not in other.get("/?q=procurement").get_data(as_text=True)


def test_a_group_removed_or_password_changed_takes_effect_at_once(world):
    savoir, accounts = world
    client = app_for(savoir).test_client()
    sign_in(client, "rita")
    accounts.set_groups("rita", [])
    assert "Zyxor" not in client.get("/?q=procurement").get_data(as_text=True)
    accounts.set_groups("rita", ["fraud-unit"])
    accounts.set_password("rita", "another-long-password")
    assert "Signed in as" not in client.get("/").get_data(as_text=True)  # that session ended


def test_wrong_passwords_lock_the_account_and_everything_is_audited(world):
    savoir, accounts = world
    client = app_for(savoir).test_client()
    for _ in range(3):
        assert sign_in(client, "pat", "not-the-password").status_code == 401
    # locked: even the right password is refused, with the same message
    locked = sign_in(client, "pat")
    assert locked.status_code == 401 and "not right, or the account is locked" in locked.get_data(
        as_text=True
    )
    assert sign_in(client, "nobody").status_code == 401
    total, entries = accounts.audit_entries()
    actions = [e["action"] for e in entries]
    assert actions.count("signin.fail") == 4 and "signin.refused" in actions
    assert all(PASSWORD not in str(e) and "not-the-password" not in str(e) for e in entries)
    assert entries[0]["address"] == "127.0.0.1"
    accounts.set_password("pat", "a-fresh-long-password")  # an admin's reset unlocks
    assert sign_in(client, "pat", "a-fresh-long-password").status_code == 302


def test_sign_in_attempts_per_address_are_limited(world):
    savoir, _ = world
    savoir.settings.auth.signins_per_minute = 2
    client = app_for(savoir).test_client()
    codes = [
        sign_in(client, "pat", "wrong-password-x", environ_base={"REMOTE_ADDR": "10.9.9.9"}).status_code
        for _ in range(3)
    ]
    assert codes == [401, 401, 429]


def test_forms_need_their_token_and_next_stays_on_this_site(world):
    savoir, _ = world
    client = app_for(savoir).test_client()
    no_token = client.post("/sign-in", data={"username": "pat", "password": PASSWORD})
    assert no_token.status_code == 400 and "did not come from this site" in no_token.get_data(as_text=True)
    client.get("/sign-in")
    response = client.post(
        "/sign-in?next=//evil.example/x",
        data={"username": "pat", "password": PASSWORD, "csrf_token": token(client)},
    )
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("who, status", [(None, 302), ("pat", 403), ("root", 200)])
def test_admin_pages_need_an_admin_and_refusals_leak_nothing(world, who, status):
    savoir, _ = world
    client = app_for(savoir).test_client()
    if who:
        sign_in(client, who)
    response = client.get("/admin/audit")
    assert response.status_code == status
    body = response.get_data(as_text=True)
    if status == 302:
        assert "/sign-in?next=/admin/audit" in response.headers["Location"]
    elif status == 403:
        assert "signin" not in body and "127.0.0.1" not in body
    else:
        assert "signin" in body and "Audit log" in body


def test_headers_and_cookie_flags(world):
    savoir, _ = world
    client = app_for(savoir).test_client()
    response = client.get("/sign-in", base_url="https://savoir.example")
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie
    # plain http on loopback (the demo) keeps the cookie usable without TLS
    assert "Secure" not in client.get("/sign-in").headers["Set-Cookie"]


def test_a_trusted_proxy_names_the_user_and_no_one_else_can(world):
    savoir, _ = world
    savoir.settings.auth.mode = "header"
    client = app_for(savoir).test_client()
    headers = {
        "X-Remote-User": "rita",
        "X-Remote-Groups": "fraud-unit,savoir-admins",
        "X-Remote-Name": "Rita",
    }
    trusted = client.get("/?q=procurement", headers=headers)
    assert "Zyxor" in trusted.get_data(as_text=True)
    assert client.get("/admin/audit", headers=headers).status_code == 200
    forged = client.get("/?q=procurement", headers=headers, environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert "Zyxor" not in forged.get_data(as_text=True)
    assert client.get("/sign-in").status_code == 404  # the proxy signs people in


def test_users_command(world, tmp_path):
    savoir, accounts = world
    from webui import cli as cli_module

    runner = CliRunner()
    # the command works on the store the settings name: this world's
    env = {
        "SAVOIR_STORE_DATA_DIR": str(savoir.settings.data_dir),
        "SAVOIR_STORE_DATABASE_URL": savoir.settings.store.database_url or "",
    }
    result = runner.invoke(
        cli_module.cli,
        ["users", "add", "Max", "--group", "fraud-unit", "--password-stdin"],
        input="short\n",
        env=env,
    )
    assert result.exit_code == 1 and "at least 12 characters" in result.output
    result = runner.invoke(
        cli_module.cli, ["users", "add", "max", "--password-stdin"], input=PASSWORD + "\n", env=env
    )
    assert result.exit_code == 0, result.output
    listing = runner.invoke(cli_module.cli, ["users", "list"], env=env).output
    assert "max" in listing and "rita" in listing and "fraud-unit" in listing and PASSWORD not in listing
    assert runner.invoke(cli_module.cli, ["users", "groups", "max", "hr", "--admin"], env=env).exit_code == 0
    assert accounts.get("max").groups == ("hr",) and accounts.get("max").admin
    from sqlalchemy import select

    from indexer.store import users

    with savoir.store.engine.connect() as conn:
        stored = conn.execute(select(users.c.password_hash).where(users.c.username == "max")).scalar()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert runner.invoke(cli_module.cli, ["users", "remove", "max"], env=env).exit_code == 0
    with pytest.raises(AccountError):
        accounts.get("max")


def test_a_signed_in_person_takes_themselves_out_of_suggestions(savoir_factory, memory_content):
    memory_content["wiki"] = {
        f"p{i}": {
            "title": f"Procurement guide {i}",
            "text": "Procurement guide for buyers.",
            "language": "en",
            "contributions": [
                ("Pat Public", "pat@wiki.example", "author", NOW - timedelta(days=5), 900, False, None)
            ],
        }
        for i in range(3)
    }
    savoir = savoir_factory([memory_source("wiki")])
    savoir.crawl()
    savoir.refresh_people(force=True)
    Accounts(savoir.store, savoir.settings.auth).add("pat", PASSWORD, email="pat@wiki.example")
    client = app_for(savoir).test_client()
    assert "Pat Public" in [
        e["name"] for e in client.get("/api/v1/experts?q=procurement").get_json()["experts"]
    ]
    sign_in(client, "pat")
    person = re.search(r'href="/people/(\d+)"', client.get("/?q=procurement").get_data(as_text=True)).group(1)
    page = client.get(f"/people/{person}").get_data(as_text=True)
    assert f"/people/{person}/opt-out" in page  # the button, on their own page only
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post(f"/people/{person}/opt-out", data={"csrf_token": csrf}).status_code == 302
    # out of suggestions, and the page is gone, for everyone
    anonymous = app_for(savoir).test_client()
    assert anonymous.get(f"/people/{person}").status_code == 404
    experts = anonymous.get("/api/v1/experts?q=procurement").get_json()["experts"]
    assert "Pat Public" not in [e["name"] for e in experts]
