"""English and French analysers (Whoosh) with PyStemmer's Snowball stemmers.

Filters are module-level classes because Whoosh pickles the schema with the index.
English: tokenize | lowercase | stop | stem | fold.
French:  tokenize (apostrophes kept) | elision | lowercase | fold | stop (folded) | stem.
Neutral: tokenize | lowercase | fold (names, acronyms, codes; no stemming).
"""

from __future__ import annotations

import unicodedata

import Stemmer
from whoosh.analysis import Filter, LowercaseFilter, RegexTokenizer, StopFilter

TOKEN_PATTERN = r"\w+(?:[.\-]\w+)*"
FR_TOKEN_PATTERN = r"\w+(?:['’]\w+)*(?:[.\-]\w+)*"

ELISIONS = frozenset("l d j qu n s t m c jusqu lorsqu puisqu quoiqu".split())

EN_STOP = frozenset(
    """a an and are as at be but by for if in into is it its no not of on or such that the their
    then there these they this to was will with we you your our from has have had were been can
    which who whom what when where why how all any each other so than too very also do does did""".split()
)

FR_STOP_RAW = """au aux avec ce ces dans de des du elle en et eux il ils je la le les leur lui ma mais
me même mes moi mon ne nos notre nous on ou par pas pour qu que qui sa se ses son sur ta te tes
toi ton tu un une vos votre vous c d j l à m n s t y été étée étées étés étant suis es est sommes
êtes sont serai sera seront serais serait étais était étions étiez étaient fus fut ai as avons
avez ont aurai aura auront avais avait avaient eu cette cet ceux celle celles dont où leurs
ici comme plus aussi si sans sous entre""".split()


def fold_accents(text: str) -> str:
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


FR_STOP = frozenset(fold_accents(w) for w in FR_STOP_RAW)


class FoldFilter(Filter):
    """Strip accents: 'accès' -> 'acces'."""

    def __call__(self, tokens):
        for t in tokens:
            t.text = fold_accents(t.text)
            yield t


class ElisionFilter(Filter):
    """Drop French elided articles: "l'accès" -> "accès", "jusqu'au" -> "au"."""

    def __call__(self, tokens):
        for t in tokens:
            text = t.text.replace("’", "'")
            if "'" in text:
                head, _, tail = text.partition("'")
                if head.lower() in ELISIONS and tail:
                    text = tail
                text = text.replace("'", "")
            t.text = text
            if text:
                yield t


class SnowballFilter(Filter):
    """Snowball stemming with PyStemmer (C), cached; picklable by language name."""

    #: skipped when Whoosh asks for unstemmed words (the spelling dictionary)
    is_morph = True

    def __init__(self, language: str, cache_size: int = 50000):
        self.language = language
        self.cache_size = cache_size
        self._stemmer = None
        self._cache: dict[str, str] = {}

    def __getstate__(self):
        return {"language": self.language, "cache_size": self.cache_size}

    def __setstate__(self, state):
        self.__init__(state["language"], state.get("cache_size", 50000))

    def __eq__(self, other):
        return isinstance(other, SnowballFilter) and other.language == self.language

    def stem(self, word: str) -> str:
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        if self._stemmer is None:
            self._stemmer = Stemmer.Stemmer(self.language)
        stemmed = self._stemmer.stemWord(word)
        if len(self._cache) < self.cache_size:
            self._cache[word] = stemmed
        return stemmed

    def __call__(self, tokens):
        for t in tokens:
            if not t.stopped:
                t.text = self.stem(t.text)
            yield t


def english_analyzer():
    return (
        RegexTokenizer(TOKEN_PATTERN)
        | LowercaseFilter()
        | StopFilter(stoplist=EN_STOP, minsize=1)
        | SnowballFilter("english")
        | FoldFilter()
    )


def french_analyzer():
    return (
        RegexTokenizer(FR_TOKEN_PATTERN)
        | ElisionFilter()
        | LowercaseFilter()
        | FoldFilter()
        | StopFilter(stoplist=FR_STOP, minsize=1)
        | SnowballFilter("french")
    )


def neutral_analyzer():
    return RegexTokenizer(TOKEN_PATTERN) | LowercaseFilter() | FoldFilter()
