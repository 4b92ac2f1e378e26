"""HTML, plain text and Markdown, decoded by :func:`connectors._text.decode_bytes`
(BOM, declared charset, UTF-8, else detection that prefers Western encodings)."""

from __future__ import annotations

import re

from connectors._text import (
    as_str_list,
    decode_bytes,
    extract_html,
    front_matter,
    join_blocks,
    markdown_blocks,
    normalise_language,
    parse_date,
    split_keywords,
)
from connectors.extract.common import Budget, FileError, Parsed

_CONTROL = bytes(c for c in range(32) if c not in (9, 10, 12, 13))


def _text(data: bytes, what: str) -> str:
    """Decoded text; binary data (an image renamed .txt) is refused, not indexed as noise."""
    head = data[:8192]
    if not head.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 has NULs and is text
        if b"\x00" in head:
            raise FileError(f"binary data, not {what} (it contains NUL bytes)")
        control = sum(head.count(bytes([c])) for c in _CONTROL)
        if head and control / len(head) > 0.1:
            raise FileError(f"binary data, not {what} ({control} control bytes in its first {len(head)})")
    return decode_bytes(data)


def read_html(data: bytes, budget: Budget) -> Parsed:
    _text(data[:8192], "HTML")
    page = extract_html(decode_bytes(data, html=True))
    email = page.first("author-email", "author_email")
    authors = []
    for name in dict.fromkeys(page.meta.get("author", [])):
        person = budget.person(name, email if not authors else None)
        if person:
            authors.append(person)
    return Parsed(
        title=page.title,
        text=page.text,
        language=page.language,
        authors=authors,
        created=parse_date(page.first("dcterms.created", "article:published_time", "date")),
        modified=parse_date(page.first("dcterms.modified", "article:modified_time")),
        tags=split_keywords(page.first("keywords")),
    )


def read_txt(data: bytes, budget: Budget) -> Parsed:
    text = budget.clip(_text(data, "text")).replace("\r\n", "\n").replace("\r", "\n")
    blocks = [
        "\n".join(line.strip() for line in para.strip().split("\n")) for para in re.split(r"\n\s*\n", text)
    ]
    first = next((line.strip() for line in text.split("\n") if line.strip()), "")
    return Parsed(title=first[:200], text=join_blocks(blocks))


def read_markdown(data: bytes, budget: Budget) -> Parsed:
    meta, body = front_matter(budget.clip(_text(data, "Markdown")).replace("\r\n", "\n"))
    blocks, first_heading = markdown_blocks(body)
    authors = []
    for name in as_str_list(meta.get("author") or meta.get("authors")):
        person = budget.person(name, meta.get("author_email") if not authors else None)  # type: ignore[arg-type]
        if person:
            authors.append(person)
    editor = as_str_list(meta.get("last_modified_by") or meta.get("editor"))
    return Parsed(
        title=str(meta.get("title") or first_heading or ""),
        text=join_blocks(blocks),
        language=normalise_language(str(meta.get("lang") or meta.get("language") or "")),
        authors=authors,
        editor=budget.person(editor[0]) if editor else None,
        created=parse_date(meta.get("date") or meta.get("created")),
        modified=parse_date(meta.get("modified") or meta.get("updated") or meta.get("lastmod")),
        tags=split_keywords([*as_str_list(meta.get("tags")), *as_str_list(meta.get("keywords"))]),
    )
