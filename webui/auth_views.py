"""Sign-in, sign-out, the audit log page, and what protects every form: CSRF tokens,
session cookie flags, security headers and a per-client limit on sign-in attempts."""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets as pysecrets
from datetime import timedelta
from pathlib import Path

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from webui.accounts import Accounts
from webui.i18n import N_
from webui.identity import current_user
from webui.params import Param, read_params
from webui.ratelimit import client_address

bp = Blueprint("auth", __name__)

SIGNIN_FAILED = N_("The user name or password is not right, or the account is locked for now.")
SIGNIN_THROTTLED = N_("Too many attempts from your address: wait a minute, then try again.")

#: POST endpoints that may be called without a CSRF token (every form has one)
CSRF_EXEMPT: frozenset[str] = frozenset(
    # a peer node's questions: signed with the pair's key (HMAC), never sent with a cookie
    {"federation.peer_search", "federation.peer_ping"}
)
AUDIT_PAGE = 50
SIGNIN_PARAMS = (Param("ui", choices=("en", "fr")), Param("next", default="", max_length=500))
AUDIT_PARAMS = (Param("ui", choices=("en", "fr")), Param("page", int, default=1, low=1, high=100000))


def csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = pysecrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def _safe_next(target: str) -> str:
    """Only a path on this site (never //evil.example or https://...)."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("search.home")


def _accounts() -> Accounts:
    savoir = current_app.extensions["savoir"]
    return Accounts(savoir.store, savoir.settings.auth)


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    params = read_params(SIGNIN_PARAMS, request.args)
    savoir = current_app.extensions["savoir"]
    if savoir.settings.auth.mode != "local":
        abort(404)  # the SSO proxy signs people in
    error = None
    if request.method == "POST":
        auth = savoir.settings.auth
        address = client_address(
            request.remote_addr, request.headers.get("X-Forwarded-For"), auth.trusted_proxies
        )
        # counted in a table every server process shares (webui.ratelimit)
        window = current_app.extensions["savoir_ratelimit"]
        if not window.allow("signin:" + address, auth.signins_per_minute):
            _accounts().audit("?", "signin.throttled", "", address)
            return render_template("auth/sign_in.html", error=SIGNIN_THROTTLED, next=params["next"]), 429
        username = (request.form.get("username") or "")[:200]
        password = (request.form.get("password") or "")[:1000]
        account = _accounts().authenticate(username, password, address)
        if account is None:
            error = SIGNIN_FAILED
        else:
            session.clear()  # a fresh session (and CSRF token) for the signed-in user
            session.permanent = True
            session["uid"] = account.id
            session["stamp"] = account.session_stamp
            return redirect(_safe_next(params["next"]))
    status = 401 if error else 200
    return render_template("auth/sign_in.html", error=error, next=params["next"]), status


@bp.route("/sign-out", methods=["POST"])
def sign_out():
    user = current_user()
    if user.signed_in:
        _accounts().audit(user.id or "?", "signout", user.id or "", request.remote_addr or "")
    session.clear()
    return redirect(url_for("search.home"))


@bp.route("/admin/audit")
def audit():
    params = read_params(AUDIT_PARAMS, request.args)
    require_admin()
    total, entries = _accounts().audit_entries(offset=(params["page"] - 1) * AUDIT_PAGE, limit=AUDIT_PAGE)
    pages = max(1, -(-total // AUDIT_PAGE))
    return render_template("auth/audit.html", entries=entries, page=params["page"], pages=pages, total=total)


def require_admin() -> None:
    """Admin pages: anonymous visitors are sent to sign in, other users get 403."""
    user = current_user()
    if not user.signed_in:
        abort(401)
    if not user.admin:
        abort(403)


# -- protections for the whole app --------------------------------------------------


def _secret_key(data_dir: Path, configured: str) -> str:
    if configured:
        return configured
    path = data_dir / "secret_key"
    try:
        return path.read_text("utf-8").strip()
    except FileNotFoundError:
        data_dir.mkdir(parents=True, exist_ok=True)
        key = pysecrets.token_urlsafe(48)
        # created readable by its owner only, and never overwritten by a racing process
        try:
            with open(path, "x", encoding="utf-8", opener=lambda p, f: os.open(p, f, 0o600)) as fh:
                fh.write(key)
        except FileExistsError:
            return path.read_text("utf-8").strip()
        return key


def _loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0].strip("[]") if host.count(":") <= 1 or host.startswith("[") else host
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def install(app: Flask) -> None:
    savoir = app.extensions["savoir"]
    auth = savoir.settings.auth
    app.secret_key = app.config.get("SECRET_KEY") or _secret_key(savoir.settings.data_dir, auth.secret_key)
    app.config.update(
        SESSION_COOKIE_NAME="savoir_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=auth.session_hours),
    )
    app.register_blueprint(bp)

    @app.before_request
    def secure_cookie_and_csrf():
        mode = auth.secure_cookies
        app.config["SESSION_COOKIE_SECURE"] = mode == "always" or (
            mode == "auto" and (request.is_secure or not _loopback(request.host))
        )
        if request.method in ("POST", "PUT", "PATCH", "DELETE") and request.endpoint not in CSRF_EXEMPT:
            sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
            expected = session.get("csrf") or ""
            if not expected or not hmac.compare_digest(sent, expected):
                abort(400, description="csrf")

    @app.context_processor
    def auth_context():
        return {"csrf_token": csrf_token, "user": current_user(), "local_signin": auth.mode == "local"}

    @app.after_request
    def security_headers(response):
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
            "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
        )
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        if getattr(g, "savoir_user", None) is not None and g.savoir_user.signed_in:
            # what a signed-in user sees depends on their groups: never cached by others
            response.headers["Cache-Control"] = "private, no-store"
        return response
