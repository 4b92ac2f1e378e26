"""What the document-store connectors (``files``, ``webdav``, ``smb``) share beyond the
extraction: the run over a listing (:func:`run`), include/exclude globs, folder ACLs and
folder tags from settings, and the contributions a file's metadata gives."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from fnmatch import fnmatchcase

from connectors.base import (
    Checkpoint,
    ConnectorConfigError,
    Contribution,
    Deletion,
    Exclusion,
    Failure,
    Role,
)
from connectors.extract import Parsed


def run(
    connector,
    checkpoint: Checkpoint | None,
    files: list,
    unlisted: list[tuple[str, str]],
    left_out: list[tuple[str, str, str]],
    read: Callable,
    *,
    hashes: bool = True,
) -> Iterator:
    """One run of a document store over its listing: the items to yield.

    *files* have ``rel`` and ``signature``; a file whose signature the checkpoint holds
    is not read. *unlisted* are (folder ref, reason): each is a transient Failure and,
    while any is, nothing is deleted (a partial listing is not a deletion). *left_out*
    are (rel, kind, why), counted once per source's history. ``read(entry, known_hash)``
    gives a Failure (read again every run until fixed), or with *hashes* (the document,
    or None when the bytes are unchanged; their hash), else the document. A Checkpoint
    follows every ``connector.checkpoint_every`` files read (or a twentieth of them, if
    more), and ends the run.
    """
    state = checkpoint.state if checkpoint else {}
    known: dict[str, str] = dict(state.get("sigs", {}))
    digests: dict[str, str] = dict(state.get("hashes", {})) if hashes else {}

    def snapshot() -> Checkpoint:
        return Checkpoint({"sigs": dict(known), **({"hashes": dict(digests)} if hashes else {})})

    for ref, reason in unlisted:
        yield Failure(connector.doc_id(ref), f"{ref}: cannot list folder ({reason})", transient=True)
    if checkpoint is None:
        for rel, kind, why in left_out:
            yield Exclusion(connector.doc_id(rel), kind, f"{rel}: {why}")
    if not unlisted:
        for rel in sorted(set(known) - {entry.rel for entry in files}):
            del known[rel]
            digests.pop(rel, None)
            yield Deletion(connector.doc_id(rel))
    done = 0
    every = max(connector.checkpoint_every, len(files) // 20)
    for entry in files:
        if known.get(entry.rel) == entry.signature:
            continue
        item = read(entry, digests.get(entry.rel))
        if isinstance(item, Failure):
            known.pop(entry.rel, None)
            digests.pop(entry.rel, None)
        else:
            known[entry.rel] = entry.signature
            if hashes:
                document, digests[entry.rel] = item
                if document is None:
                    continue  # the same bytes as last time: nothing to extract
                item = document
        yield item
        done += 1
        if done % every == 0:
            yield snapshot()
    yield snapshot()


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
