"""What the document-store connectors (``files``, ``webdav``, ``smb``) share beyond the
extraction: include/exclude globs, folder ACLs and folder tags from settings, and the
contributions a file's metadata gives."""

from __future__ import annotations

from datetime import datetime
from fnmatch import fnmatchcase

from connectors.base import ConnectorConfigError, Contribution, Role
from connectors.extract import Parsed


def glob(rel: str, pattern: str) -> bool:
    """Whether the path *rel* inside the folder matches *pattern*, case-blind. A pattern
    without a slash matches the file name alone (``*.pdf``); ``drafts/`` a folder."""
    rel, pattern = rel.lower(), pattern.lower()
    return fnmatchcase(rel, pattern) or ("/" not in pattern and fnmatchcase(rel.rsplit("/", 1)[-1], pattern))


def in_scope(rel: str, include: list[str], exclude: list[str]) -> bool:
    return any(glob(rel, p) for p in include) and not excluded(rel, exclude)


def excluded(rel: str, exclude: list[str], *, folder: bool = False) -> bool:
    return any(glob(rel, p) or (folder and glob(rel + "/", p)) for p in exclude)


def folder_rules(table: dict | None, name: str, what: str = "group") -> list[tuple[str, tuple[str, ...]]]:
    """(folder, values) from a settings table ``{"hr/cases" = ["hr-advisors"]}``, deepest
    folder first; a value may also be one comma-separated string. *name* is the
    setting's name and *what* what its values name, for the message a wrong table gets."""
    rules = []
    for folder, values in (table or {}).items():
        if isinstance(values, str):
            values = [v for v in (part.strip() for part in values.split(",")) if v]
        if not isinstance(values, list) or not values or not all(isinstance(v, str) and v for v in values):
            raise ConnectorConfigError(
                f'{name}[{folder!r}] must be a list of {what} names, e.g. ["hr-advisors"]: check {name}'
            )
        rules.append((str(folder).strip("/"), tuple(values)))
    return sorted(rules, key=lambda rule: -len(rule[0]))


def deepest(rules: list[tuple[str, tuple[str, ...]]], rel: str) -> tuple[str, ...] | None:
    """The values of the deepest folder of *rules* above the file *rel*, else None."""
    folded = rel.casefold()
    for folder, values in rules:
        if folder == "" or folded.startswith(folder.casefold() + "/"):
            return values
    return None


def contributions(parsed: Parsed, created: datetime, modified: datetime) -> tuple[Contribution, ...]:
    """The file's authors (at its creation) and its last editor when someone else."""
    size = len(parsed.text)
    out = [Contribution(p, Role.AUTHOR, time=created, size=size) for p in dict.fromkeys(parsed.authors)]
    names = {p.name.casefold() for p in parsed.authors}
    if parsed.editor and parsed.editor.name.casefold() not in names:
        out.append(Contribution(parsed.editor, Role.EDITOR, time=modified))
    return tuple(out)
