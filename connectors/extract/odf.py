"""OpenDocument text (.odt): ``content.xml`` for the text, ``meta.xml`` for authorship.

``meta:initial-creator`` is who wrote the document; ``dc:creator`` is whoever saved it
last (an editor, unless it is the same person).
"""

from __future__ import annotations

from xml.etree.ElementTree import Element

from connectors._text import join_blocks, normalise_language, parse_date, split_keywords
from connectors.extract.common import Budget, FileError, Parsed
from connectors.extract.zipsafe import SafeZip

ODF = {
    "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
    "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
    "meta": "urn:oasis:names:tc:opendocument:xmlns:meta:1.0",
    "dc": "http://purl.org/dc/elements/1.1/",
}


def _odf(name: str) -> str:
    prefix, local = name.split(":")
    return f"{{{ODF[prefix]}}}{local}"


def read_odt(data: bytes, budget: Budget) -> Parsed:
    with SafeZip(data, budget, "OpenDocument file") as archive:
        mimetype = archive.read("mimetype")
        if mimetype is not None and not mimetype.startswith(b"application/vnd.oasis.opendocument"):
            raise FileError(f"not an OpenDocument file (its mimetype is {mimetype[:80].decode('latin-1')!r})")
        content = archive.xml("content.xml", required=True)
        meta = archive.xml("meta.xml")
    blocks, chars = [], 0
    for el in content.iter():
        if el.tag in (_odf("text:h"), _odf("text:p")):
            blocks.append(_odf_text(el))
            chars += len(blocks[-1])
            if chars > budget.limits.max_chars:
                break

    def value(name: str) -> str:
        found = meta.find(f".//{_odf(name)}") if meta is not None else None
        return " ".join((found.text or "").split()) if found is not None else ""

    initial, last = budget.person(value("meta:initial-creator")), budget.person(value("dc:creator"))
    keywords = [k.text or "" for k in meta.iter(_odf("meta:keyword"))] if meta is not None else []
    author = initial or last
    return Parsed(
        title=value("dc:title"),
        text=join_blocks(blocks),
        language=normalise_language(value("dc:language")),
        authors=[author] if author else [],
        editor=last if initial and last else None,
        created=parse_date(value("meta:creation-date")),
        modified=parse_date(value("dc:date")),
        tags=split_keywords(keywords),
    )


def _odf_text(element: Element, depth: int = 0) -> str:
    if depth > 200:
        raise FileError("hostile OpenDocument file: text nested more than 200 levels deep")
    parts = [element.text or ""]
    for child in element:
        if child.tag == _odf("text:s"):
            try:
                count = min(int(child.get(_odf("text:c"), "1")), 100)
            except ValueError:
                count = 1
            parts.append(" " * count)
        elif child.tag in (_odf("text:tab"), _odf("text:line-break")):
            parts.append(" ")
        elif child.tag not in (_odf("text:note"), _odf("text:p"), _odf("text:h")):
            parts.append(_odf_text(child, depth + 1))
        parts.append(child.tail or "")
    return " ".join("".join(parts).split())
