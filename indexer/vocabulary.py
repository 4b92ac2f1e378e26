"""The words of the collection, for "did you mean": a trigram index of the vocabulary.

Each batch of indexed documents adds its distinct words (lowercased, accents folded,
stop words out) to ``words.txt`` beside the index, one word per line, appended once.
In memory every word is filed under its letter trigrams (``$ph``, ``phi``, ... ``ng$``);
a misspelled word looks up its own trigrams, counts how many each word shares
(numpy), keeps words of a close length sharing enough of them (an edit changes at most
three trigrams), and measures the edit distance of at most :data:`MAX_CANDIDATES` of
those. The work is bounded by the word's length (:data:`MAX_WORD`), not by the size of
the vocabulary, which is why this replaces Whoosh's corrector (a pure-Python distance
to every word of the lexicon: seconds for one long word).

Why trigrams and not a symmetric-delete table: a delete table for distance 2 holds
~30 entries per word (several hundred MB of Python objects for a large collection);
the trigram lists hold one 4-byte entry per letter, can be appended to as batches are
indexed, and short words (where trigrams filter little) are cheap to measure.

Words from documents a user may not see are in the vocabulary; a suggestion is only
made after the searcher verifies the exact word in a document this user may see (see
``indexer.search.Searcher._suggest``). Deleted documents leave their words behind
until the next rebuild; that costs nothing for the same reason.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import threading
from array import array
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from indexer.analysis import EN_STOP, FR_STOP, fold_accents

log = logging.getLogger(__name__)

DIRECTORY = "vocabulary"
WORDS_FILE = "words.txt"
_WORD = re.compile(r"[^\W\d_]{3,}")
_APOSTROPHES = re.compile(r"['’]")
_STOP = frozenset(EN_STOP | FR_STOP)
#: longer words are never indexed nor corrected (no real word is; pasted junk is)
MAX_WORD = 40
#: words whose edit distance is measured, per misspelled word
MAX_CANDIDATES = 150
#: trigram postings read per misspelled word (the commonest trigrams are skipped past it)
MAX_POSTINGS = 400_000


def words_of_text(*texts: str) -> set[str]:
    """The distinct spellable words of *texts* (letters only, three to MAX_WORD letters)."""
    raw: set[str] = set()
    for text in texts:
        collect_words(text, raw)
    return spellable(raw)


def collect_words(text: str, into: set[str]) -> None:
    """Add the lowercased words of *text* to *into* (:func:`spellable` finishes them):
    a bulk build folds each distinct word of many documents once, not once per document."""
    if text:
        into.update(_WORD.findall(text.lower()))


def spellable(raw: set[str]) -> set[str]:
    """The spellable words of lowercased words gathered by :func:`collect_words` or by
    the language detection (:func:`indexer.language.detect_blocks`, whose words keep
    an inner apostrophe and may be short): runs of three letters or more, folded."""
    out = set()
    for word in raw:
        parts = _APOSTROPHES.split(word) if "'" in word or "’" in word else (word,)
        for part in parts:
            if len(part) >= 3:
                folded = fold_accents(part)
                if folded not in _STOP and len(folded) <= MAX_WORD:
                    out.add(folded)
    return out


def trigrams(word: str) -> list[str]:
    """The distinct letter trigrams of *word*, with its start and end marked."""
    padded = f"${word}$"
    return list(dict.fromkeys(padded[i : i + 3] for i in range(len(padded) - 2)))


def edit_distance(a: str, b: str, limit: int) -> int:
    """Damerau (optimal string alignment) distance of *a* and *b*, or ``limit + 1`` past it.

    Only the band of cells within *limit* of the diagonal is computed, and the work stops
    as soon as a row exceeds *limit*: O(len * limit).
    """
    n, m = len(a), len(b)
    over = limit + 1
    if abs(n - m) > limit:
        return over
    before: list[int] | None = None
    previous = [j if j <= limit else over for j in range(m + 1)]
    for i in range(1, n + 1):
        current = [over] * (m + 1)
        if i <= limit:
            current[0] = i
        best = current[0]
        ca = a[i - 1]
        for j in range(max(1, i - limit), min(m, i + limit) + 1):
            cb = b[j - 1]
            value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
            if before is not None and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                value = min(value, before[j - 2] + 1)
            current[j] = value if value < over else over
            if value < best:
                best = value
        if best > limit:
            return over
        before, previous = previous, current
    return previous[m]


class Vocabulary:
    """The words of one search index, kept in ``words.txt`` in a directory inside it."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.file = self.path / WORDS_FILE
        self._lock = threading.Lock()
        self._reset()
        if not self.file.exists():
            self._migrate()
        self.refresh()

    def _reset(self) -> None:
        # the words as one UTF-8 blob and end offsets, and for membership their hashes
        # (this process's) sorted, with the word numbers beside them: ~60 bytes a word
        # with the trigram lists, where a list and a set of Python strings took ~245
        self._blob = bytearray()
        self._ends = array("I")
        #: (sorted hashes, word numbers): replaced whole, so a reader never sees half
        self._lookup = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int32))
        self._grams: dict[str, array] = {}
        self._lengths = array("b")
        self._offset = 0
        self._inode: int | None = None

    def __len__(self) -> int:
        return len(self._ends)

    def __contains__(self, word: str) -> bool:
        self.refresh()
        return self._known(word)

    def words(self) -> list[str]:
        """Every word, in the order they were filed."""
        self.refresh()
        blob, ends = bytes(self._blob), self._ends.tolist()
        return [blob[a:b].decode("utf-8") for a, b in zip([0, *ends[:-1]], ends, strict=True)]

    def _word(self, wid: int) -> str:
        start = self._ends[wid - 1] if wid else 0
        return self._blob[start : self._ends[wid]].decode("utf-8")

    def _known(self, word: str) -> bool:
        hashes, wids = self._lookup
        h = hash(word)
        at = int(np.searchsorted(hashes, h))
        while at < len(hashes) and int(hashes[at]) == h:
            if self._word(int(wids[at])) == word:
                return True
            at += 1
        return False

    # -- the file -------------------------------------------------------------
    def _migrate(self) -> None:
        """Carry over the words of a vocabulary an older Savoir kept as a Whoosh index."""
        from whoosh import index as whoosh_index

        if not whoosh_index.exists_in(str(self.path)):
            return
        try:
            ix = whoosh_index.open_dir(str(self.path))
            with ix.reader() as reader:
                words = [w.decode("utf-8") if isinstance(w, bytes) else w for w in reader.lexicon("words")]
            ix.close()
        except Exception:  # noqa: BLE001 - an unreadable old vocabulary is rebuilt by reindex
            log.warning("could not read the old vocabulary in %s; run savoir reindex", self.path)
            return
        self._append(words)

    def _append(self, words: Iterable[str]) -> None:
        data = "".join(f"{w}\n" for w in words).encode("utf-8")
        if not data:
            return
        # one write under an exclusive lock: two writers never interleave lines, and a
        # crash mid-write leaves at most a partial last line, which readers skip
        with open(self.file, "ab") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                self._drop_partial_line(handle)
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _drop_partial_line(self, handle) -> None:
        """Cut the unfinished line a writer's crash left, so it never joins the next word."""
        size = os.fstat(handle.fileno()).st_size
        if not size:
            return
        with open(self.file, "rb") as reader:
            reader.seek(max(0, size - 4 * MAX_WORD - 2))
            tail = reader.read()
        if tail.endswith(b"\n"):
            return
        cut = tail.rfind(b"\n")
        handle.truncate(size - len(tail) + cut + 1 if cut >= 0 else max(0, size - len(tail)))

    def refresh(self) -> None:
        """Read words other processes (or this one) appended since the last look."""
        try:
            info = os.stat(self.file)
        except FileNotFoundError:
            return
        with self._lock:
            if self._inode is not None and (info.st_ino != self._inode or info.st_size < self._offset):
                self._reset()  # the file was replaced (a rebuild): read it afresh
            self._inode = info.st_ino
            if info.st_size == self._offset:
                return
            with open(self.file, "rb") as handle:
                handle.seek(self._offset)
                data = handle.read(info.st_size - self._offset)
            end = data.rfind(b"\n") + 1  # a partial last line waits for its end
            self._offset += end
            batch = list(
                dict.fromkeys(
                    word
                    for line in data[:end].decode("utf-8", errors="replace").split("\n")
                    if (word := line.strip()) and len(word) <= MAX_WORD
                )
            )
            if batch:
                self._file_batch(batch)

    def _unknown(self, batch: list[str]) -> tuple[list[int], np.ndarray]:
        """The positions in *batch* (distinct words) of the words not known yet, and
        every word's hash."""
        hashes = np.fromiter(map(hash, batch), dtype=np.int64, count=len(batch))
        known = self._lookup[0]
        if not len(known):
            return list(range(len(batch))), hashes
        at = np.minimum(np.searchsorted(known, hashes), len(known) - 1)
        maybe = (known[at] == hashes).tolist()
        return [i for i, word in enumerate(batch) if not (maybe[i] and self._known(word))], hashes

    def _file_batch(self, batch: list[str]) -> None:
        """File the distinct words of *batch* that are not known yet."""
        kept, hashes = self._unknown(batch)
        if not kept:
            return
        known, known_wids = self._lookup
        wids = np.fromiter((self._file_word(batch[i]) for i in kept), dtype=np.int32, count=len(kept))
        hashes = hashes[kept]
        order = np.argsort(hashes, kind="stable")
        hashes, wids = hashes[order], wids[order]
        at = np.searchsorted(known, hashes)
        self._lookup = (np.insert(known, at, hashes), np.insert(known_wids, at, wids))

    def _file_word(self, word: str) -> int:
        wid = len(self._ends)
        self._blob += word.encode("utf-8")
        self._ends.append(len(self._blob))
        self._lengths.append(len(word))
        for gram in trigrams(word):
            postings = self._grams.get(gram)
            if postings is None:
                postings = self._grams[gram] = array("i")
            postings.append(wid)
        return wid

    def add(self, words: Iterable[str]) -> None:
        """Add the words of a batch of indexed documents (those already known are skipped)."""
        self.refresh()
        batch = sorted({w for w in words if w and len(w) <= MAX_WORD and "\n" not in w})
        new = [batch[i] for i in self._unknown(batch)[0]] if batch else []
        if new:
            self._append(new)
            self.refresh()

    # -- suggestions ------------------------------------------------------------
    def candidates(self, word: str, maxdist: int = 2, limit: int = 10) -> list[tuple[str, int]]:
        """Words within *maxdist* edits of *word* (not *word* itself), closest first."""
        word = fold_accents(word.lower())
        if not 3 <= len(word) <= MAX_WORD:
            return []
        self.refresh()
        grams = trigrams(word)
        with self._lock:
            # copies are taken under the lock: an array exporting its buffer cannot grow
            lists = sorted((self._grams[g] for g in grams if g in self._grams), key=len)
            if not lists:
                return []
            kept, total = [], 0
            for postings in lists:  # rarest first; the commonest say least
                if total + len(postings) > MAX_POSTINGS:
                    break
                kept.append(np.frombuffer(postings, dtype=np.int32).copy())
                total += len(postings)
            lengths = np.frombuffer(self._lengths, dtype=np.int8).copy()
        if not kept:
            return []
        counts = np.bincount(np.concatenate(kept), minlength=len(lengths))[: len(lengths)]
        # an edit changes at most three trigrams; grams never read cannot be shared
        need = max(1, len(grams) - 3 * maxdist - (len(lists) - len(kept)))
        close = np.abs(lengths.astype(np.int16) - len(word)) <= maxdist
        found = np.flatnonzero(close & (counts >= need))
        if len(found) > MAX_CANDIDATES:
            found = found[np.argpartition(-counts[found], MAX_CANDIDATES - 1)[:MAX_CANDIDATES]]
        out = []
        for wid in found.tolist():
            other = self._word(wid)
            if other == word:
                continue
            distance = edit_distance(word, other, maxdist)
            if distance <= maxdist:
                # same first letter first (typos rarely change it), then shared trigrams
                out.append((distance, other[0] != word[0], -int(counts[wid]), other))
        out.sort()
        return [(w, d) for d, _, _, w in out[:limit]]

    def suggest(self, word: str, limit: int = 5, maxdist: int = 2) -> list[str]:
        return [w for w, _ in self.candidates(word, maxdist, limit)]

    def close(self) -> None:
        """Nothing stays open between calls (kept for the index's close())."""
