"""The faster analysis gives the same tokens, languages and index as before.

The fused analysers (indexer.analysis.FusedAnalyzer) replace chains of Whoosh
filters; langdetect's verdicts are remembered per block; a bulk build folds each
distinct word once. Relevance depends on the tokens, so each is held to the code
it replaced on bilingual text.
"""

from __future__ import annotations

import shutil

import pytest
from langdetect import detect_langs
from whoosh import index as whoosh_index
from whoosh.fields import ID, TEXT, Schema

from indexer import language
from indexer.analysis import FusedAnalyzer, chain_analyzer
from indexer.vocabulary import collect_words, spellable, words_of_text

ENGLISH = """The package manager keeps a cache of downloaded archives in /var/cache/apt/archives.

Don't remove the lock file while dpkg is running: it's what stops two installs at once.
Use apt-get clean to free the space; the files are downloaded again when they're needed.

Floating-point numbers, e-mail addresses like root@example.org and version 2.7.4 stay whole."""

FRENCH = """L’accès aux paquets se fait par le gestionnaire : jusqu'au redémarrage, l'archive reste là.

Qu'il s'agisse d'une mise à jour ou d'une installation, c'est dpkg qui écrit l'état du système.
Les fichiers téléchargés sont conservés dans /var/cache/apt/archives ; aujourd'hui ÉTÉ Œuvre.

Les numéros de version comme 2.7.4 et les adresses électroniques restent entiers."""

MIXED = ENGLISH + "\n\n" + FRENCH + "\n\nİstanbul ﬁn naïve coöperate résumé ' l' d’ qu'"

OPTIONS = (
    {},
    {"removestops": False},
    {"no_morph": True},
    {"mode": "query"},
    {"keeporiginal": True},
    {"tokenize": False},
    {"start_pos": 3, "start_char": 11},
)


def _tokens(analyzer, text, **options):
    return [
        (t.text, t.pos, t.startchar, t.endchar, getattr(t, "stopped", None))
        for t in analyzer(text, positions=True, chars=True, **options)
    ]


@pytest.mark.parametrize("lang", ["english", "french", "neutral"])
@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(o) or "index")
def test_fused_analyser_gives_the_chains_tokens(lang, options):
    fused, chain = FusedAnalyzer(lang), chain_analyzer(lang)
    for text in (ENGLISH, FRENCH, MIXED, "", "   ", "l'", "THE The the"):
        expected = _tokens(chain, text, **options)
        assert _tokens(fused, text, **options) == expected, (lang, options, text[:40])
    # stemming, elision, stop words and folding all happened (the comparison is not empty)
    assert len(_tokens(fused, MIXED, **options)) > (0 if options.get("tokenize") is False else 20)


def test_fused_analysers_index_the_same_terms(tmp_path):
    def build(path, analyzers):
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir()
        schema = Schema(
            id=ID(stored=True, unique=True),
            body_en=TEXT(analyzer=analyzers["english"]),
            body_fr=TEXT(analyzer=analyzers["french"]),
            neutral=TEXT(analyzer=analyzers["neutral"]),
        )
        ix = whoosh_index.create_in(str(path), schema)
        with ix.writer() as writer:
            for i, text in enumerate((ENGLISH, FRENCH, MIXED)):
                writer.add_document(id=str(i), body_en=text, body_fr=text, neutral=text)
        with ix.searcher() as searcher:
            reader = searcher.reader()
            terms = sorted(
                (field, term, reader.doc_frequency(field, term), reader.frequency(field, term))
                for field, term in reader.all_terms()
            )
            positions = {
                (field, term): [list(m.value_as("positions")) for m in [reader.postings(field, term)]]
                for field, term in reader.all_terms()
                if field != "id"
            }
        ix.close()
        return terms, positions

    langs = ("english", "french", "neutral")
    fused = build(tmp_path / "fused", {lang: FusedAnalyzer(lang) for lang in langs})
    chain = build(tmp_path / "chain", {lang: chain_analyzer(lang) for lang in langs})
    assert fused == chain
    words = {term.decode() for field, term, _, _ in fused[0] if field in ("body_en", "body_fr")}
    assert {"packag", "archiv", "acce", "telecharg", "floating-point"} <= words
    by_field = {(field, term.decode()) for field, term, _, _ in fused[0] if field != "id"}
    assert ("body_en", "the") not in by_field and ("body_fr", "les") not in by_field
    assert ("neutral", "the") in by_field  # the neutral field keeps every word


@pytest.mark.parametrize("lang", ["english", "french", "neutral"])
def test_index_positions_give_whooshs_word_values(lang):
    # indexing takes each term's positions at once from the fused analyser
    # (FusedAnalyzer.index_positions, through whoosh_fixes' Positions.word_values):
    # the same terms, frequencies, weights and encoded positions as Whoosh's way
    from whoosh import formats

    from indexer import whoosh_fixes

    original = whoosh_fixes.ORIGINALS[(formats.Positions, "word_values")]
    fmt = formats.Positions(field_boost=2.0)
    fused = FusedAnalyzer(lang)
    texts = (ENGLISH, FRENCH, MIXED, "", "   ", "l'", "l' l' the cat l'", "THE The the", ENGLISH * 40)
    for text in texts:
        expected = sorted(original(fmt, text, chain_analyzer(lang), mode="index"))
        assert sorted(original(fmt, text, FusedAnalyzer(lang), mode="index")) == expected
        for _ in range(2):  # the second time from the words the analyser remembers
            assert sorted(fmt.word_values(text, fused, mode="index")) == expected, (lang, text[:40])
    assert fused._terms, "the fast path was not taken"
    # the terms in reading order (query.analyse, the translations' learner, twins)
    for text in texts:
        assert fused.terms(text) == [t.text for t in chain_analyzer(lang)(text)], (lang, text[:40])
    # other callers (a query's analysis, a list of tokens) go Whoosh's way
    assert list(fmt.word_values(["a", "b"], fused, mode="index")) == list(
        original(fmt, ["a", "b"], fused, mode="index")
    )


def test_fused_analyser_survives_pickling():
    import pickle

    analyzer = pickle.loads(pickle.dumps(FusedAnalyzer("french")))
    assert [t.text for t in analyzer("L'accès des paquets")] == ["acce", "paquet"]
    with pytest.raises(ValueError):
        FusedAnalyzer("klingon")


def test_remembered_langdetect_verdict_is_langdetects(monkeypatch):
    # an ambiguous block (few function words) long enough for the statistical guess
    block = " ".join(
        "kernel module firmware driver console serveur réseau pilote interface"
        " configuration options système fichiers gestion".split() * 4
    )
    assert language.detect_block(block, statistical=False) is None
    scores = {lang.lang: lang.prob for lang in detect_langs(block)}
    en_p, fr_p = scores.get("en", 0.0), scores.get("fr", 0.0)
    expected = None if max(en_p, fr_p) < 0.2 else ("en" if en_p >= fr_p else "fr")
    monkeypatch.setattr(language, "_verdicts", language._Verdicts(2))
    calls = []
    real = language.detect_langs
    monkeypatch.setattr(language, "detect_langs", lambda text: calls.append(text) or real(text))
    assert language.detect_block(block) == expected
    assert language.detect_block(block) == expected
    assert len(calls) == 1  # the second verdict was remembered
    # bounded: the least recently used verdict goes first
    language.detect_block(block + " alpha beta")
    language.detect_block(block + " gamma delta")
    language.detect_block(block)
    assert len(calls) == 4


def test_words_and_markers_unchanged():
    text = "L'Été À PARIS: the Straße of ÎLE-de-France, it's l’été"
    assert language._words(text) == [w.lower() for w in language._WORD.findall(text)]
    assert language._words("1234 ...") == []
    raw: set[str] = set()
    for part in (ENGLISH, FRENCH, MIXED):
        collect_words(part, raw)
    assert spellable(raw) == words_of_text(ENGLISH, FRENCH, MIXED)
    assert "archives" in spellable(raw) and "telecharges" in spellable(raw)


def test_the_language_detections_words_give_the_vocabularys_words():
    # the writer processes take a text's spelling words from the language detection's
    # pass over its blocks, not from a second pass of their own
    every: set[str] = set()
    for text in (ENGLISH, FRENCH, MIXED, "L'Été À PARIS: the Straße of ÎLE-de-France, it's l’été", "", "a b"):
        raw: set[str] = set()
        language.detect_blocks(text, None, raw)
        found, before = spellable(raw), words_of_text(text)
        every |= found
        if text is MIXED:
            # lowercasing "İstanbul" first made its dotted I two characters, one not a
            # letter, and the word "stanbul"; the detection lowercases the word whole
            assert found - before == {"istanbul"} and before - found == {"stanbul"}
        else:
            assert found == before, text[:40]
    assert {"telecharges", "archives", "gestionnaire", "paris"} <= every and not {"qu", "it", "s"} & every
