"""Who is asking. Until sign-in exists every visitor is anonymous.

The sign-in issue replaces :func:`current_user`; everything that filters by groups
already asks it, so nothing else changes then.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app


@dataclass(frozen=True)
class User:
    id: str | None  # None: anonymous
    groups: tuple[str, ...]
    person_id: int | None = None  # the people-page person this user is, once signed in
    admin: bool = False

    @property
    def signed_in(self) -> bool:
        return self.id is not None


def current_user() -> User:
    settings = current_app.extensions["savoir"].settings
    if current_app.testing and current_app.config.get("TEST_USER_GROUPS"):
        # tests stand in for sign-in here (never read outside TESTING)
        return User(id="test-user", groups=tuple(current_app.config["TEST_USER_GROUPS"]))
    return User(id=None, groups=tuple(settings.search.public_groups))
