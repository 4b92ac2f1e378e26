"""A generated bilingual collection for benchmarks (deterministic for a given seed).

Documents are assembled from sentence templates about public-service topics, in
English, in French, or both (a mixed page), with authors from a fixed roster.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

TOPICS = {
    "access to information": "accès à l'information",
    "procurement": "approvisionnement",
    "telework": "télétravail",
    "official languages": "langues officielles",
    "accessibility": "accessibilité",
    "open data": "données ouvertes",
    "fraud prevention": "prévention de la fraude",
    "records management": "gestion des documents",
    "staffing": "dotation",
    "privacy": "protection des renseignements personnels",
    "security screening": "enquête de sécurité",
    "grants and contributions": "subventions et contributions",
}
EN_SENTENCES = [
    "The {t} team reviewed the {n} files received this quarter and published its findings.",
    "Managers should consult the {t} guidance before approving any request over {n} dollars.",
    "Our agency shared lessons learned on {t} with partners from {n} other departments.",
    "A new checklist for {t} reduces processing time by {n} percent according to the pilot.",
    "Employees asked how {t} rules apply to hybrid teams and regional offices.",
    "The committee recommended training on {t} for all new analysts within {n} days.",
]
FR_SENTENCES = [
    "L'équipe responsable de {t} a examiné les {n} dossiers reçus ce trimestre et publié ses constats.",
    "Les gestionnaires doivent consulter les lignes directrices sur {t} avant d'approuver une demande de plus de {n} dollars.",
    "Notre agence a partagé les leçons apprises en matière de {t} avec {n} autres ministères.",
    "Une nouvelle liste de contrôle pour {t} réduit le délai de traitement de {n} pour cent selon le projet pilote.",
    "Les employés ont demandé comment les règles de {t} s'appliquent aux équipes hybrides et aux bureaux régionaux.",
    "Le comité a recommandé une formation sur {t} pour tous les nouveaux analystes d'ici {n} jours.",
]
AGENCIES = ["records", "fraud", "supply", "workplace", "heritage", "transport"]
FIRST = [
    "Alex",
    "Marie",
    "Jean",
    "Priya",
    "Sam",
    "Geneviève",
    "Omar",
    "Chloé",
    "Liam",
    "Fatima",
    "Étienne",
    "Grace",
]
LAST = ["Martin", "Tremblay", "Nguyen", "Okafor", "Gagnon", "Singh", "Roy", "Bouchard", "Chen", "Côté"]


def paragraph(rng: random.Random, lang: str, topic_en: str, sentences: int = 3) -> str:
    pool, topic = (EN_SENTENCES, topic_en) if lang == "en" else (FR_SENTENCES, TOPICS[topic_en])
    return " ".join(rng.choice(pool).format(t=topic, n=rng.randint(2, 500)) for _ in range(sentences))


def generate(n: int, seed: int = 7):
    """Yield dicts: id, title, text, language, agency, author, modified."""
    rng = random.Random(seed)
    topics = list(TOPICS)
    base = datetime(2019, 1, 1, tzinfo=UTC)
    for i in range(n):
        topic = topics[i % len(topics)]
        kind = rng.random()
        lang = "en" if kind < 0.45 else "fr" if kind < 0.9 else "mixed"
        if lang == "mixed":
            text = "\n\n".join([paragraph(rng, "en", topic), paragraph(rng, "fr", topic)])
            title = f"{topic.capitalize()} / {TOPICS[topic].capitalize()} — note {i}"
        else:
            text = "\n\n".join(paragraph(rng, lang, topic) for _ in range(rng.randint(2, 5)))
            title = f"{(topic if lang == 'en' else TOPICS[topic]).capitalize()} — note {i}"
        yield {
            "id": f"doc{i:06d}",
            "title": title,
            "text": text,
            "language": None if lang == "mixed" else lang,
            "agency": AGENCIES[i % len(AGENCIES)],
            "author": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
            "modified": base + timedelta(days=rng.randint(0, 2500)),
        }
