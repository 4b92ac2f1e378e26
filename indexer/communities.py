"""Communities of practice (config/communities.toml) and which documents belong to each."""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from config.loader import ConfigError
from indexer.analysis import fold_accents

_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def _fold(text: str) -> str:
    return " ".join(re.findall(r"\w+", fold_accents(text.replace("’", "'").lower())))


@dataclass(frozen=True)
class Community:
    id: str
    name_en: str
    name_fr: str
    description_en: str = ""
    description_fr: str = ""
    keywords: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    _patterns: tuple[re.Pattern, ...] = field(default=(), compare=False, repr=False)

    def name(self, lang: str) -> str:
        return self.name_fr if lang == "fr" else self.name_en

    def description(self, lang: str) -> str:
        return self.description_fr if lang == "fr" else self.description_en


class Communities:
    def __init__(self, communities: list[Community] = ()) -> None:
        self.items = list(communities)
        self.by_id = {c.id: c for c in self.items}
        self._patterns = {
            c.id: [re.compile(r"\b" + re.escape(_fold(k)) + r"\b") for k in c.keywords if _fold(k)]
            for c in self.items
        }
        self._tags = {c.id: {_fold(t) for t in c.tags} for c in self.items}
        blob = repr([(c.id, c.keywords, c.tags) for c in self.items]).encode("utf-8")
        self.fingerprint = hashlib.sha256(blob).hexdigest()[:16]

    def __iter__(self):
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def memberships(self, title: str, text: str, tags: list[str], stated: list[str]) -> list[str]:
        """The communities a document belongs to (stated by its source, or by its words)."""
        out = [c for c in stated if c]
        folded_title, folded_text = _fold(title), None
        folded_tags = {_fold(t) for t in tags}
        for community in self.items:
            if community.id in out:
                continue
            if folded_tags & self._tags[community.id]:
                out.append(community.id)
                continue
            patterns = self._patterns[community.id]
            if any(p.search(folded_title) for p in patterns):
                out.append(community.id)
                continue
            if folded_text is None:
                folded_text = _fold(text[:20000])
            if sum(1 for p in patterns if p.search(folded_text)) >= 2:
                out.append(community.id)
        return out


def load_communities(path: str | Path) -> Communities:
    path = Path(path)
    if not path.exists():
        return Communities([])
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    allowed = {"id", "name_en", "name_fr", "description_en", "description_fr", "keywords", "tags"}
    items, seen = [], set()
    for position, raw in enumerate(data.get("community", []), start=1):
        where = f"{path}: community {raw.get('id', '#' + str(position))!r}"
        unknown = sorted(set(raw) - allowed)
        if unknown:
            raise ConfigError(
                f"{where}: unknown field {unknown[0]!r} (known fields: {', '.join(sorted(allowed))})"
            )
        for key in ("id", "name_en", "name_fr"):
            if not isinstance(raw.get(key), str) or not raw[key].strip():
                raise ConfigError(f"{where}: field {key!r} is required")
        if not _ID.match(raw["id"]):
            raise ConfigError(f"{where}: field 'id': use lower-case letters, digits, '-' and '_'")
        if raw["id"] in seen:
            raise ConfigError(f"{where}: field 'id': another community already uses this id")
        seen.add(raw["id"])
        for key in ("keywords", "tags"):
            value = raw.get(key, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{where}: field {key!r} must be a list of text")
        items.append(
            Community(
                id=raw["id"],
                name_en=raw["name_en"],
                name_fr=raw["name_fr"],
                description_en=raw.get("description_en", ""),
                description_fr=raw.get("description_fr", ""),
                keywords=tuple(raw.get("keywords", [])),
                tags=tuple(raw.get("tags", [])),
            )
        )
    return Communities(items)
