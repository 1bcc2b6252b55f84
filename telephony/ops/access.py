"""Who may see the console: sign-in with an API key, a signed session cookie, CSRF tokens
on every form, sign-out and an idle timeout.

The cookie carries a random token signed with the console's secret; the session itself
(scope, CSRF token, idle clock) lives in MongoDB under the token's hash, so sign-out and an
expired session end everywhere at once. Before sign-in, a second signed cookie carries the
sign-in form's CSRF token (double submit).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from typing import Final
from urllib.parse import quote

from itsdangerous import BadSignature, URLSafeSerializer
from quart import Blueprint, Response, g, render_template, request, url_for
from werkzeug.exceptions import Forbidden

from persistence.console_sessions import ConsoleSession
from telephony.api.auth import hash_key
from telephony.ops.context import ops

log = logging.getLogger(__name__)
bp = Blueprint("ops_access", __name__, url_prefix="/ops")

COOKIE: Final = "vi_ops"
SIGNIN_COOKIE: Final = "vi_ops_signin"
CSRF_FIELD: Final = "csrf_token"
# Scopes that see costs; a recruiter key sees interviews and results but not what they cost.
COST_SCOPES: Final = frozenset({"ops", "admin"})
OPEN_ENDPOINTS: Final = frozenset({"ops_access.sign_in", "ops_access.sign_in_post", "ops.static"})


def _token_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def _serializer(salt: str) -> URLSafeSerializer:
    return URLSafeSerializer(await ops().cookie_secret(), salt=salt)


def _set_cookie(response: Response, name: str, value: str) -> None:
    response.set_cookie(
        name,
        value,
        path="/ops",
        httponly=True,
        samesite="Lax",
        secure=ops().secure_cookies,
    )


def see_other(target: str) -> Response:
    """A redirect after a form (or to sign-in), as Quart's own Response."""
    return Response("", status=303, headers={"Location": target})


def current() -> ConsoleSession:
    session: ConsoleSession = g.ops_session
    return session


def sees_costs() -> bool:
    return current().scope in COST_SCOPES


def csrf_token() -> str:
    """For templates: the token every form posts back."""
    token = getattr(g, "ops_csrf", None)
    if token is not None:
        return str(token)
    return current().csrf


def _safe_next(target: str | None) -> str:
    """Only a path of the console: never a redirect to another site."""
    if target and target.startswith("/ops") and not target.startswith("//"):
        return target
    return "/ops/"


async def _session() -> ConsoleSession | None:
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return None
    try:
        token = (await _serializer("session")).loads(cookie)
    except BadSignature:
        return None
    if not isinstance(token, str):
        return None
    face = ops()
    session = await face.sessions().touch(_token_id(token), face.now(), face.idle)
    if session is None:
        return None
    # A key revoked since sign-in ends its sessions.
    if await face.store().api_keys.find_active(session.key_hash) is None:
        await face.sessions().close(session.id)
        return None
    return session


async def require_session() -> Response | None:
    """Before every console request: a session, and on a POST its CSRF token."""
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    session = await _session()
    if session is None:
        if request.method != "GET" or request.accept_mimetypes.best == "text/event-stream":
            return Response("Sign in first.", status=401, content_type="text/plain")
        path = request.full_path.rstrip("?")
        return see_other(f"{url_for('ops_access.sign_in')}?next={quote(path, safe='')}")
    g.ops_session = session
    if request.method == "POST":
        form = await request.form
        sent = form.get(CSRF_FIELD, "")
        if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
            raise Forbidden("The form's CSRF token is missing or wrong; reload the page.")
    return None


def security_headers(response: Response) -> Response:
    """Nothing the console serves is cached, framed or allowed to load from elsewhere."""
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    )
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.endpoint != "ops.static":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


@bp.get("/sign-in")
async def sign_in() -> Response:
    token = secrets.token_urlsafe(24)
    g.ops_csrf = token
    body = await render_template(
        "ops/sign_in.html", next=_safe_next(request.args.get("next")), error=None
    )
    response = Response(body, content_type="text/html; charset=utf-8")
    _set_cookie(response, SIGNIN_COOKIE, (await _serializer("sign-in")).dumps(token))
    return response


async def _refuse(message: str, status: int, target: str) -> Response:
    token = secrets.token_urlsafe(24)
    g.ops_csrf = token
    body = await render_template("ops/sign_in.html", next=target, error=message)
    response = Response(body, status=status, content_type="text/html; charset=utf-8")
    _set_cookie(response, SIGNIN_COOKIE, (await _serializer("sign-in")).dumps(token))
    return response


@bp.post("/sign-in")
async def sign_in_post() -> Response:
    form = await request.form
    target = _safe_next(form.get("next"))
    try:
        expected = (await _serializer("sign-in")).loads(request.cookies.get(SIGNIN_COOKIE, ""))
    except BadSignature:
        expected = None
    sent = form.get(CSRF_FIELD, "")
    if not isinstance(expected, str) or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise Forbidden("The form's CSRF token is missing or wrong; reload the page.")
    face = ops()
    key = await face.store().api_keys.find_active(hash_key(form.get("api_key", "").strip()))
    if key is None:
        return await _refuse("That key is not valid or has been revoked.", 401, target)
    token = secrets.token_urlsafe(32)
    now = face.now()
    session = ConsoleSession(
        id=_token_id(token),
        key_hash=key.key_hash,
        key_id=key.key_id,
        scope=next((s for s in ("admin", "ops", "recruiter") if s in key.scopes), "recruiter"),
        csrf=secrets.token_urlsafe(24),
        created_at=now,
        seen_at=now,
        expires_at=now + face.idle,
    )
    await face.sessions().open(session)
    log.info("ops console: signed in with key %s (%s)", key.key_id, session.scope)
    response = see_other(target)
    _set_cookie(response, COOKIE, (await _serializer("session")).dumps(token))
    response.delete_cookie(SIGNIN_COOKIE, path="/ops")
    return response


@bp.post("/sign-out")
async def sign_out() -> Response:
    await ops().sessions().close(current().id)
    response = see_other(url_for("ops_access.sign_in"))
    response.delete_cookie(COOKIE, path="/ops")
    return response
