"""Local accounts: who may sign in to Savoir, their groups, and the audit log.

Passwords are hashed with argon2id (``argon2-cffi``: the reference implementation's
binding, maintained, with parameters that follow RFC 9106's recommendations) and
never stored, logged or shown. Failed sign-ins count per account: after
``max_failures`` in a row the account is locked for ``lock_minutes``, doubled on each
further lock; a correct password during a lock is refused like a wrong one, so a
guesser learns nothing. Every sign-in (good or bad) and every account change is
written to ``audit_log`` with who did it, on what, when and from which address.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, desc, func, insert, select, update

from config import secrets
from config.loader import AuthSettings
from indexer.store import Store, audit_log, users

_HASHER = PasswordHasher()
#: a hash to verify against when the user does not exist, so timing says nothing
_DUMMY_HASH = _HASHER.hash("savoir-no-such-user-password")
USERNAME = re.compile(r"[a-z0-9][a-z0-9._@-]{0,99}")
GROUP = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
MIN_PASSWORD = 12


class AccountError(ValueError):
    """A request about accounts that cannot be done; the message says why."""


@dataclass(frozen=True)
class Account:
    id: int
    username: str
    display_name: str
    email: str
    groups: tuple[str, ...]
    admin: bool
    disabled: bool
    locked_until: datetime | None
    last_signin: datetime | None
    #: changes with the password: a session made before a password change ends
    session_stamp: str = ""


def _account(row) -> Account:
    return Account(
        row.id,
        row.username,
        row.display_name or row.username,
        row.email or "",
        tuple(row.groups or ()),
        bool(row.admin),
        bool(row.disabled),
        row.locked_until,
        row.last_signin,
        hashlib.sha256((row.password_hash or "").encode()).hexdigest()[:16],
    )


def normalise_username(username: str) -> str:
    name = (username or "").strip().casefold()
    if not USERNAME.fullmatch(name):
        raise AccountError(
            f"user name {username!r}: use 1-100 letters, digits, '.', '_', '-' or '@', starting with a letter or digit"
        )
    return name


def check_groups(groups: list[str] | tuple[str, ...]) -> list[str]:
    for group in groups:
        if not GROUP.fullmatch(group):
            raise AccountError(f"group {group!r}: use letters, digits, '.', '_', ':' or '-' (up to 64)")
    return list(dict.fromkeys(groups))


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password must have at least {MIN_PASSWORD} characters")


def now() -> datetime:
    return datetime.now(UTC)


class Accounts:
    """Accounts and the audit log in the store."""

    def __init__(self, store: Store, settings: AuthSettings | None = None) -> None:
        self.store = store
        self.settings = settings or AuthSettings()

    # -- administration ----------------------------------------------------------
    def add(
        self,
        username: str,
        password: str,
        *,
        admin: bool = False,
        groups: list[str] | tuple[str, ...] = (),
        display_name: str = "",
        email: str = "",
        actor: str = "cli",
    ) -> Account:
        name = normalise_username(username)
        check_password(password)
        wanted = check_groups(groups)
        secrets.register(password)
        with self.store.begin() as conn:
            if conn.execute(select(users.c.id).where(users.c.username == name)).first():
                raise AccountError(f"user {name!r} exists already (change it with: savoir users passwd/groups)")
            conn.execute(
                insert(users).values(
                    username=name,
                    display_name=display_name.strip(),
                    email=email.strip().lower(),
                    password_hash=_HASHER.hash(password),
                    groups=wanted,
                    admin=admin,
                    disabled=False,
                    created_at=now(),
                    failed_signins=0,
                )
            )
        self.audit(actor, "user.add", name, detail=f"admin={admin} groups={','.join(wanted)}")
        return self.get(name)

    def get(self, username: str) -> Account:
        name = normalise_username(username)
        with self.store.engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.username == name)).first()
        if row is None:
            raise AccountError(f"no user {name!r} (see: savoir users list)")
        return _account(row)

    def by_id(self, user_id: int) -> Account | None:
        with self.store.engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.id == user_id)).first()
        return _account(row) if row is not None else None

    def list(self) -> list[Account]:
        with self.store.engine.connect() as conn:
            return [_account(r) for r in conn.execute(select(users).order_by(users.c.username))]

    def set_password(self, username: str, password: str, *, actor: str = "cli") -> None:
        account = self.get(username)
        check_password(password)
        secrets.register(password)
        self._update(account.id, password_hash=_HASHER.hash(password), failed_signins=0, locked_until=None)
        self.audit(actor, "user.passwd", account.username)

    def set_groups(
        self, username: str, groups: list[str], *, admin: bool | None = None, actor: str = "cli"
    ) -> Account:
        account = self.get(username)
        values: dict = {"groups": check_groups(groups)}
        if admin is not None:
            values["admin"] = admin
        self._update(account.id, **values)
        self.audit(actor, "user.groups", account.username, detail=f"groups={','.join(values['groups'])} admin={admin}")
        return self.get(account.username)

    def set_disabled(self, username: str, disabled: bool, *, actor: str = "cli") -> None:
        account = self.get(username)
        self._update(account.id, disabled=disabled)
        self.audit(actor, "user.disable" if disabled else "user.enable", account.username)

    def remove(self, username: str, *, actor: str = "cli") -> None:
        account = self.get(username)
        with self.store.begin() as conn:
            conn.execute(delete(users).where(users.c.id == account.id))
        self.audit(actor, "user.remove", account.username)

    def _update(self, user_id: int, **values) -> None:
        with self.store.begin() as conn:
            conn.execute(update(users).where(users.c.id == user_id).values(**values))

    # -- signing in --------------------------------------------------------------
    def authenticate(self, username: str, password: str, address: str = "") -> Account | None:
        """The account if *password* is right and the account may sign in; else None.

        Wrong passwords count; past ``max_failures`` the account locks (and a right
        password is refused too until the lock ends). Every attempt is audited.
        """
        try:
            name = normalise_username(username)
        except AccountError:
            _verify(_DUMMY_HASH, password)
            self.audit(username[:100] or "?", "signin.fail", "", address, "malformed user name")
            return None
        with self.store.engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.username == name)).first()
        if row is None:
            _verify(_DUMMY_HASH, password)
            self.audit(name, "signin.fail", name, address, "no such user")
            return None
        stamp = now()
        if row.locked_until is not None and row.locked_until > stamp:
            _verify(_DUMMY_HASH, password)
            self.audit(name, "signin.refused", name, address, f"locked until {row.locked_until.isoformat()}")
            return None
        if row.disabled or not row.password_hash or not _verify(row.password_hash, password):
            failures = (row.failed_signins or 0) + 1
            values: dict = {"failed_signins": failures}
            over = failures - self.settings.max_failures
            if over >= 0:
                minutes = self.settings.lock_minutes * (2 ** min(over, 6))
                values["locked_until"] = stamp + timedelta(minutes=minutes)
            self._update(row.id, **values)
            reason = "disabled" if row.disabled else "wrong password"
            if "locked_until" in values:
                reason += f"; locked until {values['locked_until'].isoformat()}"
            self.audit(name, "signin.fail", name, address, reason)
            return None
        values = {"failed_signins": 0, "locked_until": None, "last_signin": stamp}
        if _HASHER.check_needs_rehash(row.password_hash):
            values["password_hash"] = _HASHER.hash(password)
        self._update(row.id, **values)
        self.audit(name, "signin", name, address)
        return self.by_id(row.id)

    # -- the audit log -----------------------------------------------------------
    def audit(self, actor: str, action: str, target: str = "", address: str = "", detail: str = "") -> None:
        with self.store.begin() as conn:
            conn.execute(
                insert(audit_log).values(
                    time=now(),
                    actor=actor[:100],
                    action=action[:64],
                    target=secrets.scrub(target)[:1000],
                    address=address[:64],
                    detail=secrets.scrub(detail)[:2000],
                )
            )

    def audit_entries(self, *, offset: int = 0, limit: int = 50) -> tuple[int, list[dict]]:
        with self.store.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(audit_log)).scalar() or 0
            rows = conn.execute(
                select(audit_log).order_by(desc(audit_log.c.id)).offset(offset).limit(limit)
            ).all()
        return total, [dict(r._mapping) for r in rows]


def _verify(hashed: str, password: str) -> bool:
    try:
        return _HASHER.verify(hashed, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
