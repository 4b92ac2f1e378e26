"""The plain version of :func:`indexer.twins.pair` (dicts and sets, every document in
memory), kept as the reference the array version must agree with."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable

from indexer.twins import (
    CANDIDATE_ANCHORS,
    CONTENT_CHARS,
    CONTENT_MIN_DOCS,
    CONTENT_PROBES,
    CONTENT_SENSES,
    CONTENT_WEIGHT,
    MARGIN,
    MAX_ANCHOR_DF,
    MAX_ANCHOR_SHARE,
    MIN_ANCHOR_DF_CAP,
    PATTERN_BONUS,
    THRESHOLD,
    TITLE_WEIGHT,
    Candidate,
    _TitleTerms,
    anchors,
    pattern_key,
)


class _Content:
    """How well an English page's words, translated by the learned table, match each French page's.

    Both sides are idf-weighted bags of index terms (title and the start of the text).
    A word spelled alike in both languages (a command, a name) counts at half weight.
    The French pages are found through the English page's heaviest translated words
    that are not common (in at most :data:`MAX_ANCHOR_DF` pages), so the work per page
    is bounded however large the source.
    """

    def __init__(self, english: list[Candidate], french: list[Candidate], table) -> None:
        from indexer.query import analyse

        def bag(language: str, doc: Candidate) -> Counter:
            return Counter(analyse(language, doc.title + "\n" + doc.text[:CONTENT_CHARS]))

        fr_bags = {d.id: bag("fr", d) for d in french}
        df = Counter(t for b in fr_bags.values() for t in b)
        total = max(1, len(french))
        self.idf = {t: math.log(1 + total / n) for t, n in df.items()}
        self.postings: dict[str, list[tuple[str, float]]] = defaultdict(list)
        self.norms: dict[str, float] = {}
        for doc_id, b in fr_bags.items():
            weights = {t: (1 + math.log(n)) * self.idf[t] for t, n in b.items()}
            self.norms[doc_id] = math.sqrt(sum(w * w for w in weights.values())) or 1.0
            for t, w in weights.items():
                if df[t] <= MAX_ANCHOR_DF:
                    self.postings[t].append((doc_id, w))
        self.table = table
        self.english = {d.id: d for d in english}
        self._analyse = analyse

    def scores(self, en_id: str) -> dict[str, float]:
        """French page -> cosine with the English page's translated words."""
        doc = self.english[en_id]
        vector: dict[str, float] = defaultdict(float)
        for term, n in Counter(self._analyse("en", doc.title + "\n" + doc.text[:CONTENT_CHARS])).items():
            tf = 1 + math.log(n)
            for fr_term, p in self.table.translate(term, "en")[:CONTENT_SENSES]:
                if fr_term in self.idf:
                    vector[fr_term] += tf * p
            if term in self.idf:
                vector[term] += 0.5 * tf
        weighted = {t: w * self.idf[t] for t, w in vector.items()}
        norm = math.sqrt(sum(w * w for w in weighted.values()))
        if not norm:
            return {}
        probes = sorted((t for t in weighted if t in self.postings), key=lambda t: -weighted[t])
        found: dict[str, float] = defaultdict(float)
        for t in probes[:CONTENT_PROBES]:
            for fr_id, w in self.postings[t]:
                found[fr_id] += weighted[t] * w
        return {fr_id: dot / (norm * self.norms[fr_id]) for fr_id, dot in found.items()}


def reference_pair(docs: Iterable[Candidate], table=None) -> list[tuple[str, str, float]]:
    """(English id, French id, confidence) for the twins found among *docs* of one source."""
    english = [d for d in docs if d.language == "en"]
    french = [d for d in docs if d.language == "fr"] if english else []
    if not english or not french:
        return []
    bags = {d.id: anchors(d.title, d.text) for d in (*english, *french)}
    df = Counter(a for bag in bags.values() for a in set(bag))
    total = len(bags)
    cap = min(MAX_ANCHOR_DF, max(MIN_ANCHOR_DF_CAP, int(MAX_ANCHOR_SHARE * total)))
    idf = {a: math.log(1 + total / n) for a, n in df.items() if 1 < n <= cap}
    weights = {i: {a: idf[a] ** 2 for a in bag if a in idf} for i, bag in bags.items()}
    norms = {i: math.sqrt(sum(w.values())) for i, w in weights.items()}
    postings: dict[str, list[str]] = defaultdict(list)
    for d in french:
        for a in weights[d.id]:
            postings[a].append(d.id)
    keys: dict[str, dict[str, list[str]]] = {"title": defaultdict(list), "path": defaultdict(list)}
    for d in french:
        title_key, path_key = pattern_key(d.title, d.url)
        if title_key:
            keys["title"][title_key].append(d.id)
        if path_key:
            keys["path"][path_key].append(d.id)
    by_id = {d.id: d for d in (*english, *french)}
    titles = _TitleTerms(table)
    content = (
        _Content(english, french, table)
        if table is not None and CONTENT_WEIGHT and min(len(english), len(french)) >= CONTENT_MIN_DOCS
        else None
    )
    scores: dict[str, dict[str, float]] = {}
    for d in english:
        mine = weights[d.id]
        # candidates: the documents sharing one of its rarest anchors, or its pattern
        rarest = sorted(mine, key=lambda a: -mine[a])[:CANDIDATE_ANCHORS]
        found = {other for a in rarest for other in postings.get(a, ())}
        title_key, path_key = pattern_key(d.title, d.url)
        patterned: Counter[str] = Counter()
        for kind, key in (("title", title_key), ("path", path_key)):
            for other in keys[kind].get(key, ()) if key else ():
                patterned[other] += 1
        by_words = content.scores(d.id) if content is not None else {}
        cand = {}
        for other in found | set(patterned) | set(by_words):
            theirs = weights[other]
            small, big = (mine, theirs) if len(mine) <= len(theirs) else (theirs, mine)
            dot = sum(w for a, w in small.items() if a in big)
            cosine = dot / (norms[d.id] * norms[other]) if norms[d.id] and norms[other] else 0.0
            cand[other] = cosine + PATTERN_BONUS * patterned[other] + CONTENT_WEIGHT * by_words.get(other, 0.0)
        best = sorted(cand.items(), key=lambda kv: -kv[1])[:5]
        scores[d.id] = {
            other: s + TITLE_WEIGHT * titles.similarity(d.title, by_id[other].title) for other, s in best
        }
    # mutual best matches, clear of the runner-up on both sides
    best_for_fr: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for en_id, cand in scores.items():
        for fr_id, s in cand.items():
            best_for_fr[fr_id].append((s, en_id))
    out = []
    for en_id, cand in scores.items():
        if not cand:
            continue
        ranked = sorted(cand.items(), key=lambda kv: -kv[1])
        fr_id, score = ranked[0]
        rivals = sorted(best_for_fr[fr_id], reverse=True)
        if rivals[0][1] != en_id or score < THRESHOLD:
            continue
        runner_up = max(ranked[1][1] if len(ranked) > 1 else 0.0, rivals[1][0] if len(rivals) > 1 else 0.0)
        if score < MARGIN * runner_up and score - runner_up < PATTERN_BONUS:
            continue
        out.append((en_id, fr_id, round(min(1.0, score), 3)))
    return out


