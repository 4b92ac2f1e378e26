"""What each route accepts in its query string, declared once and checked before any work.

A route lists its :class:`Param` declarations; :func:`read_params` returns only those
(validated, converted, defaults filled) and raises :class:`BadParameter` with what to
fix. Parameters a route does not declare are ignored: they never reach a search, a
template or ``url_for`` (which would read ``_external``, ``_scheme``, ``_anchor``,
``_method`` or ``endpoint`` as instructions and build forged links or fail).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from werkzeug.datastructures import MultiDict
from werkzeug.routing import BaseConverter, ValidationError

from webui.i18n import N_

# what a refused parameter says (gettext msgids: the page translates them, the API
# shows them in English)
PARAM_INT = N_("The parameter “%(name)s” must be a whole number from %(low)s to %(high)s.")
PARAM_LONG = N_("The parameter “%(name)s” is too long: use at most %(n)s characters.")
PARAM_CONTROL = N_("The parameter “%(name)s” contains a NUL character: remove it.")
PARAM_CHOICE = N_("The parameter “%(name)s” must be one of: %(choices)s.")
PARAM_PATTERN = N_("The parameter “%(name)s” is not written as expected (for example %(hint)s).")
PARAM_MANY = N_("The parameter “%(name)s” is given too many times: at most %(n)s.")
PARAM_ONCE = N_("Give the parameter “%(name)s” only once.")
PARAM_REQUIRED = N_("Give the parameter “%(name)s” (%(hint)s).")

#: the largest id the store's integer keys hold (PostgreSQL INTEGER; SQLite holds more)
MAX_ID = 2**31 - 1


@dataclass(frozen=True)
class Param:
    """One query-string parameter: text or a whole number, one value or several."""

    name: str
    kind: type = str  # str or int
    default: Any = None
    low: int | None = None  # int bounds, inclusive
    high: int | None = None
    max_length: int = 200  # characters of one text value
    choices: tuple[str, ...] = ()
    pattern: str | None = None  # a text value must match it in full
    pattern_hint: str = ""  # how to write a valid value, for the message
    multiple: bool = False
    max_values: int = 20

    def empty(self) -> Any:
        return [] if self.multiple else self.default


class BadParameter(ValueError):
    """A parameter the route declares, with a value it cannot use: say what to fix."""

    def __init__(self, name: str, message_id: str, **values: object) -> None:
        super().__init__(f"{name}: {message_id}")
        self.name = name
        self.message_id = message_id  # the English text, a gettext msgid (translated when shown)
        self.values = {"name": name, **values}


def _convert(param: Param, raw: str) -> Any:
    if param.kind is int:
        text = raw.strip()
        if not re.fullmatch(r"[+-]?\d{1,19}", text):
            raise BadParameter(param.name, PARAM_INT, low=param.low, high=param.high)
        value = int(text)
        if (param.low is not None and value < param.low) or (param.high is not None and value > param.high):
            raise BadParameter(param.name, PARAM_INT, low=param.low, high=param.high)
        return value
    if len(raw) > param.max_length:
        raise BadParameter(param.name, PARAM_LONG, n=param.max_length)
    if "\x00" in raw:
        raise BadParameter(param.name, PARAM_CONTROL)
    if param.choices and raw not in param.choices:
        raise BadParameter(param.name, PARAM_CHOICE, choices=", ".join(param.choices))
    if param.pattern and raw and not re.fullmatch(param.pattern, raw):
        raise BadParameter(param.name, PARAM_PATTERN, hint=param.pattern_hint)
    return raw


def read_params(specs: Sequence[Param], args: MultiDict) -> dict[str, Any]:
    """The declared parameters of *args*, converted; anything else is left out."""
    out: dict[str, Any] = {}
    for param in specs:
        values = [v for v in args.getlist(param.name)]
        if param.multiple:
            values = [v for v in values if v != ""]
            if len(values) > param.max_values:
                raise BadParameter(param.name, PARAM_MANY, n=param.max_values)
            out[param.name] = list(dict.fromkeys(_convert(param, v) for v in values))
            continue
        if len(values) > 1:
            raise BadParameter(param.name, PARAM_ONCE)
        if not values or (values[0] == "" and param.kind is not str):
            out[param.name] = param.default
        else:
            out[param.name] = _convert(param, values[0])
    return out


def query_args(
    values: Mapping[str, Any], specs: Sequence[Param], **changes: Any
) -> dict[str, str | list[str]]:
    """Arguments for ``url_for`` from validated *values* and *changes*, declared names only.

    A value equal to its default is left out (short links); ``None`` removes one.
    """
    known = {p.name: p for p in specs}
    merged = {**values, **changes}
    out: dict[str, str | list[str]] = {}
    for name, value in merged.items():
        param = known.get(name)
        if param is None or value is None or value == param.empty():
            continue
        if isinstance(value, list | tuple):
            items = [str(v) for v in value]
            if items:
                out[name] = items
        else:
            out[name] = str(value)
    return out


class IdConverter(BaseConverter):
    """``<id:person_id>``: a whole number the store can hold; anything else is a 404."""

    regex = r"\d+"

    def to_python(self, value: str) -> int:
        if len(value) > 10:
            raise ValidationError()
        number = int(value)
        if number > MAX_ID:
            raise ValidationError()
        return number

    def to_url(self, value: Any) -> str:
        return str(int(value))
