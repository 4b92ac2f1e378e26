"""Translations learned from twins, the declared language, and their use in search."""

from __future__ import annotations

from indexer.index import index_fields
from indexer.language import detect_blocks, document_language
from indexer.search import Searcher, SearchRequest
from indexer.store import StoredDocument
from indexer.translations import (
    TableFile,
    TranslationTable,
    align_paragraphs,
    learn,
    learn_from_store,
    table_path,
)
from tests.conftest import memory_source

# Short real-looking parallel sentences: "package" sits beside many other words, so only
# an alignment model (not co-occurrence alone) gives it "paquet" and not "installer".
PARALLEL = [
    ("Install the package", "Installer le paquet"),
    ("Remove the package", "Supprimer le paquet"),
    ("The package list", "La liste des paquets"),
    ("Install the file", "Installer le fichier"),
    ("Remove the file", "Supprimer le fichier"),
    ("The file list", "La liste des fichiers"),
    ("Upgrade every package", "Mettre à niveau chaque paquet"),
    ("Copy every file", "Copier chaque fichier"),
    ("List the directory", "Lister le répertoire"),
    ("Remove the directory", "Supprimer le répertoire"),
]


def test_model_one_learns_the_collections_sense():
    table = learn(PARALLEL * 2)
    best_fr = table.translate("packag", "en")[0]
    assert best_fr[0] == "paquet" and best_fr[1] > 0.5
    assert table.translate("paquet", "fr")[0][0] == "packag"
    assert table.translate("fichi", "fr")[0][0] == "file"
    assert all(term != "paquet" for term, _ in table.translate("instal", "en"))


def _model1_unit_by_unit(units, null, iterations):
    # Model 1 as it was first written (each unit's slots built on their own): the
    # reference the vectorised one is held to
    import numpy as np

    base = null + 1
    keys, lengths = [], []
    for src, tgt in units:
        s = np.array([*src, null], dtype=np.int64)
        g = np.array(tgt, dtype=np.int64)
        keys.append((s[None, :] * base + g[:, None]).ravel())
        lengths.append(np.full(len(g), len(s), dtype=np.int64))
    flat, rows = np.concatenate(keys), np.concatenate(lengths)
    starts = np.concatenate(([0], np.cumsum(rows)[:-1]))
    pairs, inverse = np.unique(flat, return_inverse=True)
    source_of = pairs // base
    t = np.ones(len(pairs))
    for _ in range(iterations):
        slots = t[inverse]
        share = slots / np.repeat(np.add.reduceat(slots, starts), rows)
        count = np.bincount(inverse, weights=share, minlength=len(pairs))
        t = count / np.bincount(source_of, weights=count, minlength=base)[source_of]
    return source_of, pairs % base, t, np.bincount(inverse, minlength=len(pairs))


def test_vectorised_model_one_is_the_unit_by_unit_one():
    import random

    from indexer import translations

    rng = random.Random(3)
    units = [
        ([rng.randrange(40) for _ in range(rng.randrange(1, 9))], [rng.randrange(40) for _ in range(rng.randrange(1, 9))])
        for _ in range(300)
    ]
    got = translations._model1(units, 40, 5)
    expected = _model1_unit_by_unit(units, 40, 5)
    assert [a.tolist() for a in (got[0], got[1], got[3])] == [a.tolist() for a in (expected[0], expected[1], expected[3])]
    assert got[2].tolist() == expected[2].tolist()


def test_unique_by_packed_sort_is_numpys():
    import numpy as np

    from indexer import translations

    rng = np.random.default_rng(5)
    for keys in (
        rng.integers(0, 50, 1000),  # many ties: positions must only break them
        rng.integers(0, 2**40, 300),  # too wide to pack with positions: numpy's own
        np.array([7]),
        np.array([], dtype=np.int64),
    ):
        keys = keys.astype(np.int64)
        n = len(keys)
        got = translations._unique_inverse(keys.copy(), np.arange(n, dtype=np.int64), np.empty(n, dtype=np.int64))
        expected = np.unique(keys, return_inverse=True)
        assert got[0].tolist() == expected[0].tolist() and got[1].tolist() == expected[1].tolist()


def dying_in_a_child(real, code: int):
    """*real* as it is, except in a forked child, which dies at once (exit status *code*)."""
    import os

    parent = os.getpid()

    def wrapped(*args, **kwargs):
        if os.getpid() != parent:
            os._exit(code)
        return real(*args, **kwargs)

    return wrapped


def test_both_directions_in_two_processes_learn_the_same_table(monkeypatch, caplog):
    import os

    from indexer import translations

    units = PARALLEL * 30
    monkeypatch.setattr(translations, "PARALLEL_UNITS", 10**9)
    alone = learn(units)
    monkeypatch.setattr(translations, "PARALLEL_UNITS", 1)
    assert learn(units).to_fr == alone.to_fr and learn(units).to_en == alone.to_en
    # a process that cannot be forked, or that dies: the reverse model is learned here
    monkeypatch.setattr(translations, "_reverse_model", dying_in_a_child(translations._reverse_model, 3))
    with caplog.at_level("WARNING", logger="indexer.translations"):
        assert learn(units).to_fr == alone.to_fr
    assert "failed" in caplog.text

    def no_fork():
        raise OSError("no more processes")

    monkeypatch.setattr(os, "fork", no_fork)
    assert learn(units).to_en == alone.to_en


def test_table_survives_a_round_trip_and_a_damaged_file(tmp_path):
    table = learn(PARALLEL * 2, twins=3)
    index = tmp_path / "index"
    table.save(index)
    again = TranslationTable.load(index)
    assert again.to_fr == table.to_fr and again.twins == 3
    table_path(index).write_text("{not json", "utf-8")
    assert len(TranslationTable.load(index)) == 0
    assert TableFile(tmp_path / "nowhere").get() is None


def test_paragraphs_line_up_around_one_without_a_counterpart():
    en = ["Short intro.", "A much longer paragraph " * 8, "Closing words here."]
    fr = ["Courte intro.", "Un paragraphe beaucoup plus long " * 8, "Une note du traducteur " * 6, "Mots de fin."]
    pairs = align_paragraphs(en, fr)
    assert pairs[0] == (en[0], fr[0])
    assert (en[1], fr[1]) in pairs or any(p[0] == en[1] and fr[1] in p[1] for p in pairs)
    assert pairs[-1][0] == en[2] and pairs[-1][1].endswith(fr[3])


def test_declared_language_wins_and_english_blocks_stay_english():
    english = "The package manager keeps the list of installed packages and their versions."
    doc = StoredDocument(
        id="site:fr/apt",
        source_id="site",
        agency="a",
        kind="page",
        url="https://site/fr/apt",
        title="Gestion des paquets",
        text=english,
        language="fr",
        acl=["public"],
        created=None,
        modified=None,
        tags=[],
        communities=[],
        translation_of=None,
        alternates={},
        content_hash="",
        deleted=False,
        authors=[],
        contributors=[],
    )
    fields = index_fields(doc)
    assert fields["lang"] == "fr"  # the page says it is French (an untranslated fallback)
    assert "package manager" in fields["body_en"] and not fields["body_fr"]
    # undeclared, the same text is English
    assert document_language(detect_blocks(english)) == "en"


def test_a_stated_language_decides_ambiguous_blocks_without_guessing():
    blocks = detect_blocks("ls -la /var/lib/dpkg status info\n\nLes paquets sont dans le cache.", "fr")
    assert [b.language for b in blocks] == ["fr", "fr"]


def test_search_uses_translations_learned_from_the_collections_twins(savoir_factory, memory_content):
    pages = {}
    for n, (en, fr) in enumerate(PARALLEL):
        pages[f"p{n}-en"] = {"title": en, "text": en + ".", "language": "en"}
        pages[f"p{n}-fr"] = {"title": fr, "text": fr + ".", "language": "fr", "translation_of": f"wiki:p{n}-en"}
    pages["only-fr"] = {
        "title": "Sauvegarde",
        "text": "Vérifier la signature du paquet avant la sauvegarde.",
        "language": "fr",
    }
    memory_content["wiki"] = pages
    savoir = savoir_factory([memory_source()])
    savoir.crawl()
    index = savoir.open_index()
    table_path(index.path).unlink()  # the crawl learned it: start without
    searcher = Searcher(index, savoir.store)
    # no table yet: "package" has no way to "paquet" (FreeDict says "emballage")
    before = [h.id for h in searcher.search(SearchRequest("package signature")).hits]
    table = learn_from_store(savoir.store)
    assert table.twins == len(PARALLEL)
    table.save(index.path)
    after = [h.id for h in searcher.search(SearchRequest("package signature")).hits]
    assert before[0] != "wiki:only-fr"  # a relaxed search finds it by "signature" alone, last
    assert after[0] == "wiki:only-fr"


def test_crawls_and_reindex_keep_the_table_beside_the_index(savoir_factory, memory_content):
    pages = {}
    for n, (en, fr) in enumerate(PARALLEL[:5]):
        pages[f"p{n}-en"] = {"title": en, "text": en + ".", "language": "en"}
        pages[f"p{n}-fr"] = {"title": fr, "text": fr + ".", "language": "fr", "translation_of": f"wiki:p{n}-en"}
    memory_content["wiki"] = pages
    savoir = savoir_factory([memory_source()])
    savoir.crawl()
    index_path = savoir.open_index().path
    assert TranslationTable.load(index_path).twins == 5
    # five more twins (a quarter more, and then some): relearned after the crawl
    for n, (en, fr) in enumerate(PARALLEL[5:], start=5):
        pages[f"p{n}-en"] = {"title": en, "text": en + ".", "language": "en", "version": 1}
        pages[f"p{n}-fr"] = {
            "title": fr, "text": fr + ".", "language": "fr", "translation_of": f"wiki:p{n}-en", "version": 1
        }
    savoir.crawl()
    assert TranslationTable.load(index_path).twins == len(PARALLEL)
    table_path(index_path).unlink()
    savoir.reindex()
    assert TranslationTable.load(index_path).twins == len(PARALLEL)


def test_index_languages_are_the_live_documents_languages(savoir_factory, memory_content):
    """Read a segment's columns at a time: the same as each live document's stored
    language, over several segments and a deletion (a deleted document has none)."""
    from indexer.translations import index_languages

    pages = {f"en{n}": {"title": en, "text": en + ".", "language": "en"} for n, (en, _) in enumerate(PARALLEL)}
    memory_content["wiki"] = pages
    savoir = savoir_factory([memory_source()])
    savoir.crawl()
    pages.update({f"fr{n}": {"title": fr, "text": fr + ".", "language": "fr"} for n, (_, fr) in enumerate(PARALLEL)})
    del pages["en1"]
    savoir.crawl(full=True)
    index = savoir.open_index()
    assert len(index.ix._segments()) > 1
    with index.searcher() as searcher:
        reader = searcher.reader()
        assert reader.has_deletions()
        expected = {
            fields["id"]: fields["lang"]
            for docnum, fields in reader.iter_docs()
            if fields.get("lang") in ("en", "fr")
        }
    assert "wiki:en1" not in expected and "wiki:fr1" in expected and "wiki:en2" in expected
    assert index_languages(index) == expected
