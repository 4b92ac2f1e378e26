"""One post through two doors: which source keeps a URL that two sources both index.

A blog crawled as a web site and read through its REST API or its feed gives each post
twice: a page of the theme's HTML (boilerplate trimmed, an author at best) and an entry
with its authors, commenters, categories, exact dates and language. The API or feed
copy wins. A connector that reads a site's own structured interface says so with the
class attribute ``speaks_for_urls = True`` (wordpress, feed); a document of any other
source at the same URL yields to it, whichever source runs first:

- when a speaking source stores a document, live documents of the other sources at the
  same URL are tombstoned, with the reason naming the source that speaks for it;
- when another source meets a URL a speaking source holds, its document is left out
  (its earlier copy tombstoned), and the run counts it as excluded ("duplicate").

When the speaking copy goes (the post is deleted, the source removed), the next run of
the web source brings its page back. URLs are compared exactly as the connectors give
them: the web, wordpress and feed connectors all normalise theirs with
:func:`connectors.web.normalise_url`. Sources of one camp never meet here: within a
source, and between two web crawls, the connectors' own deduplication decides.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from connectors.base import Connector, get_connector_class
from indexer.store import Store, documents, sources

log = logging.getLogger(__name__)

__all__ = ["UrlOwners", "speaks_for_urls"]


def speaks_for_urls(kind: str) -> bool:
    """Whether a connector kind reads a site's own API or feed (unknown kinds do not)."""
    try:
        return bool(getattr(get_connector_class(kind), "speaks_for_urls", False))
    except KeyError:
        return False


class UrlOwners:
    """The cross-source URL rule for one run of one source (see the module doc)."""

    def __init__(self, store: Store, source_id: str, connector: Connector) -> None:
        self.store = store
        self.source_id = source_id
        self.speaks = bool(getattr(connector, "speaks_for_urls", False))
        self._rivals: list[str] | None = None
        self._names: dict[str, str] = {}

    def rivals(self) -> list[str]:
        """The other camp's sources (read once a run: the sources table is small)."""
        if self._rivals is None:
            with self.store.engine.connect() as conn:
                rows = list(conn.execute(select(sources.c.id, sources.c.kind)))
            self._rivals = [
                r.id for r in rows if r.id != self.source_id and speaks_for_urls(r.kind) != self.speaks
            ]
            self._names = {r.id: r.kind for r in rows}
        return self._rivals

    def holders(self, urls: list[str]) -> dict[str, list[tuple[str, str]]]:
        """URL -> live (document id, source id) of the rival sources at that URL."""
        found: dict[str, list[tuple[str, str]]] = {}
        rivals = self.rivals()
        if not rivals or not urls:
            return found
        with self.store.engine.connect() as conn:
            for start in range(0, len(urls), 500):
                query = select(documents.c.id, documents.c.url, documents.c.source_id).where(
                    documents.c.deleted.is_(False),
                    documents.c.source_id.in_(rivals),
                    documents.c.url.in_(urls[start : start + 500]),
                )
                for row in conn.execute(query):
                    found.setdefault(row.url, []).append((row.id, row.source_id))
        return found

    def apply(self, batch: Any, report: Any, run_id: int) -> None:
        """Drop the batch's documents that yield; tombstone the rivals' copies that yield."""
        holders = self.holders(sorted({doc.url for doc in batch.docs.values()}))
        if not holders:
            return
        if self.speaks:
            copies = [
                (
                    doc_id,
                    f"indexed by source {self.source_id!r} ({self._names.get(self.source_id, '')}), "
                    f"which reads the site's API or feed: {doc.url}",
                )
                for doc in batch.docs.values()
                for doc_id, _ in holders.get(doc.url, [])
            ]
            self.store.commit_batch(run_id=run_id, source_id=self.source_id, upserts=[], deletions=copies)
            log.info("%s: %d copies from web crawls yield to this source", self.source_id, len(copies))
            return
        for doc_id, doc in list(batch.docs.items()):
            owners = holders.get(doc.url)
            if not owners:
                continue
            owner = owners[0][1]
            del batch.docs[doc_id]
            batch.deletions[doc_id] = (
                f"{doc.url} is indexed by source {owner!r}, which reads the site's API or feed"
            )
            report.excluded["duplicate"] = report.excluded.get("duplicate", 0) + 1
