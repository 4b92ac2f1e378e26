"""The world of ``realwiki.py``: real Debian pages in topics, people, and ten years of edits.

Nothing here knows how Savoir ranks experts. The documents are Debian's own EN/FR
manual pages and FAQ sections (``bench/relevance/debian_corpus.py``); the people and
their edits follow how intranet wikis grow:

* a **topic** is a man-page family (``pthread_attr_*``, ``sched_*``, ``mq_*``, ``dpkg-*``...)
  or a FAQ chapter, cut to at most ``MAX_PAIRS`` EN/FR pairs; each wiki hosts its own
  topics (a hash of the topic id decides which wiki, and which half: dev or test);
* **owners** (one, sometimes two, often of two agencies) create most of a topic's pages
  and come back over the years with substantive edits; a **moved-on** former owner
  founded about a third of the topics 9-11 years ago and left them 6-9 years ago to a
  successor who is active now; some owners have not touched their topic for 3-5 years;
* the French version of a page is written by a francophone owner, or else by one of
  the **translators**, usually weeks or months after the English one;
* **occasional editors** fix a typo (the owner's, a few characters) or add a paragraph;
* **commenters** write only on talk pages (MediaWiki ``Talk:``, DokuWiki ``discussion:``),
  where owners answer; MediaWiki talk posts are signed (``~~~~`` expanded), on DokuWiki a
  third of people add DokuWiki's signature with their full name and email;
* **bots**: ``LinkFixBot`` (named like one, not in any group), and on MediaWiki an
  account with a human name that is only in the ``bot`` group; an **admin** sweeps
  categories / a footer over most pages with tiny edits (two sweeps, years apart);
* **vandals** (anonymous addresses, a throwaway account) blank or spam a page and a
  **patroller** who does nothing else reverts them within hours;
* **user pages**: most people have one, its first heading their full name, with an
  ``Email:`` line whose domain names their agency.

Everything is drawn from ``random.Random`` seeded per topic: the same seed gives the
same world, byte for byte.
"""

from __future__ import annotations

import hashlib
import random
import re
import sys
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "relevance"))

import debian_corpus as corpus  # noqa: E402

#: the finder's clock; every edit is before it
NOW = datetime(2026, 11, 16, 12, 0, tzinfo=UTC)
YEAR = timedelta(days=365.25)
MAX_PAIRS = 6
MIN_PAIRS = 2
TOPICS_PER_WIKI = 30
MAX_PARAGRAPHS = 24
MAX_CHARS = 6000

#: agency id -> (email domain, name)
AGENCIES = {
    "cra": ("cra-arc.example.gc.ca", "Canada Revenue Agency"),
    "ssc": ("ssc-spc.example.gc.ca", "Shared Services Canada"),
    "tbs": ("tbs-sct.example.gc.ca", "Treasury Board Secretariat"),
    "statcan": ("statcan.example.gc.ca", "Statistics Canada"),
    "pspc": ("tpsgc-pwgsc.example.gc.ca", "Public Services and Procurement Canada"),
}
#: wiki -> the agency that runs it (the source's agency)
WIKI_AGENCY = {"mw": "ssc", "dw": "cra"}

#: (name, agency, francophone, kind)
ROSTER = [
    # owners
    ("Amélie Bernier", "cra", True, "owner"),
    ("Daniel Kowalski", "cra", False, "owner"),
    ("Hélène Côté", "cra", True, "owner"),
    ("Priya Natarajan", "cra", False, "owner"),
    ("Jean-François Roy", "cra", True, "owner"),
    ("Sarah MacDonald", "cra", False, "owner"),
    ("Maxime Tremblay", "cra", True, "owner"),
    ("Rachel Goldberg", "cra", False, "owner"),
    ("Étienne Gagnon", "ssc", True, "owner"),
    ("Wei Zhang", "ssc", False, "owner"),
    ("Noémie Bélanger", "ssc", True, "owner"),
    ("Kwame Mensah", "ssc", False, "owner"),
    ("Isabelle Lefebvre", "ssc", True, "owner"),
    ("Liam O'Brien", "ssc", False, "owner"),
    ("Olivier Bergeron", "ssc", True, "owner"),
    ("Grace Okafor", "ssc", False, "owner"),
    ("François Lévesque", "tbs", True, "owner"),
    ("Fatima Haddad", "tbs", False, "owner"),
    ("Mathieu Girard", "tbs", True, "owner"),
    ("Emily Chen", "tbs", False, "owner"),
    ("Simon Lachance", "tbs", True, "owner"),
    ("Nina Petrovic", "tbs", False, "owner"),
    ("Geneviève Ouellet", "statcan", True, "owner"),
    ("Raj Patel", "statcan", False, "owner"),
    ("Chloé Dubois", "statcan", True, "owner"),
    ("Tom Nguyen", "statcan", False, "owner"),
    ("Catherine Roux", "statcan", True, "owner"),
    ("David Kim", "statcan", False, "owner"),
    ("Sébastien Morin", "pspc", True, "owner"),
    ("Aisha Yusuf", "pspc", False, "owner"),
    ("Julie Pelletier", "pspc", True, "owner"),
    ("Mark Thompson", "pspc", False, "owner"),
    ("Antoine Leclerc", "pspc", True, "owner"),
    ("Megan Brooks", "pspc", False, "owner"),
    # left the organisation (appear only as former owners)
    ("Robert Fraser", "ssc", False, "left"),
    ("Nathalie Bouchard", "cra", True, "left"),
    ("Gordon Lee", "tbs", False, "left"),
    ("Marie-Ève Caron", "statcan", True, "left"),
    # translation team
    ("Lucie Fortin", "pspc", True, "translator"),
    ("Marc-Antoine Paquette", "ssc", True, "translator"),
    ("Dominique Savard", "tbs", True, "translator"),
    # occasional editors
    ("Jessica Wong", "cra", False, "editor"),
    ("Pierre Lambert", "ssc", True, "editor"),
    ("Hannah Schmidt", "tbs", False, "editor"),
    ("Yves Thibault", "statcan", True, "editor"),
    ("Carlos Mendes", "pspc", False, "editor"),
    ("Sophie Martel", "cra", True, "editor"),
    ("Ben Carter", "ssc", False, "editor"),
    ("Anne Gauthier", "tbs", True, "editor"),
    ("Omar Farouk", "statcan", False, "editor"),
    ("Claire Dupuis", "pspc", True, "editor"),
    # commenters (talk pages only)
    ("Michel Poirier", "cra", True, "commenter"),
    ("Karen Walsh", "ssc", False, "commenter"),
    ("Ahmed Benali", "statcan", True, "commenter"),
    ("Laura Fitzgerald", "tbs", False, "commenter"),
    # admins who sweep categories / footers
    ("Kevin Sauvé", "ssc", True, "mass"),
    ("Nadia Rahman", "cra", False, "mass"),
    # revert-only patrollers
    ("Patrick Leduc", "ssc", True, "patroller"),
    ("Olivia Tran", "cra", False, "patroller"),
    # an account only in MediaWiki's bot group, with a human name
    ("Gérald Fontaine", "ssc", True, "hidden-bot"),
]
BOT_NAME = "LinkFixBot"
THROWAWAY = {"mw": "Zxq2019", "dw": "tmp4471"}
TRAP_KINDS = ("bot", "hidden-bot", "mass", "patroller", "commenter", "vandal")
WIKI_OF_ADMIN = {"Kevin Sauvé": "mw", "Nadia Rahman": "dw", "Patrick Leduc": "mw", "Olivia Tran": "dw"}


def fold(text: str) -> str:
    """Accents and case folded: 'Amélie' -> 'amelie'."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def digest(text: str) -> int:
    return int.from_bytes(hashlib.sha1(text.encode()).digest()[:4], "big")


def topic_half(topic_id: str) -> str:
    """'dev' or 'test' by the SHA-1 of the topic id (fixed before any tuning)."""
    return "dev" if hashlib.sha1(topic_id.encode()).digest()[0] % 2 == 0 else "test"


@dataclass
class Human:
    hid: str
    name: str
    agency: str
    francophone: bool
    kind: str
    mw: str  # MediaWiki user name
    dw: str  # DokuWiki login
    email: str | None
    full_signature: bool  # a MediaWiki signature showing the full name (custom signature)
    signs_dw: bool  # adds DokuWiki's signature to discussion posts
    user_page: bool

    @property
    def trap(self) -> bool:
        return self.kind in TRAP_KINDS

    def login(self, wiki: str) -> str:
        return self.mw if wiki == "mw" else self.dw


@dataclass
class Revision:
    time: datetime
    user: Human | None  # None: an anonymous edit from *ip*
    text: str
    minor: bool = False
    summary: str = ""
    kind: str = "edit"  # create edit typo paragraph bot sweep vandal revert translate comment userpage
    ip: str = ""
    reverts_to: int | None = None  # the revision (index) a revert restores


@dataclass
class Page:
    wiki: str
    key: str  # MediaWiki title or DokuWiki page id
    ns: str  # content talk user template
    lang: str
    topic: str | None = None
    pair: str | None = None
    query: str | None = None
    revisions: list[Revision] = field(default_factory=list)

    @property
    def creator(self) -> Human | None:
        return next((r.user for r in self.revisions if r.user is not None), None)


@dataclass
class Topic:
    id: str
    wiki: str
    half: str
    pairs: list[corpus.Pair]
    owners: list[Human] = field(default_factory=list)  # grade 2
    former: list[Human] = field(default_factory=list)  # grade 1
    stale: bool = False

    def grades(self) -> dict[str, int]:
        out = {h.hid: 1 for h in self.former}
        out.update({h.hid: 2 for h in self.owners})
        return out


@dataclass
class Query:
    qid: str
    text: str
    lang: str
    topic: Topic
    page: str  # the key of the page whose NAME line / heading it is


@dataclass
class World:
    humans: dict[str, Human]
    topics: list[Topic]
    pages: dict[str, list[Page]]  # wiki -> pages
    queries: list[Query]


# -- topics ------------------------------------------------------------------------


def _family(page: str) -> str:
    """'pthread_attr_setstack.3' -> 'man3:pthread_attr'; 'dpkg-query.1' -> 'man1:dpkg'."""
    name, _, section = page.rpartition(".")
    parts = re.split(r"[_\-]", name)
    key = parts[0] if len(parts) > 1 else re.sub(r"\d+$", "", name)
    for prefix in (
        "epoll",
        "inotify",
        "sched",
        "timer",
        "mq",
        "sem",
        "aio",
        "uuid",
        "wcs",
        "iso",
        "fanotify",
    ):
        if name.startswith(prefix):
            key = prefix
    return f"man{section[:1]}:{key or 'misc'}"


def topics_from_corpus() -> list[Topic]:
    """Every topic of MIN_PAIRS..MAX_PAIRS pairs the corpus yields (big families cut in chunks)."""
    pairs = corpus.pairs()
    families: dict[str, list[corpus.Pair]] = defaultdict(list)
    chapter_of = {}
    for en_path in sorted(corpus.FAQ.glob("*.en.html")):
        if en_path.name.startswith("index"):
            continue
        for anchor in corpus._faq_sections(en_path):
            chapter_of.setdefault(anchor, en_path.name.split(".")[0])
    for p in pairs:
        if p.id.startswith("man:"):
            families[_family(p.id[4:])].append(p)
        else:
            families["faq:" + chapter_of.get(p.id[4:], "misc")].append(p)
    out = []
    for key in sorted(families):
        members = sorted(families[key], key=lambda p: p.id)
        if len(members) < MIN_PAIRS:
            continue
        chunks = -(-len(members) // MAX_PAIRS)
        size = -(-len(members) // chunks)
        for n in range(chunks):
            chunk = members[n * size : (n + 1) * size]
            if len(chunk) >= MIN_PAIRS:
                tid = key if chunks == 1 else f"{key}/{n + 1}"
                out.append(Topic(tid, "", topic_half(tid), chunk))
    return out


def choose_topics(all_topics: list[Topic]) -> list[Topic]:
    """TOPICS_PER_WIKI topics for each wiki, picked and placed by hashes of their ids."""
    ordered = sorted(all_topics, key=lambda t: digest("pick:" + t.id))
    chosen: dict[str, list[Topic]] = {"mw": [], "dw": []}
    for t in ordered:
        wiki = "mw" if digest("wiki:" + t.id) % 2 == 0 else "dw"
        # as many topics of each half in each wiki; the half itself is the topic id's hash
        if sum(c.half == t.half for c in chosen[wiki]) < TOPICS_PER_WIKI // 2:
            t.wiki = wiki
            chosen[wiki].append(t)
    return sorted(chosen["mw"] + chosen["dw"], key=lambda t: (t.wiki, t.id))


# -- people --------------------------------------------------------------------------


def make_humans() -> dict[str, Human]:
    humans = {}
    for name, agency, fr, kind in ROSTER:
        first, last = name.split(" ", 1)
        dw = re.sub(r"[^a-z.\-]", "", fold(first) + "." + fold(last).replace(" ", ""))
        if digest("mwstyle:" + name) % 2 == 0:
            mw = name
        else:
            login = re.sub(r"[^a-z]", "", fold(first[0] + last))
            mw = login[:1].upper() + login[1:]
        hid = dw
        humans[hid] = Human(
            hid,
            name,
            agency,
            fr,
            kind,
            mw,
            dw,
            f"{dw}@{AGENCIES[agency][0]}",
            full_signature=mw != name and digest("sig:" + name) % 3 != 0,
            signs_dw=digest("dwsig:" + name) % 3 == 0,
            user_page=kind not in ("hidden-bot",) and digest("userpage:" + name) % 5 != 0,
        )
    humans["bot"] = Human(
        "bot", BOT_NAME, "ssc", False, "bot", BOT_NAME, fold(BOT_NAME), None, False, False, True
    )
    for wiki, login in THROWAWAY.items():
        humans[f"vandal-{wiki}"] = Human(
            f"vandal-{wiki}", login, "", False, "vandal", login, login, None, False, False, False
        )
    return humans


# -- text --------------------------------------------------------------------------


def paragraphs_of(version: corpus.Version) -> list[str]:
    out, total = [], 0
    for p in version.paragraphs:
        p = " ".join(p.split())
        if not p:
            continue
        out.append(p)
        total += len(p)
        if len(out) >= MAX_PARAGRAPHS or total >= MAX_CHARS:
            break
    return out or [version.title]


_MW_SPECIAL = re.compile(r"[\[\]{}<>|'~_=*#:;&]|^[\s-]")
_DW_SPECIAL = re.compile(r"[*/_'\[\]{}<>|^\\=~%]|^\s|--|\(\(|\)\)")


def mw_paragraph(p: str) -> str:
    return f"<nowiki>{p.replace('<', '&lt;')}</nowiki>" if _MW_SPECIAL.search(p) else p


def dw_paragraph(p: str) -> str:
    return f"%%{p.replace('%%', '%')}%%" if _DW_SPECIAL.search(p) else p


@dataclass
class _State:
    """A content page's text as its history builds it."""

    wiki: str
    title: str
    source: list[str]  # every paragraph the page will have
    shown: int = 0
    typo: tuple[int, str, str] | None = None  # paragraph, right word, wrong word
    tail: list[str] = field(default_factory=list)

    def render(self) -> str:
        paras = self.source[: self.shown]
        if self.typo:
            i, right, wrong = self.typo
            paras = list(paras)
            paras[i] = paras[i].replace(right, wrong, 1)
        if self.wiki == "mw":
            body = "\n\n".join(mw_paragraph(p) for p in paras)
        else:
            body = f"====== {self.title} ======\n\n" + "\n\n".join(dw_paragraph(p) for p in paras)
        return body + ("\n\n" + "\n".join(self.tail) if self.tail else "") + "\n"


def _typo(paragraph: str, rng: random.Random) -> tuple[str, str] | None:
    words = [w for w in re.findall(r"[^\W\d_]{6,}", paragraph)]
    if not words:
        return None
    right = rng.choice(words)
    i = rng.randrange(1, len(right) - 2)
    wrong = right[:i] + right[i + 1] + right[i] + right[i + 2 :]
    return (right, wrong) if wrong != right else None


# -- the history -------------------------------------------------------------------


def _when(rng: random.Random, start: datetime, end: datetime) -> datetime:
    if end <= start:
        end = start + timedelta(days=2)
    seconds = rng.uniform(0, (end - start).total_seconds())
    moment = start + timedelta(seconds=seconds)
    # office hours, on the minute
    return min(
        moment.replace(hour=rng.randrange(8, 18), minute=rng.randrange(60), second=0, microsecond=0),
        NOW - timedelta(hours=1),
    )


def _years_ago(years: float) -> datetime:
    return NOW - years * YEAR


class _Builder:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.humans = make_humans()
        self.pages: dict[str, list[Page]] = {"mw": [], "dw": []}
        self.titles: dict[str, set[str]] = {"mw": set(), "dw": set()}
        self.first_seen: dict[tuple[str, str], datetime] = {}

    def kind(self, kind: str) -> list[Human]:
        return [h for h in self.humans.values() if h.kind == kind]

    def note(self, wiki: str, who: Human | None, when: datetime) -> None:
        if who is not None:
            key = (wiki, who.hid)
            self.first_seen[key] = min(self.first_seen.get(key, when), when)

    # -- owners ---------------------------------------------------------------------
    def assign(self, topics: list[Topic]) -> None:
        """Owners per topic: each person owns two or three topics of a wiki, a few work on both."""
        owners = self.kind("owner")
        left = self.kind("left")
        load: Counter = Counter()
        for wiki in ("mw", "dw"):
            rng = random.Random(f"{self.seed}:owners:{wiki}")
            home = WIKI_AGENCY[wiki]
            by_agency = defaultdict(list)
            for h in owners:
                by_agency[h.agency].append(h)
            pool = []
            for agency in sorted(by_agency):
                members = sorted(by_agency[agency], key=lambda h: digest(f"{self.seed}:member:{h.hid}"))
                if agency == home:
                    pool += members
                elif agency in WIKI_AGENCY.values():
                    pool += members[:2]  # two people of the other wiki's agency work here too
                else:
                    # three of each other agency; the third of one wiki is the first of the other
                    pool += members[:3] if wiki == "mw" else members[2:5]
            mine = [t for t in topics if t.wiki == wiki]
            rng.shuffle(pool)
            for n, topic in enumerate(sorted(mine, key=lambda t: digest(f"{self.seed}:{t.id}"))):
                topic.owners = [pool[n % len(pool)]]
                load[topic.owners[0].hid] += 1
            for topic in sorted(mine, key=lambda t: digest(f"{self.seed}:{t.id}")):
                trng = random.Random(f"{self.seed}:assign:{topic.id}")

                def least(candidates: list[Human], trng: random.Random = trng) -> Human:
                    fewest = min(load[h.hid] for h in candidates)
                    return trng.choice([h for h in candidates if load[h.hid] == fewest])

                if trng.random() < 0.45:
                    second = least([h for h in pool if h is not topic.owners[0]])
                    topic.owners.append(second)
                    load[second.hid] += 1
                roll = trng.random()
                if roll < 0.33:
                    if trng.random() < 0.5:
                        topic.former = [trng.choice(left)]
                    else:
                        topic.former = [least([h for h in pool if h not in topic.owners])]
                        load[topic.former[0].hid] += 1
                elif roll < 0.48:
                    topic.stale = True

    # -- one topic --------------------------------------------------------------------
    def topic(self, topic: Topic) -> None:
        rng = random.Random(f"{self.seed}:topic:{topic.id}")
        if topic.former:
            start = _when(rng, datetime(2016, 1, 4, tzinfo=UTC), datetime(2017, 10, 1, tzinfo=UTC))
            leave = _when(rng, max(start + YEAR, _years_ago(9)), _years_ago(6))
            join = leave + timedelta(days=rng.randrange(10, 240))
        else:
            start = _when(rng, datetime(2016, 3, 1, tzinfo=UTC), datetime(2022, 6, 1, tzinfo=UTC))
            leave = join = start
        end = _years_ago(rng.uniform(3.5, 5.0)) if topic.stale else _years_ago(rng.uniform(0.05, 1.5))
        if end < join + 0.5 * YEAR:
            end = join + 0.5 * YEAR
        # when each owner works on the topic
        spans: dict[str, tuple[datetime, datetime]] = {}
        for h in topic.former:
            spans[h.hid] = (start, leave)
        for n, h in enumerate(topic.owners):
            begin = join if n == 0 else _when(rng, join, join + (end - join) * 0.5)
            spans[h.hid] = (begin, end)
        founders = topic.former or topic.owners[:1]
        pairs = topic.pairs
        n_founded = -(-len(pairs) // 2) if topic.former else len(pairs)
        for i, pair in enumerate(pairs):
            creator = founders[0] if i < n_founded else rng.choice(topic.owners)
            cstart, cend = spans[creator.hid]
            created = _when(rng, cstart, cstart + (cend - cstart) * 0.6)
            self.pair(topic, pair, creator, created, spans, rng)

    def pair(self, topic, pair, creator, created, spans, rng) -> None:
        people = [self.humans[hid] for hid in spans]
        lag = timedelta(days=rng.randrange(3, 150))

        def active(h: Human, when: datetime) -> bool:
            return h.hid in spans and spans[h.hid][0] <= when <= spans[h.hid][1]

        # the French page: the creator if francophone, else a francophone owner active then, else a translator
        francophones = [h for h in topic.owners + topic.former if h.francophone and active(h, created + lag)]
        if creator.francophone:
            fr_writer = creator
        elif francophones and rng.random() < 0.5:
            fr_writer = rng.choice(francophones)
        else:
            fr_writer = rng.choice(self.kind("translator"))
        fr_first = creator.francophone and rng.random() < 0.4
        fr_created = created + lag
        if fr_writer is creator:
            fr_created = min(fr_created, max(spans[creator.hid][1], created + timedelta(days=1)))
        en_created = created
        if fr_first:
            en_created, fr_created = created + lag, created
        for lang, writer, when in (("en", creator, en_created), ("fr", fr_writer, fr_created)):
            version = getattr(pair, lang)
            self.content_page(topic, pair, lang, version, writer, when, spans, people, rng)

    def title_for(self, wiki: str, pair: corpus.Pair, lang: str) -> str:
        version = getattr(pair, lang)
        if wiki == "mw":
            title = re.sub(r"[\[\]{}|#<>]", "", version.title).strip()
            title = re.sub(r"^([^:]*):", r"\1 -", title) if ":" in title.split(" ")[0] else title
            title = title[:1].upper() + title[1:]
            title = title[:200]
            if title in self.titles[wiki]:
                title = f"{title} ({lang})"
        else:
            slug = re.sub(r"[^a-z0-9]+", "_", fold(pair.id.split(":", 1)[1])).strip("_")
            title = f"fr:{slug}" if lang == "fr" else slug
        self.titles[wiki].add(title)
        return title

    def content_page(self, topic, pair, lang, version, writer, created, spans, people, rng) -> None:
        wiki = topic.wiki
        key = self.title_for(wiki, pair, lang)
        if wiki == "dw":
            # DokuWiki's cleanID trims '_' at both ends of every part of an id
            space = ":".join(
                re.sub(r"[^a-z0-9]+", "_", part).strip("_") or "x" for part in fold(topic.id).split(":")
            )
            key = f"fr:{space}:{key[3:]}" if lang == "fr" else f"{space}:{key}"
        page = Page(wiki, key, "content", lang, topic.id, pair.id, version.query)
        state = _State(wiki, version.title, paragraphs_of(version))
        n = len(state.source)
        # the creator writes 40-70% of the page; the rest comes in later substantive edits
        state.shown = max(1, round(n * rng.uniform(0.4, 0.7)))
        events: list[tuple[datetime, str, Human | None]] = []
        typo = _typo(state.source[0], rng) if rng.random() < 0.3 else None
        if typo:
            state.typo = (0, *typo)
        kind = "translate" if writer.kind == "translator" else "create"
        summary = {"en": "New page", "fr": "Nouvelle page"}[lang] if kind == "create" else "Traduction"
        page.revisions.append(Revision(created, writer, state.render(), summary=summary, kind=kind))
        self.note(wiki, writer, created)
        # substantive edits by whoever owns the topic at the time (the successor after a hand-over)
        editors = [h for h in people if h.hid in spans and (lang == "en" or h.francophone)]
        if writer.kind == "translator":
            editors = editors or [writer]
        remaining = n - state.shown
        n_edits = min(remaining, rng.choice((1, 1, 2, 2, 3))) if remaining else 0
        for k in range(n_edits):
            candidates = (
                [h for h in editors if spans.get(h.hid, (created, NOW))[1] > created] or editors or [writer]
            )
            # after a hand-over, the successor makes the last edits
            if k == n_edits - 1 and topic.owners and any(h in topic.owners for h in candidates):
                who = rng.choice([h for h in candidates if h in topic.owners])
            else:
                who = rng.choice(candidates)
            s, e = spans.get(who.hid, (created, created + 2 * YEAR))
            events.append((_when(rng, max(s, created + timedelta(days=1)), e), "edit", who))
        if rng.random() < 0.3 and typo:
            events.append(
                (created + timedelta(days=rng.randrange(5, 900)), "typo", rng.choice(self.kind("editor")))
            )
        if rng.random() < 0.15 and remaining > n_edits:
            events.append(
                (
                    created + timedelta(days=rng.randrange(30, 1500)),
                    "paragraph",
                    rng.choice(self.kind("editor")),
                )
            )
        if rng.random() < 0.45:
            events.append(
                (_when(rng, max(created, datetime(2019, 1, 1, tzinfo=UTC)), NOW), "bot", self.humans["bot"])
            )
        if wiki == "mw" and rng.random() < 0.35:
            events.append(
                (
                    _when(rng, max(created, datetime(2020, 1, 1, tzinfo=UTC)), NOW),
                    "hidden-bot",
                    self.kind("hidden-bot")[0],
                )
            )
        admin = next(h for h in self.kind("mass") if WIKI_OF_ADMIN[h.name] == wiki)
        for sweep_year in (2019, 2024):
            sweep = datetime(sweep_year, 3, 11, 9, tzinfo=UTC) + timedelta(
                minutes=rng.randrange(0, 60 * 24 * 20)
            )
            if sweep > created and rng.random() < 0.7:
                events.append((sweep, f"sweep{sweep_year}", admin))
        if rng.random() < 0.1:
            events.append((_when(rng, created + timedelta(days=30), NOW - timedelta(days=3)), "vandal", None))
        events.sort(key=lambda e: e[0])
        shown_target = n
        edits_done = 0
        patroller = next(h for h in self.kind("patroller") if WIKI_OF_ADMIN[h.name] == wiki)
        for when, what, who in events:
            when = max(when, page.revisions[-1].time + timedelta(minutes=3))
            if when >= NOW:
                continue
            if what == "edit":
                edits_done += 1
                left = shown_target - state.shown
                state.shown += left if edits_done == n_edits else max(1, left // (n_edits - edits_done + 1))
                summary = (
                    "Mise à jour"
                    if lang == "fr"
                    else rng.choice(("Update", "Expanded", "Added details", "Revised"))
                )
                page.revisions.append(Revision(when, who, state.render(), summary=summary))
            elif what == "typo":
                if not state.typo:
                    continue
                state.typo = None
                page.revisions.append(
                    Revision(when, who, state.render(), minor=rng.random() < 0.5, summary="typo", kind="typo")
                )
            elif what == "paragraph":
                if state.shown >= n:
                    continue
                state.shown += 1
                shown_target = max(shown_target, state.shown)
                page.revisions.append(
                    Revision(when, who, state.render(), summary="+1 paragraph", kind="paragraph")
                )
            elif what in ("bot", "hidden-bot"):
                stamp = when.strftime("%Y-%m-%d")
                line = (
                    (f"<!-- links checked {stamp} -->" if what == "bot" else f"<!-- format {stamp} -->")
                    if wiki == "mw"
                    else f"//links checked {stamp}//"
                )
                state.tail = [t for t in state.tail if "checked" not in t and "format" not in t] + [line]
                page.revisions.append(
                    Revision(
                        when,
                        who,
                        state.render(),
                        minor=rng.random() < 0.5,
                        summary="Bot: link check",
                        kind="bot",
                    )
                )
            elif what.startswith("sweep"):
                if wiki == "mw":
                    line = (
                        "[[Category:Documentation]]" if what == "sweep2019" else "[[Category:Reviewed 2024]]"
                    )
                else:
                    line = "----\n[[start|Accueil / Home]]" if what == "sweep2019" else "{{tag>reviewed2024}}"
                state.tail = state.tail + [line]
                page.revisions.append(
                    Revision(
                        when,
                        who,
                        state.render(),
                        minor=rng.random() < 0.4,
                        summary="categories" if wiki == "mw" else "footer",
                        kind="sweep",
                    )
                )
            elif what == "vandal":
                good = len(page.revisions) - 1
                spam = rng.choice(
                    ("lol", "BUY CHEAP WATCHES http://spam.example/watches", "test test test", "")
                )
                anon = rng.random() < 0.6
                vandal = None if anon else self.humans[f"vandal-{wiki}"]
                ip = f"203.0.113.{rng.randrange(1, 250)}" if anon else ""
                text = spam + "\n" if spam else (state.render()[:40] + "\n")
                page.revisions.append(Revision(when, vandal, text, kind="vandal", ip=ip))
                later = when + timedelta(minutes=rng.randrange(10, 60 * 30))
                undone = page.revisions[good]
                name = ip or vandal.mw
                summary = (
                    f"Reverted edits by [[Special:Contributions/{name}|{name}]] to last revision by {undone.user.login(wiki) if undone.user else ''}"
                    if wiki == "mw"
                    else f"restored old revision ({undone.time:%Y/%m/%d %H:%M})"
                )
                if later < NOW:
                    page.revisions.append(
                        Revision(
                            later, patroller, undone.text, summary=summary, kind="revert", reverts_to=good
                        )
                    )
                    self.note(wiki, patroller, later)
            self.note(wiki, who, when)
        self.pages[wiki].append(page)
        if rng.random() < (0.35 if lang == "en" else 0.2):
            self.talk(topic, page, version, spans, rng)

    # -- talk pages ----------------------------------------------------------------------
    def talk(self, topic: Topic, page: Page, version, spans, rng: random.Random) -> None:
        wiki, lang = page.wiki, page.lang
        key = f"Talk:{page.key}" if wiki == "mw" else f"discussion:{page.key}"
        talk = Page(wiki, key, "talk", lang, topic.id, None, None)
        q = version.query
        after = page.revisions[0].time + timedelta(days=rng.randrange(10, 400))
        owners_now = [self.humans[hid] for hid, (s, e) in spans.items() if e > after] or topic.owners
        roll = rng.random()
        asker = (
            rng.choice(self.kind("commenter"))
            if roll < 0.6
            else rng.choice(self.kind("editor"))
            if roll < 0.85
            else rng.choice(owners_now)
        )
        thread = [(asker, "question")]
        for _ in range(rng.randrange(0, 3)):
            thread.append(
                (rng.choice(owners_now), "answer")
                if rng.random() < 0.7
                else (rng.choice(self.kind("commenter")), "question")
            )
        text = "====== Discussion ======\n\n" if wiki == "dw" else ""
        when = after
        for n, (who, what) in enumerate(thread):
            when = min(
                when + timedelta(days=rng.randrange(0, 60), hours=rng.randrange(1, 48)),
                NOW - timedelta(hours=2),
            )
            if when <= (talk.revisions[-1].time if talk.revisions else page.revisions[0].time):
                break
            body = _comment(q, lang, what, rng)
            if wiki == "mw":
                sig = _mw_signature(who, when, lang)
                text += f"== {body[0]} ==\n{body[1]} {sig}\n\n" if n == 0 else f":{body[1]} {sig}\n\n"
            else:
                sig = f" --- //[[{who.email}|{who.name}]] {when:%Y/%m/%d %H:%M}//" if who.signs_dw else ""
                text += f"{body[1]}{sig}\n\n----\n\n"
            summary = body[0][:60] if n == 0 else ("réponse" if lang == "fr" else "reply")
            talk.revisions.append(Revision(when, who, text, summary=summary, kind="comment"))
            self.note(wiki, who, when)
        if talk.revisions:
            self.pages[wiki].append(talk)

    # -- user pages ----------------------------------------------------------------------
    def user_pages(self) -> None:
        for wiki in ("mw", "dw"):
            for (w, hid), first in sorted(self.first_seen.items()):
                h = self.humans[hid]
                if w != wiki or not h.user_page or h.kind == "vandal":
                    continue
                rng = random.Random(f"{self.seed}:user:{wiki}:{hid}")
                when = min(first + timedelta(days=rng.randrange(0, 200)), NOW - timedelta(days=1))
                agency_name = AGENCIES[h.agency][1]
                if h.kind == "bot":
                    lines = [
                        "Link checker run by the wiki team. / Vérificateur de liens de l'équipe du wiki."
                    ]
                else:
                    lines = [
                        f"{'Analyste' if h.francophone else 'Analyst'}, {agency_name}.",
                        f"Email: {h.email}",
                    ]
                if wiki == "mw":
                    key, text = f"User:{h.mw}", f"== {h.name} ==\n" + "\n\n".join(lines) + "\n"
                else:
                    key, text = f"user:{h.dw}", f"====== {h.name} ======\n\n" + "\n\n".join(lines) + "\n"
                page = Page(wiki, key, "user", "fr" if h.francophone else "en")
                page.revisions.append(Revision(when, h, text, summary="", kind="userpage"))
                self.pages[wiki].append(page)


_QUESTIONS = {
    "en": [
        ("Still accurate?", "Is the part about {q} still accurate for the current release?"),
        ("Example wanted", "Could someone add an example for {q}? We keep getting asked about it."),
        ("Contradiction", "The page on {q} seems to contradict what the FAQ says; which one is right?"),
        ("Question", "Does {q} behave the same way on our servers?"),
    ],
    "fr": [
        ("Toujours à jour ?", "La partie sur « {q} » est-elle encore à jour pour la version actuelle ?"),
        ("Exemple", "Quelqu'un pourrait-il ajouter un exemple pour « {q} » ? On nous le demande souvent."),
        ("Contradiction", "La page sur « {q} » semble contredire la FAQ ; laquelle a raison ?"),
        ("Question", "Est-ce que « {q} » fonctionne de la même façon sur nos serveurs ?"),
    ],
}
_ANSWERS = {
    "en": [
        "Yes, I checked it against the current version last month.",
        "Good point, I added an example to the page.",
        "The FAQ is older; the page is right. I will ask for the FAQ to be fixed.",
        "It depends on the configuration; I added a note.",
    ],
    "fr": [
        "Oui, je l'ai vérifié avec la version actuelle le mois dernier.",
        "Bonne idée, j'ai ajouté un exemple à la page.",
        "La FAQ est plus ancienne ; la page a raison. Je fais corriger la FAQ.",
        "Cela dépend de la configuration ; j'ai ajouté une note.",
    ],
}


def _comment(q: str, lang: str, what: str, rng: random.Random) -> tuple[str, str]:
    if what == "question":
        head, body = rng.choice(_QUESTIONS[lang])
        return head, body.format(q=q)
    answer = rng.choice(_ANSWERS[lang])
    return answer[:30], answer


_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


def _mw_signature(h: Human, when: datetime, lang: str) -> str:
    shown = h.name if h.full_signature else h.mw
    return f"[[User:{h.mw}|{shown}]] ([[User talk:{h.mw}|talk]]) {when:%H:%M}, {when.day} {_MONTHS[when.month - 1]} {when.year} (UTC)"


# -- the whole world ---------------------------------------------------------------------


def build(seed: int = 7) -> World:
    topics = choose_topics(topics_from_corpus())
    builder = _Builder(seed)
    builder.assign(topics)
    for topic in topics:
        builder.topic(topic)
    builder.user_pages()
    queries = []
    for pages in builder.pages.values():
        for page in pages:
            if page.ns == "content":
                topic = next(t for t in topics if t.id == page.topic)
                queries.append(Query(f"{page.pair}:{page.lang}", page.query, page.lang, topic, page.key))
    for pages in builder.pages.values():
        for page in pages:
            _unique_seconds(page)
    return World(builder.humans, topics, builder.pages, queries)


def _unique_seconds(page: Page) -> None:
    """Revisions in time order, at least two seconds apart (DokuWiki keys them by the second)."""
    page.revisions.sort(key=lambda r: r.time)
    for prev, rev in zip(page.revisions, page.revisions[1:], strict=False):
        if rev.time <= prev.time + timedelta(seconds=1):
            rev.time = prev.time + timedelta(seconds=2)


def split_table(topics: list[Topic]) -> str:
    return "".join(
        f"{t.id}\t{t.wiki}\t{t.half}\t{len(t.pairs)}\n" for t in sorted(topics, key=lambda t: t.id)
    )


if __name__ == "__main__":
    world = build()
    for wiki, pages in world.pages.items():
        kinds = defaultdict(int)
        for p in pages:
            kinds[p.ns] += 1
        revs = sum(len(p.revisions) for p in pages)
        print(wiki, dict(kinds), revs, "revisions")
    halves = defaultdict(int)
    for t in world.topics:
        halves[(t.wiki, t.half)] += 1
    print(dict(halves), len(world.queries), "queries")
    for t in world.topics[:6]:
        print(t.id, t.wiki, t.half, [h.name for h in t.owners], [h.name for h in t.former], t.stale)
