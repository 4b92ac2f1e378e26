"""EN/FR versions paired without markup (indexer.twins), and their use in search."""

from __future__ import annotations

from indexer.search import Searcher, SearchRequest
from indexer.twins import Candidate, anchors, load_map, pair, pattern_key
from tests.conftest import memory_source

EN_APT = (
    "Edit /etc/apt/sources.list and run apt-get update, then apt-get install --no-install-recommends "
    "postgresql-15. Release 12.4 needs 2048 MB; see https://wiki.example/Apt for the APT_CONFIG variable."
)
FR_APT = (
    "Modifiez /etc/apt/sources.list puis lancez apt-get update, ensuite apt-get install "
    "--no-install-recommends postgresql-15. La version 12.4 demande 2048 Mo ; voir "
    "https://wiki.example/Apt pour la variable APT_CONFIG."
)
EN_CRON = "Put the job in /etc/cron.d/backup with MAILTO=ops and run it at 02:30 with run-parts --test."
FR_CRON = "Placez la tâche dans /etc/cron.d/backup avec MAILTO=ops et lancez-la à 02:30 avec run-parts --test."
EN_OTHER = "Our telework policy changed in 2021: ask your manager before working from another province."


def candidates():
    return [
        Candidate("s:apt-en", "s", "en", "Installing packages", EN_APT),
        Candidate("s:apt-fr", "s", "fr", "Installer des paquets", FR_APT),
        Candidate("s:cron-en", "s", "en", "Scheduled jobs", EN_CRON),
        Candidate("s:cron-fr", "s", "fr", "Tâches planifiées", FR_CRON),
        Candidate("s:other-en", "s", "en", "Telework", EN_OTHER),
    ]


def test_anchors_are_what_translation_leaves_alone():
    found = anchors("", EN_APT)
    for token in ("/etc/apt/sources.list", "--no-install-recommends", "12.4", "2048", "apt_config"):
        assert token in found
    assert "edit" not in found and "packages" not in found
    # anchors start where words do: nothing starts inside a word or right after a path
    assert anchors("", "Call 2024-ops@agency.example, see ABC-12 and foo--bar") == [
        "2024-ops@agency.example", "abc", "12"
    ]
    assert anchors("", "in /tmp/x+ops@agency.example") == ["/tmp/x", "ops@agency.example"]


def test_versions_sharing_code_and_numbers_are_paired_and_nothing_else():
    found = {(en, fr) for en, fr, _ in pair(candidates())}
    assert found == {("s:apt-en", "s:apt-fr"), ("s:cron-en", "s:cron-fr")}
    assert all(0 < c <= 1 for _, _, c in pair(candidates()))


def test_a_language_marker_in_the_title_or_path_pairs_pages_with_nothing_else_in_common():
    assert pattern_key("Onboarding (fr)", "https://w/x?title=Onboarding_(fr)")[0] == "onboarding"
    assert pattern_key("Onboarding", "")[0] == ""  # no marker: no pattern
    docs = [
        Candidate("w:a", "w", "en", "Onboarding", "Welcome to the team.", "https://w/en/onboarding"),
        Candidate("w:b", "w", "fr", "Onboarding (fr)", "Bienvenue dans l'équipe.", "https://w/fr/onboarding"),
    ]
    assert [(en, fr) for en, fr, _ in pair(docs)] == [("w:a", "w:b")]


def test_crawl_pairs_unmarked_twins_and_search_shows_one_result(savoir_factory, memory_content):
    memory_content["wiki"] = {
        "apt-en": {"title": "Installing packages", "text": EN_APT, "language": "en"},
        "apt-fr": {"title": "Installer des paquets", "text": FR_APT, "language": "fr"},
        "cron-en": {"title": "Scheduled jobs", "text": EN_CRON, "language": "en"},
        "cron-fr": {"title": "Tâches planifiées", "text": FR_CRON, "language": "fr"},
        # an explicit link is never overridden
        "linked-en": {"title": "Backups", "text": "Run backup.sh at 02:30 with MAILTO=ops.", "language": "en"},
        "linked-fr": {
            "title": "Sauvegardes",
            "text": "Lancez backup.sh à 02:30 avec MAILTO=ops.",
            "language": "fr",
            "translation_of": "wiki:linked-en",
        },
    }
    savoir = savoir_factory([memory_source()])
    savoir.crawl()
    index = savoir.open_index()
    inferred = load_map(index.path)
    assert inferred == {"wiki:apt-fr": "wiki:apt-en", "wiki:cron-fr": "wiki:cron-en"}
    results = Searcher(index, savoir.store).search(SearchRequest("sources.list postgresql-15"))
    assert [h.id for h in results.hits] == ["wiki:apt-en"]
    assert results.hits[0].alternates == {"fr": "memory://wiki/apt-fr"}
    french = Searcher(index, savoir.store).search(SearchRequest("paquets sources.list"))
    assert [h.id for h in french.hits] == ["wiki:apt-fr"]
    # the pairs found feed the translations learned at the next reindex, with the linked one
    from indexer.translations import TranslationTable

    savoir.reindex()
    assert TranslationTable.load(index.path).twins == 3
    assert load_map(index.path) == inferred  # kept across the rebuild's swap


def test_after_a_crawl_a_big_source_waits_for_reindex(savoir_factory, memory_content):
    from indexer.twins import refresh

    memory_content["wiki"] = {
        "apt-en": {"title": "Installing packages", "text": EN_APT, "language": "en"},
        "apt-fr": {"title": "Installer des paquets", "text": FR_APT, "language": "fr"},
    }
    savoir = savoir_factory([memory_source()])
    savoir.crawl()
    index = savoir.open_index()
    assert load_map(index.path) == {"wiki:apt-fr": "wiki:apt-en"}
    # as if the source were too big to pair after each crawl: what was found stays
    assert refresh(savoir.store, index, sources=["wiki"], max_documents=1) == 0
    assert load_map(index.path) == {"wiki:apt-fr": "wiki:apt-en"}


WORDS = [
    ("garden", "jardin"), ("river", "rivière"), ("mountain", "montagne"), ("window", "fenêtre"),
    ("kitchen", "cuisine"), ("bridge", "pont"), ("forest", "forêt"), ("village", "hameau"),
    ("teacher", "enseignant"), ("hospital", "hôpital"), ("winter", "hiver"), ("autumn", "automne"),
    ("bread", "pain"), ("cheese", "fromage"), ("horse", "cheval"), ("sheep", "mouton"),
    ("church", "église"), ("school", "école"), ("harbour", "port"), ("island", "île"),
    ("lake", "lac"), ("field", "champ"), ("road", "chemin"), ("castle", "château"),
    ("library", "bibliothèque"), ("market", "marché"), ("mill", "moulin"), ("orchard", "verger"),
    ("bakery", "boulangerie"), ("tower", "tour"), ("valley", "vallée"), ("meadow", "prairie"),
]


def _word_twins(count: int):
    """*count* EN/FR pairs whose only common ground is what their words mean."""
    import random

    from indexer.query import analyse
    from indexer.translations import TranslationTable

    rng = random.Random(5)
    docs, truth = [], set()
    for i in range(count):
        chosen = rng.sample(WORDS, 6)
        en = " ".join(w for w, _ in chosen for _ in range(2))
        fr = " ".join(w for _, w in chosen for _ in range(2))
        docs.append(Candidate(f"w:{i}-en", "w", "en", "", en))
        docs.append(Candidate(f"w:{i}-fr", "w", "fr", "", fr))
        truth.add((f"w:{i}-en", f"w:{i}-fr"))
    table = TranslationTable()
    for en, fr in WORDS:
        (e,), (f,) = analyse("en", en), analyse("fr", fr)
        table.to_fr[e] = [(f, 0.9)]
        table.to_en[f] = [(e, 0.9)]
    return docs, truth, table


def test_versions_whose_words_translate_each_other_are_paired_by_the_learned_table():
    docs, truth, table = _word_twins(30)
    assert pair(docs) == []  # no number, code, name or marker in common
    found = {(en, fr) for en, fr, _ in pair(docs, table)}
    assert found <= truth and len(found) >= 0.8 * len(truth)


def test_in_a_handful_of_pages_words_alone_pair_nothing():
    """Two pages of a small source on one subject are not taken for one page's versions."""
    from indexer.query import analyse
    from indexer.translations import TranslationTable

    table = TranslationTable()
    for en, fr in (("fraud", "fraude"), ("procurement", "approvisionnement"), ("bid", "offre")):
        (e,), (f,) = analyse("en", en), analyse("fr", fr)
        table.to_fr[e], table.to_en[f] = [(f, 0.9)], [(e, 0.9)]
    docs = [
        Candidate("s:bids", "s", "en", "Procurement fraud red flags", "Bid rigging is a common procurement fraud."),
        Candidate("s:appro", "s", "fr", "Fraude dans l'approvisionnement", "Le truquage des offres est une fraude."),
    ]
    assert pair(docs, table) == []


def _mixed_source(seed: int = 11) -> list[Candidate]:
    """Twins by anchors (some anchors shared far and wide, some by rivals), by words, by a
    path marker, and pages with no twin: every rule of the pairing has work to do."""
    import random

    rng = random.Random(seed)
    docs, _, _ = _word_twins(40)
    common = [f"/usr/share/doc/common-{i}" for i in range(4)]  # in many pages: no evidence
    for i in range(60):
        own = [f"--option-{i}", f"{i + 10}.{rng.randint(0, 9)}", f"/etc/tool{i}/conf.d", f"TOOL{i}_HOME"]
        rival = [f"--option-{i + 1}", f"/etc/tool{i + 1}/conf.d"] if i % 5 == 0 else []
        en_words = " ".join(rng.choice(WORDS)[0] for _ in range(12))
        fr_words = " ".join(rng.choice(WORDS)[1] for _ in range(12))
        shared = " ".join(own[: rng.randint(2, 4)] + rng.sample(common, 2))
        docs.append(Candidate(f"a:{i}-en", "a", "en", f"Tool {i}", f"{en_words} {shared}"))
        docs.append(Candidate(f"a:{i}-fr", "a", "fr", f"Outil {i}", f"{fr_words} {shared} {' '.join(rival)}"))
    for i in range(10):
        docs.append(Candidate(f"p:{i}-en", "p", "en", f"Page {i}", "Hello.", f"https://w/en/page-{i}"))
        docs.append(Candidate(f"p:{i}-fr", "p", "fr", f"Page {i}", "Bonjour.", f"https://w/fr/page-{i}"))
    for i in range(30):  # no twin, but anchors in common with some page
        docs.append(Candidate(f"n:{i}", "n", "en", f"Note {i}", f"see --option-{rng.randrange(60)} {common[i % 4]}"))
    rng.shuffle(docs)
    return docs


def test_the_array_pairing_agrees_with_the_plain_reference():
    from tests.twins_reference import reference_pair

    _, _, table = _word_twins(1)
    docs = _mixed_source()
    for with_table in (None, table):
        expected = sorted(reference_pair(docs, with_table))
        assert len(expected) >= 60
        assert sorted(pair(iter(docs), with_table)) == expected


def test_pairing_reads_the_documents_once_and_leaves_no_file_behind(tmp_path):
    _, _, table = _word_twins(1)
    docs = _mixed_source()
    reads = []

    def once():
        reads.append(1)
        yield from docs

    spill = tmp_path / "spill"
    spill.mkdir()
    assert pair(once(), table, spill=spill)
    assert reads == [1] and list(spill.iterdir()) == []
    assert pair(iter([]), table, spill=spill) == [] and list(spill.iterdir()) == []
