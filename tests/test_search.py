"""Search: both languages, filters, facets, snippets, and the ACL inside the query."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from indexer.search import Searcher, SearchRequest
from tests.conftest import memory_source

MIXED = (
    "Telework agreements must be reviewed every year by the manager and the employee.\n\n"
    "Les ententes de télétravail doivent être revues chaque année par le gestionnaire et l'employé."
)


@pytest.fixture
def corpus(savoir_factory, memory_content):
    memory_content["records"] = {
        "atip-en": {
            "title": "Processing access to information requests",
            "text": "The access to information office answers every request within thirty days. "
            "Extensions must be justified in writing.",
            "language": "en",
            "modified": datetime(2025, 3, 1, tzinfo=UTC),
        },
        "atip-fr": {
            "title": "Traitement des demandes d'accès à l'information",
            "text": "Le bureau de l'accès à l'information répond à chaque demande dans les trente jours. "
            "Les prorogations doivent être justifiées par écrit.",
            "language": "fr",
            "translation_of": "records:atip-en",
            "modified": datetime(2025, 3, 2, tzinfo=UTC),
        },
        "telework": {
            "title": "Telework / Télétravail",
            "text": MIXED,
            "language": "en",
            "modified": datetime(2021, 6, 1, tzinfo=UTC),
        },
        "secret": {
            "title": "Protected fraud investigation notes",
            "text": "Confidential notes about a procurement fraud investigation of vendor Zyxor.",
            "acl": ["fraud-investigators"],
            "language": "en",
        },
    }
    memory_content["supply"] = {
        "bids": {
            "title": "Procurement fraud red flags",
            "text": "Bid rigging and split contracts are common procurement fraud patterns.",
            "language": "en",
        },
        "appro": {
            "title": "Fraude dans l'approvisionnement",
            "text": "Le truquage des offres est une fraude fréquente dans l'approvisionnement public.",
            "language": "fr",
        },
    }
    savoir = savoir_factory(
        [memory_source("records", agency="records"), memory_source("supply", agency="supply")]
    )
    savoir.crawl()
    return Searcher(savoir.open_index(), savoir.store)


def ids(results) -> list[str]:
    return [h.id for h in results.hits]


def test_english_and_french_queries_find_their_language(corpus):
    assert ids(corpus.search(SearchRequest("access to information requests")))[0] == "records:atip-en"
    french = corpus.search(SearchRequest("demandes d'accès à l'information"))
    # the twins are collapsed into one hit
    assert len(french.hits) == 1 and french.hits[0].id in {"records:atip-fr", "records:atip-en"}


def test_accents_do_not_matter(corpus):
    assert ids(corpus.search(SearchRequest("teletravail"))) == ["records:telework"]
    assert ids(corpus.search(SearchRequest("TÉLÉTRAVAIL"))) == ["records:telework"]


def test_mixed_page_is_found_from_both_halves(corpus):
    assert "records:telework" in ids(corpus.search(SearchRequest("telework agreements reviewed")))
    assert "records:telework" in ids(corpus.search(SearchRequest("ententes de télétravail revues")))


def test_facets_count_agencies_and_languages(corpus):
    results = corpus.search(SearchRequest("fraud OR fraude"))
    facets = {name: dict(values) for name, values in results.facets.items()}
    assert facets["agency"] == {"supply": 2}
    assert facets["lang"] == {"en": 1, "fr": 1}


def test_filters_in_the_query_and_as_arguments(corpus):
    assert ids(corpus.search(SearchRequest("fraud OR fraude lang:fr"))) == ["supply:appro"]
    assert ids(corpus.search(SearchRequest("fraud OR fraude", filters={"lang": ["en"]}))) == ["supply:bids"]
    assert ids(corpus.search(SearchRequest("fraud OR fraude -lang:fr"))) == ["supply:bids"]
    assert corpus.search(SearchRequest("information agency:supply")).total == 0


def test_snippets_are_escaped_and_marked(corpus):
    hit = corpus.search(SearchRequest("bid rigging")).hits[0]
    assert "<mark" in hit.snippet and "rigging</mark>" in hit.snippet


@pytest.mark.parametrize(
    "query",
    ['"unclosed phrase', "(((", "title_en:", "AND OR NOT", "*", "a:b:c", "\\", "fraud^^^", "x" * 5000],
)
def test_hostile_queries_never_raise(corpus, query):
    corpus.search(SearchRequest(query))


def test_a_pasted_paragraph_is_cut_to_the_first_words(corpus):
    from indexer.query import MAX_CLAUSES

    paragraph = " ".join(f"word{i}" for i in range(300)) + " telework"
    parsed, _ = corpus.parse_text(paragraph)
    assert len(parsed.clauses) == MAX_CLAUSES and parsed.clauses[0].text == "word0"
    assert corpus.search(SearchRequest(paragraph)).total == 0  # "telework" was past the cut
    alternatives = " OR ".join(f"word{i}" for i in range(300))
    (clause,) = corpus.parse_text(alternatives)[0].clauses
    assert len(clause.alternatives) == MAX_CLAUSES - 1


def test_sort_by_date_and_pagination(corpus):
    by_date = corpus.search(SearchRequest("information OR telework OR télétravail", sort="date"))
    dates = [h.date for h in by_date.hits if h.date]
    assert dates == sorted(dates, reverse=True)
    first = corpus.search(SearchRequest("fraud OR fraude OR information", page_size=1, page=1))
    second = corpus.search(SearchRequest("fraud OR fraude OR information", page_size=1, page=2))
    assert first.total == second.total >= 2 and ids(first) != ids(second)


def test_restricted_document_never_shows_to_outsiders(corpus):
    outsider = corpus.search(SearchRequest("Zyxor investigation fraud", groups=("public",)))
    assert "records:secret" not in ids(outsider)
    wider = corpus.search(SearchRequest("fraud", groups=("public",)))
    assert "records:secret" not in ids(wider)
    assert dict(wider.facets["agency"]).get("records") is None
    assert all("Zyxor" not in h.snippet for h in wider.hits)
    assert (
        corpus.search(SearchRequest("agency:records", groups=("public",))).total == 2
    )  # twins collapsed + mixed
    insider = corpus.search(SearchRequest("Zyxor", groups=("public", "fraud-investigators")))
    assert ids(insider) == ["records:secret"]


def test_searching_an_empty_index(savoir_factory, memory_content):
    savoir = savoir_factory([memory_source("empty")])
    results = Searcher(savoir.open_index(), savoir.store).search(SearchRequest("anything at all"))
    assert results.total == 0 and results.hits == [] and results.ranked == []


def test_relaxed_search_ranks_documents_with_most_words_first(savoir_factory, memory_content):
    memory_content["wiki"] = {
        "most": {"title": "Regional notes", "text": "A telework checklist for regional offices."},
        "one": {"title": "Pilot", "text": "Pilot pilot pilot: the pilot of the pilot project, piloted."},
        "two": {"title": "Checklists", "text": "A pilot checklist."},
    }
    savoir = savoir_factory([memory_source()])
    savoir.crawl()
    searcher = Searcher(savoir.open_index(), savoir.store)
    # no page has all four words: the relaxed search puts 3 of 4 before 2 of 4 and 1 of 4
    results = searcher.search(SearchRequest("telework checklist regional pilot"))
    assert results.relaxed
    assert [h.id for h in results.hits] == ["wiki:most", "wiki:two", "wiki:one"]
    # function words are never required ("my", "après", "ayant")
    assert searcher.parse_text("my telework checklist")[0].words == ["telework", "checklist"]
    assert searcher.parse_text("après ayant télétravail")[0].words == ["télétravail"]
    assert searcher.search(SearchRequest("my telework checklist")).hits[0].id == "wiki:most"


def test_a_pair_is_ranked_by_its_version_in_the_querys_language():
    # The French half of pair A scores highest only through the query's translations;
    # A's English half, judged by the query's own words, scores below page B, which has
    # them all. B must come first; without a query language the best version decides.
    from indexer.search import _Doc, _Ranked

    ranked = _Ranked.__new__(_Ranked)
    ranked.sort = "score"
    ranked.visible = None
    ranked.docs = [
        _Doc(1, 57.3, "man:pivot_root.8:fr", "pivot", 0, 1, "fr"),
        _Doc(2, 56.6, "man:chroot.2:en", "chroot", 0, 2, "en"),
        _Doc(3, 44.6, "man:chroot.2:fr", "chroot", 0, 3, "fr"),
        _Doc(4, 44.4, "man:pivot_root.8:en", "pivot", 0, 4, "en"),
        _Doc(5, 30.0, "man:only-fr:fr", "only", 0, 5, "fr"),
    ]
    assert [d.id for d in ranked.collapsed("en")] == [
        "man:chroot.2:en",
        "man:pivot_root.8:en",
        "man:only-fr:fr",
    ]
    assert [d.id for d in ranked.collapsed(None)] == [
        "man:pivot_root.8:fr",
        "man:chroot.2:en",
        "man:only-fr:fr",
    ]
    # a date sort keeps the newest first, whatever the language
    ranked.sort = "date"
    assert [d.id for d in ranked.collapsed("en")][0] == "man:pivot_root.8:fr"


def test_a_title_with_the_query_words_in_order_ranks_first(savoir_factory, memory_content):
    memory_content["man"] = {
        "paste": {
            "title": "paste(1) - merge lines of files",
            "text": "Write lines consisting of the sequentially corresponding lines from each file.",
            "language": "en",
        },
        "join": {
            "title": "join(1) - files whose lines merge on a common field",
            "text": "For each pair of input lines with identical join fields, merge the lines of "
            "both files and write them out; lines of files that do not pair are merged later.",
            "language": "en",
        },
    }
    savoir = savoir_factory([memory_source("man")])
    savoir.crawl()
    searcher = Searcher(savoir.open_index(), savoir.store)
    assert ids(searcher.search(SearchRequest("merge lines of files")))[0] == "man:paste"


def test_a_page_in_the_other_language_may_miss_one_more_of_the_words(savoir_factory, memory_content):
    # Ten French pages have three of the query's four words, so the strict search (most
    # words) has enough hits and no relaxed search runs. The English page has the
    # translations of two: a translation loses words, so it needs one fewer than a page
    # in the query's language, and a French page with the same two words stays out.
    memory_content["wiki"] = {
        f"fr{n}": {
            "title": f"Note {n}",
            "text": f"Fraude, approvisionnement et télétravail : note {n}.",
            "language": "fr",
        }
        for n in range(10)
    }
    memory_content["wiki"]["en"] = {
        "title": "Procurement fraud",
        "text": "Procurement fraud patterns seen in bids.",
        "language": "en",
    }
    memory_content["wiki"]["fr-two"] = {
        "title": "Fraude",
        "text": "La fraude dans l'approvisionnement public.",
        "language": "fr",
    }
    savoir = savoir_factory([memory_source()])
    savoir.crawl()
    searcher = Searcher(savoir.open_index(), savoir.store)
    results = searcher.search(SearchRequest("fraude approvisionnement télétravail gestionnaire", page_size=20))
    assert not results.relaxed
    found = ids(results)
    assert "wiki:en" in found and "wiki:fr-two" not in found
    assert len(found) == 11
    # the plain baseline (all the words, no slack) finds none of them: no page has all four
    plain = Searcher(savoir.open_index(), savoir.store, cross_language=False, plain=True)
    assert "wiki:en" not in ids(plain.search(SearchRequest("fraude approvisionnement télétravail gestionnaire")))


def test_an_other_language_title_with_every_translated_word_gets_the_title_bonus(
    savoir_factory, memory_content, monkeypatch
):
    # A French query reaches these English pages only through its translations. The
    # page whose title has both of them gains; those with one or none do not.
    import indexer.query as query

    memory_content["wiki"] = {
        "both": {"title": "Procurement fraud", "text": "Notes on bids.", "language": "en"},
        "one": {"title": "Fraud", "text": "Notes on bids and procurement.", "language": "en"},
        "none": {"title": "Audit notes", "text": "Notes on procurement and fraud.", "language": "en"},
    }
    savoir = savoir_factory([memory_source()])
    savoir.crawl()

    def scores() -> dict[str, float]:
        found = Searcher(savoir.open_index(), savoir.store).search(SearchRequest("fraude approvisionnement"))
        return {h.id: h.score for h in found.hits}

    monkeypatch.setattr(query, "TRANSLATED_TITLES", 0.0)
    without = scores()
    monkeypatch.setattr(query, "TRANSLATED_TITLES", 1.0)
    with_bonus = scores()
    assert set(without) == set(with_bonus) == {"wiki:both", "wiki:one", "wiki:none"}
    assert with_bonus["wiki:both"] > without["wiki:both"] * 1.3
    assert with_bonus["wiki:one"] == pytest.approx(without["wiki:one"])
    assert with_bonus["wiki:none"] == pytest.approx(without["wiki:none"])


def test_function_words_beside_a_quoted_phrase_are_not_searched(savoir_factory, memory_content):
    # "what" and "is" are English stop words: the English fields drop them, so as
    # clauses they could only match French fields and the neutral one, and the
    # relaxed search gave its most-words bonus to the page saying "what is" most.
    from indexer.glossary import Glossary
    from indexer.query import parse

    assert [(c.text, c.phrase) for c in parse('What is "incoming"', Glossary()).clauses] == [("incoming", True)]
    # a query of function words alone still searches them
    assert [c.text for c in parse("what is", Glossary()).clauses] == ["what", "is"]
    assert [c.text for c in parse('-"incoming" what', Glossary()).clauses] == ["incoming", "what"]
    memory_content["wiki"] = {
        "incoming": {
            "title": "What is incoming?",
            "text": "The incoming queue holds uploads before they are installed.",
            "language": "en",
        },
        "whatis": {
            "title": "What is what: what is new",
            "text": "What is it? What is that? An incoming mail, once.",
            "language": "en",
        },
    }
    for n in range(12):
        memory_content["wiki"][f"q{n}"] = {
            "title": f"What is item {n}",
            "text": f"What is item {n}, and what is it for.",
            "language": "en",
        }
    savoir = savoir_factory([memory_source()])
    savoir.crawl()
    found = Searcher(savoir.open_index(), savoir.store).search(SearchRequest('What is "incoming"'))
    assert ids(found) == ["wiki:incoming", "wiki:whatis"]


def test_a_word_matched_in_both_languages_of_a_page_counts_once(savoir_factory, memory_content):
    # A French man page keeping an untranslated English passage matched the French
    # query in French and, through the translations, again in English: it outranked
    # the page whose French title is the query. A clause now scores its better language.
    import indexer.query as query

    memory_content["wiki"] = {
        "atoi": {
            "title": "atoi - Convertir une chaîne en un entier",
            "text": "Convertir une chaîne en un entier, sans contrôle d'erreur.",
            "language": "fr",
        },
        "strtol": {
            "title": "strtol - Convertir une chaîne en un entier long",
            "text": "Convertir une chaîne en un entier long.\n\n"
            "Convert a string to a long integer: the string may begin with white space.",
            "language": "fr",
        },
    }
    savoir = savoir_factory([memory_source()])
    savoir.crawl()

    def scores() -> dict[str, float]:
        found = Searcher(savoir.open_index(), savoir.store).search(SearchRequest("Convertir une chaîne en un entier"))
        return {h.id: h.score for h in found.hits}

    best = scores()
    assert list(best) == ["wiki:atoi", "wiki:strtol"]
    try:
        query.BEST_LANGUAGE = False
        summed = scores()
    finally:
        query.BEST_LANGUAGE = True
    # the English passage adds to strtol's score only when the languages are summed
    assert summed["wiki:strtol"] > best["wiki:strtol"]
    assert summed["wiki:atoi"] == pytest.approx(best["wiki:atoi"])
