"""The EN<->FR glossary used to search across languages.

Entries are matched on *keys*: folded, lower-cased words with elided articles and
stop words removed and a light plural strip, so "Access to Information requests",
"access to information request" and "accès à l'information" find their entries.
Multi-word entries win over shorter ones (longest match first).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from indexer.analysis import EN_STOP, FR_STOP, fold_accents

log = logging.getLogger(__name__)

DEFAULT_GLOSSARY = Path(__file__).resolve().parent.parent / "config" / "glossary.tsv"
#: Debian's FreeDict dictionaries (packages dict-freedict-eng-fra, dict-freedict-fra-eng),
#: used when installed, after the curated glossary.
FREEDICT_DIR = Path("/usr/share/dictd")
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
MAX_DICTIONARY_SENSES = 4
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_ELIDED = {"l", "d", "j", "qu", "n", "s", "t", "m", "c", "jusqu", "lorsqu", "puisqu", "quoiqu"}
_STOP = frozenset(EN_STOP | FR_STOP)


def key_word(word: str) -> str:
    word = fold_accents(word.lower())
    # plurals: -s, and the French -eaux/-eux (not the x of "index", "complex", "syntax")
    if len(word) > 4 and (word.endswith("s") and not word.endswith("ss") or word.endswith(("eaux", "eux"))):
        word = word[:-1]
    return word


def words_of(text: str) -> list[str]:
    """Raw words of *text* in order, without elided articles (l' d' qu'...)."""
    return [w for w in _WORD.findall(text.replace("’", "'")) if fold_accents(w.lower()) not in _ELIDED]


def key_of(words: list[str]) -> tuple[str, ...]:
    return tuple(key_word(w) for w in words if fold_accents(w.lower()) not in _STOP)


@dataclass(frozen=True)
class Match:
    start: int  # index of the first word of the span in the query's words
    end: int  # one past the last word
    source_language: str  # the language the query words are in ("en" or "fr")
    translations: tuple[str, ...]


class Glossary:
    def __init__(self, pairs: list[tuple[str, str]] = ()) -> None:
        self.to_fr: dict[tuple[str, ...], list[str]] = {}
        self.to_en: dict[tuple[str, ...], list[str]] = {}
        self.max_words = 1
        self._curated_en: set[tuple[str, ...]] = set()
        self._curated_fr: set[tuple[str, ...]] = set()
        self._by_stem_en: dict[str, tuple[str, ...]] = {}
        self._by_stem_fr: dict[str, tuple[str, ...]] = {}
        for en, fr in pairs:
            self.add(en, fr)

    def add(self, en: str, fr: str, *, curated: bool = True, headword: str | None = None) -> None:
        """A pair, used both ways.

        A dictionary pair (*curated* False) fills only the directions the curated
        glossary leaves empty ("travailler -> work" is kept although the glossary
        translates "work"). Its *headword* side ("en" or "fr") keeps the dictionary's
        first senses only; the reverse direction is always specific enough to keep
        ("old -> vieux" gives "vieux -> old", however many senses "vieux" has).
        """
        en_key, fr_key = key_of(words_of(en)), key_of(words_of(fr))
        if not en_key or not fr_key:
            return
        to_fr = to_en = True
        if not curated:
            to_fr = en_key not in self._curated_en and len(self.to_fr.get(en_key, [])) < MAX_DICTIONARY_SENSES
            to_en = fr_key not in self._curated_fr and len(self.to_en.get(fr_key, [])) < MAX_DICTIONARY_SENSES
        else:
            self._curated_en.add(en_key)
            self._curated_fr.add(fr_key)
        if to_fr:
            if len(en_key) == 1:
                self._by_stem_en.setdefault(_stem("english", en_key[0]), en_key)
            if fr not in self.to_fr.setdefault(en_key, []):
                self.to_fr[en_key].append(fr)
            self.max_words = max(self.max_words, len(en_key))
        if to_en:
            if len(fr_key) == 1:
                self._by_stem_fr.setdefault(_stem("french", fr_key[0]), fr_key)
            if en not in self.to_en.setdefault(fr_key, []):
                self.to_en[fr_key].append(en)
            self.max_words = max(self.max_words, len(fr_key))

    def __len__(self) -> int:
        return len(self.to_fr)

    @classmethod
    def load(cls, paths: list[Path]) -> Glossary:
        glossary = cls()
        for path in paths:
            try:
                lines = Path(path).read_text("utf-8").splitlines()
            except OSError as exc:
                log.error("glossary %s cannot be read: %s", path, exc.strerror)
                continue
            for number, line in enumerate(lines, start=1):
                if not line.strip() or line.lstrip().startswith("#"):
                    continue
                parts = line.split("\t")
                if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
                    log.warning("%s:%d: expected 'English<TAB>French'; line ignored", path, number)
                    continue
                glossary.add(parts[0].strip(), parts[1].strip())
        return glossary

    def add_freedict(self, directory: Path = FREEDICT_DIR) -> int:
        """Add Debian's FreeDict EN->FR and FR->EN entries when installed; return how many."""
        added = 0
        for name, english_first in (("freedict-eng-fra", True), ("freedict-fra-eng", False)):
            for head, senses in _read_dictd(directory / f"{name}.index", directory / f"{name}.dict.dz"):
                for sense in senses[:MAX_DICTIONARY_SENSES]:
                    en, fr = (head, sense) if english_first else (sense, head)
                    self.add(en, fr, curated=False, headword="en" if english_first else "fr")
                    added += 1
        return added

    def translate(self, words: list[str], language: str) -> tuple[str, ...]:
        """The translations of *words* read as *language* ("en" or "fr"); () if none."""
        key = key_of(words)
        found = (self.to_fr if language == "en" else self.to_en).get(key, [])
        span = fold_accents(" ".join(words).lower())
        return tuple(t for t in found if fold_accents(t.lower()) != span)

    def matches(self, words: list[str]) -> list[Match]:
        """Non-overlapping glossary spans of *words*, longest first, left to right."""
        keys = [key_word(w) if fold_accents(w.lower()) not in _STOP else None for w in words]
        out: list[Match] = []
        i = 0
        while i < len(words):
            if keys[i] is None:
                i += 1
                continue
            found = None
            # try the longest span starting at i (stop words inside a span are allowed)
            for j in range(min(len(words), i + self.max_words * 2), i, -1):
                span_key = tuple(k for k in keys[i:j] if k is not None)
                if not span_key or keys[j - 1] is None:
                    continue
                fr = self.to_fr.get(span_key)
                en = self.to_en.get(span_key)
                if fr or en:
                    lang = "en" if fr and not en else "fr" if en and not fr else "both"
                    span = fold_accents(" ".join(words[i:j]).lower())
                    translations = [
                        t for t in dict.fromkeys((fr or []) + (en or [])) if fold_accents(t.lower()) != span
                    ]
                    found = Match(i, j, lang, tuple(translations))
                    break
            if found is None:
                found = self._stem_match(i, keys[i])
            if found:
                out.append(found)
                i = found.end
            else:
                i += 1
        return out

    def _stem_match(self, position: int, key: str) -> Match | None:
        """One word whose stem equals a glossary entry's ("anomalies" -> "anomaly")."""
        en_key = self._by_stem_en.get(_stem("english", key))
        fr_key = self._by_stem_fr.get(_stem("french", key))
        fr = self.to_fr.get(en_key, []) if en_key else []
        en = self.to_en.get(fr_key, []) if fr_key else []
        if not fr and not en:
            return None
        lang = "en" if fr and not en else "fr" if en and not fr else "both"
        translations = [t for t in dict.fromkeys(fr + en) if fold_accents(t.lower()) != key]
        return Match(position, position + 1, lang, tuple(translations)) if translations else None


@lru_cache(maxsize=200_000)
def _stem(language: str, word: str) -> str:
    return _stemmers()[language].stemWord(word)


@lru_cache(maxsize=1)
def _stemmers():
    import Stemmer

    return {"english": Stemmer.Stemmer("english"), "french": Stemmer.Stemmer("french")}


def _b64(text: str) -> int:
    value = 0
    for ch in text:
        value = value * 64 + _B64.index(ch)
    return value


def _read_dictd(index_path: Path, dict_path: Path):
    """(headword, [translations]) from a dictd dictionary; nothing when absent or damaged."""
    import gzip

    try:
        index_lines = index_path.read_text("utf-8").splitlines()
        data = gzip.open(dict_path).read()
    except (OSError, EOFError, ValueError):
        return
    for line in index_lines:
        parts = line.split("\t")
        if len(parts) != 3 or parts[0].startswith("00database"):
            continue
        try:
            entry = data[_b64(parts[1]) : _b64(parts[1]) + _b64(parts[2])].decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            continue
        senses = []
        for raw in entry.splitlines()[1:]:
            for sense in re.split(r"[,;]\s*", re.sub(r"^\d+\.\s*", "", raw)):
                sense = sense.strip()
                if (
                    sense
                    and "/" not in sense
                    and "(" not in sense
                    and len(sense) < 60
                    and sense not in senses
                ):
                    senses.append(sense)
        if senses:
            yield parts[0], senses


@lru_cache(maxsize=4)
def load_glossary(paths: tuple[str, ...] = (), use_freedict: bool = True) -> Glossary:
    files = [DEFAULT_GLOSSARY, *map(Path, paths)]
    glossary = Glossary.load(files)
    extra = glossary.add_freedict() if use_freedict else 0
    log.info(
        "glossary: %d English terms from %s (+%d FreeDict senses)",
        len(glossary),
        ", ".join(map(str, files)),
        extra,
    )
    return glossary
