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
    return User(id=None, groups=tuple(settings.search.public_groups))
