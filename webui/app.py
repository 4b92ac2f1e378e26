"""The Flask application factory."""

from __future__ import annotations

import logging
import os
import time
from ipaddress import ip_address
from typing import Any
from urllib.parse import urlencode

from flask import Flask, g, jsonify, redirect, render_template, request, url_for
from flask_babel import force_locale, gettext
from werkzeug.exceptions import HTTPException

from config.loader import Settings, load_settings
from crawler.runner import Savoir
from indexer.search import FACETS, Searcher
from webui import i18n
from webui.i18n import LANGUAGES, N_
from webui.params import BadParameter, IdConverter
from webui.ratelimit import SharedWindow, client_address

log = logging.getLogger(__name__)

#: the cookie that remembers a visitor's choice of UI language
UI_COOKIE = "savoir_ui"
#: what the language toggle carries over to the same page in the other language (the
#: search page's declared parameters; other pages take none)
KEPT_ON_SWITCH = frozenset({"q", "page", "sort", "after", "before", *FACETS})


def switch_url(other: str) -> str:
    """This page in the other UI language, with the same query and filters."""
    kept = [(k, v) for k, v in request.args.items(multi=True) if k in KEPT_ON_SWITCH and len(v) <= 2000]
    return request.path + "?" + urlencode([*kept, ("ui", other)])


#: what an error page says, by HTTP status (translated when shown)
ERROR_MESSAGES = {
    403: N_("This page is for administrators."),
    404: N_("There is no page at this address."),
    405: N_("This page does not accept that kind of request."),
    429: N_("Too many requests from your address: wait a minute, then try again."),
    500: N_("Savoir could not answer this request. Try again; if it keeps failing, tell the administrators."),
}
OTHER_ERROR = N_("This request cannot be answered.")
CSRF_MESSAGE = N_(
    "This form has expired or did not come from this site. Go back, reload the page and try again."
)

#: link schemes the pages may show for documents (sources are outside our control)
SAFE_SCHEMES = frozenset({"http", "https", "file", "mailto"})


def create_app(
    settings: Settings | None = None,
    test_config: dict[str, Any] | None = None,
    *,
    savoir: Savoir | None = None,
) -> Flask:
    app = Flask(__name__)
    app.config.from_mapping(SECRET_KEY=None, JSON_AS_ASCII=False)
    if test_config:
        app.config.update(test_config)
    if savoir is None:
        savoir = Savoir(settings or load_settings())
    app.extensions["savoir"] = savoir
    app.url_map.converters["id"] = IdConverter
    i18n.install(app)
    _read_from_replica(savoir)
    savoir.open_index()

    from webui.people_views import bp as people_bp
    from webui.search_views import bp as search_bp

    app.register_blueprint(search_bp)
    app.register_blueprint(people_bp)
    from webui import api_views, federation_views, feeds, metrics

    # JSON API, federation (peers' signed questions, the federated search), Atom/OpenSearch, /metrics
    for machine_bp in (api_views.bp, federation_views.bp, feeds.bp, metrics.bp):
        app.register_blueprint(machine_bp)
    from webui import auth_views

    auth_views.install(app)
    from webui import admin_views

    admin_views.install(app)  # the admin console (/admin/...)

    if savoir.settings.web.follow_store_seconds > 0:
        _follow_store(savoir, savoir.settings.web.follow_store_seconds)

    @app.get("/healthz")
    def healthz():
        """Liveness for a load balancer; the pid tells which server process answered, and
        ``store_reads`` where this process's search-time store reads go now ("primary",
        "replica", or "primary (replica unavailable)")."""
        return jsonify({"status": "ok", "pid": os.getpid(), "store_reads": savoir.store.reads_from})

    @app.template_filter("href")
    def safe_href(url: str | None) -> str:
        """A link a source gave, only if it is http(s), file or mailto (never javascript:...)."""
        value = (url or "").strip()
        scheme = value.split(":", 1)[0].lower() if ":" in value else ""
        return value if scheme in SAFE_SCHEMES else "#"

    @app.before_request
    def pick_language() -> None:
        # the UI's language is ``ui`` (then the cookie a choice left, then the browser's);
        # ``lang`` on the search page is the documents' language, a filter, never this
        wanted = request.args.get("ui") or request.cookies.get(UI_COOKIE)
        if wanted not in LANGUAGES:
            wanted = request.accept_languages.best_match(LANGUAGES) or "en"
        g.ui_lang = wanted

    window = SharedWindow(savoir.settings.data_dir / "ratelimit.bin")
    app.extensions["savoir_ratelimit"] = window
    # a peer node's signed questions: one busy node's users are many users; an unsigned
    # or forged one costs an HMAC before it is refused
    unlimited = {"static", "healthz", "metrics.metrics", "federation.peer_search", "federation.peer_ping"}

    @app.before_request
    def limit_requests():
        per_minute = savoir.settings.web.requests_per_minute
        if per_minute <= 0 or request.endpoint in unlimited:
            return None
        auth = savoir.settings.auth
        address = client_address(
            request.remote_addr, request.headers.get("X-Forwarded-For"), auth.trusted_proxies
        )
        try:
            if ip_address(address).is_loopback:
                return None  # the server's own machine (the demo, an admin's script)
        except ValueError:
            pass
        if window.allow("request:" + address, per_minute):
            return None
        body, status = error_page(429, ERROR_MESSAGES[429])
        response = app.make_response((body, status))
        response.headers["Retry-After"] = "60"
        return response

    def error_page(
        status: int, message_id: str, values: dict[str, Any] | None = None, parameter: str | None = None
    ):
        if request.path.startswith("/api/"):
            with force_locale("en"):  # machines read one language
                english = gettext(message_id, **(values or {}))
            body: dict[str, Any] = {"error": english}
            if parameter:
                body["parameter"] = parameter
            return jsonify(body), status
        message = gettext(message_id, **(values or {}))
        return render_template("error.html", status=status, message=message), status

    @app.errorhandler(BadParameter)
    def bad_parameter(exc: BadParameter):
        return error_page(400, exc.message_id, exc.values, exc.name)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if exc.code == 401 and not request.path.startswith("/api/"):
            # sign in first, then come back here
            return redirect(url_for("auth.sign_in", next=request.path))
        if exc.code == 400 and exc.description == "csrf":
            return error_page(400, CSRF_MESSAGE)
        return error_page(exc.code or 500, ERROR_MESSAGES.get(exc.code or 500, OTHER_ERROR))

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        # the traceback goes to the log, never to the page
        log.exception("unexpected error on %s", request.path)
        return error_page(500, ERROR_MESSAGES[500])

    @app.context_processor
    def inject() -> dict[str, Any]:
        lang = getattr(g, "ui_lang", "en")
        other = "fr" if lang == "en" else "en"

        def agency_name(agency_id: str | None) -> str:
            """An agency by its name in the UI's language (config ``[agencies.<id>]``), else its id."""
            names = savoir.settings.agencies.get(agency_id or "")
            return (names.name(lang) if names else "") or (agency_id or "")

        def source_name(source_id: str | None) -> str:
            """A source by the name its settings give ("Records blog"), else its id."""
            names = getattr(g, "source_names", None)
            if names is None:
                try:
                    names = {s.id: s.name for s in savoir.sources if s.name}
                except Exception:  # no sources file, no database: the ids will do
                    log.warning("source names unavailable", exc_info=True)
                    names = {}
                g.source_names = names
            return names.get(source_id or "", source_id or "")

        def label(facet: str, value: str) -> str:
            """A facet value as people read it: languages and kinds translated,
            communities by their name in the UI's language; anything else as is."""
            if facet == "lang":
                return i18n.language_name(value)
            if facet == "kind":
                return i18n.kind_name(value)
            if facet == "agency":
                return agency_name(value)
            if facet == "source":
                return source_name(value)
            if facet == "communities":
                found = savoir.communities.by_id.get(value)
                return found.name(lang) if found else value
            return value

        return {
            "label": label,
            "agency_name": agency_name,
            "source_name": source_name,
            "ui_lang": lang,
            "other_lang": other,
            "switch_url": switch_url(other),
        }

    @app.after_request
    def remember_language(response):
        if request.args.get("ui") in LANGUAGES:
            response.set_cookie(
                UI_COOKIE, request.args["ui"], max_age=365 * 86400, samesite="Lax", httponly=True
            )
        return response

    return app


def get_savoir(app: Flask) -> Savoir:
    return app.extensions["savoir"]


def _read_from_replica(savoir: Savoir) -> None:
    """A web node with ``[store] read_url`` reads documents and the change log from that
    PostgreSQL replica (workers, which read their own writes, never do)."""
    read_url = savoir.settings.store.read_url
    if read_url:
        savoir.store.read_from_replica(read_url)


def _follow_store(savoir: Savoir, every: float) -> None:
    """Keep this process's index following the store (a web host with a local index):
    new changes are applied every *every* seconds by whichever process of the host is
    free to write; the index reports its watermark so the log is pruned only below it.

    With a ``read_url`` the change log and the documents it names are read from the
    replica (one engine, always moving forward: see :class:`indexer.store.Store`), while
    the watermark report and the pruning go to the primary. A replica behind the primary
    only delays this index; one that is down sends the reads to the primary."""
    import threading

    log = logging.getLogger("savoir.follow")

    def loop() -> None:
        while True:
            try:
                index = savoir.open_index()
                if index.follow(savoir.store):
                    savoir.refresh_people()
                    savoir.refresh_cross_language(index)
                    savoir.refresh_flat_postings(index)
            except Exception as exc:  # noqa: BLE001 - a database hiccup must not stop following
                log.warning("following the store failed for now: %s", exc)
            time.sleep(every)

    threading.Thread(target=loop, name="savoir-follow", daemon=True).start()


def get_searcher(app: Flask) -> Searcher:
    savoir = get_savoir(app)
    return Searcher(savoir.open_index(), savoir.store)
