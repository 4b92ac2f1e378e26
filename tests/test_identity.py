"""Who is behind a login: names and emails from signatures and user pages, and what
the expert model makes of them (display names, agency with its provenance, languages)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from connectors.base import Profile, Role
from connectors.identity import (
    emails_for,
    mail_links,
    names_for,
    plausible_name,
    unguard_email,
    user_links,
    user_page_facts,
)
from connectors.mediawiki import contributions
from indexer.store import persons
from tests.conftest import memory_source

NOW = datetime.now(UTC)


def test_a_name_is_taken_only_for_the_login_it_fits():
    for login in ("amelie.bernier", "AmelieBernier", "abernier", "a.bernier", "Amélie Bernier", "bernier_a"):
        assert plausible_name("Amélie Bernier", login), login
    for name, login in (
        ("About me", "abernier"),
        ("Amélie", "amelie"),  # one word is not a full name
        ("Li Chen", "abernier"),
        ("Room 42 Bernier", "rbernier"),
    ):
        assert not plausible_name(name, login), (name, login)


def test_signatures_in_rendered_pages():
    doku = (
        '<p><em>--- <a href="mailto:&#x61;melie.bernier@cra.example" class="mail">Amélie Bernier</a>'
        ' 2024/01/02 10:00</em></p><p>As <a href="mailto:li.chen@ssc.example">Li Chen</a> said</p>'
    )
    links = mail_links(doku)
    assert ("amelie.bernier@cra.example", "Amélie Bernier") in links
    # only contributors of the page get a profile from it
    assert emails_for(["amelie.bernier"], links) == {
        "amelie.bernier": ("Amélie Bernier", "amelie.bernier@cra.example")
    }
    assert unguard_email("amelie [dot] bernier [at] cra [dot] example") == "amelie.bernier@cra.example"
    mediawiki = (
        '<a href="/index.php/User:Abernier" title="User:Abernier">Amélie Bernier</a> '
        '(<a href="/index.php/User_talk:Abernier" title="User talk:Abernier">talk</a>) '
        '<a href="/index.php?title=Utilisateur:Jroy&action=edit&redlink=1" class="new" '
        'title="Utilisateur:Jroy (page inexistante)">Julie Roy</a>'
    )
    pairs = user_links(mediawiki, ("User", "Utilisateur"))
    assert pairs == [("Abernier", "Amélie Bernier"), ("Jroy", "Julie Roy")]
    assert names_for(["Abernier", "Jroy", "Wchen"], pairs) == {
        "Abernier": "Amélie Bernier",
        "Jroy": "Julie Roy",
    }


def test_user_page_facts():
    page = "== Amélie Bernier ==\nPolicy analyst.\n\nEmail: amelie.bernier@cra.example\n"
    assert user_page_facts(page, "Abernier") == ("Amélie Bernier", "amelie.bernier@cra.example")
    assert user_page_facts("== About me ==\nHello", "Abernier") == ("", "")


def test_reverts_and_what_they_undo_weigh_nothing():
    def rev(n, user, size, sha1, parent=None):
        return {
            "revid": n,
            "parentid": parent or (n - 1 if n > 1 else 0),
            "user": user,
            "size": size,
            "sha1": sha1,
            "timestamp": f"2024-01-0{n}T00:00:00Z",
        }

    history = [
        rev(1, "Owner", 3000, "a"),
        rev(2, "Vandal", 10, "b"),
        rev(3, "Patroller", 3000, "a"),  # back to revision 1 exactly
        rev(4, "Owner", 3500, "c"),
    ]
    found = {c.person.username: c for c in contributions(history, frozenset())}
    assert found["Vandal"].minor and found["Vandal"].size == 0
    assert found["Patroller"].minor and found["Patroller"].size == 0
    assert not found["Owner"].minor and found["Owner"].size == 3500


def test_profiles_name_people_and_their_agency(savoir_factory, memory_content):
    def c(login, language_days=30):
        return (login, None, "author", NOW - timedelta(days=language_days), 1500, False, login)

    memory_content["wiki"] = {
        f"p{i}": {
            "title": f"Page {i}",
            "text": f"Retention schedule number {i}.",
            "language": "fr" if i % 2 else "en",
            "contributions": [c("amelie.bernier"), c("jroy")],
        }
        for i in range(6)
    }
    savoir = savoir_factory(
        [memory_source("wiki", agency="records")],
        people={"agency_domains": {"cra.example": "cra"}},
    )
    savoir.crawl()
    savoir.store.save_profiles(
        "wiki",
        [
            Profile("amelie.bernier", "Amélie Bernier", "amelie.bernier@mail.cra.example", "signature on p1"),
            Profile("jroy", "", "", "nothing said"),  # empty facts are not kept
        ],
    )
    assert savoir.refresh_people() is not None  # new profiles are a reason to re-derive people
    with savoir.store.engine.connect() as conn:
        rows = {r.name: r for r in conn.execute(select(persons))}
    amelie = rows["Amélie Bernier"]
    assert (amelie.email, amelie.agency, amelie.agency_from) == (
        "amelie.bernier@mail.cra.example",
        "cra",
        "email",
    )
    assert sorted(amelie.languages) == ["en", "fr"]
    assert rows["jroy"].agency_from == "source" and rows["jroy"].agency == "records"
    # a later empty profile never erases what was learned
    savoir.store.save_profiles("wiki", [Profile("amelie.bernier", "", "", "user page")])
    savoir.refresh_people(force=True)
    with savoir.store.engine.connect() as conn:
        assert (
            conn.execute(select(persons.c.name).where(persons.c.email.is_not(None))).scalar()
            == "Amélie Bernier"
        )


def test_a_dokuwiki_revert_makes_the_vandal_and_the_patroller_weigh_nothing():
    from connectors.dokuwiki import contributions as doku_contributions
    from connectors.dokuwiki_client import Version

    base = int(datetime(2024, 1, 2, 10, 0, tzinfo=UTC).timestamp())
    history = [
        Version(base, "C", "owner"),
        Version(base + 3600, "E", "vandal"),
        Version(base + 7200, "E", "vandal"),
        Version(base + 9000, "R", "patroller", "old revision restored (2024/01/02 10:00)"),
        Version(base + 86400, "E", "editor"),
        Version(base + 90000, "E", "spammer"),
        Version(base + 90600, "R", "patroller", "undo"),  # no date: the edit just before
    ]
    found = {c.person.username: c for c in doku_contributions(history)}
    assert found["owner"].role == Role.AUTHOR
    assert found["vandal"].minor and found["spammer"].minor and found["patroller"].minor
    assert not found["editor"].minor
