"""The UI's two languages, through Flask-Babel and gettext catalogues.

Every word the UI shows is a gettext message whose msgid is the English text; the
French is in ``webui/translations/fr/LC_MESSAGES/messages.po`` (the file translators and
their tools work with), compiled to ``messages.mo`` beside it (``pybabel compile -d
webui/translations``; tests/test_ui_catalogue.py fails when the two disagree, when a
message lacks its French, or when the code shows a string the catalogue lacks).

This module holds what a template cannot write as a literal: the label of a value
known only at run time (a language code, a kind, a role, a facet's name), and numbers
and dates in the UI's locale (Babel: "1,234" and "Mar 3, 2025" in English, "1 234" and
"3 mars 2025" in French).
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from flask import Flask, g
from flask_babel import Babel, format_date, format_decimal, get_translations, gettext, lazy_gettext

LANGUAGES = ["en", "fr"]
TRANSLATIONS_DIR = Path(__file__).resolve().parent / "translations"


def N_(message: str) -> str:
    """Mark *message* for the catalogue without translating it yet (it is translated
    where it is shown: flashed messages, error messages raised before a locale exists)."""
    return message


LANGUAGE_NAMES = {
    "en": lazy_gettext("English"),
    "fr": lazy_gettext("French"),
    "und": lazy_gettext("Undetermined"),
}
#: document kinds; a kind without an entry shows as the source wrote it
KIND_NAMES = {
    "page": lazy_gettext("Page"),
    "post": lazy_gettext("Blog post"),
    "news": lazy_gettext("News"),
    "file": lazy_gettext("File"),
    "comment": lazy_gettext("Comment"),
}
FACET_TITLES = {
    "agency": lazy_gettext("Agency"),
    "source": lazy_gettext("Source"),
    "kind": lazy_gettext("Type"),
    "lang": lazy_gettext("Language"),
    "year": lazy_gettext("Year"),
    "communities": lazy_gettext("Community"),
}
ROLES_DONE = {
    "author": lazy_gettext("wrote"),
    "editor": lazy_gettext("edited"),
    "commenter": lazy_gettext("commented"),
}
LIMITS = {
    "time": lazy_gettext("time"),
    "terms": lazy_gettext("too many words to expand"),
    "suggestion": lazy_gettext("spelling suggestions"),
    "words": lazy_gettext("only the first words were searched"),
}
AGENCY_KNOWN_FROM = {
    "email": lazy_gettext("from their email address"),
    "directory": lazy_gettext("from the people directory"),
    "source": lazy_gettext("where they write"),
}


def language_name(code: str | None) -> str:
    return str(LANGUAGE_NAMES.get(code or "und", code))


def kind_name(kind: str) -> str:
    found = KIND_NAMES.get(kind)
    return str(found) if found is not None else kind


def facet_title(name: str) -> str:
    return str(FACET_TITLES.get(name, name))


def role_done(role: str) -> str:
    return str(ROLES_DONE.get(role, role))


def role_count(role: str, n: int) -> str:
    """ "wrote 3", "a rédigé 3": what a person did, counted in documents."""
    num = number(n)
    if role == "author":
        return gettext("wrote %(n)s", n=num)
    if role == "editor":
        return gettext("edited %(n)s", n=num)
    return gettext("commented on %(n)s", n=num)


def limit_name(limit: str) -> str:
    return str(LIMITS.get(limit, limit))


def agency_known_from(how: str | None) -> str:
    return str(AGENCY_KNOWN_FROM.get(how or "", ""))


def number(value: int | float) -> str:
    return format_decimal(value)


def local_date(value: date | datetime | None) -> str:
    if value is None:
        return ""
    return format_date(value.date() if isinstance(value, datetime) else value, format="medium")


def results_count(n: int) -> str:
    # flask_babel.ngettext would put the bare number in %(num)s: the catalogue's
    # plural form, then the number as the locale writes it
    text = get_translations().ungettext("%(num)s result", "%(num)s results", n)
    return text % {"num": number(n)}


def install(app: Flask) -> Babel:
    """Flask-Babel on *app*: the locale is the UI language ``pick_language`` chose."""
    babel = Babel(
        app,
        locale_selector=lambda: getattr(g, "ui_lang", "en"),
        default_translation_directories=str(TRANSLATIONS_DIR),
    )
    app.jinja_env.globals.update(
        language_name=language_name,
        facet_title=facet_title,
        role_done=role_done,
        role_count=role_count,
        limit_name=limit_name,
        agency_known_from=agency_known_from,
        number=number,
        date=local_date,
    )
    return babel
