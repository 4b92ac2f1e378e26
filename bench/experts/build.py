"""A synthetic multi-agency collection with known experts and traps (deterministic per seed).

Five agencies, each with a wiki (pages with editors), a blog (posts with commenters)
and a file share (documents whose metadata names the author "Last, First", no email).
Eighteen public-service topics in English and French. For every topic: one primary
expert (grade 2) and one or two secondary experts (grade 1), some in other agencies;
occasional contributors (not judged); background pages; and the traps:

* ``bot``: "MaintenanceBot" edits every wiki page with tiny edits and authors link reports;
* ``admin``: a wiki admin who touched every page of one wiki with tiny, non-minor edits;
* ``generalist``: writes a little (short posts, small edits) on every topic;
* ``stale``: wrote the most on one topic, but nothing for 6+ years;
* ``commenter``: comments on posts of every topic, never writes or edits;
* ``restricted``: an investigator whose documents only the group "investigators" sees;
* ``moved-on`` (extra, not an issue trap): wrote a lot on one topic 5-7 years ago and is
  active today on other things.

Identity cases: an expert named "Geneviève Tremblay" (with email) on her agency's wiki and
"Tremblay, Geneviève" (no email) on its file share; an expert who appears as "S. Okafor"
on another agency's file share, merged only by the admins' directory (people.toml); two
different people named "Jean Roy" in two agencies (must stay two people); and an expert
whose surname ends in "bot" (Julie Talbot), who must not be taken for a bot.

Dates are offsets from :data:`NOW`; pass ``now=NOW`` to the expert finder.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from connectors.base import Contribution, Document, Person, Role
from indexer.people import person_key

NOW = datetime(2025, 6, 30, tzinfo=UTC)
AGENCIES = ["archives", "revenue", "health", "transport", "environment"]
SOURCE_KINDS = {"wiki": "page", "blog": "post", "files": "file"}

# topic: (fr name, en keywords, fr keywords) -- keywords are glossary terms where possible
TOPICS: dict[str, tuple[str, list[str], list[str]]] = {
    "access to information": (
        "accès à l'information",
        ["deemed refusal", "exemption", "requester"],
        ["présomption de refus", "exception", "demandeur"],
    ),
    "privacy": (
        "protection des renseignements personnels",
        ["privacy impact assessment", "privacy breach", "personal information"],
        [
            "évaluation des facteurs relatifs à la vie privée",
            "atteinte à la vie privée",
            "renseignements personnels",
        ],
    ),
    "procurement": (
        "approvisionnement",
        ["tender", "supplier", "standing offer"],
        ["appel d'offres", "fournisseur", "offre à commandes"],
    ),
    "telework": (
        "télétravail",
        ["telework agreement", "remote work"],
        ["entente de télétravail", "travail à distance"],
    ),
    "official languages": (
        "langues officielles",
        ["bilingual", "language of work", "linguistic duality"],
        ["bilingue", "langue de travail", "dualité linguistique"],
    ),
    "accessibility": (
        "accessibilité",
        ["accessibility plan", "screen reader", "plain language"],
        ["plan sur l'accessibilité", "lecteur d'écran", "langage clair"],
    ),
    "open data": (
        "données ouvertes",
        ["dataset", "metadata", "open data portal"],
        ["jeu de données", "métadonnées"],
    ),
    "fraud prevention": (
        "prévention de la fraude",
        ["fraud detection", "fraud risk", "fraud"],
        ["détection de la fraude", "risque de fraude", "fraude"],
    ),
    "records management": (
        "gestion des documents",
        ["retention schedule", "retention period", "information management"],
        ["calendrier de conservation", "délai de conservation", "gestion de l'information"],
    ),
    "staffing": (
        "dotation",
        ["staffing process", "selection process", "merit"],
        ["processus de dotation", "processus de sélection", "mérite"],
    ),
    "security screening": (
        "enquête de sécurité",
        ["security clearance", "reliability status"],
        ["habilitation de sécurité", "cote de fiabilité"],
    ),
    "grants and contributions": (
        "subventions et contributions",
        ["grant", "recipient"],
        ["subvention", "bénéficiaire"],
    ),
    "cybersecurity": ("cybersécurité", ["phishing", "malware"], ["hameçonnage", "logiciel malveillant"]),
    "emergency management": (
        "gestion des urgences",
        ["business continuity", "emergency management"],
        ["continuité des activités", "gestion des urgences"],
    ),
    "pay administration": (
        "administration de la paye",
        ["pay system", "overpayment"],
        ["système de paye", "paiement en trop"],
    ),
    "greenhouse gas": (
        "gaz à effet de serre",
        ["greenhouse gas emissions", "carbon pricing"],
        ["émissions de gaz à effet de serre", "tarification du carbone"],
    ),
    "collective agreement": (
        "convention collective",
        ["grievance", "collective bargaining"],
        ["grief", "négociation collective"],
    ),
    "translation": ("traduction", ["terminology", "interpretation"], ["terminologie", "interprétation"]),
}
BACKGROUND = {
    "cafeteria": ("cafétéria", "menu, hours and catering for the building"),
    "parking": ("stationnement", "permits, visitor spots and bicycle racks"),
    "service desk": ("centre de services", "laptops, passwords and printer queues"),
    "holiday schedule": ("calendrier des congés", "office closures and on-call rotations"),
    "building": ("immeuble", "elevators, fire drills and meeting rooms"),
}
EN_TEMPLATES = [
    "The {t} team reviewed the {k} files received this quarter and published its findings.",
    "Managers should consult the {t} guidance on {k} before approving any request over {n} dollars.",
    "Our agency shared lessons learned on {k} with partners from {n} other departments.",
    "A new checklist for {k} reduces processing time by {n} percent according to the pilot.",
    "Employees asked how the {t} rules on {k} apply to hybrid teams and regional offices.",
    "The committee recommended training on {t} for all new analysts within {n} days.",
    "This page explains the {k} steps, the forms to use and who to call about {t}.",
]
FR_TEMPLATES = [
    "L'équipe responsable de {t} a examiné les dossiers de {k} reçus ce trimestre et publié ses constats.",
    "Les gestionnaires doivent consulter les lignes directrices sur {k} avant d'approuver une demande de {n} dollars.",
    "Notre agence a partagé les leçons apprises en matière de {k} avec {n} autres ministères.",
    "Une nouvelle liste de contrôle pour {k} réduit le délai de traitement de {n} pour cent.",
    "Les employés ont demandé comment les règles de {t} s'appliquent aux équipes hybrides.",
    "Le comité a recommandé une formation sur {t} pour tous les nouveaux analystes d'ici {n} jours.",
    "Cette page explique les étapes de {k}, les formulaires à utiliser et qui appeler au sujet de {t}.",
]
EN_TITLES = [
    "{T}: {k} checklist",
    "{T} guidance",
    "Notes on {k}",
    "{T} FAQ",
    "How we handle {k}",
    "{T} update",
]
FR_TITLES = [
    "{T} : liste de contrôle",
    "{T} : lignes directrices",
    "Notes sur {k}",
    "{T} : FAQ",
    "Mise à jour : {T}",
]

FIRST = (
    "Alex Amélie Ben Camille Daniel Élise Farid Gabriel Hannah Isabelle Jacques Karim Laura Lucas Maya"
    " Nadia Noah Olivia Pierre Rachel Simon Sophie Thomas Valérie William Yasmine Zoé Antoine Claire"
    " David Émilie François Inès Kevin Léa Marc Nicolas Patrick Sarah Vincent"
).split()
LAST = (
    "Martin Nguyen Singh Gagnon Bouchard Chen Côté Pelletier Bélanger Lévesque Bergeron Leblanc Girard"
    " Morin Fortin Ouellet Thompson Campbell Wilson Kumar Ahmed Dubois Lambert Fournier Mercier Boucher"
    " Caron Poirier Cloutier Hébert Paquette Simard Wong Patel Brown Taylor Kowalski Rossi Haddad"
).split()


@dataclass
class Human:
    id: str
    name: str
    agency: str
    email: str | None
    role: str  # "expert", "occasional", "background", or a trap name
    languages: tuple[str, ...] = ("en", "fr")
    username: str = ""


@dataclass
class Query:
    qid: str
    language: str
    text: str
    topic: str
    grades: dict[str, int]  # human id -> 2 (primary) or 1 (secondary)


@dataclass
class World:
    humans: dict[str, Human]
    documents: dict[str, list[Document]]  # source id -> documents
    sources: list[tuple[str, str]]  # (source id, agency)
    identity: dict[str, str]  # people.key (raw identity) -> human id
    queries: list[Query]
    experts: dict[str, dict[str, int]]  # topic -> {human id: grade}
    traps: dict[str, str]  # trap name -> human id
    moved_on_topic: str
    directory_toml: str
    restricted: set[str] = field(default_factory=set)  # ids of documents only investigators see


def ascii_fold(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).lower()


def email_of(name: str, agency: str) -> str:
    first, last = name.split(" ", 1)
    return f"{ascii_fold(first)}.{ascii_fold(last).replace(' ', '')}@{agency}.example"


class _Builder:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.humans: dict[str, Human] = {}
        self.docs: dict[str, list[Document]] = {f"{a}-{k}": [] for a in AGENCIES for k in SOURCE_KINDS}
        self.identity: dict[str, str] = {}
        self.serial = 0
        self.used_names: set[str] = set()
        self.restricted: set[str] = set()
        # pending contributions, keyed by document id: (human id, role, days ago, size, minor)
        self.extra: dict[str, list[tuple]] = {}
        self.author: dict[str, str] = {}  # document id -> human id

    # -- people -----------------------------------------------------------
    def human(self, name: str, agency: str, role: str, *, email: bool = True, languages=None) -> Human:
        hid = f"h{len(self.humans):03d}"
        langs = languages or self.rng.choice([("en", "fr")] * 3 + [("en",)] * 2 + [("fr",)])
        h = Human(hid, name, agency, email_of(name, agency) if email else None, role, tuple(langs))
        h.username = name.replace(" ", "")
        self.humans[hid] = h
        self.used_names.add(ascii_fold(name))
        return h

    def fresh_name(self) -> str:
        while True:
            name = f"{self.rng.choice(FIRST)} {self.rng.choice(LAST)}"
            if ascii_fold(name) not in self.used_names:
                return name

    def person(self, h: Human, source_id: str, alias: str | None = None) -> Person:
        """How *source_id* names *h* (file shares: "Last, First" and no email)."""
        agency, kind = source_id.rsplit("-", 1)
        if alias is not None:
            p = Person(alias)
        elif kind == "files":
            first, last = h.name.split(" ", 1)
            p = Person(f"{last}, {first}")
        else:
            p = Person(h.name, h.email, h.username)
        key = person_key(p.name, p.email, agency, p.username, source_id)
        known = self.identity.setdefault(key, h.id)
        assert known == h.id, f"identity {key} given to two humans"
        return p

    # -- documents ----------------------------------------------------------
    def text(self, topic: str, lang: str, paragraphs: int, sentences: int = 3) -> tuple[str, str]:
        if topic in TOPICS:
            fr_name, en_kw, fr_kw = TOPICS[topic]
            t, kws, templates = (
                (topic, en_kw, EN_TEMPLATES) if lang == "en" else (fr_name, fr_kw, FR_TEMPLATES)
            )
        else:
            fr_name, what = BACKGROUND[topic]
            t, kws = (topic, [what]) if lang == "en" else (fr_name, [what])
            templates = EN_TEMPLATES if lang == "en" else FR_TEMPLATES
        rng = self.rng
        body = "\n\n".join(
            " ".join(
                rng.choice(templates).format(t=t, k=rng.choice(kws), n=rng.randint(2, 400))
                for _ in range(sentences)
            )
            for _ in range(paragraphs)
        )
        title = rng.choice(EN_TITLES if lang == "en" else FR_TITLES).format(
            T=t.capitalize(), k=rng.choice(kws)
        )
        return title, body

    def write(
        self,
        h: Human,
        topic: str,
        source_id: str,
        days_ago: int,
        *,
        paragraphs: int = 3,
        acl: tuple[str, ...] | None = None,
        alias: str | None = None,
    ) -> str:
        """*h* authors one document on *topic* in *source_id*; return its id."""
        lang = self.rng.choice(h.languages)
        title, body = self.text(topic, lang, paragraphs)
        self.serial += 1
        doc_id = f"{source_id}:d{self.serial:05d}"
        kind = SOURCE_KINDS[source_id.rsplit("-", 1)[1]]
        when = NOW - timedelta(days=days_ago, hours=self.rng.randint(0, 20))
        author = Contribution(self.person(h, source_id, alias), Role.AUTHOR, when, len(body))
        self.docs[source_id].append(
            Document(
                id=doc_id,
                url=f"https://{source_id}.example/{doc_id.split(':')[1]}",
                title=title,
                text=body,
                kind=kind,
                language=lang,
                created=when,
                modified=when,
                contributions=(author,),
                tags=(topic,),
                acl=acl,
            )
        )
        if acl is not None:
            self.restricted.add(doc_id)
        self.extra[doc_id] = []
        self.author[doc_id] = h.id
        return doc_id

    def contribute(
        self, doc_id: str, h: Human, role: Role, days_ago: int, size: int, minor: bool = False
    ) -> None:
        self.extra[doc_id].append((h.id, role, days_ago, size, minor))

    def finish(self) -> dict[str, list[Document]]:
        """Attach the edits and comments; a document's modified time is its last edit."""
        for source_id, docs in self.docs.items():
            for i, doc in enumerate(docs):
                contribs = list(doc.contributions)
                for hid, role, days_ago, size, minor in self.extra[doc.id]:
                    when = max(doc.created, NOW - timedelta(days=days_ago, hours=self.rng.randint(0, 20)))
                    person = self.person(self.humans[hid], source_id)
                    contribs.append(Contribution(person, role, when, size, minor))
                modified = max(c.time for c in contribs)
                docs[i] = Document(
                    id=doc.id,
                    url=doc.url,
                    title=doc.title,
                    text=doc.text,
                    kind=doc.kind,
                    language=doc.language,
                    created=doc.created,
                    modified=modified,
                    contributions=tuple(contribs),
                    tags=doc.tags,
                    acl=doc.acl,
                )
        return self.docs


def build(seed: int = 11) -> World:
    b = _Builder(seed)
    rng = b.rng
    topics = list(TOPICS)

    # -- traps and special people (fixed names) ----------------------------------
    bot = b.human("MaintenanceBot", "archives", "bot", email=False, languages=("en",))
    bot.name, bot.username = "MaintenanceBot", "MaintenanceBot"
    admin = b.human("Pat Gauthier", "archives", "admin", languages=("en", "fr"))
    generalist = b.human("Chris Morgan", "revenue", "generalist", languages=("en", "fr"))
    stale = b.human("Robert Lavoie", "transport", "stale", languages=("en", "fr"))
    commenter = b.human("Dana Whitfield", "health", "commenter", languages=("en", "fr"))
    investigator = b.human("Morgan Leclerc", "revenue", "restricted", languages=("en", "fr"))
    moved_on = b.human("Hélène Marchand", "environment", "moved-on", languages=("en", "fr"))
    tremblay = b.human("Geneviève Tremblay", "archives", "expert", languages=("en", "fr"))
    okafor = b.human("Sam Okafor", "health", "expert", languages=("en", "fr"))
    roy_a = b.human("Jean Roy", "archives", "expert", languages=("en", "fr"))
    roy_b = b.human("Jean Roy", "transport", "occasional", languages=("en", "fr"))
    talbot = b.human("Julie Talbot", "environment", "expert", languages=("en", "fr"))

    # -- experts: a primary per topic, 1-2 secondaries (some from other agencies) --
    primaries = [tremblay, okafor, roy_a]
    while len(primaries) < len(topics):
        primaries.append(b.human(b.fresh_name(), AGENCIES[len(primaries) % len(AGENCIES)], "expert"))
    rng.shuffle(primaries)
    secondaries = [talbot] + [
        b.human(b.fresh_name(), AGENCIES[(i * 2 + 1) % len(AGENCIES)], "expert") for i in range(11)
    ]
    experts: dict[str, dict[str, int]] = {}
    for i, topic in enumerate(topics):
        grades = {primaries[i].id: 2}
        for j in range(1 if i % 3 == 0 else 2):
            grades.setdefault(secondaries[(i + j * 5) % len(secondaries)].id, 1)
        experts[topic] = grades

    occasional = [roy_b] + [b.human(b.fresh_name(), AGENCIES[i % 5], "occasional") for i in range(29)]
    background = [b.human(b.fresh_name(), AGENCIES[i % 5], "background") for i in range(12)]

    def sources_of(agency: str) -> list[str]:
        return [f"{agency}-wiki"] * 2 + [f"{agency}-blog", f"{agency}-files"]

    def home_or_away(h: Human, away_share: float = 0.15) -> str:
        """A source of *h*'s own agency, or now and then another agency's wiki (with email)."""
        if rng.random() < away_share:
            return f"{rng.choice([a for a in AGENCIES if a != h.agency])}-wiki"
        return rng.choice(sources_of(h.agency))

    topic_docs: dict[str, list[str]] = {t: [] for t in topics}

    # experts' own documents: primaries write 14-20, secondaries 6-9 per topic, recent
    for topic, grades in experts.items():
        for hid, grade in grades.items():
            h = b.humans[hid]
            count = rng.randint(14, 20) if grade == 2 else rng.randint(6, 9)
            for _ in range(count):
                topic_docs[topic].append(
                    b.write(h, topic, home_or_away(h), rng.randint(5, 900), paragraphs=rng.randint(3, 6))
                )
    # the cross-agency alias: "S. Okafor" on another agency's file share (directory merge only)
    okafor_topic = next(t for t, g in experts.items() if okafor.id in g)
    for _ in range(4):
        topic_docs[okafor_topic].append(
            b.write(okafor, okafor_topic, "transport-files", rng.randint(30, 600), alias="S. Okafor")
        )

    # occasional contributors: 2-3 topics each, 1-3 documents per topic
    for h in occasional:
        for topic in rng.sample(topics, rng.randint(2, 3)):
            for _ in range(rng.randint(1, 3)):
                topic_docs[topic].append(b.write(h, topic, home_or_away(h), rng.randint(5, 1000)))

    # the generalist: one or two short documents on every topic
    for topic in topics:
        for _ in range(rng.randint(1, 2)):
            topic_docs[topic].append(
                b.write(
                    generalist,
                    topic,
                    rng.choice(sources_of(generalist.agency)),
                    rng.randint(5, 700),
                    paragraphs=1,
                )
            )

    # the stale expert: the most prolific writer on one topic, 6-8 years ago
    stale_topic = topics[3]
    for _ in range(22):
        topic_docs[stale_topic].append(
            b.write(
                stale, stale_topic, rng.choice(sources_of(stale.agency)), rng.randint(6 * 365 + 30, 8 * 365)
            )
        )

    # moved on: many documents on one topic 5-7 years ago, recent ones elsewhere
    moved_on_topic = topics[8]
    for _ in range(16):
        topic_docs[moved_on_topic].append(
            b.write(
                moved_on,
                moved_on_topic,
                rng.choice(sources_of(moved_on.agency)),
                rng.randint(5 * 365, 7 * 365),
            )
        )
    for _ in range(6):
        b.write(moved_on, "building", rng.choice(sources_of(moved_on.agency)), rng.randint(5, 300))

    # the restricted slice: an investigator's fraud files only investigators may see
    for _ in range(18):
        b.write(
            investigator, "fraud prevention", "revenue-files", rng.randint(5, 500), acl=("investigators",)
        )
    b.write(investigator, "fraud prevention", "revenue-wiki", rng.randint(5, 200), acl=("investigators",))

    # background pages (not about any judged topic)
    bg_docs = []
    for h in background + [admin]:
        for _ in range(rng.randint(18, 30) if h is not admin else 4):
            topic = rng.choice(list(BACKGROUND))
            bg_docs.append(b.write(h, topic, rng.choice(sources_of(h.agency)), rng.randint(5, 1500)))
    # the bot's link reports: short authored pages, each about one topic
    for agency in AGENCIES:
        for _ in range(3):
            report_topics = rng.sample(topics, 4)
            doc_id = b.write(bot, report_topics[0], f"{agency}-wiki", rng.randint(1, 60), paragraphs=1)
            bg_docs.append(doc_id)

    # edits and comments on topic documents
    all_docs = {d.id: d for docs in b.docs.values() for d in docs}
    for topic, ids in topic_docs.items():
        team = [b.humans[h] for h in experts[topic]]
        others = [h for h in occasional if any(b.author[d] == h.id for d in ids)]
        for doc_id in ids:
            if doc_id.split(":")[0].endswith("-files"):
                continue  # file shares name the author only
            created_days = (NOW - all_docs[doc_id].created).days
            if created_days > 5 * 365:
                continue  # old documents were not touched since
            # experts edit each other's documents substantively
            for h in team:
                if rng.random() < 0.25:
                    b.contribute(doc_id, h, Role.EDITOR, rng.randint(1, created_days), rng.randint(200, 1500))
            for h in others:
                if rng.random() < 0.08:
                    b.contribute(doc_id, h, Role.EDITOR, rng.randint(1, created_days), rng.randint(150, 900))
            if rng.random() < 0.08:  # on any one topic, no more than an occasional contributor
                b.contribute(
                    doc_id, generalist, Role.EDITOR, rng.randint(1, created_days), rng.randint(100, 400)
                )
            if doc_id.split(":")[0].endswith("-blog"):
                # posts get comments: the commenter-only person, experts, anyone
                if rng.random() < 0.8:
                    b.contribute(
                        doc_id, commenter, Role.COMMENTER, rng.randint(1, created_days), rng.randint(80, 600)
                    )
                for h in rng.sample(team + occasional, 2):
                    if rng.random() < 0.4:
                        b.contribute(
                            doc_id, h, Role.COMMENTER, rng.randint(1, created_days), rng.randint(50, 400)
                        )
    # the bot edits every wiki page (tiny: links, categories), half flagged minor
    for agency in AGENCIES:
        for doc in b.docs[f"{agency}-wiki"]:
            if doc.acl is None and doc.contributions[0].person.name != bot.name:
                created_days = (NOW - doc.created).days
                b.contribute(
                    doc.id,
                    bot,
                    Role.EDITOR,
                    rng.randint(0, created_days),
                    rng.randint(3, 40),
                    rng.random() < 0.5,
                )
    # the admin touched every page of the archives wiki (tiny, not flagged minor)
    for doc in b.docs["archives-wiki"]:
        created_days = (NOW - doc.created).days
        if doc.contributions[0].person.name != admin.name:
            b.contribute(
                doc.id, admin, Role.EDITOR, rng.randint(0, min(created_days, 400)), rng.randint(4, 60)
            )
    # the commenter also comments on background posts
    for doc in b.docs[f"{commenter.agency}-blog"]:
        if rng.random() < 0.3:
            b.contribute(doc.id, commenter, Role.COMMENTER, rng.randint(1, 300), rng.randint(50, 300))
    documents = b.finish()

    # -- queries: 4 per topic, EN and FR -----------------------------------------------
    queries = []
    for topic in topics:
        fr_name, en_kw, fr_kw = TOPICS[topic]
        texts = [
            ("en", topic),
            ("fr", fr_name),
            ("en", en_kw[0]),
            ("fr", fr_kw[-1] if len(fr_kw) > 1 else fr_kw[0]),
        ]
        seen = set()
        for lang, text in texts:
            if ascii_fold(text) in seen:
                continue
            seen.add(ascii_fold(text))
            queries.append(Query(f"q{len(queries) + 1:03d}", lang, text, topic, dict(experts[topic])))

    directory = (
        "# written by bench/experts/build.py\n"
        "[[person]]\n"
        f'name = "{okafor.name}"\n'
        f'email = "{okafor.email}"\n'
        f'agency = "{okafor.agency}"\n'
        'aliases = ["S. Okafor", "Okafor, S."]\n'
    )
    traps = {
        "bot": bot.id,
        "admin": admin.id,
        "generalist": generalist.id,
        "stale": stale.id,
        "commenter": commenter.id,
        "restricted": investigator.id,
        "moved-on": moved_on.id,
    }
    return World(
        humans=b.humans,
        documents=documents,
        sources=[(f"{a}-{k}", a) for a in AGENCIES for k in SOURCE_KINDS],
        identity=b.identity,
        queries=queries,
        experts=experts,
        traps=traps,
        moved_on_topic=moved_on_topic,
        directory_toml=directory,
        restricted=b.restricted,
    )
