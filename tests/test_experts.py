"""Who knows about this: identity, scoring, traps, diversity, evidence and the ACL."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
from sqlalchemy import select

from indexer.experts import ExpertFinder, diversify, recency, role_weight
from indexer.search import Searcher, SearchRequest
from indexer.store import persons
from tests.conftest import memory_source
from webui.app import create_app

NOW = datetime.now(UTC)


def ago(days: int) -> datetime:
    return NOW - timedelta(days=days)


def c(name, role="author", days=30, size=1500, minor=False, email=None, username=None):
    return (name, email, role, ago(days), size, minor, username)


def page(text, *contributions, **extra):
    return {"title": text.rstrip("."), "text": text, "contributions": list(contributions), **extra}


@pytest.fixture
def world(savoir_factory, memory_content, tmp_path):
    (tmp_path / "people.toml").write_text(
        '[[person]]\nname = "Geneviève Tremblay"\nemail = "genevieve.tremblay@records.example"\n'
        'agency = "records"\naliases = ["Tremblay, Geneviève"]\nlanguages = ["en", "fr"]\n'
        'usernames = { wiki = "GTremblay" }\n'
        '[[person]]\nname = "Olivia Hidden"\nagency = "supply"\nopt_out = true\n',
        "utf-8",
    )
    (tmp_path / "communities.toml").write_text(
        '[[community]]\nid = "fraud"\nname_en = "Fraud prevention"\nname_fr = "Prévention de la fraude"\n'
        'keywords = ["procurement fraud", "fraude"]\n',
        "utf-8",
    )
    gen = dict(email="genevieve.tremblay@records.example")
    memory_content["wiki"] = {
        "p1": page(
            "Procurement fraud red flags in bid evaluation.",
            c("Geneviève Tremblay", **gen),
            c("Sam Okafor", "editor", size=800),
            c("Cleanup Bot", "editor", size=3),
        ),
        "p2": page(
            "Procurement fraud: contract splitting patterns.",
            c("GTremblay", username="GTremblay"),
            c("Sam Okafor", "commenter", size=200),
        ),
        "p3": page(
            "Procurement fraud hotline statistics.",
            c("Tremblay, Geneviève"),
            c("Max Minor", "editor", size=5, minor=True),
        ),
        "p4": page(
            "Procurement fraud training for contracting officers.",
            c("Old Timer", days=3000),
            c("Casey Commenter", "commenter", size=900),
        ),
        "p5": page(
            "Procurement fraud case studies.",
            c("Old Timer", days=3100),
            c("Casey Commenter", "commenter", size=900),
        ),
        "p6": page(
            "Procurement fraud and restricted vendor Zyxor.", c("Rita Restricted"), acl=["investigators"]
        ),
        "p7": page("Procurement fraud in restricted audits.", c("Rita Restricted"), acl=["investigators"]),
        "p8": page("Procurement fraud by the book.", c("Olivia Hidden"), c("Sam Okafor", size=1200)),
        "p9": page("Procurement fraud interviews.", c("Olivia Hidden")),
    }
    memory_content["supply"] = {
        "s1": page("Procurement fraud prevention in solicitations.", c("Sam Okafor", days=60)),
        "s2": page("Procurement fraud checks for buyers.", c("Sam Okafor", days=90)),
    }
    # an admin who swept every page of a big wiki with tiny edits
    memory_content["big"] = {
        f"b{i:02d}": page(
            f"Telework guidance note {i}.", c(f"Writer {i % 7}"), c("Sweeping Admin", "editor", size=4)
        )
        for i in range(25)
    }
    savoir = savoir_factory(
        [
            memory_source("wiki"),
            memory_source("supply", agency="supply"),
            memory_source("big", agency="workplace"),
        ],
        people={"file": str(tmp_path / "people.toml"), "opt_out": ["casey commenter"]},
    )
    savoir.crawl()
    savoir.refresh_people(force=True)
    searcher = Searcher(savoir.open_index(), savoir.store)
    return savoir, searcher, ExpertFinder(searcher, savoir.store, savoir.settings.experts)


def names(experts) -> list[str]:
    return [e.name for e in experts]


def person_rows(savoir):
    with savoir.store.engine.connect() as conn:
        return {r.name: r for r in conn.execute(select(persons))}


def test_one_person_per_human(world):
    savoir, _, _ = world
    rows = person_rows(savoir)
    # email, username (directory) and "Last, First" (alias) are one person
    assert "Geneviève Tremblay" in rows and "Tremblay, Geneviève" not in rows and "GTremblay" not in rows
    # the same name in two agencies stays two people (never merged on name alone)
    sams = [r for r in rows.values() if r.name == "Sam Okafor"]
    with savoir.store.engine.connect() as conn:
        agencies = sorted(
            r.agency for r in conn.execute(select(persons).where(persons.c.name == "Sam Okafor"))
        )
    assert len(sams) >= 1 and agencies == ["records", "supply"]


def test_traps_are_flagged(world):
    rows = person_rows(world[0])
    assert rows["Cleanup Bot"].is_bot
    assert rows["Sweeping Admin"].mass_editor and not rows["Writer 1"].mass_editor
    assert rows["Olivia Hidden"].opted_out and rows["Casey Commenter"].opted_out


def test_ranking_and_eligibility(world):
    _, _, finder = world
    experts = finder.suggest(SearchRequest("procurement fraud"))
    found = names(experts)
    # the topic's people (the top hits weigh most: here the search ranks pages Sam
    # Okafor wrote or edited first, so he leads, in each of his two agencies)
    assert found[0] == "Sam Okafor" and "Geneviève Tremblay" in found[:3]
    for trap in (
        "Cleanup Bot",
        "Max Minor",
        "Sweeping Admin",
        "Olivia Hidden",
        "Casey Commenter",
        "Old Timer",
    ):
        assert trap not in found, trap  # bot, minor-only, mass editor, opted out x2, inactive
    top = next(e for e in experts if e.name == "Geneviève Tremblay")
    assert top.counts == {"author": 3}
    assert {ev.document_id for ev in top.evidence} == {"wiki:p1", "wiki:p2", "wiki:p3"}
    assert all(ev.matched_terms for ev in top.evidence)


def test_restricted_documents_never_make_or_show_an_expert(world):
    _, _, finder = world
    outsider = finder.suggest(SearchRequest("procurement fraud Zyxor OR procurement"))
    assert "Rita Restricted" not in names(outsider)
    assert all(ev.document_id not in ("wiki:p6", "wiki:p7") for e in outsider for ev in e.evidence)
    insider = finder.suggest(SearchRequest("procurement fraud", groups=("public", "investigators")))
    assert "Rita Restricted" in names(insider)


def test_model_pieces():
    settings = __import__("config.loader", fromlist=["ExpertSettings"]).ExpertSettings()
    assert role_weight("author", 10, False, settings) == 1.0
    assert role_weight("editor", 10, False, settings) == 0.6
    assert role_weight("editor", 0, False, settings) == 0.3  # last modifier only
    assert role_weight("commenter", 10, False, settings) == 0.3
    assert role_weight("author", 10, True, settings) == 0.0
    assert recency(NOW, NOW, settings) == 1.0
    assert abs(recency(NOW - timedelta(days=730.5), NOW, settings) - 0.5) < 0.01
    assert recency(NOW - timedelta(days=7300), NOW, settings) == settings.recency_floor


def test_at_most_two_per_agency_in_the_top_five():
    from indexer.experts import Expert

    pool = [Expert(i, f"p{i}", "records" if i < 4 else "supply", 10 - i, [], {}) for i in range(7)]
    # two per agency while other agencies have candidates; then the best of the rest
    assert [e.name for e in diversify(pool, 2)] == ["p0", "p1", "p4", "p5", "p2", "p3", "p6"]


def test_people_and_community_pages_respect_the_acl(world, tmp_path):
    savoir, _, _ = world
    client = create_app(savoir=savoir, test_config={"TESTING": True}).test_client()
    rows = person_rows(savoir)
    page_html = client.get(f"/people/{rows['Rita Restricted'].id}").get_data(as_text=True)
    # (memory:// links are not shown as links, so titles tell which documents are listed)
    assert "restricted vendor Zyxor" not in page_html and "restricted audits" not in page_html
    gen = client.get(f"/people/{rows['Geneviève Tremblay'].id}").get_data(as_text=True)
    assert (
        all(t in gen for t in ("red flags in bid evaluation", "contract splitting", "hotline statistics"))
        and "genevieve.tremblay@records.example" in gen
    )
    assert client.get(f"/people/{rows['Olivia Hidden'].id}").status_code == 404
    assert client.get(f"/people/{rows['Cleanup Bot'].id}").status_code == 404
    # no one can opt someone else out without signing in (and no form works without its token)
    opt_out = f"/people/{rows['Geneviève Tremblay'].id}/opt-out"
    assert client.post(opt_out).status_code == 400
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/sign-in").get_data(as_text=True))
    assert client.post(opt_out, data={"csrf_token": token.group(1)}).status_code == 403
    search = client.get("/?q=procurement+fraud").get_data(as_text=True)
    assert "Who knows about this" in search and "Geneviève Tremblay" in search
    api = client.get("/api/search?q=procurement+fraud").get_json()
    assert "Geneviève Tremblay" in [e["name"] for e in api["experts"]]
    assert all(e["evidence"] for e in api["experts"])


def test_community_page_lists_peers_across_agencies(world):
    savoir, searcher, _ = world
    client = create_app(savoir=savoir, test_config={"TESTING": True}).test_client()
    html = client.get("/communities/fraud").get_data(as_text=True)
    assert "Fraud prevention" in html and "Geneviève Tremblay" in html
    assert "restricted vendor Zyxor" not in html and "Rita Restricted" not in html
    french = client.get("/communities/fraud?ui=fr").get_data(as_text=True)
    assert "Prévention de la fraude" in french
    assert client.get("/communities/nope").status_code == 404
    counts = dict(searcher.search(SearchRequest("procurement")).facets["communities"])
    assert counts == {"fraud": 9}  # p1-p5, p8, p9, s1, s2: their titles name "procurement fraud"


def test_a_narrow_query_still_names_its_author_with_the_query_words(world):
    _, _, finder = world
    # one document matches: its author is the person to ask (no absolute floor of two)
    experts = finder.suggest(SearchRequest("hotline statistics"))
    assert names(experts) == ["Geneviève Tremblay"]
    evidence = experts[0].evidence
    assert [ev.document_id for ev in evidence] == ["wiki:p3"]
    # the words the user typed, not the index's stems ("hotlin", "statist")
    assert evidence[0].matched_terms == ["hotline", "statistics"]
    assert experts[0].counts == {"author": 1}


def test_someone_quiet_for_years_is_named_with_the_date_after_the_active(world):
    _, _, finder = world
    old = finder.suggest(SearchRequest("contracting officers training"))
    assert names(old) == ["Old Timer"]
    assert old[0].inactive and old[0].last_active.year <= NOW.year - 8
    mixed = finder.suggest(SearchRequest("procurement fraud"))
    assert "Old Timer" not in names(mixed)[:1]


def test_evidence_is_in_the_order_it_weighed_and_counts_match_it(world):
    _, _, finder = world
    for expert in finder.suggest(SearchRequest("procurement fraud")):
        weights = [ev.weight for ev in expert.evidence]
        assert weights == sorted(weights, reverse=True) and all(w > 0 for w in weights)
        for role, n in expert.counts.items():
            assert n == sum(role in ev.roles for ev in expert.evidence)


def test_the_panel_reads_as_a_sentence(world):
    savoir, _, _ = world
    client = create_app(savoir=savoir, test_config={"TESTING": True}).test_client()
    html = client.get("/?q=procurement+fraud").get_data(as_text=True)
    panel = html[html.index('class="experts"') :]
    assert "wrote 3</p>" in panel or "wrote 3 " in panel
    assert ", </p>" not in panel and ",  ·" not in panel  # no dangling comma
    assert "matches \u201cprocurement, fraud\u201d" in panel
    french = client.get("/?q=fraude&ui=fr").get_data(as_text=True)
    assert "Qui s'y connaît" in unescape(french) and "a rédigé" in french


@pytest.fixture
def pairs_world(savoir_factory, memory_content):
    """EN originals and their FR translations by a translator; a generalist who wrote a
    little on every topic; an owner per topic."""
    topics = {
        "retention": (
            "Records retention schedules for transitory records",
            "Calendriers de conservation des documents éphémères",
        ),
        "telework": (
            "Telework agreements and home office equipment",
            "Ententes de télétravail et équipement du bureau à domicile",
        ),
        "hiring": (
            "Staffing processes and candidate assessment boards",
            "Processus de dotation et comités d'évaluation des candidats",
        ),
    }
    content = {}
    for n, (topic, (en, fr)) in enumerate(topics.items()):
        owner = f"Owner {topic.title()}"
        for i in range(4):
            content[f"{topic}-{i}-en"] = page(
                f"{en}, part {i}.", c(owner, days=400 + i, size=3000), language="en"
            )
            content[f"{topic}-{i}-fr"] = page(
                f"{fr}, partie {i}.",
                c("Terry Translator", days=300 + i, size=3000),
                language="fr",
                translation_of=f"wiki:{topic}-{i}-en",
            )
        # the generalist: one short note on every topic, and small edits here and there
        content[f"{topic}-note"] = page(
            f"{en}: a note.", c("Gene Ralist", days=20 + n, size=300), language="en"
        )
    for i in range(30):
        content[f"misc-{i}"] = page(
            f"Miscellaneous notice number {i} about parking.", c("Gene Ralist", days=50 + i, size=300)
        )
    memory_content["wiki"] = content
    savoir = savoir_factory([memory_source("wiki")])
    savoir.crawl()
    savoir.refresh_people(force=True)
    searcher = Searcher(savoir.open_index(), savoir.store)
    return ExpertFinder(searcher, savoir.store, savoir.settings.experts)


def test_a_french_query_names_the_owner_behind_the_translation(pairs_world):
    experts = pairs_world.suggest(SearchRequest("calendriers de conservation documents éphémères"))
    assert names(experts)[0] == "Owner Retention"
    # the translator is not hidden, only weighed as one
    assert "Terry Translator" in names(experts)
    owner = experts[0]
    assert {ev.language for ev in owner.evidence} == {"en"}  # what they wrote, in its language


def test_a_generalist_does_not_outrank_the_people_a_topic_belongs_to(pairs_world):
    for query in ("telework agreements home office equipment", "staffing candidate assessment boards"):
        found = names(pairs_world.suggest(SearchRequest(query)))
        assert found[0].startswith("Owner "), (query, found)
        assert found.index("Gene Ralist") > 0 if "Gene Ralist" in found else True


def test_a_pairs_version_the_viewer_may_not_see_never_speaks_for_anyone(
    savoir_factory, memory_content, database_url
):
    """On SQLite and PostgreSQL (whose driver decodes the ACL column itself): the French
    version of a public page is restricted, so its translator is not behind the pair for
    the public, and is for its group."""
    memory_content["wiki"] = {
        "grants-en": page(
            "Grants and contributions reporting templates for regional offices.",
            c("Olga Owner", days=200, size=3000),
            language="en",
        ),
        "grants-fr": page(
            "Gabarits de rapports sur les subventions et contributions pour les bureaux régionaux.",
            c("Tina Translator", days=100, size=3000),
            language="fr",
            translation_of="wiki:grants-en",
            acl=["finance"],
        ),
    }
    savoir = savoir_factory([memory_source("wiki")], database_url=database_url)
    savoir.crawl()
    savoir.refresh_people(force=True)
    finder = ExpertFinder(Searcher(savoir.open_index(), savoir.store), savoir.store, savoir.settings.experts)
    query = "grants and contributions reporting templates"
    public = names(finder.suggest(SearchRequest(query, groups=("public",))))
    assert public == ["Olga Owner"]
    finance = finder.suggest(SearchRequest(query, groups=("public", "finance")))
    assert names(finance)[0] == "Olga Owner" and "Tina Translator" in names(finance)
    assert finance[0].languages == ["en"]


def test_two_processes_resolving_people_at_once_on_postgresql(savoir_factory, memory_content, fresh_postgres):
    """Two workers ending their runs together both rewrite the persons table: one waits."""
    import threading

    from crawler.runner import Savoir
    from tests.conftest import make_settings

    memory_content["wiki"] = {
        f"p{i}": {"title": f"Page {i}", "text": "Telework notes.", "author": f"Person {i}"} for i in range(40)
    }
    first = savoir_factory([memory_source()], database_url=fresh_postgres)
    first.crawl()
    errors = []

    def resolve(savoir):
        try:
            for _ in range(6):
                savoir.refresh_people(force=True)
        except Exception as exc:  # noqa: BLE001 - the test reports what broke
            errors.append(exc)

    second = Savoir(make_settings(first.settings.data_dir.parent / "other", fresh_postgres), [memory_source()])
    try:
        threads = [threading.Thread(target=resolve, args=(s,)) for s in (first, second)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        second.close()
    assert errors == []
    with first.store.engine.connect() as conn:
        assert len(conn.execute(select(persons)).all()) >= 40
