"""The admin console's source form, generated from a connector's settings dataclass.

Every connector declares its settings as a dataclass whose fields carry a label, a help
text and a ``secret`` flag (``connectors.base.setting``). This module turns such a class
into form fields (one input per field, chosen by the field's type) and a submitted form
back into the TOML-shaped settings the loader validates, so that the console and the
sources file say the same things and fail with the same messages.

* ``bool`` -> a checkbox; ``int``/``float`` -> a number input; ``str`` and paths -> a
  text input; lists -> a text area, one item per line; tables (``dict``) -> a text area
  of TOML ``key = value`` lines; secrets -> a password input.
* Secrets are never put back into a page: the input is always empty, and an empty
  secret on an edit keeps the stored one.
* What the admin typed is kept as typed (strings), so that a form the loader refuses is
  shown again with their values and the loader's message beside the field it names.
"""

from __future__ import annotations

import dataclasses
import json
import re
import tomllib
import types
import typing
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from config.loader import ConfigError, coerce

TEXT, NUMBER, CHECKBOX, LINES, TABLE, PASSWORD = "text", "number", "checkbox", "lines", "table", "password"
#: the prefix of a connector setting's input name (the source's own fields have none)
PREFIX = "s."
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_FIELD_IN_MESSAGE = re.compile(r"field '([A-Za-z0-9_]+)'")


@dataclass
class FormField:
    """One input of the form, ready for the template."""

    name: str  # the input's name
    label: str
    help: str
    widget: str
    required: bool = False
    step: str = ""  # number inputs: "1" or "any"
    value: str = ""  # what the input shows (never a secret)
    checked: bool = False
    secret_stored: bool = False  # a secret is stored: leaving the input empty keeps it
    error: str = ""


@dataclass(frozen=True)
class FieldSpec:
    name: str
    label: str
    help: str
    widget: str
    annotation: Any
    required: bool
    default: Any


def _strip_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        return inner[0] if inner else str
    return annotation


def _widget(annotation: Any, secret: bool) -> tuple[str, str]:
    annotation = _strip_optional(annotation)
    origin = typing.get_origin(annotation) or annotation
    if secret:
        return PASSWORD, ""
    if annotation is bool:
        return CHECKBOX, ""
    if annotation is int:
        return NUMBER, "1"
    if annotation is float:
        return NUMBER, "any"
    if origin in (list, tuple, set, frozenset):
        return LINES, ""
    if origin is dict:
        return TABLE, ""
    return TEXT, ""  # str, paths and anything else a string can say


def field_specs(cls: type) -> list[FieldSpec]:
    """What the form needs to know about each field of settings class *cls*."""
    hints = typing.get_type_hints(cls)
    specs = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        widget, _ = _widget(hints[f.name], bool(f.metadata.get("secret")))
        if f.default is not dataclasses.MISSING:
            default, required = f.default, False
        elif f.default_factory is not dataclasses.MISSING:
            default, required = f.default_factory(), False
        else:
            default, required = None, True
        specs.append(
            FieldSpec(
                name=f.name,
                label=f.metadata.get("label") or f.name.replace("_", " ").capitalize(),
                help=f.metadata.get("help") or "",
                widget=widget,
                annotation=hints[f.name],
                required=required,
                default=default,
            )
        )
    return specs


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(str(value), ensure_ascii=False)  # a TOML basic string


def _toml_key(key: Any) -> str:
    key = str(key)
    return key if _BARE_KEY.match(key) else json.dumps(key, ensure_ascii=False)


def shown(value: Any, widget: str) -> str:
    """A stored value as its input shows it."""
    if value is None:
        return ""
    if widget == LINES:
        return "\n".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value)
    if widget == TABLE:
        if isinstance(value, dict):
            return "\n".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items())
        return str(value)
    if isinstance(value, PurePath):
        return str(value)
    return str(value)


def build_fields(
    cls: type,
    values: dict[str, Any],
    *,
    typed: dict[str, str] | None = None,
    stored_secrets: set[str] = frozenset(),
    error_field: str = "",
    error: str = "",
) -> list[FormField]:
    """The inputs for settings class *cls*: *typed* (a refused form, as typed) wins over
    *values* (stored settings), which win over the class's defaults."""
    out = []
    for spec in field_specs(cls):
        input_name = PREFIX + spec.name
        item = FormField(
            name=input_name,
            label=spec.label,
            help=spec.help,
            widget=spec.widget,
            required=spec.required,
            step=_widget(spec.annotation, False)[1],
            secret_stored=spec.widget == PASSWORD and spec.name in stored_secrets,
            error=error if spec.name == error_field else "",
        )
        value = values.get(spec.name, spec.default)
        if spec.widget == PASSWORD:
            pass  # never shown, not even what was just typed
        elif spec.widget == CHECKBOX:
            item.checked = (input_name in typed) if typed is not None else bool(value)
        elif typed is not None:
            item.value = typed.get(input_name, "")
        else:
            item.value = shown(value, spec.widget)
        out.append(item)
    return out


def read_settings(cls: type, form: Any, *, keep_secrets: dict[str, Any]) -> dict[str, Any]:
    """The settings a submitted *form* gives, shaped as in the sources file.

    Numbers and lists stay strings here: the loader converts them, and its message
    quotes what the admin typed. A field left empty takes its default (so clearing a
    field is saying so); a required one left empty is left out, and the loader says it
    is required. A secret left empty keeps *keep_secrets*' value, if any.
    """
    settings: dict[str, Any] = {}
    for spec in field_specs(cls):
        key = PREFIX + spec.name
        raw = form.get(key, "")
        if spec.widget == CHECKBOX:
            settings[spec.name] = key in form
        elif spec.widget == PASSWORD:
            if raw:
                settings[spec.name] = raw
            elif spec.name in keep_secrets:
                settings[spec.name] = keep_secrets[spec.name]
        elif spec.widget == LINES:
            items = [line.strip() for line in raw.splitlines() if line.strip()]
            if items or not spec.required:
                settings[spec.name] = items
        elif spec.widget == TABLE:
            if raw.strip():
                try:
                    settings[spec.name] = tomllib.loads(raw)
                except tomllib.TOMLDecodeError as exc:
                    raise ConfigError(
                        f"field {spec.name!r}: write one 'key = value' line per entry, in TOML ({exc})"
                    ) from None
            elif not spec.required:
                settings[spec.name] = {}
        elif raw.strip():
            settings[spec.name] = raw.strip()
        elif not spec.required:
            settings[spec.name] = spec.default
    return settings


def normalised(cls: type, settings: dict[str, Any]) -> dict[str, Any]:
    """*settings* (already accepted by the loader) with each value in its field's type,
    so that what is stored compares equal to the same value written in TOML."""
    hints = typing.get_type_hints(cls)
    return {k: coerce(v, hints[k], k) if k in hints else v for k, v in settings.items()}


def field_named(message: str) -> str:
    """The field a loader message is about ("... field 'max_depth': ..."), if any."""
    found = _FIELD_IN_MESSAGE.findall(message)
    return found[-1] if found else ""


def typed_values(form: Any) -> dict[str, str]:
    """What the admin typed, to show again (secrets dropped: they are never echoed)."""
    return {k: v for k, v in form.items() if k != "csrf_token"}
