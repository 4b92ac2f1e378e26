"""The Flask application factory."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from config.loader import Settings, load_settings
from crawler.runner import Savoir
from indexer.search import Searcher
from webui.i18n import LANGUAGES, translate
from webui.params import BadParameter, IdConverter

log = logging.getLogger(__name__)

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
    savoir.open_index()

    from webui.people_views import bp as people_bp
    from webui.search_views import bp as search_bp

    app.register_blueprint(search_bp)
    app.register_blueprint(people_bp)

    @app.template_filter("href")
    def safe_href(url: str | None) -> str:
        """A link a source gave, only if it is http(s), file or mailto (never javascript:...)."""
        value = (url or "").strip()
        scheme = value.split(":", 1)[0].lower() if ":" in value else ""
        return value if scheme in SAFE_SCHEMES else "#"

    @app.before_request
    def pick_language() -> None:
        wanted = request.args.get("lang") or request.cookies.get("savoir_lang")
        if wanted not in LANGUAGES:
            wanted = request.accept_languages.best_match(LANGUAGES) or "en"
        g.ui_lang = wanted

    def error_page(status: int, key: str, values: dict[str, Any] | None = None, parameter: str | None = None):
        lang = getattr(g, "ui_lang", "en")
        message = translate(lang, key, **(values or {}))
        if request.path.startswith("/api/"):
            body: dict[str, Any] = {"error": translate("en", key, **(values or {}))}
            if parameter:
                body["parameter"] = parameter
            return jsonify(body), status
        return render_template("error.html", status=status, message=message), status

    @app.errorhandler(BadParameter)
    def bad_parameter(exc: BadParameter):
        return error_page(400, exc.key, exc.values, exc.name)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        key = {404: "error_404", 405: "error_405"}.get(exc.code or 500, "error_other")
        return error_page(exc.code or 500, key)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        # the traceback goes to the log, never to the page
        log.exception("unexpected error on %s", request.path)
        return error_page(500, "error_500")

    @app.context_processor
    def inject() -> dict[str, Any]:
        lang = getattr(g, "ui_lang", "en")
        return {
            "_": lambda key, **kw: translate(lang, key, **kw),
            "ui_lang": lang,
            "other_lang": "fr" if lang == "en" else "en",
        }

    @app.after_request
    def remember_language(response):
        if request.args.get("lang") in LANGUAGES:
            response.set_cookie("savoir_lang", request.args["lang"], max_age=365 * 86400, samesite="Lax")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Content-Security-Policy", "default-src 'self'; style-src 'self'")
        return response

    return app


def get_savoir(app: Flask) -> Savoir:
    return app.extensions["savoir"]


def get_searcher(app: Flask) -> Searcher:
    savoir = get_savoir(app)
    return Searcher(savoir.open_index(), savoir.store)
