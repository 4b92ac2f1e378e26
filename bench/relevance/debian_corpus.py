"""Real bilingual documents nobody at Savoir wrote: Debian's manual pages and FAQ.

Sources (Debian packages, installed with
``apt-get install manpages manpages-dev manpages-fr manpages-fr-dev debian-faq debian-faq-fr``):

* manual pages present in English (``/usr/share/man/manN``) and French
  (``/usr/share/man/fr/manN``): one document per page, its title the NAME line
  ("ls(1) - list directory contents"), its query the description alone ("list
  directory contents": the command name would find the page in any language);
* the Debian FAQ's sections in ``/usr/share/doc/debian/FAQ`` (English ``*.en.html``,
  French ``fr/*.fr.html``), paired by their DocBook anchor: one document per section,
  its heading both title and query.

The French translations are made with po4a from the English pages, so paragraphs
usually line up one to one; :func:`aligned_paragraphs` gives those pairs for
learning translations (development half only).

Each pair falls in the development or the test half by a hash of its id
(:func:`half`), fixed before any tuning: nothing is tuned on the test half.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import unicodedata
import warnings
from dataclasses import dataclass, field
from pathlib import Path

MAN = Path("/usr/share/man")
FAQ = Path("/usr/share/doc/debian/FAQ")
MIN_QUERY_WORDS = 2


@dataclass
class Version:
    title: str
    query: str
    paragraphs: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n\n".join(self.paragraphs)


@dataclass
class Pair:
    id: str  # "man:ls.1" or "faq:whatisdebian"
    en: Version
    fr: Version


def half(pair_id: str) -> str:
    """'dev' or 'test', fixed by the pair's id (about half each)."""
    return "dev" if hashlib.sha1(pair_id.encode()).digest()[0] % 2 == 0 else "test"


def kept_language(pair_id: str) -> str:
    """The one version the 'one language only' index keeps of a pair (half each)."""
    return "en" if hashlib.sha1(("side:" + pair_id).encode()).digest()[0] % 2 == 0 else "fr"


# --- roff ------------------------------------------------------------------------

_ACCENTS = {"'": "\u0301", "`": "\u0300", "^": "\u0302", ":": "\u0308", ",": "\u0327", "~": "\u0303"}
_ESCAPES = [
    # accented letters: \('e, \(`a, \(^o, \(,c... (old-style groff escapes)
    (re.compile(r"\\\(([`'^:,~])([a-zA-Z])"), lambda m: m.group(2) + _ACCENTS[m.group(1)]),
    (re.compile(r"\\\[([`'^:,~])([a-zA-Z])\]"), lambda m: m.group(2) + _ACCENTS[m.group(1)]),
    (re.compile(r"\\\[u([0-9A-Fa-f]{4,5})\]"), lambda m: chr(int(m.group(1), 16))),
    (re.compile(r"\\\*(?:\(Aq|\[Aq\])"), "'"),
    (re.compile(r"\\f(?:\[[^\]]*\]|\(..|.)"), ""),  # font changes
    (re.compile(r"\\[s][+-]?\d"), ""),
    (re.compile(r"\\\*(?:\[[^\]]*\]|\(..|.)"), ""),  # strings
    (re.compile(r"\\\((?:em|en)"), " - "),
    (re.compile(r"\\\((?:aq|cq|oq)"), "'"),
    (re.compile(r"\\\((?:lq|rq|dq|Fo|Fc)"), '"'),
    (re.compile(r"\\\[[^\]]*\]"), ""),
    (re.compile(r"\\\(.."), ""),
    (re.compile(r"\\[-]"), "-"),
    (re.compile(r"\\[ ~0]"), " "),
    (re.compile(r"\\[&,/|^c%:]"), ""),
    (re.compile(r"\\e"), "\\\\"),
]
_TEXT_MACROS = {"B", "I", "BR", "RB", "IR", "RI", "BI", "IB", "SM", "SB", "IP", "TP", "TQ", "HP"}
_BREAKS = {"PP", "P", "LP", "TP", "IP", "HP", "sp", "br", "RS", "RE", "nf", "fi", "EX", "EE", "TQ"}


def _unescape(text: str) -> str:
    for pattern, repl in _ESCAPES:
        text = pattern.sub(repl, text)
    return unicodedata.normalize("NFC", text.replace("\\\\", "\\")).strip()


def _args(rest: str) -> list[str]:
    return [a.strip('"') for a in re.findall(r'"[^"]*"|\S+', rest)]


def read_man(path: Path) -> tuple[str, list[tuple[str, list[str]]]] | None:
    """(NAME line, [(section heading, paragraphs)]) of a roff page; None if unreadable."""
    try:
        raw = gzip.open(path).read().decode("utf-8", "replace") if path.suffix == ".gz" else path.read_text()
    except (OSError, EOFError):
        return None
    if raw.lstrip().startswith(".so "):
        return None  # a link to another page
    sections: list[tuple[str, list[str]]] = []
    heading, paragraphs, current = "", [], []

    def end_paragraph() -> None:
        if current:
            paragraphs.append(" ".join(current))
            current.clear()

    lines = raw.splitlines()
    joined: list[str] = []
    for line in lines:  # a line ending in a backslash goes on on the next one
        if joined and joined[-1].endswith("\\") and not joined[-1].endswith("\\\\"):
            joined[-1] = joined[-1][:-1] + line
        else:
            joined.append(line)
    for line in joined:
        if line.startswith(('.\\"', "'\\\"", '\\"')):
            continue
        if line.startswith((".", "'")) and len(line) > 1:
            name, _, rest = line[1:].lstrip().partition(" ")
            if name in ("SH", "SS"):
                end_paragraph()
                if name == "SH":
                    if heading or paragraphs:
                        sections.append((heading, paragraphs))
                    heading, paragraphs = _unescape(" ".join(_args(rest))), []
                else:
                    title = _unescape(" ".join(_args(rest)))
                    if title:
                        paragraphs.append(title)
                continue
            if name in _BREAKS:
                end_paragraph()
            if name in _TEXT_MACROS and rest.strip() and name not in ("TP", "TQ", "HP", "IP"):
                current.append(_unescape("".join(_args(rest)) if name in ("BR", "RB", "IR", "RI", "BI", "IB") else " ".join(_args(rest))))
            elif name == "IP" and rest.strip():
                first = _args(rest)[0]
                if first not in ("\\(bu", "*", "-", "o"):
                    current.append(_unescape(first))
            continue
        text = _unescape(line)
        if text:
            current.append(text)
        elif current:
            end_paragraph()
    end_paragraph()
    if heading or paragraphs:
        sections.append((heading, paragraphs))
    if not sections:
        return None
    name_line = next((" ".join(paras) for head, paras in sections if head.upper() in ("NAME", "NOM")), "")
    return name_line, sections


def _man_version(path: Path, page: str) -> Version | None:
    read = read_man(path)
    if read is None:
        return None
    name_line, sections = read
    names, sep, description = re.sub(r"\s+[–—]\s+", " - ", name_line).partition(" - ")
    if not sep or len(description.split()) < MIN_QUERY_WORDS:
        return None
    paragraphs = [p for _, paras in sections[1:] for p in paras if p.strip()]
    headings = [h for h, _ in sections[1:]]
    return Version(
        title=f"{page} - {description.strip()}",
        query=description.strip().rstrip("."),
        paragraphs=[p for p in paragraphs] or headings,
    )


def man_pairs() -> list[Pair]:
    out = []
    for fr_path in sorted((MAN / "fr").glob("man[1-8]/*")):
        en_path = MAN / fr_path.parent.name / fr_path.name
        if not en_path.exists():
            continue
        page = fr_path.name.removesuffix(".gz")
        name, _, section = page.rpartition(".")
        en = _man_version(en_path, f"{name}({section})")
        fr = _man_version(fr_path, f"{name}({section})")
        if en and fr:
            out.append(Pair(f"man:{page}", en, fr))
    return out


# --- the FAQ (DocBook HTML) ------------------------------------------------------


def _faq_sections(path: Path) -> dict[str, Version]:
    from bs4 import BeautifulSoup

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the FAQ is XHTML; lxml's HTML parser reads it well
        soup = BeautifulSoup(path.read_text("utf-8", "replace"), "lxml")
    out = {}
    for div in soup.select("div.section"):
        heading = div.find(["h2", "h3", "h4"], class_="title")
        anchor = heading.find("a", id=True) if heading else None
        if not anchor:
            continue
        for nested in div.select("div.section"):
            nested.extract()
        title = re.sub(r"^[\d.]+\s*", "", heading.get_text(" ", strip=True))
        heading.extract()
        paragraphs = [
            re.sub(r"\s+", " ", p.get_text(" ", strip=True))
            for p in div.find_all(["p", "li", "pre", "dt"])
            if p.get_text(strip=True)
        ]
        if len(title.split()) >= MIN_QUERY_WORDS and paragraphs:
            title = re.sub(r"\s+", " ", title).strip()
            out[anchor["id"]] = Version(title, title.rstrip("?. "), paragraphs)
    return out


def faq_pairs() -> list[Pair]:
    out = []
    for en_path in sorted(FAQ.glob("*.en.html")):
        fr_path = FAQ / "fr" / en_path.name.replace(".en.html", ".fr.html")
        if not fr_path.exists() or en_path.name.startswith("index"):
            continue
        en, fr = _faq_sections(en_path), _faq_sections(fr_path)
        for anchor in sorted(en.keys() & fr.keys()):
            out.append(Pair(f"faq:{anchor}", en[anchor], fr[anchor]))
    return out


def pairs() -> list[Pair]:
    found = man_pairs() + faq_pairs()
    if not found:
        raise SystemExit(
            "no bilingual Debian documents found: apt-get install manpages manpages-dev"
            " manpages-fr manpages-fr-dev debian-faq debian-faq-fr"
        )
    # pages sharing a NAME line are copies of one page under several names (printf.3,
    # fprintf.3...): the first stands for them all, so every query has one answer
    seen: set[str] = set()
    out = []
    for p in found:
        keys = {"en:" + p.en.query.lower(), "fr:" + p.fr.query.lower()}
        if not keys & seen:
            out.append(p)
        seen |= keys
    return out


def aligned_paragraphs(pair: Pair) -> list[tuple[str, str]]:
    """(English, French) text units of one pair that translate each other."""
    units = [(pair.en.title, pair.fr.title)]
    if len(pair.en.paragraphs) == len(pair.fr.paragraphs):
        units += list(zip(pair.en.paragraphs, pair.fr.paragraphs, strict=True))
    return units


if __name__ == "__main__":
    everything = pairs()
    halves = {"dev": 0, "test": 0}
    aligned = 0
    for p in everything:
        halves[half(p.id)] += 1
        aligned += len(p.en.paragraphs) == len(p.fr.paragraphs)
    print(f"{len(everything)} pairs ({halves}); paragraphs line up in {aligned}")
    for p in everything[:3] + everything[-3:]:
        print(p.id, "|", p.en.query, "|", p.fr.query, "|", len(p.en.paragraphs), len(p.fr.paragraphs))
