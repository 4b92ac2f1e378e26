"""The words of the collection, for "did you mean" (a small Whoosh index of its own).

Whoosh's ``spelling=True`` re-analyses every body a second time and writes a posting
per word per document: half the cost of indexing, for a dictionary that only needs
each word once. Here each batch of indexed documents adds one vocabulary entry
holding the batch's distinct words (lowercased, accents folded, stop words out);
Whoosh's own corrector then finds the words within an edit distance in its lexicon.

Words from documents a user may not see are in the dictionary, but a suggestion is
only ever made after a search over what the user may see finds it (see
``indexer.search.Searcher._suggest``). Deleted documents leave their words behind
until the next rebuild; that costs nothing for the same reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from whoosh import index as whoosh_index
from whoosh.fields import KEYWORD, Schema

from indexer.analysis import EN_STOP, FR_STOP, fold_accents

DIRECTORY = "vocabulary"
_WORD = re.compile(r"[^\W\d_]{3,}")
_STOP = frozenset(EN_STOP | FR_STOP)


def words_of_text(*texts: str) -> set[str]:
    """The distinct spellable words of *texts* (letters only, three or more)."""
    raw: set[str] = set()
    for text in texts:
        if text:
            raw.update(_WORD.findall(text.lower()))
    return {w for w in (fold_accents(w) for w in raw) if w not in _STOP}


class Vocabulary:
    """The words of one search index, kept in a directory inside it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.path.mkdir(parents=True, exist_ok=True)
        if whoosh_index.exists_in(str(self.path)):
            self.ix = whoosh_index.open_dir(str(self.path))
        else:
            self.ix = whoosh_index.create_in(str(self.path), Schema(words=KEYWORD()))

    def add(self, words: Iterable[str]) -> None:
        words = sorted(set(words))
        if words:
            with self.ix.writer(timeout=120.0) as writer:
                writer.add_document(words=" ".join(words))

    def suggest(self, word: str, limit: int = 5, maxdist: int = 2) -> list[str]:
        with self.ix.searcher() as searcher:
            return list(searcher.corrector("words").suggest(word, limit=limit, maxdist=maxdist))

    def close(self) -> None:
        self.ix.close()
