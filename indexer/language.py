"""Language per block: split text into blocks and route each to English or French.

Block detection first counts function words (fast and very reliable for en vs fr);
only ambiguous blocks go to langdetect (seeded, restricted to en/fr). Blocks of
fewer than ``MIN_WORDS`` words inherit from their neighbours; a document's stated
language decides blocks that stay undetermined.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass

from langdetect import DetectorFactory, LangDetectException, detect_langs

DetectorFactory.seed = 0

MIN_WORDS = 5
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?", re.UNICODE)
_BLOCK_SPLIT = re.compile(r"\n\s*\n")

EN_MARKERS = frozenset(
    "the of and to in is are for with that this on be by from as an or it which was were has have"
    " will not their our we you your can should must".split()
)
FR_MARKERS = frozenset(
    "le la les des du de et est sont pour avec que qui dans sur par une un au aux ce cette ces"
    " nous vous leur leurs doit être pas ou son sa ses plus été".split()
)


@dataclass
class Block:
    text: str
    language: str | None  # "en", "fr" or None (undetermined)


def split_blocks(text: str) -> list[str]:
    return [b.strip() for b in _BLOCK_SPLIT.split(text) if b.strip()]


def _words(text: str) -> list[str]:
    # one lower() over the joined words, not one per word (the same words: a word
    # holds no space and lowering adds none)
    found = _WORD.findall(text)
    return " ".join(found).lower().split(" ") if found else []


#: blocks whose langdetect verdict is kept (boilerplate, quoted paragraphs, pages
#: copied between sites: the same ambiguous block comes back again and again)
STATISTICAL_CACHE = 20000


class _Verdicts:
    """langdetect's verdict per block text, bounded (least recently used out).

    langdetect is seeded (``DetectorFactory.seed``), so the same text always gets
    the same verdict: remembering it changes nothing but the time (~10-100 ms a call).
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._kept: OrderedDict[str, str | None] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, text: str) -> tuple[bool, str | None]:
        with self._lock:
            if text in self._kept:
                self._kept.move_to_end(text)
                return True, self._kept[text]
        return False, None

    def put(self, text: str, verdict: str | None) -> None:
        with self._lock:
            self._kept[text] = verdict
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)


_verdicts = _Verdicts(STATISTICAL_CACHE)


def _statistical(text: str) -> str | None:
    known, verdict = _verdicts.get(text)
    if known:
        return verdict
    try:
        scores = {lang.lang: lang.prob for lang in detect_langs(text)}
    except LangDetectException:
        verdict = None
    else:
        en_p, fr_p = scores.get("en", 0.0), scores.get("fr", 0.0)
        verdict = None if max(en_p, fr_p) < 0.2 else ("en" if en_p >= fr_p else "fr")
    _verdicts.put(text, verdict)
    return verdict


def detect_block(
    text: str, words: list[str] | None = None, *, min_words: int = MIN_WORDS, statistical: bool = True
) -> str | None:
    """'en', 'fr' or None for one block of text.

    Function words decide most blocks at once; only ambiguous ones cost a langdetect
    call (about 10 ms each), unless *statistical* is False.
    """
    words = words if words is not None else _words(text)
    if len(words) < min_words:
        return None
    en = fr = 0
    for w in words:
        if w in EN_MARKERS:
            en += 1
        if w in FR_MARKERS or "'" in w or "’" in w:
            fr += 1
    if en >= 2 and en >= 3 * fr:
        return "en"
    if fr >= 2 and fr >= 3 * en:
        return "fr"
    if not statistical:
        return None
    return _statistical(text)


#: with a stated language, an ambiguous block shorter than this keeps the stated
#: language without a statistical guess (code, option lists, names, tables)
STATED_WINS_BELOW = 40


def detect_blocks(text: str, stated: str | None = None, words_into: set[str] | None = None) -> list[Block]:
    """Blocks of *text* with a language each (None only when nothing decides).

    When the source states the document's language, a block goes to the other
    language only on clear evidence (its function words, or langdetect on a long
    block): a French page quoting an English paragraph still has that paragraph
    searched as English, and option lists or code never flip a page's language.

    *words_into* gathers the lowercased words of the blocks (the spelling
    vocabulary's raw words: :func:`indexer.vocabulary.spellable` finishes them).
    """
    stated = stated if stated in ("en", "fr") else None
    blocks = []
    for raw in split_blocks(text):
        words = _words(raw)
        if words_into is not None:
            words_into.update(words)
        if stated and len(words) < STATED_WINS_BELOW:
            language = detect_block(raw, words, statistical=False)
            if language is None and len(words) >= MIN_WORDS:
                language = stated
        else:
            language = detect_block(raw, words)
        blocks.append(Block(raw, language))
    # short or undetermined blocks inherit: from the next block first (a heading
    # belongs to what follows it), then from the previous one
    for i in range(len(blocks) - 2, -1, -1):
        if blocks[i].language is None:
            blocks[i].language = blocks[i + 1].language
    for i, block in enumerate(blocks):
        if block.language is None and i > 0:
            block.language = blocks[i - 1].language
    if stated is None and blocks and all(block.language is None for block in blocks):
        # only short blocks: the whole text together may still say which language it is
        stated = detect_block(text, min_words=3)
    for block in blocks:
        if block.language is None:
            block.language = stated
    return blocks


def document_language(blocks: list[Block], stated: str | None = None) -> str | None:
    """The document's language, for labels, filters and twin links.

    A language the source states wins (a page at /fr/ declaring ``lang="fr"`` whose
    body is an untranslated English fallback is the French version of its twin;
    its English blocks are still searched as English). Otherwise the language
    holding most of the text.
    """
    if stated in ("en", "fr"):
        return stated
    sizes = {"en": 0, "fr": 0}
    for block in blocks:
        if block.language in sizes:
            sizes[block.language] += len(block.text)
    if not any(sizes.values()):
        return None
    return max(sizes, key=sizes.get)


def detect_title(title: str, blocks: list[Block], stated: str | None) -> str | None:
    lang = detect_block(title, min_words=2, statistical=False)
    if lang:
        return lang
    if stated in ("en", "fr"):
        return stated
    return document_language(blocks)
