"""The vocabulary index behind "did you mean": bounded, persisted, incremental."""

from __future__ import annotations

import random
import time

import pytest

from indexer.vocabulary import MAX_WORD, WORDS_FILE, Vocabulary, edit_distance, words_of_text


@pytest.mark.parametrize(
    "a, b, limit, expected",
    [
        ("phisihng", "phishing", 2, 1),  # a transposition is one edit
        ("frod", "fraud", 2, 2),
        ("tabeltop", "tabletop", 2, 1),
        ("same", "same", 2, 0),
        ("kitten", "sitting", 3, 3),
        ("kitten", "sitting", 2, 3),  # past the limit: limit + 1
        ("short", "muchlongerword", 2, 3),
    ],
)
def test_edit_distance(a, b, limit, expected):
    assert edit_distance(a, b, limit) == expected


def test_candidates_are_close_words_closest_first(tmp_path):
    vocabulary = Vocabulary(tmp_path)
    vocabulary.add(["phishing", "fishing", "publishing", "verification", "information", "informal"])
    assert vocabulary.suggest("phisihng")[0] == "phishing"
    assert vocabulary.candidates("informaton")[0] == ("information", 1)
    assert vocabulary.suggest("Vérifcation") == ["verification"]  # folded like the words
    assert vocabulary.suggest("information") == []  # a known word is not its own fix


def test_the_vocabulary_persists_and_learns_from_other_writers(tmp_path):
    reader = Vocabulary(tmp_path)
    writer = Vocabulary(tmp_path)  # e.g. the crawler's process
    writer.add(words_of_text("Tabletop exercises for the whole team"))
    assert reader.suggest("tabeltop") == ["tabletop"]
    # a crash mid-write leaves a partial line: it is ignored until its end arrives
    with open(tmp_path / WORDS_FILE, "ab") as handle:
        handle.write(b"quixot")
    assert "quixot" not in Vocabulary(tmp_path)
    writer.add(["phishing"])
    assert "phishing" in Vocabulary(tmp_path) and "phishing" in reader


def test_an_older_whoosh_vocabulary_is_carried_over(tmp_path):
    from whoosh import index as whoosh_index
    from whoosh.fields import KEYWORD, Schema

    ix = whoosh_index.create_in(str(tmp_path), Schema(words=KEYWORD()))
    with ix.writer() as writer:
        writer.add_document(words="phishing tabletop")
    ix.close()
    assert Vocabulary(tmp_path).suggest("tabeltop") == ["tabletop"]


def test_candidates_take_milliseconds_for_any_input(tmp_path):
    rng = random.Random(7)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = {"".join(rng.choice(letters) for _ in range(rng.randint(3, 14))) for _ in range(60_000)}
    vocabulary = Vocabulary(tmp_path)
    vocabulary.add(words)
    for word in ["x" * 300, "ab" * 20, "eeeeeeeeee", "informaton", "frod", "a" * MAX_WORD, "zq"]:
        started = time.perf_counter()
        vocabulary.candidates(word)
        assert time.perf_counter() - started < 0.1, word
    assert vocabulary.candidates("y" * (MAX_WORD + 1)) == []


def test_the_words_are_kept_compactly_and_each_once(tmp_path):
    import tracemalloc

    rng = random.Random(11)
    letters = "abcdefghijklmnopqrstuvwxyz"  # the vocabulary holds folded words
    words = sorted({"".join(rng.choice(letters) for _ in range(rng.randint(3, 12))) for _ in range(40_000)})
    writer = Vocabulary(tmp_path)
    half = len(words) // 2
    writer.add(words[:half])
    writer.add(words[half - 100 : half + 5000])  # some known already
    writer.add(words[half:])  # the rest, and again some known
    lines = (tmp_path / WORDS_FILE).read_text().split()
    assert sorted(lines) == words  # each word once in the file
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    reader = Vocabulary(tmp_path)
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert len(reader) == len(words)
    # 40,000 random words: ~170 bytes a word, a good part of it the trigram lists' own
    # overhead (17,000 trigrams); a list and a set of the strings took ~275
    assert held / len(words) < 200, f"{held / len(words):.0f} bytes a word"
    sample = rng.sample(words, 500)
    assert all(word in reader for word in sample)
    assert not any(word + "q" in reader for word in sample if word + "q" not in set(words))
    for word in sample[:50]:
        typo = word[:-1] + ("a" if word[-1] != "a" else "b")
        assert word in [w for w, _ in reader.candidates(typo, maxdist=1, limit=100)], (word, typo)


def test_suggestions_prefer_frequent_words_and_fix_each_misspelled_word(savoir_factory, memory_content):
    from indexer.search import Searcher, SearchRequest
    from tests.conftest import memory_source

    memory_content["wiki"] = {
        **{
            f"f{i}": {"title": f"Fraud case {i}", "text": "Procurement fraud in contracts."} for i in range(4)
        },
        "trop": {"title": "Trop de courriels", "text": "Il y a trop de courriels.", "language": "fr"},
        "atip": {"title": "Access to information", "text": "Access to information requests and backlog."},
    }
    savoir = savoir_factory([memory_source()])
    savoir.crawl()
    searcher = Searcher(savoir.open_index(), savoir.store)
    # "trop" and "fraud" are both two edits from "frod": the word of four documents wins
    assert searcher.search(SearchRequest("frod")).suggestion == "fraud"
    # a relaxed search (some words found) still gets its misspelled word fixed
    assert searcher.search(SearchRequest("access to informaton")).suggestion == "access to information"
