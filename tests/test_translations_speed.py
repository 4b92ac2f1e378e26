"""The translation learner's faster paths learn what the plain ones learned.

Stop 31 changed two things in :mod:`indexer.translations` for time only: the
paragraph alignment reads a bead's lengths from running totals, and a unit's text is
analysed once per learning however often twins repeat it. Both must leave the
pairs and the table exactly as they were (cross-language relevance is measured on
them).
"""

from __future__ import annotations

import math
import random

from indexer import query, translations
from indexer.translations import FRENCH_PER_ENGLISH_CHAR, align_paragraphs, learn
from tests.test_translations import PARALLEL as TRANSLATION_PARALLEL


def plain_alignment(en: list[str], fr: list[str]) -> list[tuple[str, str]]:
    """The alignment as it was written before stop 31 (slices summed at every bead)."""
    n, m = len(en), len(fr)
    if not n or not m:
        return []
    le = [len(p) for p in en]
    lf = [len(p) for p in fr]

    def cost(e_len: int, f_len: int) -> float:
        expected = e_len * FRENCH_PER_ENGLISH_CHAR
        return abs(f_len - expected) / math.sqrt(expected + f_len + 10.0)

    inf = float("inf")
    best = [[inf] * (m + 1) for _ in range(n + 1)]
    back: list[list[tuple[int, int] | None]] = [[None] * (m + 1) for _ in range(n + 1)]
    best[0][0] = 0.0
    band = max(translations.BAND, abs(n - m) + 2)
    for i in range(n + 1):
        centre = i * m // n
        for j in range(max(0, centre - band), min(m, centre + band) + 1):
            here = best[i][j]
            if here == inf:
                continue
            for di, dj in ((1, 1), (1, 0), (0, 1), (2, 1), (1, 2)):
                a, b = i + di, j + dj
                if a > n or b > m:
                    continue
                if di and dj:
                    c = cost(sum(le[i:a]), sum(lf[j:b])) + (0.0 if di == dj == 1 else 1.0)
                else:
                    c = 3.0
                if here + c < best[a][b]:
                    best[a][b] = here + c
                    back[a][b] = (i, j)
    out = []
    i, j = n, m
    while (i, j) != (0, 0):
        prev = back[i][j]
        if prev is None:
            break
        pi, pj = prev
        if i > pi and j > pj:
            out.append((" ".join(en[pi:i]), " ".join(fr[pj:j])))
        i, j = pi, pj
    out.reverse()
    return out


def test_alignment_is_the_plain_alignment():
    rng = random.Random(31)
    for _ in range(1500):
        n, m = rng.randrange(0, 35), rng.randrange(0, 35)
        # lengths that make ties and near-ties likely, and paragraphs with no counterpart
        en = [f"e{k} " + "x" * rng.choice((5, 40, 41, 120, rng.randrange(1, 600))) for k in range(n)]
        fr = [f"f{k} " + "y" * rng.choice((6, 46, 47, 138, rng.randrange(1, 700))) for k in range(m)]
        assert align_paragraphs(en, fr) == plain_alignment(en, fr)


def test_units_are_analysed_once_and_learn_the_same_table(monkeypatch):
    sentences = [
        ("The package is installed with its dependencies.", "Le paquet est installé avec ses dépendances."),
        (
            "Remove the package and its configuration files.",
            "Supprimez le paquet et ses fichiers de configuration.",
        ),
        ("The configuration file lists the sources.", "Le fichier de configuration liste les sources."),
        (
            "Update the list of packages before installing.",
            "Mettez à jour la liste des paquets avant d'installer.",
        ),
    ]
    units = [sentences[(k * 7) % 4] for k in range(40)] + [
        (f"Mirror {k} files", f"Miroir {k} fichiers") for k in range(5)
    ]
    calls: list[tuple[str, str]] = []
    analyse = query.analyse

    def counted(lang, text):
        calls.append((lang, text))
        return analyse(lang, text)

    monkeypatch.setattr(query, "analyse", counted)
    table = learn(units, twins=7)
    distinct = {(lang, text) for en, fr in units for lang, text in (("en", en), ("fr", fr))}
    assert sorted(calls) == sorted(distinct)  # each distinct text once

    # the same units, each made distinct by a number (numbers are never learned), so
    # every one is analysed again: the same table to the last weight
    calls.clear()
    again = learn([(f"{en} {k}", f"{fr} {k}") for k, (en, fr) in enumerate(units)], twins=7)
    assert len(calls) == 2 * len(units)
    assert (again.to_fr, again.to_en, again.units, again.twins) == (table.to_fr, table.to_en, table.units, 7)
    assert table.translate("packag", "en")[0][0] == "paquet"


PARALLEL = TRANSLATION_PARALLEL[:6]  # the learner tests' first sentences


def twin_pages(count: int, texts, digits: int = 2) -> dict[str, dict]:
    """Memory-source pages ``p00-en``/``p00-fr``... of the learner's sentences, each
    French one naming its English twin; ``texts(n, en, fr)`` gives pair n's two texts."""
    pages = {}
    for n in range(count):
        en, fr = PARALLEL[n % len(PARALLEL)]
        en_text, fr_text = texts(n, en, fr)
        pages[f"p{n:0{digits}d}-en"] = {"title": f"{en} {n}", "text": en_text, "language": "en"}
        pages[f"p{n:0{digits}d}-fr"] = {
            "title": f"{fr} {n}",
            "text": fr_text,
            "language": "fr",
            "translation_of": f"wiki:p{n:0{digits}d}-en",
        }
    return pages


def test_twins_past_the_sample_are_never_read(savoir_factory, memory_content, monkeypatch):
    """The twins' texts are read a few pairs at a time, only while the learner wants
    units: the table is the one learned from every pair's units in the same order."""
    from indexer.translations import learn_from_store, twin_units
    from tests.conftest import memory_source

    pages = twin_pages(30, lambda n, en, fr: (f"{en}.\n\n{en} again.", f"{fr}.\n\n{fr} encore."))
    pages["lonely"] = {"title": "Alone", "text": "No twin here.", "language": "en"}
    memory_content["wiki"] = pages
    savoir = savoir_factory([memory_source()])
    savoir.crawl()
    store = savoir.store
    read: list[str] = []
    documents_by_id = store.documents_by_id

    def counted(ids, **kwargs):
        read.extend(ids)
        return documents_by_id(ids, **kwargs)

    monkeypatch.setattr(store, "documents_by_id", counted)
    monkeypatch.setattr(translations, "READ_PAIRS", 4)
    monkeypatch.setattr(translations, "MAX_UNITS", 20)  # 3 units a pair: 7 pairs are enough
    table = learn_from_store(store)
    assert table.twins == 30 and table.units == 20
    assert len(read) == 2 * 8 and "wiki:lonely" not in read  # two reads of four pairs
    # what learning from every pair, all read at once, gives
    docs = documents_by_id([f"wiki:p{n:02d}-{lang}" for n in range(30) for lang in ("en", "fr")])
    everything = [
        (
            (docs[f"wiki:p{n:02d}-en"].title, docs[f"wiki:p{n:02d}-en"].text),
            (docs[f"wiki:p{n:02d}-fr"].title, docs[f"wiki:p{n:02d}-fr"].text),
        )
        for n in range(30)
    ]
    reference = learn(twin_units(everything), twins=30)
    assert (table.to_fr, table.to_en, table.units) == (reference.to_fr, reference.to_en, reference.units)
