"""The French catalogue is complete, compiled, and holds every string the UI shows.

Strings are extracted from webui's Python and templates with Babel's own extractor (as
``pybabel extract`` does) and compared with webui/translations/fr/LC_MESSAGES/messages.po.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

WEBUI = Path(__file__).resolve().parent.parent / "webui"
PO = WEBUI / "translations" / "fr" / "LC_MESSAGES" / "messages.po"
MO = PO.with_suffix(".mo")
KEYWORDS = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "ungettext": (1, 2),
    "lazy_gettext": None,
    "N_": None,
}
METHODS = [
    ("**/templates/**.html", "jinja2"),
    ("**/templates/**.xml", "jinja2"),
    ("**/translations/**", "ignore"),
    ("**.py", "python"),
]


def _key(message) -> str:
    return message[0] if isinstance(message, tuple | list) else message


@pytest.fixture(scope="module")
def catalogue():
    with PO.open("rb") as fh:
        return read_po(fh, locale="fr")


@pytest.fixture(scope="module")
def extracted() -> dict[str, str]:
    found: dict[str, str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        WEBUI, METHODS, keywords=KEYWORDS, comment_tags=()
    ):
        found.setdefault(_key(message), f"webui/{filename}:{lineno}")
    return found


def test_every_message_has_its_french(catalogue):
    untranslated = [
        m.id
        for m in catalogue
        if m.id and (not m.string or (isinstance(m.string, tuple | list) and not all(m.string)))
    ]
    assert untranslated == []
    assert catalogue.plural_forms == "nplurals=2; plural=(n > 1);"  # French: 0 and 1 are singular


def test_the_code_shows_no_string_the_catalogue_lacks(catalogue, extracted):
    known = {_key(m.id) for m in catalogue if m.id}
    missing = {msgid: where for msgid, where in extracted.items() if msgid not in known}
    assert missing == {}
    # and the catalogue carries nothing the code no longer says
    assert sorted(known - set(extracted)) == []
    assert len(extracted) > 150  # the extraction did find the templates and the code


def test_the_compiled_catalogue_is_the_po(catalogue):
    # the .mo is committed (a fresh clone needs no build step): it must be this .po compiled
    with MO.open("rb") as fh:
        compiled = read_mo(fh)

    def pairs(messages) -> dict:
        return {
            _key(m.id): tuple(m.string) if isinstance(m.string, tuple | list) else m.string
            for m in messages
            if m.id
        }

    assert pairs(compiled) == pairs(catalogue)


def test_placeholders_match_in_both_languages(catalogue):
    import re

    def names(text) -> set[str]:
        texts = text if isinstance(text, tuple | list) else (text,)
        return {n for t in texts for n in re.findall(r"%\((\w+)\)s", t or "")}

    wrong = [m.id for m in catalogue if m.id and names(m.id) != names(m.string)]
    assert wrong == []
