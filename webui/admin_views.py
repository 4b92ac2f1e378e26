"""The admin console: sources (status, add, edit, test, run now, enable, schedule, run
history), the index rebuild, and the people directory. Admins only.

Every route is refused before any work to anyone who is not an admin (anonymous
visitors are sent to sign in, other users get a bare 403); every form carries the CSRF
token ``auth_views`` checks; every change is written to the audit log (who, what,
when, from which address) with secrets scrubbed.

Where console changes live, and who wins: the console stores its changes in the store
(``console_sources``, ``console_people``), never in the TOML files. The console wins,
field by field (``config.loader.merge_console_sources``); every page says where each
source is defined and which of its fields the console overrides, and "Forget the
console's changes" goes back to the file.

The index rebuild runs in a background thread of the web process that asked for it,
guarded by a store lease (one rebuild at a time across processes); its state is kept in
the store, so every web process shows it.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext, lazy_gettext
from sqlalchemy import func, or_, select

from config import secrets
from config.loader import (
    CONSOLE_FIELDS,
    SOURCE_ID_RE,
    ConfigError,
    SourceConfig,
    check_source,
    secret_fields,
    source_table,
)
from connectors.base import ConnectorError, connector_kinds, get_connector_class
from crawler.http import FetchError
from crawler.runner import Savoir, default_owner, settings_class_for
from crawler.worker import next_runs
from indexer.people import normalise_name
from indexer.store import now, persons
from webui import admin_forms
from webui.accounts import Accounts
from webui.auth_views import require_admin
from webui.i18n import N_
from webui.identity import current_user
from webui.params import Param, read_params

log = logging.getLogger(__name__)

#: the source's own fields: label and help (the connector's come from its settings)
OWN_FIELD_TEXT = {
    "id": (
        lazy_gettext("Identifier"),
        lazy_gettext(
            "Letters, digits, '-' and '_' (at most 64). It is part of every document's id: it cannot change later."
        ),
    ),
    "agency": (lazy_gettext("Agency"), lazy_gettext("The agency whose content this is, e.g. records.")),
    "name": (lazy_gettext("Name"), lazy_gettext("A name people read, e.g. Records wiki.")),
    "schedule": (
        lazy_gettext("Schedule"),
        lazy_gettext(
            "'every 30m' (s, m, h or d), a cron expression such as '0 2 * * *' (UTC), or empty to run on request only."
        ),
    ),
    "acl": (
        lazy_gettext("Groups that may see it"),
        lazy_gettext(
            "One group per line; public is everyone. Used when the source says nothing about a document."
        ),
    ),
    "enabled": (lazy_gettext("Enabled (runs on its schedule)"), None),
}
#: what the sources page says of the last index rebuild, by its status
REINDEX_STATES = {
    "running": N_("Rebuild running since %(started)s (asked by %(by)s)."),
    "done": N_("Last rebuild: %(documents)s documents, finished %(finished)s (asked by %(by)s)."),
    "failed": N_("The last rebuild failed at %(finished)s (asked by %(by)s)"),
    "interrupted": N_(
        "The rebuild started at %(started)s stopped before the end (its process ended); start it again."
    ),
}
bp = Blueprint("admin", __name__, url_prefix="/admin")

RUNS_PAGE = 20
FAILURES_PAGE = 50
PEOPLE_PAGE = 50
PAGE_PARAMS = (Param("ui", choices=("en", "fr")), Param("page", int, default=1, low=1, high=100000))
NEW_PARAMS = (Param("ui", choices=("en", "fr")), Param("kind", default="", max_length=64))
PEOPLE_PARAMS = (*PAGE_PARAMS, Param("q", default="", max_length=200))
#: the source's own fields on the form, with the connector's settings after them
OWN_FIELDS = ("agency", "name", "schedule", "acl", "enabled")
REINDEX_LEASE = "reindex"
REINDEX_STATE = "reindex_state"


@bp.before_request
def admins_only() -> None:
    require_admin()


def _savoir() -> Savoir:
    return current_app.extensions["savoir"]


def _audit(action: str, target: str = "", detail: str = "") -> None:
    savoir = _savoir()
    user = current_user()
    Accounts(savoir.store, savoir.settings.auth).audit(
        user.id or "?", action, target, request.remote_addr or "", secrets.scrub(detail) or ""
    )


def _source_or_404(source_id: str) -> SourceConfig:
    if not SOURCE_ID_RE.match(source_id):
        abort(404)
    for source in _savoir().sources:
        if source.id == source_id:
            return source
    abort(404)


def _file_source(source_id: str) -> SourceConfig | None:
    savoir = _savoir()
    savoir.sources  # noqa: B018 - loads the file's sources
    return next((s for s in savoir._file_sources or [] if s.id == source_id), None)


# -- the sources page -------------------------------------------------------------


@bp.get("/")
def index():
    return redirect(url_for("admin.sources"))


@bp.get("/sources")
def sources():
    read_params(PAGE_PARAMS, request.args)
    savoir = _savoir()
    try:
        configured = savoir.sources
        error = ""
    except ConfigError as exc:
        configured, error = [], secrets.scrub(str(exc))
    store = savoir.store
    last = store.last_runs()
    queued = {r["source_id"] for r in store.pending_requests()}
    upcoming = next_runs(savoir, now()) if configured else {}
    docs = store.counts()["per_source"]
    rows = [
        {
            "source": s,
            "last": last.get(s.id),
            "queued": s.id in queued,
            "next": upcoming.get(s.id),
            "documents": docs.get(s.id, 0),
        }
        for s in configured
    ]
    return render_template(
        "admin/sources.html",
        rows=rows,
        error=error,
        file=savoir.settings.sources_path.name,
        reindex=_reindex_state(),
    )


# -- add and edit -------------------------------------------------------------------


def _own_fields(
    values: dict[str, Any], typed: dict[str, str] | None, error_field: str, error: str, *, new: bool
):
    """The inputs for the source's own fields (id, agency, name, schedule, groups, enabled)."""
    fields = []
    names = (("id",) if new else ()) + OWN_FIELDS
    for name in names:
        widget = {"acl": admin_forms.LINES, "enabled": admin_forms.CHECKBOX}.get(name, admin_forms.TEXT)
        item = admin_forms.FormField(
            name=name,
            label=str(OWN_FIELD_TEXT[name][0]),
            help=str(OWN_FIELD_TEXT[name][1] or ""),
            widget=widget,
            required=name in ("id", "agency"),
            error=error if name == error_field else "",
        )
        if widget == admin_forms.CHECKBOX:
            item.checked = (name in typed) if typed is not None else bool(values.get(name, True))
        elif typed is not None:
            item.value = typed.get(name, "")
        else:
            item.value = admin_forms.shown(values.get(name), widget)
        fields.append(item)
    return fields


def _render_form(kind: str, source: SourceConfig | None, *, typed=None, error: str = "", status: int = 200):
    cls = get_connector_class(kind).Settings
    values = source_table(source) if source else {"acl": ["public"], "enabled": True}
    stored = {n for n in secret_fields(cls) if source and source.settings.get(n)}
    error_field = admin_forms.field_named(error)
    # the loader says "[source.settings]" when the field is one of the connector's
    in_settings = "[source.settings]" in error or error.startswith("field ")
    own = _own_fields(values, typed, "" if in_settings else error_field, error, new=source is None)
    connector = admin_forms.build_fields(
        cls,
        source.settings if source else {},
        typed=typed,
        stored_secrets=stored,
        error_field=error_field if in_settings else "",
        error=error,
    )
    placed = any(f.error for f in own + connector)
    return (
        render_template(
            "admin/source_form.html",
            kind=kind,
            source=source,
            own=own,
            connector=connector,
            error=error,
            error_placed=placed,
        ),
        status,
    )


def _from_form(kind: str, source_id: str, keep_secrets: dict[str, Any]) -> dict[str, Any]:
    """The source the form describes, as a TOML table (values as typed)."""
    form = request.form
    cls = get_connector_class(kind).Settings
    raw: dict[str, Any] = {
        "id": source_id,
        "kind": kind,
        "agency": form.get("agency", "").strip(),
        "name": form.get("name", "").strip(),
        "schedule": form.get("schedule", "").strip(),
        "acl": [line.strip() for line in form.get("acl", "").splitlines() if line.strip()],
        "enabled": "enabled" in form,
        "settings": admin_forms.read_settings(cls, form, keep_secrets=keep_secrets),
    }
    return raw


def _typed(kind: str) -> dict[str, str]:
    """What was typed, to show again; secrets are dropped (never echoed)."""
    hidden = {admin_forms.PREFIX + n for n in secret_fields(get_connector_class(kind).Settings)}
    return {k: v for k, v in request.form.items() if k != "csrf_token" and k not in hidden}


def _validated(raw: dict[str, Any]) -> SourceConfig:
    return check_source(
        raw, f"console: source {raw['id']!r}", settings_class=settings_class_for, secrets_required=False
    )


@bp.route("/sources/new", methods=["GET", "POST"])
def new_source():
    params = read_params(NEW_PARAMS, request.args)
    kind = params["kind"] or request.form.get("kind", "")
    kinds = connector_kinds()
    if kind not in kinds:
        return render_template("admin/choose_kind.html", kinds=kinds)
    if request.method == "GET":
        return _render_form(kind, None)
    source_id = request.form.get("id", "").strip()
    try:
        raw = _from_form(kind, source_id, {})
        if any(s.id == source_id for s in _savoir().sources):
            raise ConfigError(
                f"console: source {source_id!r}: field 'id': another source already uses this id"
            )
        source = _validated(raw)
    except ConfigError as exc:
        return _render_form(kind, None, typed=_typed(kind), error=secrets.scrub(str(exc)), status=422)
    cls = get_connector_class(kind).Settings
    record = {name: getattr(source, name) for name in CONSOLE_FIELDS}
    record["settings"] = admin_forms.normalised(cls, raw["settings"])
    _savoir().store.save_console_source(source.id, record, by=current_user().id or "")
    _audit("source.add", source.id, f"kind={kind}")
    flash(N_("Saved."))
    return redirect(url_for("admin.sources"))


@bp.route("/sources/<source_id>/edit", methods=["GET", "POST"])
def edit_source(source_id: str):
    read_params(PAGE_PARAMS, request.args)
    current = _source_or_404(source_id)
    if request.method == "GET":
        return _render_form(current.kind, current)
    cls = get_connector_class(current.kind).Settings
    keep = {n: current.settings[n] for n in secret_fields(cls) if current.settings.get(n)}
    try:
        raw = _from_form(current.kind, source_id, keep)
        source = _validated(raw)
    except ConfigError as exc:
        return _render_form(
            current.kind, current, typed=_typed(current.kind), error=secrets.scrub(str(exc)), status=422
        )
    settings = admin_forms.normalised(cls, raw["settings"])
    changed = _store_changes(
        source_id, {**{n: getattr(source, n) for n in CONSOLE_FIELDS}, "settings": settings}
    )
    _audit("source.edit", source_id, "changed: " + (", ".join(changed) or "nothing"))
    flash(N_("Saved."))
    return redirect(url_for("admin.sources"))


def _store_changes(source_id: str, wanted: dict[str, Any]) -> list[str]:
    """Keep in the console's record only what differs from the sources file (a source of
    the console keeps everything); return the names of the fields that changed."""
    savoir = _savoir()
    before = _source_or_404(source_id)
    base = _file_source(source_id)
    if base is None:
        record = dict(wanted)
    else:
        record = {k: v for k, v in wanted.items() if k != "settings" and v != getattr(base, k)}
        cls = get_connector_class(base.kind if "kind" not in record else record["kind"]).Settings
        defaults = {s.name: s.default for s in admin_forms.field_specs(cls)}
        file_settings = {**defaults, **admin_forms.normalised(cls, base.settings)}
        changed_settings = {
            k: v for k, v in wanted.get("settings", {}).items() if file_settings.get(k, object()) != v
        }
        if changed_settings:
            record["settings"] = changed_settings
    savoir.store.save_console_source(source_id, record or None, by=current_user().id or "")
    after = _source_or_404(source_id)
    changed = [k for k in CONSOLE_FIELDS if getattr(before, k) != getattr(after, k)]
    changed += [
        f"settings.{k}"
        for k in sorted(set(before.settings) | set(after.settings))
        if before.settings.get(k) != after.settings.get(k)
    ]
    return changed


# -- actions on one source ------------------------------------------------------------


@bp.post("/sources/<source_id>/check")
def check_source_connection(source_id: str):
    source = _source_or_404(source_id)
    savoir = _savoir()
    try:
        savoir.connector(source, savoir.http_session(checking=True)).check()
        ok, message = True, ""
    except (ConnectorError, FetchError, ConfigError) as exc:
        ok, message = False, secrets.scrub(str(exc)) or ""
    _audit("source.check", source_id, "ok" if ok else "failed: " + message)
    return render_template("admin/check.html", source=source, ok=ok, message=message)


@bp.post("/sources/<source_id>/run")
def run_now(source_id: str):
    source = _source_or_404(source_id)
    full = request.form.get("full") == "1"
    request_id = _savoir().store.request_run(source.id, full=full, requested_by=current_user().id or "admin")
    _audit("source.run", source_id, f"request {request_id}" + (" (full)" if full else ""))
    flash(N_("Run queued: the worker starts it within seconds."))
    return redirect(url_for("admin.sources"))


@bp.post("/sources/<source_id>/enabled")
def set_enabled(source_id: str):
    source = _source_or_404(source_id)
    wanted = request.form.get("enabled") == "1"
    _store_field(source, "enabled", wanted)
    _audit("source.enable" if wanted else "source.disable", source_id)
    flash(N_("Saved."))
    return redirect(url_for("admin.sources"))


@bp.post("/sources/<source_id>/schedule")
def set_schedule(source_id: str):
    source = _source_or_404(source_id)
    wanted = request.form.get("schedule", "").strip()[:200]
    try:
        raw = source_table(source)
        _validated({**raw, "id": source.id, "schedule": wanted})
    except ConfigError as exc:
        return render_template(
            "admin/check.html", source=source, ok=False, message=secrets.scrub(str(exc)), schedule=True
        ), 422
    _store_field(source, "schedule", wanted)
    _audit("source.schedule", source_id, f"schedule={wanted or 'manual'}")
    flash(N_("Saved."))
    return redirect(url_for("admin.sources"))


def _store_field(source: SourceConfig, name: str, value: Any) -> None:
    store = _savoir().store
    record = dict(store.console_sources().get(source.id, {}))
    base = _file_source(source.id)
    if base is not None and getattr(base, name) == value:
        record.pop(name, None)
    else:
        record[name] = value
    if base is None and not record.get("kind"):
        record = {**{n: getattr(source, n) for n in CONSOLE_FIELDS}, "settings": source.settings, **record}
    store.save_console_source(source.id, record or None, by=current_user().id or "")


@bp.post("/sources/<source_id>/revert")
def revert(source_id: str):
    source = _source_or_404(source_id)
    _savoir().store.save_console_source(source.id, None, by=current_user().id or "")
    _audit("source.revert" if source.defined_in == "file" else "source.remove", source_id)
    flash(
        N_("The console's changes are forgotten: the source follows the file again.")
        if source.defined_in == "file"
        else N_("Source removed (its documents stay in the index until a full run or a rebuild).")
    )
    return redirect(url_for("admin.sources"))


# -- run history -------------------------------------------------------------------------


@bp.get("/sources/<source_id>/runs")
def runs(source_id: str):
    params = read_params(PAGE_PARAMS, request.args)
    source = _source_or_404(source_id)
    store = _savoir().store
    total, page_runs = store.runs_page(source.id, offset=(params["page"] - 1) * RUNS_PAGE, limit=RUNS_PAGE)
    failures = store.failure_counts([r["id"] for r in page_runs])
    return render_template(
        "admin/runs.html",
        source=source,
        runs=page_runs,
        failures=failures,
        page=params["page"],
        pages=max(1, -(-total // RUNS_PAGE)),
        total=total,
    )


@bp.get("/sources/<source_id>/runs/<int:run_id>")
def run_detail(source_id: str, run_id: int):
    params = read_params(PAGE_PARAMS, request.args)
    source = _source_or_404(source_id)
    store = _savoir().store
    run = store.run(run_id)
    if run is None or run["source_id"] != source.id:
        abort(404)
    total = store.count_failures(run_id)
    failures = store.run_failures(run_id, offset=(params["page"] - 1) * FAILURES_PAGE, limit=FAILURES_PAGE)
    return render_template(
        "admin/run.html",
        source=source,
        run=run,
        failures=failures,
        excluded=sorted((run.get("excluded") or {}).items()),
        page=params["page"],
        pages=max(1, -(-total // FAILURES_PAGE)),
        total=total,
    )


# -- the index rebuild ------------------------------------------------------------------


def _reindex_state() -> dict[str, Any]:
    store = _savoir().store
    raw = store.get_meta(REINDEX_STATE)
    state = json.loads(raw) if raw else {}
    if state.get("status") == "running" and store.lease_holder(REINDEX_LEASE) is None:
        state["status"] = "interrupted"  # the process that ran it stopped before the end
    return state


def reindex_message(state: dict[str, Any]) -> str:
    """What the sources page says of the last rebuild, in the UI's language."""
    return gettext(
        REINDEX_STATES[state["status"]],
        started=state.get("started"),
        finished=state.get("finished") or "",
        documents=state.get("documents") or 0,
        by=state.get("by"),
    )


def _set_reindex_state(savoir: Savoir, **state: Any) -> None:
    savoir.store.set_meta(REINDEX_STATE, json.dumps(state))


def _rebuild(savoir: Savoir, owner: str, by: str) -> None:
    started = datetime.now(UTC).isoformat(timespec="seconds")
    try:
        count = savoir.reindex()
        _set_reindex_state(savoir, status="done", by=by, started=started, finished=_stamp(), documents=count)
    except Exception as exc:  # noqa: BLE001 - the state says why; the old index still answers
        log.exception("the index rebuild failed")
        _set_reindex_state(
            savoir, status="failed", by=by, started=started, finished=_stamp(), error=secrets.scrub(str(exc))
        )
    finally:
        savoir.store.release_lease(REINDEX_LEASE, owner)


def _stamp() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


#: the rebuild threads this process started (tests wait for them)
REBUILDS: list[threading.Thread] = []


@bp.post("/reindex")
def reindex():
    savoir = _savoir()
    owner = default_owner()
    savoir._clear_dead_lease(REINDEX_LEASE)  # a web process that died mid-rebuild
    # a rebuild holds this lease for up to a day; finishing (or failing) releases it
    if not savoir.store.acquire_lease(REINDEX_LEASE, owner, 86400):
        flash(N_("A rebuild is already running."))
        return redirect(url_for("admin.sources"))
    by = current_user().id or "?"
    _set_reindex_state(savoir, status="running", by=by, started=_stamp())
    _audit("index.rebuild", "index")
    thread = threading.Thread(target=_rebuild, args=(savoir, owner, by), name="savoir-reindex", daemon=True)
    REBUILDS.append(thread)
    thread.start()
    flash(N_("Rebuild started in the background."))
    return redirect(url_for("admin.sources"))


# -- federation peers -------------------------------------------------------------------


@bp.get("/peers")
def peers():
    """This node's federation peers: where they answer, and whether they do lately."""
    from webui.federation import breaker_for

    savoir = _savoir()
    settings = savoir.settings.federation
    state = breaker_for(savoir.settings.data_dir).state() if settings.node else {}
    return render_template("admin/peers.html", federation=settings, state=state, checks=None)


@bp.post("/peers/check")
def check_peers():
    """Ask every enabled peer now (reachable, clocks, key): what ``savoir peers check`` says."""
    from webui.federation import breaker_for
    from webui.peers_cli import check_peer

    savoir = _savoir()
    settings = savoir.settings.federation
    checks = {p.name: check_peer(settings, p) for p in settings.peers if p.enabled} if settings.node else {}
    _audit("federation.check", "peers")
    state = breaker_for(savoir.settings.data_dir).state() if settings.node else {}
    return render_template("admin/peers.html", federation=settings, state=state, checks=checks)


# -- the people directory ---------------------------------------------------------------


def person_key(name: str, email: str | None) -> str:
    email = (email or "").strip().lower()
    return f"email:{email}" if email else f"name:{normalise_name(name)}"


@bp.get("/people")
def people():
    params = read_params(PEOPLE_PARAMS, request.args)
    savoir = _savoir()
    query = select(persons).order_by(persons.c.name, persons.c.id)
    count = select(func.count()).select_from(persons)
    if params["q"]:
        like = f"%{params['q']}%"
        condition = or_(persons.c.name.ilike(like), persons.c.email.ilike(like), persons.c.agency.ilike(like))
        query, count = query.where(condition), count.where(condition)
    with savoir.store.engine.connect() as conn:
        total = conn.execute(count).scalar_one()
        rows = [
            dict(r._mapping)
            for r in conn.execute(query.offset((params["page"] - 1) * PEOPLE_PAGE).limit(PEOPLE_PAGE))
        ]
    console = savoir.store.console_people()
    self_opted = savoir.store.self_opted_out()
    directory = savoir.directory
    for row in rows:
        entry = directory.find(row["name"], row["email"], None, "") or {}
        row["aliases"] = [a for a in entry.get("aliases", []) if a != row["name"]]
        row["console"] = person_key(row["name"], row["email"]) in console
        row["self_opted"] = row["id"] in self_opted
    return render_template(
        "admin/people.html",
        rows=rows,
        q=params["q"],
        page=params["page"],
        pages=max(1, -(-total // PEOPLE_PAGE)),
        total=total,
    )


@bp.post("/people/<int:person_id>")
def edit_person(person_id: int):
    savoir = _savoir()
    with savoir.store.engine.connect() as conn:
        row = conn.execute(select(persons).where(persons.c.id == person_id)).first()
    if row is None:
        abort(404)
    form = request.form
    agency = form.get("agency", "").strip()[:64]
    aliases = [a.strip()[:200] for a in form.get("aliases", "").splitlines() if a.strip()][:50]
    opt_out = "opt_out" in form
    entry: dict[str, Any] = {"name": row.name, "aliases": aliases, "opt_out": opt_out}
    if row.email:
        entry["email"] = row.email
    if agency:
        entry["agency"] = agency
    savoir.store.save_console_person(person_key(row.name, row.email), entry, by=current_user().id or "")
    if not opt_out and "self_opt_in" in form:
        savoir.store.opt_in(person_id)
    savoir.refresh_people(force=True)
    _audit(
        "person.edit",
        row.name,
        f"agency={agency or '(from sources)'} aliases={len(aliases)} opt_out={opt_out}",
    )
    flash(N_("Saved."))
    return redirect(url_for("admin.people", q=form.get("q") or None))


def install(app) -> None:
    app.register_blueprint(bp)
    app.jinja_env.globals["reindex_state"] = reindex_message
