"""Who is asking: a signed-in local account, a user named by a trusted SSO proxy, or
an anonymous visitor.

Everything that filters by groups asks :func:`current_user`; anonymous visitors get
``[search] public_groups``, signed-in users those plus their own groups.

* ``[auth] mode = "local"``: the Flask session (a signed cookie) holds the account id;
  the account is read again on every request, so a removed, disabled or regrouped
  account takes effect at once.
* ``[auth] mode = "header"``: a proxy in front of Savoir (an SSO gateway) names the
  user, display name, email and groups in headers. They are believed only when the
  request comes straight from one of ``trusted_proxies``; from anywhere else the
  headers are ignored (the visitor is anonymous), so a client cannot claim groups.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, g, request, session


@dataclass(frozen=True)
class User:
    id: str | None  # None: anonymous
    groups: tuple[str, ...]
    person_id: int | None = None  # the people-page person this user is, once signed in
    admin: bool = False
    name: str = ""
    email: str = ""

    @property
    def signed_in(self) -> bool:
        return self.id is not None


def _person_of(email: str) -> int | None:
    """The people-page person with this email (how a user opts themselves out)."""
    if not email:
        return None
    from sqlalchemy import select

    from indexer.store import persons

    savoir = current_app.extensions["savoir"]
    with savoir.store.engine.connect() as conn:
        row = conn.execute(select(persons.c.id).where(persons.c.email == email.lower())).first()
    return row.id if row else None


def _resolve() -> User:
    savoir = current_app.extensions["savoir"]
    settings = savoir.settings
    public = tuple(settings.search.public_groups)
    if current_app.testing and current_app.config.get("TEST_USER_GROUPS"):
        # tests stand in for sign-in here (never read outside TESTING)
        return User(
            id="test-user",
            groups=tuple(current_app.config["TEST_USER_GROUPS"]),
            admin=bool(current_app.config.get("TEST_USER_ADMIN")),
            person_id=current_app.config.get("TEST_USER_PERSON"),
        )
    auth = settings.auth
    if auth.mode == "header":
        if request.remote_addr not in set(auth.trusted_proxies):
            return User(id=None, groups=public)
        name = (request.headers.get(auth.header_user) or "").strip()
        if not name:
            return User(id=None, groups=public)
        groups = [g.strip() for g in (request.headers.get(auth.header_groups) or "").split(",") if g.strip()]
        email = (request.headers.get(auth.header_email) or "").strip().lower()
        return User(
            id=f"sso:{name}",
            groups=tuple(dict.fromkeys([*public, *groups])),
            admin=auth.admin_group in groups,
            name=(request.headers.get(auth.header_name) or name).strip(),
            email=email,
            person_id=_person_of(email),
        )
    user_id = session.get("uid")
    if not isinstance(user_id, int):
        return User(id=None, groups=public)
    from webui.accounts import Accounts

    account = Accounts(savoir.store, auth).by_id(user_id)
    if account is None or account.disabled or session.get("stamp") != account.session_stamp:
        session.clear()
        return User(id=None, groups=public)
    return User(
        id=account.username,
        groups=tuple(dict.fromkeys([*public, *account.groups])),
        admin=account.admin,
        name=account.display_name,
        email=account.email,
        person_id=_person_of(account.email),
    )


def current_user() -> User:
    """The user of this request (resolved once per request)."""
    cached = g.get("savoir_user")
    if cached is None:
        cached = _resolve()
        g.savoir_user = cached
    return cached
