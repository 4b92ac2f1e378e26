"""Helpers the built-in connectors share: bytes to str, HTML to text, dates, languages.

Nothing here fetches anything. ``extract_html`` turns a page into its title, plain text
(one block per heading, paragraph or list item, blank lines between blocks), metadata
and links; connectors decide what to do with them.
"""

from __future__ import annotations

import codecs
import email.utils
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from bs4 import BeautifulSoup, Comment, Declaration, Doctype, NavigableString, ProcessingInstruction, Tag
from charset_normalizer import from_bytes

from connectors.base import (
    ConnectorConfigError,
    ConnectorError,
    CredentialError,
    FetchError,
    RobotsDisallowed,
    SourceUnavailableError,
)

__all__ = [
    "ExtractedHtml",
    "as_str_list",
    "front_matter",
    "markdown_blocks",
    "decode_bytes",
    "extract_html",
    "html_fragment_to_text",
    "join_blocks",
    "normalise_language",
    "parse_date",
    "source_error",
    "split_keywords",
]

BLOCK_TAGS = frozenset(
    "address article aside blockquote caption dd details div dl dt fieldset figcaption figure "
    "footer form h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section summary table tbody "
    "thead tfoot tr ul".split()
)
DROP_TAGS = frozenset(
    "nav header footer aside script style form noscript template svg iframe button select "
    "textarea input label dialog menu object embed canvas".split()
)
SKIP_TAGS = frozenset("script style noscript template head title".split())
BOILERPLATE_RE = re.compile(
    r"(?:^|[-_\s])(?:nav|navbar|navigation|menu|breadcrumbs?|footer|sidebar|cookies?|consent|"
    r"banner|masthead|skip-?link|share|sharing|social|pagination|pager|advert|ads|related|"
    r"site-header|toolbar|visually-hidden|sr-only)(?:$|[-_\s])",
    re.IGNORECASE,
)
MAIN_SELECTORS = ("main", "[role=main]", "article")
_META_CHARSET_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.IGNORECASE)
_HEADER_CHARSET_RE = re.compile(r"""charset\s*=\s*["']?([A-Za-z0-9._:-]+)""", re.IGNORECASE)
_LANG_RE = re.compile(r"^([A-Za-z]{2,3})(?:[-_].*)?$")
_BR = "\x00"
WESTERN = ("cp1252", "latin_1", "iso8859_15", "mac_roman")


# -- charsets -------------------------------------------------------------------


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        codec = codecs.lookup(name.strip().strip("\"'")).name
    except LookupError:
        return None
    # Browsers read latin-1 as windows-1252 (WHATWG); so do we.
    return "cp1252" if codec in ("latin-1", "iso8859-1", "ascii") else codec


def decode_bytes(data: bytes, content_type: str | None = None, *, html: bool = False) -> str:
    """Decode *data*: BOM, ``<meta charset>`` (HTML), the HTTP header, UTF-8, else detection."""
    for bom, codec in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            return data.decode(codec, errors="replace")
    candidates: list[str | None] = []
    if html:
        match = _META_CHARSET_RE.search(data[:4096])
        candidates.append(_codec(match.group(1).decode("ascii", "ignore")) if match else None)
    if content_type:
        match = _HEADER_CHARSET_RE.search(content_type)
        candidates.append(_codec(match.group(1)) if match else None)
    for codec in candidates:
        if codec:
            return data.decode(codec, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    # Our sources write English and French: among the encodings charset-normalizer finds
    # about as plausible, prefer the Western ones (it often ranks cp1250 first on short text).
    matches = list(from_bytes(data[:200_000]))
    codec = None
    if matches:
        codec = _codec(matches[0].encoding)
        for match in matches:
            if match.encoding in WESTERN and match.chaos <= matches[0].chaos + 0.1:
                codec = _codec(match.encoding)
                break
    return data.decode(codec or "cp1252", errors="replace")


# -- languages, dates, keywords -------------------------------------------------


def normalise_language(value: str | None) -> str | None:
    """``"fr-CA"`` -> ``"fr"``; anything that is not a language tag -> None."""
    if not value:
        return None
    match = _LANG_RE.match(value.strip())
    if not match or match.group(1).lower() in ("und", "mul", "zxx"):
        return None
    return match.group(1).lower()


def parse_date(value: object) -> datetime | None:
    """ISO 8601, RFC 2822, PDF (``D:20240131...``) dates -> aware UTC datetime, else None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        result = value
    elif isinstance(value, date):
        result = datetime(value.year, value.month, value.day)
    else:
        text = str(value).strip()
        result = _parse_date_text(text)
        if result is None:
            return None
    if result.tzinfo is None:
        return result.replace(tzinfo=UTC)
    return result.astimezone(UTC)


def _parse_date_text(text: str) -> datetime | None:
    if text.startswith("D:"):
        match = re.match(
            r"D:(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?([Zz+-])?(\d{2})?'?(\d{2})?", text
        )
        if not match:
            return None
        y, mo, d, h, mi, s, sign, oh, om = match.groups()
        iso = f"{y}-{mo or '01'}-{d or '01'}T{h or '00'}:{mi or '00'}:{s or '00'}"
        if sign in ("+", "-"):
            iso += f"{sign}{oh or '00'}:{om or '00'}"
        text = iso
    iso = text.replace("Z", "+00:00").replace("z", "+00:00")
    if " " in iso and "T" not in iso and re.match(r"^\d{4}-\d{2}-\d{2} \d", iso):
        iso = iso.replace(" ", "T", 1)
    try:
        return datetime.fromisoformat(iso)
    except ValueError:
        pass
    try:
        return email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None


def split_keywords(value: str | list | tuple | None) -> tuple[str, ...]:
    """``"a, b; c"`` or a list -> ("a", "b", "c"), order kept, duplicates dropped."""
    if not value:
        return ()
    parts = value if isinstance(value, (list, tuple)) else re.split(r"[,;]", str(value))
    seen: dict[str, None] = {}
    for part in parts:
        part = str(part).strip()
        if part and part.lower() not in (k.lower() for k in seen):
            seen[part] = None
    return tuple(seen)


def join_blocks(blocks: list[str]) -> str:
    return "\n\n".join(b for b in (b.strip() for b in blocks) if b)


# -- HTML -------------------------------------------------------------------------


@dataclass
class ExtractedHtml:
    title: str = ""
    text: str = ""
    language: str | None = None
    #: <meta name=...> and <meta property=...>, lower-cased keys, every value in order
    meta: dict[str, list[str]] = field(default_factory=dict)
    #: href of every <a> not marked rel=nofollow, in document order (not resolved)
    links: list[str] = field(default_factory=list)
    canonical: str | None = None
    #: hreflang -> href from <link rel=alternate hreflang=...> (not resolved)
    alternates: dict[str, str] = field(default_factory=dict)
    noindex: bool = False
    nofollow: bool = False
    #: share of the main content's text that is link text (a hub page is mostly links)
    link_density: float = 0.0
    #: links inside the main content
    main_links: int = 0

    def first(self, *names: str) -> str | None:
        for name in names:
            for value in self.meta.get(name, []):
                if value.strip():
                    return value.strip()
        return None


def parse_html(markup: str | bytes) -> BeautifulSoup:
    return BeautifulSoup(markup, "lxml")


def extract_html(markup: str) -> ExtractedHtml:
    """Title, main-content text, metadata and links of an HTML page."""
    soup = parse_html(markup)
    out = ExtractedHtml()
    root = soup.find("html")
    if isinstance(root, Tag):
        out.language = normalise_language(root.get("lang") or root.get("xml:lang"))
    for meta in soup.find_all("meta"):
        name = (meta.get("name") or meta.get("property") or meta.get("http-equiv") or "").strip().lower()
        content = meta.get("content")
        if name and content is not None:
            out.meta.setdefault(name, []).append(str(content))
    robots = ",".join(out.meta.get("robots", [])).lower()
    out.noindex, out.nofollow = "noindex" in robots, "nofollow" in robots
    for link in soup.find_all("link", href=True):
        rels = [r.lower() for r in _as_list(link.get("rel"))]
        if "canonical" in rels and out.canonical is None:
            out.canonical = link["href"].strip()
        elif "alternate" in rels and link.get("hreflang"):
            out.alternates.setdefault(str(link["hreflang"]).strip(), link["href"].strip())
    for anchor in soup.find_all("a", href=True):
        if "nofollow" not in [r.lower() for r in _as_list(anchor.get("rel"))]:
            out.links.append(anchor["href"].strip())
    title_tag = soup.find("title")
    title = " ".join(title_tag.get_text(" ").split()) if title_tag else ""
    h1 = soup.find("h1")
    out.title = title or (" ".join(h1.get_text(" ").split()) if h1 else "")
    stats: dict[str, int] = {}
    out.text = join_blocks(_main_blocks(soup, stats=stats))
    if stats.get("chars"):
        out.link_density = min(1.0, stats.get("link_chars", 0) / stats["chars"])
    out.main_links = stats.get("links", 0)
    return out


def html_fragment_to_text(markup: str) -> str:
    """Plain text of an HTML fragment (a feed entry's content), blocks kept apart."""
    soup = parse_html(f"<div>{markup}</div>")
    return join_blocks(_main_blocks(soup, find_main=False))


def _as_list(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return value.split()
    return [str(v) for v in value]  # type: ignore[union-attr]


def _main_blocks(
    soup: BeautifulSoup, *, find_main: bool = True, stats: dict[str, int] | None = None
) -> list[str]:
    body = soup.find("body") or soup
    container: Tag = body  # type: ignore[assignment]
    if find_main:
        for selector in MAIN_SELECTORS:
            found = body.select(selector)
            if len(found) == 1 or (found and selector != "article"):
                container = found[0]
                break
    for tag in list(container.find_all(True)):
        if tag.decomposed:
            continue
        if tag.name in DROP_TAGS or _is_boilerplate(tag):
            tag.decompose()
    if stats is not None:
        anchors = container.find_all("a")
        stats["links"] = len(anchors)
        stats["link_chars"] = sum(len("".join(a.get_text().split())) for a in anchors)
        stats["chars"] = len("".join(container.get_text().split()))
    blocks: list[str] = []
    buffer: list[str] = []

    def flush() -> None:
        if buffer:
            raw = "".join(buffer)
            buffer.clear()
            lines = [" ".join(part.split()) for part in raw.split(_BR)]
            text = "\n".join(line for line in lines if line)
            if text:
                blocks.append(text)

    def walk(node: Tag) -> None:
        for child in node.children:
            if isinstance(child, (Comment, Doctype, Declaration, ProcessingInstruction)):
                continue
            if isinstance(child, NavigableString):
                buffer.append(str(child))
            elif isinstance(child, Tag):
                name = child.name
                if name in SKIP_TAGS:
                    continue
                if name == "br":
                    buffer.append(_BR)
                elif name == "pre":
                    flush()
                    code = child.get_text().strip("\n")
                    if code.strip():
                        blocks.append(code)
                elif name in BLOCK_TAGS:
                    flush()
                    walk(child)
                    flush()
                else:
                    if name in ("td", "th", "img"):
                        buffer.append(" ")
                    if name == "img" and child.get("alt"):
                        buffer.append(str(child["alt"]))
                    walk(child)

    try:
        walk(container)
        flush()
    except RecursionError:  # absurdly nested markup: fall back to flat text
        return [" ".join(container.get_text(" ").split())]
    return blocks


def _is_boilerplate(tag: Tag) -> bool:
    if tag.name in ("html", "body", "main", "article"):
        return False
    attrs = tag.attrs or {}
    if "hidden" in attrs or str(attrs.get("aria-hidden", "")).lower() == "true":
        return True
    role = str(attrs.get("role", "")).lower()
    if role in ("navigation", "banner", "contentinfo", "complementary", "search"):
        return True
    names = " ".join(_as_list(attrs.get("class"))) + " " + str(attrs.get("id", ""))
    return bool(names.strip()) and any(BOILERPLATE_RE.search(n) for n in names.split())


# -- Markdown ---------------------------------------------------------------------------


def front_matter(text: str) -> tuple[dict[str, object], str]:
    """A YAML-like ``---`` block of ``key: value``, ``key: [a, b]`` and ``- item`` lines."""
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        return {}, text
    end = next((i for i in range(1, len(lines)) if lines[i].strip() in ("---", "...")), None)
    if end is None:
        return {}, text
    data: dict[str, object] = {}
    key = None
    for line in lines[1:end]:
        if match := re.match(r"^([A-Za-z_][\w-]*)\s*:\s*(.*?)\s*$", line):
            key, raw = match.group(1).lower(), match.group(2)
            if raw.startswith("[") and raw.endswith("]"):
                data[key] = [_unquote(v) for v in raw[1:-1].split(",") if v.strip()]
            else:
                data[key] = _unquote(raw) if raw else []
        elif key and (match := re.match(r"^\s+-\s+(.*?)\s*$", line)) and isinstance(data.get(key), list):
            data[key].append(_unquote(match.group(1)))  # type: ignore[union-attr]
    return data, "\n".join(lines[end + 1 :])


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def as_str_list(value: object) -> list[str]:
    if not value:
        return []
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [str(value).strip()]


_INLINE = (
    (re.compile(r"!\[([^\]]*)\]\([^)]*\)"), r"\1"),  # images -> alt text
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),  # [text](url)
    (re.compile(r"\[([^\]]+)\]\[[^\]]*\]"), r"\1"),  # [text][ref]
    (re.compile(r"<(https?://[^>]+)>"), r"\1"),  # autolinks
    (re.compile(r"<[^>\n]+>"), ""),  # inline HTML
    (re.compile(r"`([^`]*)`"), r"\1"),  # code spans
    (re.compile(r"(\*\*|__)(.+?)\1"), r"\2"),  # strong
    (re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])"), r"\1"),  # *em*
    (re.compile(r"(?<!\w)_(?!\s)(.+?)(?<!\s)_(?!\w)"), r"\1"),  # _em_ (not snake_case)
    (re.compile(r"~~(.+?)~~"), r"\1"),
)


def _inline(text: str) -> str:
    for pattern, replacement in _INLINE:
        text = pattern.sub(replacement, text)
    return " ".join(text.split())


def markdown_blocks(body: str) -> tuple[list[str], str]:
    """Markdown body -> text blocks (headings, paragraphs, list items) and the first heading."""
    blocks: list[str] = []
    paragraph: list[str] = []
    code: list[str] | None = None
    first_heading = ""

    def flush() -> None:
        if paragraph:
            blocks.append(_inline(" ".join(paragraph)))
            paragraph.clear()

    for line in body.split("\n"):
        stripped = line.strip()
        if stripped.startswith(("```", "~~~")):
            if code is None:
                flush()
                code = []
            else:
                blocks.append("\n".join(code).strip("\n"))
                code = None
            continue
        if code is not None:
            code.append(line)
        elif not stripped or re.fullmatch(r"\[[^\]]+\]:\s*\S+.*", stripped):
            flush()
        elif re.fullmatch(r"(-{3,}|\*{3,}|_{3,}|=+)", stripped.replace(" ", "")):
            flush()  # rules, and setext underlines: the line above becomes its own block
        elif heading := re.fullmatch(r"#{1,6}\s+(.*?)\s*#*", stripped):
            flush()
            blocks.append(_inline(heading.group(1)))
            first_heading = first_heading or blocks[-1]
        elif item := re.fullmatch(r"(?:>\s*)*(?:[-*+]|\d+[.)])\s+(.*)", stripped):
            flush()
            paragraph.append(item.group(1))
        elif re.fullmatch(r"\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?", stripped):
            continue  # table separator row
        else:
            text = re.sub(r"^(>\s*)+", "", stripped)
            paragraph.append(" ".join(c.strip() for c in text.strip("|").split("|")) if "|" in text else text)
    flush()
    if code:
        blocks.append("\n".join(code))
    return [b for b in blocks if b.strip()], first_heading


# -- errors -----------------------------------------------------------------------


def source_error(url: str, exc: FetchError, where: str) -> ConnectorError:
    """The exception a connector raises when *url*, named by setting *where*, cannot be read."""
    if isinstance(exc, RobotsDisallowed):
        return ConnectorConfigError(
            f"{url} is disallowed by the site's robots.txt: ask its owner or check {where}"
        )
    if exc.status in (401, 403):
        return CredentialError(
            f"{url} answered HTTP {exc.status}: the site refuses us; check {where} or ask for access"
        )
    if exc.transient:
        return SourceUnavailableError(f"{url}: {exc.reason}; the site may be down, try again later")
    if exc.status is not None:
        return ConnectorConfigError(f"{url} answered {exc.reason}: check {where}")
    return ConnectorConfigError(f"{url}: {exc.reason}: check {where}")
