"""People pages and communities of practice."""

from __future__ import annotations

import re
from collections import Counter

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, url_for
from sqlalchemy import select

from indexer.experts import ExpertFinder
from indexer.search import SearchRequest
from indexer.store import contributions, documents, people, persons
from webui.identity import current_user
from webui.params import Param, read_params

bp = Blueprint("people", __name__)

RECENT = 15
#: these pages take only the UI language (read in app.py); anything else is ignored
PAGE_PARAMS = (Param("ui", choices=("en", "fr")),)
#: a community id as config/communities.toml allows it (anything else is a 404)
_COMMUNITY_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


def visible(acl: list[str], groups: tuple[str, ...]) -> bool:
    return bool(set(acl or ()) & set(groups))


@bp.route("/people/<id:person_id>")
def person(person_id: int):
    read_params(PAGE_PARAMS, request.args)
    savoir = current_app.extensions["savoir"]
    user = current_user()
    store = savoir.store
    with store.read_connection() as conn:
        row = conn.execute(select(persons).where(persons.c.id == person_id)).first()
        if row is None or row.opted_out or row.is_bot:
            abort(404)
        raw = list(conn.execute(select(people.c.id, people.c.email).where(people.c.person_id == person_id)))
        contribs = list(
            conn.execute(
                select(
                    contributions.c.person_id.label("person_raw"),
                    contributions.c.role,
                    contributions.c.time,
                    contributions.c.minor,
                    documents.c.id,
                    documents.c.title,
                    documents.c.url,
                    documents.c.source_id,
                    documents.c.agency,
                    documents.c.acl,
                    documents.c.tags,
                    documents.c.modified,
                )
                .join(documents, documents.c.id == contributions.c.document_id)
                .where(contributions.c.person_id.in_([r.id for r in raw]), documents.c.deleted.is_(False))
                .order_by(contributions.c.time.desc())
            )
        )
    # only what this viewer may see: a restricted document never shows, even by title
    shown = [c for c in contribs if visible(c.acl, user.groups)]
    if not shown:
        # a person exists for a viewer only through documents that viewer may see: one
        # known only from restricted documents is "no such page", like an unknown id
        abort(404)
    recent, seen_docs = [], set()
    for c in shown:
        if c.id not in seen_docs:
            seen_docs.add(c.id)
            recent.append(c)
    counts = Counter(c.role for c in shown if not c.minor)
    tags = Counter(t for c in recent for t in (c.tags or []))
    index = savoir.open_index()
    communities = Counter()
    with index.searcher() as searcher:
        for c in recent[:200]:
            stored = searcher.document(id=c.id)
            for community in (stored or {}).get("communities", "").split(","):
                if community:
                    communities[community] += 1
    # an email is shown only when a source published it (not one only admins know), on
    # the identity behind a contribution this viewer may see
    seen_as = {c.person_raw for c in shown}
    public_email = (
        row.email if row.email and any(r.email == row.email and r.id in seen_as for r in raw) else None
    )
    return render_template(
        "people/person.html",
        person=row,
        email=public_email,
        recent=recent[:RECENT],
        counts=counts,
        topics=list(row.topics or []) + [t for t, _ in tags.most_common(8) if t not in (row.topics or [])],
        communities=[(savoir.communities.by_id.get(cid), n) for cid, n in communities.most_common()],
        lang=g.ui_lang,
    )


@bp.route("/people/<id:person_id>/opt-out", methods=["POST"])
def opt_out(person_id: int):
    """A signed-in person takes themselves out of expert suggestions (admins use config)."""
    user = current_user()
    if not user.signed_in or user.person_id != person_id:
        abort(403)
    savoir = current_app.extensions["savoir"]
    savoir.store.opt_out(person_id)
    savoir.refresh_people(force=True)
    return redirect(url_for("search.home"))


@bp.route("/communities")
def communities():
    read_params(PAGE_PARAMS, request.args)
    savoir = current_app.extensions["savoir"]
    return render_template("people/communities.html", communities=list(savoir.communities), lang=g.ui_lang)


@bp.route("/communities/<community_id>")
def community(community_id: str):
    from webui.app import get_searcher

    read_params(PAGE_PARAMS, request.args)
    savoir = current_app.extensions["savoir"]
    item = savoir.communities.by_id.get(community_id) if _COMMUNITY_ID.fullmatch(community_id) else None
    if item is None:
        abort(404)
    user = current_user()
    searcher = get_searcher(current_app)
    wanted = SearchRequest(
        "", groups=user.groups, filters={"community": [community_id]}, sort="date", page_size=15
    )
    recent = searcher.search(wanted)
    # peers: the people behind the community's documents, most recent activity first
    ranked = searcher.community_documents(
        community_id, user.groups, limit=savoir.settings.experts.top_documents
    )
    peers = ExpertFinder(searcher, savoir.store, savoir.settings.experts).suggest(wanted, ranked=ranked)
    return render_template(
        "people/community.html", community=item, recent=recent, peers=peers, lang=g.ui_lang
    )
