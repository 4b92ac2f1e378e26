"""Turn what a user typed into one Whoosh query over both languages.

Every word (or glossary concept, or quoted phrase) becomes a *clause* that must
match (AND), in any language: same-language fields at full weight, the glossary's
translations on the other language's fields a little lower, the raw words on the
other language's fields lower still (names, acronyms, cognates). Boosts sit on
leaf terms and phrases only: Whoosh mis-ranks boosted nested Or groups.
Nothing here raises on odd input: unknown syntax is read as plain words.

Whoosh's plain ``Or`` picks a matcher by context (a preloaded array on small
indexes at the top level, a union tree inside an ``And``), and the two score
nested groups differently; ``DefaultOr`` always builds the union tree, so a
document scores the same however the query is wrapped or the index laid out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from whoosh.matching import UnionMatcher
from whoosh.query import And, AndNot, DisjunctionMax, NullQuery, Phrase, Query, Term
from whoosh.query.compound import DefaultOr as Or  # one scoring whatever the context (see below)
from whoosh.query.wrappers import ConstantScoreQuery

from indexer.analysis import (
    EN_STOP,
    FR_STOP,
    english_analyzer,
    fold_accents,
    french_analyzer,
    neutral_analyzer,
)
from indexer.glossary import Glossary, key_word, words_of
from indexer.translations import TranslationTable

# weights of the three kinds of match
SAME_LANGUAGE = 1.0
TRANSLATED = 0.9
RAW_OTHER_LANGUAGE = 0.5
NEUTRAL = 0.6
TITLE_FACTOR = 2.0
#: a learned translation of weight 1.0 counts this much of a glossary translation
LEARNED_FACTOR = 1.3
#: an other-language spelling made by a regular change (see cognates)
COGNATE = 0.5

#: Function words a query never requires. The index keeps short stop lists (EN_STOP,
#: FR_STOP); a query drops the fuller Snowball-style lists too, because every word of
#: a query is required: "my", "after" or "ayant" would otherwise have to appear, in
#: some language, in every hit (and have no useful translation).
QUERY_FUNCTION_WORDS = frozenset(
    """i me my myself we us ours ourselves you yours yourself yourselves he him his himself
    she her hers herself it itself they them theirs themselves am being having doing
    because until while about against between through during before after above below up
    down out off over under again further once here both few more most some nor only own
    same should now just would could shall might must
    ayant ayante ayantes ayants eue eues eus eut eûmes eûtes eurent aie aies ait ayons
    ayez aient étant étante étantes étants étée fûmes fûtes furent sois soit soyons soyez
    soient avons avez suis es est sommes êtes sont mon ton son ma ta sa mes tes ses notre
    votre nos vos leur leurs quel quelle quels quelles lequel laquelle lesquels lesquelles
    après avant pendant durant depuis vers chez contre parmi encore ensuite puis ici là""".split()
)
#: words (clauses) of a query that are searched; the rest of a longer query is ignored
MAX_CLAUSES = 32
STOP_WORDS = frozenset(EN_STOP | FR_STOP | {fold_accents(w) for w in QUERY_FUNCTION_WORDS})
FAMILIES = {"en": ("title_en", "body_en"), "fr": ("title_fr", "body_fr")}
_ELISION = re.compile(r"^(?:[ldjnmstc]|qu|jusqu|lorsqu|puisqu)['’]", re.IGNORECASE)
_COMPOUND = re.compile(r"[^\W_]+(?:-[^\W_]+)+")
_TOKEN = re.compile(r'(-?)"([^"]*)"?|(\S+)')
_FR_HINT = re.compile(r"[àâçéèêëîïôûùüÿœæ]|\b(?:[ldjnmstc]|qu)['’]", re.IGNORECASE)
FR_WORDS = frozenset(
    "le la les des du de et est sont pour avec que qui dans sur par une un au aux ce cette ces"
    " nous vous leur doit pas ou plus".split()
)
EN_WORDS = frozenset("the of and to in is are for with that this on by from an or how what which".split())


@lru_cache(maxsize=1)
def analyzers():
    return {"en": english_analyzer(), "fr": french_analyzer(), "neutral": neutral_analyzer()}


def analyse(language: str, text: str) -> list[str]:
    return [term for term in analyzers()[language].terms(text) if term]


@dataclass
class Clause:
    text: str  # the user's words
    translations: tuple[str, ...] = ()
    translated_from: str | None = None  # "en" or "fr" when the glossary matched
    phrase: bool = False
    negated: bool = False
    alternatives: list[Clause] = field(default_factory=list)  # "a OR b"
    #: the hyphenated word this clause's words came from ("floating-point"): the index
    #: keeps such a word whole, so the whole word matches too
    compound: str | None = None


@dataclass
class ParsedQuery:
    clauses: list[Clause]
    language: str | None  # the query's language when it is clear
    #: translations learned from the collection's twins (indexer.translations), if any
    learned: TranslationTable | None = None

    @property
    def words(self) -> list[str]:
        return [c.text for c in self.clauses if not c.negated]


def guess_language(text: str, clauses: list[Clause], glossary: Glossary | None = None) -> str | None:
    """The query's language when its words say so: accents and elisions, function words,
    glossary concepts, then words only one language's dictionary knows."""
    if _FR_HINT.search(text):
        return "fr"
    lowered = [w.lower() for w in words_of(text)]
    fr = sum(w in FR_WORDS for w in lowered) + sum(c.translated_from == "fr" for c in clauses)
    en = sum(w in EN_WORDS for w in lowered) + sum(c.translated_from == "en" for c in clauses)
    if fr == en and glossary is not None:
        for word in lowered:
            key = (key_word(word),)
            in_en, in_fr = key in glossary.to_fr, key in glossary.to_en
            en += in_en and not in_fr
            fr += in_fr and not in_en
    if fr > en:
        return "fr"
    if en > fr:
        return "en"
    return None


def parse(text: str, glossary: Glossary, learned: TranslationTable | None = None) -> ParsedQuery:
    """Split *text* into clauses: quoted phrases, -exclusions, OR, glossary concepts, words."""
    raw_clauses: list[Clause | str] = []
    for match in _TOKEN.finditer(text):
        negate, phrase, word = match.group(1), match.group(2), match.group(3)
        if phrase is not None:
            if phrase.strip():
                clause = Clause(phrase.strip(), phrase=True, negated=bool(negate))
                words = words_of(clause.text)
                whole = glossary.matches(words)
                if len(whole) == 1 and whole[0].start == 0 and whole[0].end == len(words):
                    clause.translations = whole[0].translations
                    lang = whole[0].source_language
                    clause.translated_from = None if lang == "both" else lang
                raw_clauses.append(clause)
        elif word == "OR":
            raw_clauses.append("OR")
        elif word in ("AND", "&&", "+"):
            continue
        elif word.startswith("-") and len(word) > 1:
            raw_clauses.append(Clause(word[1:], negated=True))
        else:
            raw_clauses.append(word.lstrip("+"))
    # a stop word is dropped when the query has anything else to search for: a
    # quoted phrase counts ('What is "incoming"' searches the phrase, not "what is")
    elsewhere = any(
        isinstance(c, Clause) and c.phrase and not c.negated and words_of(c.text) for c in raw_clauses
    ) or any(
        isinstance(c, str) and c != "OR" and any(fold_accents(w.lower()) not in STOP_WORDS for w in words_of(c))
        for c in raw_clauses
    )
    # runs of plain words go through the glossary together (longest match first)
    clauses: list[Clause | str] = []
    run: list[str] = []

    def flush() -> None:
        if not run:
            return
        words, compounds = [], []
        for token in run:
            parts = words_of(token)
            bare = _ELISION.sub("", token.strip(".,;:!?()[]{}«»\"'"))
            whole = bare if len(parts) > 1 and _COMPOUND.fullmatch(bare) else None
            words.extend(parts)
            compounds.extend([whole] * len(parts))
        spans = {
            m.start: m
            for m in glossary.matches(words)
            # a lone function word ("après") is not a concept, even if a dictionary has it
            if m.end - m.start > 1 or fold_accents(words[m.start].lower()) not in STOP_WORDS
        }
        content = elsewhere or any(fold_accents(w.lower()) not in STOP_WORDS for w in words)
        i = 0
        while i < len(words):
            m = spans.get(i)
            if m:
                clauses.append(
                    Clause(
                        " ".join(words[m.start : m.end]),
                        m.translations,
                        None if m.source_language == "both" else m.source_language,
                        compound=compounds[m.start] if compounds[m.start] == compounds[m.end - 1] else None,
                    )
                )
                i = m.end
                continue
            # a stop word of either language is required in neither (unless that is all there is)
            if content or fold_accents(words[i].lower()) not in STOP_WORDS:
                if fold_accents(words[i].lower()) not in STOP_WORDS:
                    clauses.append(Clause(words[i], compound=compounds[i]))
            else:
                clauses.append(Clause(words[i], compound=compounds[i]))
            i += 1
        run.clear()

    for item in raw_clauses:
        if isinstance(item, str) and item != "OR":
            run.append(item)
        else:
            flush()
            clauses.append(item)
    flush()
    # fold "a OR b" into one clause with alternatives
    out: list[Clause] = []
    pending_or = False
    for item in clauses:
        if item == "OR":
            pending_or = bool(out)
            continue
        assert isinstance(item, Clause)
        if pending_or and not item.negated and not out[-1].negated:
            out[-1].alternatives.append(item)
        else:
            out.append(item)
        pending_or = False
    # a query is a question, not a document: past MAX_CLAUSES words the rest is ignored
    # (each clause is a dozen leaves in two languages; a pasted paragraph would cost seconds)
    budget, kept = MAX_CLAUSES, []
    for clause in out:
        if budget <= 0:
            break
        clause.alternatives = clause.alternatives[: budget - 1]  # "a OR b OR c..." counts each
        budget -= 1 + len(clause.alternatives)
        kept.append(clause)
    out = kept
    language = guess_language(text, out, glossary)
    if language:
        # a word both dictionaries know ("record", "accord") is read in the query's language
        for clause in out:
            for c in (clause, *clause.alternatives):
                if c.translations and c.translated_from is None:
                    own = glossary.translate(words_of(c.text), language)
                    if own:
                        c.translations, c.translated_from = own, language
    return ParsedQuery(out, language, learned or None)


def _field_match(fieldname: str, tokens: list[str], boost: float, phrase: bool) -> Query | None:
    if not tokens:
        return None
    if len(tokens) == 1:
        return Term(fieldname, tokens[0], boost=boost)
    if phrase:
        return Phrase(fieldname, tokens, slop=1, boost=boost)
    # a concept of several words weighs what one word weighs (no phrase matching:
    # positions cost more than they earn here, see bench/relevance and search_latency)
    share = boost / len(tokens)
    return And([Term(fieldname, t, boost=share) for t in tokens])


def _learned_leaves(
    clause: Clause, language: str | None, target: str, learned: TranslationTable
) -> list[Query]:
    """The collection's own translations of a one-word clause into *target*'s fields.

    Each translation weighs what the collection says it is worth (0..1), so a
    sense the twins rarely show adds little. With no clear query language the word
    is read in the other language (that is the only way it reaches *target*).
    """
    source = "fr" if target == "en" else "en"
    if clause.phrase or (language is not None and language != source):
        return []
    if clause.translated_from and clause.translated_from != source:
        return []
    tokens = analyse(source, clause.text)
    if len(tokens) != 1:
        return []
    title_field, body_field = FAMILIES[target]
    leaves: list[Query] = []
    translations = learned.translate(tokens[0], source)
    # the senses of one word share one translation's weight: a word with four
    # translations must not outweigh a word matched in the query's own language
    total = max(1.0, sum(weight for _, weight in translations))
    for term, weight in translations:
        boost = TRANSLATED * LEARNED_FACTOR * weight / total
        leaves.append(Term(title_field, term, boost=boost * TITLE_FACTOR))
        leaves.append(Term(body_field, term, boost=boost))
    return leaves


#: regular EN->FR spelling changes of words that share a Latin root, longest ending first
#: (the reverse of each is the FR->EN rule); accents are folded as in the index
COGNATE_ENDINGS = (
    ("ization", "isation"),
    ("ically", "iquement"),
    ("ical", "ique"),
    ("ity", "ite"),
    ("ism", "isme"),
    ("ist", "iste"),
    ("ize", "iser"),
    ("yze", "yser"),
    ("ous", "eux"),
    ("ary", "aire"),
    ("ory", "oire"),
    ("ive", "if"),
    ("ic", "ique"),
    ("or", "eur"),
    ("al", "el"),
    ("y", "ie"),
    ("er", "re"),
)


def cognates(word: str, source: str) -> list[str]:
    """Other-language spellings of *word* by regular changes ("initialization" ->
    "initialisation", "sécurité" -> "security"); only words of five letters or more."""
    word = fold_accents(word.lower())
    if len(word) < 5 or not word.isalpha():
        return []
    out = []
    for en, fr in COGNATE_ENDINGS:
        old, new = (en, fr) if source == "en" else (fr, en)
        if word.endswith(old) and len(word) - len(old) >= 3:
            out.append(word[: -len(old)] + new)  # every rule that fits: "-ique" is "-ic" or "-ical"
    if source == "en" and "z" in word:
        out.append(word.replace("z", "s"))
    return [w for w in dict.fromkeys(out) if w != word]


def _cognate_leaves(clause: Clause, language: str | None, target: str, taken: set[str]) -> list[Query]:
    """Terms for the other-language spellings of a one-word clause (see :func:`cognates`)."""
    source = "fr" if target == "en" else "en"
    if clause.phrase or (language is not None and language != source) or " " in clause.text.strip():
        return []
    title_field, body_field = FAMILIES[target]
    leaves: list[Query] = []
    for spelling in cognates(clause.text, source):
        for term in analyse(target, spelling):
            if term in taken:
                continue
            taken.add(term)
            leaves.append(Term(title_field, term, boost=COGNATE * TITLE_FACTOR))
            leaves.append(Term(body_field, term, boost=COGNATE))
    return leaves


#: a glossary or dictionary sense the collection's twins never use for the word weighs
#: this share of a translation ("package" -> "emballage" where the twins say "paquet")
UNCONFIRMED_SENSE = 0.1  # tuned on the Debian dev half: 0.25 -> 0.1 lifted every cross cell
#: the learned table speaks for a word only when its best translation is this sure
CONFIDENT_SENSE = 0.5


def _collection_senses(clause: Clause, target: str, learned: TranslationTable | None) -> set[str] | None:
    """The *target* index terms the collection's twins translate a one-word clause by;
    None when the collection does not know the word well enough to judge senses."""
    if not learned or " " in clause.text.strip():
        return None
    source = "fr" if target == "en" else "en"
    tokens = analyse(source, clause.text)
    if len(tokens) != 1:
        return None
    found = learned.translate(tokens[0], source)
    if not found or found[0][1] < CONFIDENT_SENSE:
        return None
    # the word itself counts as a sense when the collection keeps it ("signal" -> "signal")
    return {term for term, _ in found} | {tokens[0]}


def _sense_weight(tokens: list[str], senses: set[str] | None) -> float:
    if senses is None or not tokens or any(t in senses for t in tokens):
        return 1.0
    return UNCONFIRMED_SENSE


def clause_query(
    clause: Clause,
    language: str | None,
    *,
    cross_language: bool = True,
    learned: TranslationTable | None = None,
) -> Query | None:
    """Everything one clause may match, each leaf carrying its own weight.

    With *cross_language* off (the benchmark's baseline), only the query's own
    language fields are searched, without the glossary.
    """
    leaves: list[Query] = []
    for lang, (title_field, body_field) in FAMILIES.items():
        if not cross_language and language not in (None, lang):
            continue
        same = language in (None, lang)
        weight = SAME_LANGUAGE if same else RAW_OTHER_LANGUAGE
        if clause.translated_from and clause.translated_from != lang:
            weight = RAW_OTHER_LANGUAGE  # the words are the other language's; their translation comes below
        if clause.translated_from and clause.translated_from != lang and " " in clause.text.strip():
            tokens = []  # a multi-word concept in the other language: its translation stands for it
        else:
            tokens = analyse(lang, clause.text)
        for fieldname, factor in ((title_field, TITLE_FACTOR), (body_field, 1.0)):
            q = _field_match(fieldname, tokens, weight * factor, clause.phrase)
            if q is not None:
                leaves.append(q)
        if not cross_language:
            continue
        if learned:
            leaves.extend(_learned_leaves(clause, language, lang, learned))
        leaves.extend(_cognate_leaves(clause, language, lang, set(tokens)))
        senses = _collection_senses(clause, lang, learned)
        if clause.translated_from and clause.translated_from != lang:
            for translation in clause.translations:
                t_tokens = analyse(lang, translation)
                weight = TRANSLATED * _sense_weight(t_tokens, senses)
                for fieldname, factor in ((title_field, TITLE_FACTOR), (body_field, 1.0)):
                    q = _field_match(fieldname, t_tokens, weight * factor, clause.phrase)
                    if q is not None:
                        leaves.append(q)
        elif clause.translated_from is None and clause.translations:
            # a term spelled the same in both languages ("audit"): its translations anywhere
            for translation in clause.translations:
                t_tokens = analyse(lang, translation)
                weight = TRANSLATED * _sense_weight(t_tokens, senses)
                q = _field_match(body_field, t_tokens, weight, clause.phrase)
                if q is not None:
                    leaves.append(q)
    if clause.compound and not clause.phrase:
        for lang, (title_field, body_field) in FAMILIES.items():
            if not cross_language and language not in (None, lang):
                continue
            weight = SAME_LANGUAGE if language in (None, lang) else RAW_OTHER_LANGUAGE
            for term in analyse(lang, clause.compound):
                if "-" in term:
                    leaves.append(Term(title_field, term, boost=weight * TITLE_FACTOR))
                    leaves.append(Term(body_field, term, boost=weight))
    # names, acronyms, codes and text in no clear language
    q = _field_match("neutral", analyse("neutral", clause.text), NEUTRAL, clause.phrase)
    if q is not None:
        leaves.append(q)
    for alternative in clause.alternatives:
        alt = clause_query(alternative, language, cross_language=cross_language, learned=learned)
        if alt is not None:
            leaves.append(alt)
    # one term in one field is one leaf: routes that agree (the glossary, the learned
    # table, a cognate, the raw word all reaching "signal") add their weights
    merged: dict[tuple[str, str], float] = {}
    others = []
    for leaf in leaves:
        if type(leaf) is Term:
            key = (leaf.fieldname, leaf.text)
            merged[key] = merged.get(key, 0.0) + leaf.boost
        else:
            others.append(leaf)
    unique = [Term(f, t, boost=b) for (f, t), b in merged.items()]
    unique += list({repr(leaf): leaf for leaf in others}.values())
    if language in FAMILIES and cross_language:
        unique = _capped(unique, language)
    if BEST_LANGUAGE and cross_language:
        unique = _best_language(unique)
    if not unique:
        return None
    return Or(unique) if len(unique) > 1 else unique[0]


#: all the routes of one clause into one field of the other language together weigh at
#: most this share of the query's own language in that field: a page in the query's
#: language that has the word is never outranked by a translation of it piling up
CROSS_CAP = 2.5


class _BestMatcher(UnionMatcher):
    """A union scoring each document by its best sub-matcher.

    Whoosh's own ``DisjunctionMaxMatcher`` takes the maximum of both sides' current
    scores even when they sit on different documents, so a document is scored with
    another's weight; this one compares the ids first, as ``UnionMatcher`` does.
    """

    def replace(self, minquality=0):
        return UnionMatcher.replace(self, 0)  # its quality shortcuts assume a sum

    def supports_block_quality(self):
        return False

    def score(self):
        a, b = self.a, self.b
        if not a.is_active():
            return b.score()
        if not b.is_active():
            return a.score()
        if a.id() < b.id():
            return a.score()
        if b.id() < a.id():
            return b.score()
        return max(a.score(), b.score())


class BestOf(DisjunctionMax):
    """The better of a clause's matches in the English and in the French fields.

    Evaluated by ``indexer.accel``; :meth:`_matcher` gives Whoosh the same scores.
    """

    def _matcher(self, subs, searcher, context):
        reader = searcher.reader()
        return self._tree_matcher(subs, _BestMatcher, searcher, context, lambda q: q.estimate_size(reader))


#: a clause scores a document by its better language only: a page with text in both
#: (a bilingual page, a French man page with an untranslated English block) matches
#: the word once, not once per language; summing them let "strtol", whose French page
#: keeps English passages, outrank "atoi" for atoi's own French title
BEST_LANGUAGE = True


def _best_language(leaves: list[Query]) -> list[Query]:
    """One :class:`BestOf` for the leaves on either language's fields, the rest beside it."""
    families: dict[str, list[Query]] = {lang: [] for lang in FAMILIES}
    rest: list[Query] = []
    for leaf in leaves:
        name = _field_of(leaf)
        lang = next((lang for lang, names in FAMILIES.items() if name in names), None)
        (families[lang] if lang else rest).append(leaf)
    if not all(families.values()):
        return leaves
    groups = [Or(group) if len(group) > 1 else group[0] for group in families.values()]
    return [BestOf(groups), *rest]


def _flat_leaves(query: Query) -> list[Query]:
    """The leaves of a clause's query, through its ``Or`` and :class:`BestOf` groups."""
    if type(query) in (Or, BestOf):
        return [leaf for sub in query.subqueries for leaf in _flat_leaves(sub)]
    return [query]


def _weight(leaf: Query) -> float:
    if isinstance(leaf, And):
        return sum(_weight(q) for q in leaf.subqueries)
    return float(getattr(leaf, "boost", 1.0))


def _scaled(leaf: Query, factor: float) -> Query:
    if isinstance(leaf, Term):
        return Term(leaf.fieldname, leaf.text, boost=leaf.boost * factor)
    if isinstance(leaf, Phrase):
        return Phrase(leaf.fieldname, leaf.words, slop=leaf.slop, boost=leaf.boost * factor)
    if isinstance(leaf, And):
        return And([_scaled(q, factor) for q in leaf.subqueries])
    return leaf


def _field_of(leaf: Query) -> str | None:
    if isinstance(leaf, Term | Phrase):
        return leaf.fieldname
    if isinstance(leaf, And) and leaf.subqueries and all(isinstance(q, Term) for q in leaf.subqueries):
        fields = {q.fieldname for q in leaf.subqueries}
        return fields.pop() if len(fields) == 1 else None
    return None


def _capped(leaves: list[Query], language: str) -> list[Query]:
    """Scale the other language's leaves of one clause down to :data:`CROSS_CAP`, field by field."""
    other = "fr" if language == "en" else "en"
    caps = dict(zip(FAMILIES[other], (CROSS_CAP * TITLE_FACTOR, CROSS_CAP), strict=True))
    totals: dict[str, float] = {}
    for leaf in leaves:
        name = _field_of(leaf)
        if name in caps:
            totals[name] = totals.get(name, 0.0) + _weight(leaf)
    factors = {name: caps[name] / total for name, total in totals.items() if total > caps[name]}
    if not factors:
        return leaves
    return [_scaled(leaf, factors[name]) if (name := _field_of(leaf)) in factors else leaf for leaf in leaves]


class AtLeast(Or):
    """Documents matching at least ``minmatch`` of the subqueries, scored as their sum.

    Whoosh 2.7.4 accepts ``minmatch`` on ``Or`` but does not implement it; the search
    path evaluates this node in ``indexer.accel``, and :meth:`matcher` gives Whoosh the
    same semantics (slowly: it is the reference the tests compare with).
    """

    def matcher(self, searcher, context=None):
        from whoosh.matching import FilterMatcher, NullMatcher

        counts: dict[int, int] = {}
        for sub in self.subqueries:
            for docnum in sub.matcher(searcher, context).all_ids():
                counts[docnum] = counts.get(docnum, 0) + 1
        keep = frozenset(d for d, n in counts.items() if n >= self.minmatch)
        if not keep:
            return NullMatcher()
        return FilterMatcher(Or(self.subqueries).matcher(searcher, context), keep)


def required_clauses(count: int) -> int:
    """How many of *count* clauses a document must match: all of one or two, then 3/4.

    A long natural-language query ("keeping or destroying old files") rarely has
    every word in the best page, least of all through a translation; requiring
    three quarters keeps the precision of AND without its cliff.
    """
    return count if count <= 2 else max(2, (3 * count) // 4)


#: what matching most of the words adds to a relaxed (any-word) search's score:
#: more than any text score, so those documents come first
MOST_WORDS_BONUS = 1000.0

#: a search of three words or more first asks for most of them (:func:`required_clauses`)
MOST_WORDS_FIRST = True


#: what a title holding the query's words in their order adds, as a share of those
#: words' own title score
TITLE_PHRASE = 1.5  # Debian dev half, with the two above: mono fr 0.992 -> 0.993, fr->en 89.8 -> 89.6 %
TITLE_PHRASE_SLOP = 2


def _title_phrases(parsed: ParsedQuery) -> list[Query]:
    texts = [c.text for c in parsed.clauses if not c.negated and not c.phrase]
    languages = [parsed.language] if parsed.language in FAMILIES else list(FAMILIES)
    out: list[Query] = []
    for lang in languages:
        tokens = [t for text in texts for t in analyse(lang, text)]
        if len(tokens) >= 2:
            out.append(Phrase(FAMILIES[lang][0], tokens, slop=TITLE_PHRASE_SLOP, boost=TITLE_PHRASE))
    return out


#: what a title of the other language holding a translation of every word that has one
#: adds, as a share of those translations' title weights: the twin-less page in the
#: other language gets what :data:`TITLE_PHRASE` gives its own-language siblings
TRANSLATED_TITLES = 1.0  # Debian dev half, one language only: en->fr 91.7 -> 93.0 %, mono unchanged


def _translated_titles(parsed: ParsedQuery, words: list[Query]) -> tuple[int, Query] | None:
    """The clause to attach it to and the bonus: every clause's other-language title
    leaves, all required (a document matching it matches that clause too)."""
    if parsed.language not in FAMILIES or len(words) < 2:
        return None
    other = "en" if parsed.language == "fr" else "fr"
    field = FAMILIES[other][0]
    have: list[tuple[int, Query]] = []
    for i, word in enumerate(words):
        leaves = [_scaled(leaf, TRANSLATED_TITLES) for leaf in _flat_leaves(word) if _field_of(leaf) == field]
        if leaves:
            have.append((i, Or(leaves) if len(leaves) > 1 else leaves[0]))
    need = required_clauses(len(words)) if len(words) >= 3 else len(words)
    if len(have) < max(2, need):
        return None
    return have[0][0], And([q for _, q in have])


#: from this many words, a page in the other language may miss one more of them than a
#: page in the query's language: a translation loses words ("en cours d'exécution" is
#: "running"), the query's own language does not; 0 turns it off
TRANSLATION_SLACK_FROM = 4  # Debian dev half, one language only: fr->en 87.1 -> 89.8 %, en->fr 93.0 -> 94.4 %
#: the score of the language term that stands for the missing word: nothing
_SLACK_BOOST = 1e-9


def _most_words(words: list[Query], language: str | None) -> AtLeast:
    need = required_clauses(len(words))
    subs = list(words)
    if TRANSLATION_SLACK_FROM and language in FAMILIES and len(words) >= TRANSLATION_SLACK_FROM:
        other = "en" if language == "fr" else "fr"
        subs.append(Term("lang", other, boost=_SLACK_BOOST))
    return AtLeast(subs, minmatch=need)


def build_query(
    parsed: ParsedQuery, *, relaxed: bool = False, cross_language: bool = True, plain: bool = False
) -> Query:
    """All the clauses (any of them when *relaxed*), minus the negated ones.

    A relaxed search ranks the documents that match most of the words (three
    quarters, see :func:`required_clauses`) above those matching fewer: it keeps the
    recall of OR without letting one common word outrank the rest of the query.
    *plain* (the relevance benchmark's BM25 baseline) keeps only the words: all of
    them, or any when relaxed, with no title phrase and no most-words tier.
    """
    lang, cross, learned = parsed.language, cross_language, parsed.learned
    phrases = [
        q
        for c in parsed.clauses
        if c.phrase and not c.negated and (q := clause_query(c, lang, cross_language=cross, learned=learned))
    ]
    words = [
        q
        for c in parsed.clauses
        if not c.phrase and not c.negated and (q := clause_query(c, lang, cross_language=cross, learned=learned))
    ]
    bonus = _translated_titles(parsed, words) if TRANSLATED_TITLES and not plain else None
    if TITLE_PHRASE and len(words) >= 2 and not plain:
        # the words in their order in a title: a bonus (the matched set is the same,
        # since a title with the phrase has the first word too)
        words[0] = Or([words[0], *_title_phrases(parsed)])
    if bonus:
        at, extra = bonus
        words[at] = Or([words[at], extra])
    excluded = [
        q for c in parsed.clauses if c.negated and (q := clause_query(c, lang, cross_language=cross, learned=learned))
    ]
    required = phrases + words
    if not required:
        return NullQuery
    if not relaxed and MOST_WORDS_FIRST and not plain and len(words) >= 3 and required_clauses(len(words)) < len(words):
        # most of the words, not all: the page that only a translation reaches often
        # misses one of them (its translation is another word), while pages in the
        # query's own language have every word; all-words-first hid it behind ten of
        # those (Debian dev half, one language only fr->en: 85.5 % -> 89.6 % of mono)
        most = _most_words(words, lang)
        query: Query = And([*phrases, most]) if phrases else most
    elif not relaxed or len(required) == 1:
        query = required[0] if len(required) == 1 else And(required)
    elif len(words) >= 2 and not plain:
        most = _most_words(words, lang)
        # No tier of its own for the few documents with every word: a page that the
        # query's translation reaches with most of its words must not sink below them
        # (tried: bench/relevance/debian.py, dev half, one language only fr->en went
        # from 79.7% to 71.7% of mono, while mono gained 0.6 points at best)
        query = Or([Or(required), ConstantScoreQuery(most, MOST_WORDS_BONUS)])
    else:
        query = Or(required)
    if excluded:
        query = AndNot(query, Or(excluded))
    return query
