"""Name normalisation and identity keys for people named by sources.

One person per human across sources: by email first, then (issue 8) by the admin's
alias table, then by normalised name within one agency only; never by name alone
across agencies.
"""

from __future__ import annotations

import re
import unicodedata

_TITLES = {"mr", "mrs", "ms", "mme", "m", "mlle", "dr", "prof", "me", "hon", "sir", "dre"}
_SPACES = re.compile(r"\s+")


def fold(text: str) -> str:
    """Lower-case and strip accents: 'Geneviève' -> 'genevieve'."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def normalise_name(name: str) -> str:
    """'Tremblay, Geneviève' and 'Dr. Geneviève  TREMBLAY' -> 'genevieve tremblay'."""
    name = _SPACES.sub(" ", name).strip()
    if name.count(",") == 1:
        last, first = (part.strip() for part in name.split(","))
        if first and last:
            name = f"{first} {last}"
    words = [w for w in re.split(r"[\s.]+", fold(name)) if w]
    while words and words[0] in _TITLES:
        words.pop(0)
    return " ".join(words)


def person_key(
    name: str, email: str | None, agency: str, username: str | None = None, source_id: str = ""
) -> str:
    """The raw identity a source gives: its email, else its username there, else name + agency."""
    if email and "@" in email:
        return f"email:{email.strip().lower()}"
    if username:
        return f"user:{source_id}:{username.casefold()}"
    return f"name:{agency}:{normalise_name(name)}"


# -- the admins' directory (config/people.toml) ---------------------------------


class PeopleDirectory:
    """What admins know about people: canonical names, aliases, usernames, opt-outs.

    Resolution order for a name a source gives: email, then the directory (an email,
    a username on that source, or an alias), then (in the store) the normalised name
    within one agency only.
    """

    def __init__(self, entries: list[dict] | None = None, opt_out: list[str] | None = None) -> None:
        self.entries = entries or []
        self._by_email: dict[str, dict] = {}
        self._by_alias: dict[str, dict] = {}
        self._by_username: dict[tuple[str, str], dict] = {}
        for entry in self.entries:
            if entry.get("email"):
                self._by_email[entry["email"].lower()] = entry
            for alias in [entry["name"], *entry.get("aliases", [])]:
                self._by_alias.setdefault(normalise_name(alias), entry)
            for source, username in entry.get("usernames", {}).items():
                self._by_username[(source, username.casefold())] = entry
        self._opt_out = {v.strip().lower() for v in (opt_out or [])}
        for entry in self.entries:
            if entry.get("opt_out"):
                self._opt_out.add((entry.get("email") or "").lower() or normalise_name(entry["name"]))

    def __len__(self) -> int:
        return len(self.entries)

    def find(self, name: str, email: str | None, username: str | None, source_id: str) -> dict | None:
        if email and email.lower() in self._by_email:
            return self._by_email[email.lower()]
        if username and (source_id, username.casefold()) in self._by_username:
            return self._by_username[(source_id, username.casefold())]
        if name:
            return self._by_alias.get(normalise_name(name))
        return None

    def opted_out(self, name: str, email: str | None) -> bool:
        return bool((email and email.lower() in self._opt_out) or normalise_name(name) in self._opt_out)


def load_people_directory(path, opt_out: list[str] | None = None) -> PeopleDirectory:
    """Read config/people.toml; a missing file is an empty directory, a bad one an error."""
    import tomllib
    from pathlib import Path

    from config.loader import ConfigError

    path = Path(path)
    if not path.exists():
        return PeopleDirectory([], opt_out)
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    allowed = {"name", "email", "agency", "aliases", "usernames", "languages", "topics", "opt_out"}
    entries = []
    for position, raw in enumerate(data.get("person", []), start=1):
        where = f"{path}: person {raw.get('name', '#' + str(position))!r}"
        unknown = sorted(set(raw) - allowed)
        if unknown:
            raise ConfigError(
                f"{where}: unknown field {unknown[0]!r} (known fields: {', '.join(sorted(allowed))})"
            )
        if not isinstance(raw.get("name"), str) or not raw["name"].strip():
            raise ConfigError(f"{where}: field 'name' is required")
        if not isinstance(raw.get("agency", ""), str):
            raise ConfigError(f"{where}: field 'agency' must be text")
        for key in ("aliases", "languages", "topics"):
            if not isinstance(raw.get(key, []), list) or not all(
                isinstance(v, str) for v in raw.get(key, [])
            ):
                raise ConfigError(f"{where}: field {key!r} must be a list of text")
        if not isinstance(raw.get("usernames", {}), dict):
            raise ConfigError(f"{where}: field 'usernames' must be a table of source id = username")
        entries.append(dict(raw))
    return PeopleDirectory(entries, opt_out)
