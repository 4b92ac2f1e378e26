"""English and French analysers (Whoosh) with PyStemmer's Snowball stemmers.

Filters are module-level classes because Whoosh pickles the schema with the index.
English: tokenize | lowercase | stop | stem | fold.
French:  tokenize (apostrophes kept) | elision | lowercase | fold | stop (folded) | stem.
Neutral: tokenize | lowercase | fold (names, acronyms, codes; no stemming).

The analysers are :class:`FusedAnalyzer`: the same steps in one loop per token
instead of one generator per filter (Whoosh spends a third of its indexing time
in analysis; the chain of five generators was half of that). The filter classes
stay: indexes written before pickled their chains, and ``chain_analyzer`` builds
them for the test that holds both to the same tokens.
"""

from __future__ import annotations

import unicodedata

import Stemmer
from whoosh.analysis import Analyzer, Filter, LowercaseFilter, RegexTokenizer, StopFilter, Token

TOKEN_PATTERN = r"\w+(?:[.\-]\w+)*"
FR_TOKEN_PATTERN = r"\w+(?:['’]\w+)*(?:[.\-]\w+)*"

#: matched words whose indexed term an analyser remembers (each writer process its own)
TERM_CACHE = 100_000

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


class FusedAnalyzer(Analyzer):
    """One language's analysis in one pass per token (see the module's docstring).

    Whoosh's tokenizer hands out one Token object, changed in place for each word;
    each step below does what its filter does to it, in the chain's order, with the
    StopFilter's renumbering of positions and its keeping of stopped tokens when a
    caller asks ``removestops=False``. ``no_morph`` (Whoosh's spelling words) skips
    the stemming, as it skips the chain's SnowballFilter.
    """

    def __init__(self, language: str) -> None:
        self.language = language
        if language == "english":
            self._tokenizer, self._stops = RegexTokenizer(TOKEN_PATTERN), EN_STOP
        elif language == "french":
            self._tokenizer, self._stops = RegexTokenizer(FR_TOKEN_PATTERN), FR_STOP
        elif language == "neutral":
            self._tokenizer, self._stops = RegexTokenizer(TOKEN_PATTERN), None
        else:
            raise ValueError(f"no analyser for {language!r}")
        self._stemmer = SnowballFilter(language) if self._stops is not None else None
        #: matched word -> its indexed term, or False when left out (index_positions)
        self._terms: dict[str, str | bool] = {}

    def __getstate__(self):
        return {"language": self.language}

    def __setstate__(self, state):
        self.__init__(state["language"])

    def __eq__(self, other):
        return isinstance(other, FusedAnalyzer) and other.language == self.language

    def __repr__(self):
        return f"FusedAnalyzer({self.language!r})"

    def has_morph(self):
        return self._stemmer is not None

    def __call__(self, value, no_morph=False, **kwargs):
        if self._stops is None:
            return self._neutral(self._tokenizer(value, **kwargs))
        stem = None if no_morph else self._stemmer.stem
        if kwargs.get("tokenize", True) and not kwargs.get("keeporiginal"):
            # the tokenizer's default path, done here: one loop, no generator per step
            return self._analyse(value, stem, **kwargs)
        return self._filter(self._tokenizer(value, **kwargs), stem)

    def index_positions(self, value: str) -> dict[str, list[int]]:
        """Each term of *value* with its positions, as indexing asks them of the
        analysis (``positions=True``, stopped words left out, the positions after
        the first kept word renumbered): one loop, and one dictionary lookup a word
        (:data:`TERM_CACHE` matched words remember their term), instead of a Token
        changed in place by each step. Whoosh's ``Positions.word_values`` takes
        this path (:mod:`indexer.whoosh_fixes`)."""
        terms = self._terms
        poses: dict[str, list[int]] = {}
        renumber = self._stops is not None
        following = None  # the position of the next kept word once one was kept
        for pos, match in enumerate(self._tokenizer.expression.finditer(value)):
            raw = match.group(0)
            term = terms.get(raw)
            if term is None:
                term = self._term(raw)
                if len(terms) < TERM_CACHE:
                    terms[raw] = term
            if term is False:
                continue
            if renumber:
                if following is None:
                    following = pos
                pos = following
                following += 1
            found = poses.get(term)
            if found is None:
                poses[term] = [pos]
            else:
                found.append(pos)
        return poses

    def terms(self, value: str) -> list[str]:
        """The terms of *value* in reading order, stopped words left out: the texts
        of the tokens ``__call__(value)`` gives, from the remembered words as
        :meth:`index_positions` takes them."""
        terms = self._terms
        out = []
        for match in self._tokenizer.expression.finditer(value):
            raw = match.group(0)
            term = terms.get(raw)
            if term is None:
                term = self._term(raw)
                if len(terms) < TERM_CACHE:
                    terms[raw] = term
            if term is not False:
                out.append(term)
        return out

    def _term(self, raw: str) -> str | bool:
        """The indexed term of one matched word (what :meth:`_analyse` makes of it),
        or False for a word the analysis leaves out."""
        if self._stops is None:
            return fold_accents(raw.lower())
        text = raw
        if self.language == "french":
            text = text.replace("’", "'")
            if "'" in text:
                head, _, tail = text.partition("'")
                if head.lower() in ELISIONS and tail:
                    text = tail
                text = text.replace("'", "")
                if not text:
                    return False
            text = fold_accents(text.lower())
            if not text or text in self._stops:
                return False
            return self._stemmer.stem(text)
        text = text.lower()
        if not text or text in self._stops:
            return False
        return fold_accents(self._stemmer.stem(text))

    def _analyse(
        self, value, stem, positions=False, chars=False, removestops=True, start_pos=0, start_char=0,
        mode="", tokenize=True, keeporiginal=False, **kwargs
    ):
        """RegexTokenizer's matches (one Token reused), then the steps of the chain."""
        t = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        french = self.language == "french"
        stops = self._stops
        renumbered = None
        for pos, match in enumerate(self._tokenizer.expression.finditer(value), start_pos):
            text = match.group(0)
            t.boost = 1.0
            if positions:
                t.pos = pos
            if chars:
                t.startchar = start_char + match.start()
                t.endchar = start_char + match.end()
            if french:
                # elision | lowercase | fold
                text = text.replace("’", "'")
                if "'" in text:
                    head, _, tail = text.partition("'")
                    if head.lower() in ELISIONS and tail:
                        text = tail
                    text = text.replace("'", "")
                    if not text:
                        continue
                text = fold_accents(text.lower())
            else:
                text = text.lower()
            # stop (renumbering positions past stopped words; an empty word is stopped) | stem
            if text and text not in stops:
                if positions:
                    if renumbered is None:
                        renumbered = t.pos
                    else:
                        renumbered += 1
                        t.pos = renumbered
                t.stopped = False
                if stem is not None:
                    text = stem(text)
            elif removestops:
                continue
            else:
                t.stopped = True
            t.text = text if french else fold_accents(text)
            yield t

    def _filter(self, tokens, stem):
        """The steps of the chain over another tokenizer path's tokens."""
        french = self.language == "french"
        stops = self._stops
        renumbered = None
        for t in tokens:
            text = t.text
            if french:
                text = text.replace("’", "'")
                if "'" in text:
                    head, _, tail = text.partition("'")
                    if head.lower() in ELISIONS and tail:
                        text = tail
                    text = text.replace("'", "")
                if not text:
                    continue
                text = fold_accents(text.lower())
            else:
                text = text.lower()
            if len(text) >= 1 and text not in stops:
                if t.positions:
                    if renumbered is None:
                        renumbered = t.pos
                    else:
                        renumbered += 1
                        t.pos = renumbered
                t.stopped = False
                if stem is not None:
                    text = stem(text)
            elif t.removestops:
                continue
            else:
                t.stopped = True
            t.text = text if french else fold_accents(text)
            yield t

    @staticmethod
    def _neutral(tokens):
        # lowercase | fold
        for t in tokens:
            t.text = fold_accents(t.text.lower())
            yield t


def chain_analyzer(language: str):
    """The same analysis as a chain of Whoosh filters (what indexes before the fused
    analysers pickled; the reference the fused ones are tested against)."""
    if language == "english":
        return (
            RegexTokenizer(TOKEN_PATTERN)
            | LowercaseFilter()
            | StopFilter(stoplist=EN_STOP, minsize=1)
            | SnowballFilter("english")
            | FoldFilter()
        )
    if language == "french":
        return (
            RegexTokenizer(FR_TOKEN_PATTERN)
            | ElisionFilter()
            | LowercaseFilter()
            | FoldFilter()
            | StopFilter(stoplist=FR_STOP, minsize=1)
            | SnowballFilter("french")
        )
    return RegexTokenizer(TOKEN_PATTERN) | LowercaseFilter() | FoldFilter()


def english_analyzer():
    return FusedAnalyzer("english")


def french_analyzer():
    return FusedAnalyzer("french")


def neutral_analyzer():
    return FusedAnalyzer("neutral")
