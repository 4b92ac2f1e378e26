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
