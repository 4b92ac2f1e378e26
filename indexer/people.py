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


def person_key(name: str, email: str | None, agency: str, username: str | None = None) -> str:
    if email and "@" in email:
        return f"email:{email.strip().lower()}"
    normal = normalise_name(name) or (username or "").casefold()
    return f"name:{agency}:{normal}"
