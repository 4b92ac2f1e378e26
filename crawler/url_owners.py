"""One post through two doors: which source keeps a URL that two sources both index.

A blog crawled as a web site and read through its REST API or its feed gives each post
twice: a page of the theme's HTML (boilerplate trimmed, an author at best) and an entry
with its authors, commenters, categories, exact dates and language. The structured copy
wins. A connector says how much it knows about the URLs it yields with the class
attribute ``url_rank``: 0 (the default) for a web crawl, 1 for a feed, 2 for a site's
own API (wordpress). Of the live documents of several sources at one URL, the highest
rank's stays, whichever source runs first:

- when a source stores a document, live documents of lower-ranked sources at the same
  URL are tombstoned, with the reason naming the source that keeps the URL;
- when a source meets a URL a higher-ranked source holds, its document is left out
  (its earlier copy tombstoned), and the run counts it as excluded ("duplicate").

Sources of equal rank never meet here (two web crawls of overlapping sites keep the
connectors' own deduplication). When the kept copy goes (the post is deleted, the source
removed), the next run of the lower source brings its copy back. URLs are compared
exactly as the connectors give them: the web, wordpress and feed connectors all
normalise theirs with :func:`connectors.web.normalise_url`.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from connectors.base import Connector, get_connector_class
from indexer.store import Store, documents, sources

log = logging.getLogger(__name__)

__all__ = ["UrlOwners", "url_rank"]


def url_rank(kind: str) -> int:
    """How much a connector kind knows about the URLs it yields (unknown kinds: 0)."""
    try:
        return int(getattr(get_connector_class(kind), "url_rank", 0))
    except KeyError:
        return 0


class UrlOwners:
    """The cross-source URL rule for one run of one source (see the module doc)."""

    def __init__(self, store: Store, source_id: str, connector: Connector) -> None:
        self.store = store
        self.source_id = source_id
        self.rank = int(getattr(connector, "url_rank", 0))
        self._ranks: dict[str, int] | None = None

    def rivals(self) -> dict[str, int]:
        """The other sources of another rank -> their rank (the sources table is small)."""
        if self._ranks is None:
            with self.store.engine.connect() as conn:
                rows = list(conn.execute(select(sources.c.id, sources.c.kind)))
            ranks = {r.id: url_rank(r.kind) for r in rows if r.id != self.source_id}
            self._ranks = {source: rank for source, rank in ranks.items() if rank != self.rank}
        return self._ranks

    def holders(self, urls: list[str]) -> dict[str, list[tuple[str, str]]]:
        """URL -> live (document id, source id) of the rival sources at that URL."""
        found: dict[str, list[tuple[str, str]]] = {}
        rivals = sorted(self.rivals())
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
        ranks = self.rivals()
        copies: list[tuple[str, str]] = []
        for doc_id, doc in list(batch.docs.items()):
            owners = holders.get(doc.url, [])
            higher = sorted((o for o in owners if ranks[o[1]] > self.rank), key=lambda o: -ranks[o[1]])
            if higher:
                del batch.docs[doc_id]
                batch.deletions[doc_id] = f"{doc.url} is kept from source {higher[0][1]!r} (its API or feed)"
                report.excluded["duplicate"] = report.excluded.get("duplicate", 0) + 1
                continue
            copies += [
                (other, f"{doc.url} is kept from source {self.source_id!r} (its API or feed)")
                for other, source in owners
                if ranks[source] < self.rank
            ]
        if copies:
            self.store.commit_batch(run_id=run_id, source_id=self.source_id, upserts=[], deletions=copies)
            log.info("%s: %d copies from other sources yield to this one", self.source_id, len(copies))
