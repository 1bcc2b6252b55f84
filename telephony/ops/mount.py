"""Mounts the ops console on an app: its blueprints, templates and static files, the
sign-in check before every page, and its error pages."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from quart import Blueprint, Quart, current_app, render_template
from werkzeug.exceptions import HTTPException

from persistence.store import DatabaseError, StoreUnavailable
from telephony.ops import access, calls, dashboard, live, queue, try_call
from telephony.ops.context import OpsFace
from telephony.ops.context import install as install_face

log = logging.getLogger(__name__)
# Templates and static files; the pages' own blueprints hold the routes.
assets = Blueprint(
    "ops",
    __name__,
    url_prefix="/ops",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)
PAGES: tuple[Blueprint, ...] = (
    access.bp,
    dashboard.bp,
    calls.bp,
    live.bp,
    queue.bp,
    try_call.bp,
)
BLUEPRINTS: tuple[Blueprint, ...] = (assets, *PAGES)


def install(app: Quart, face: OpsFace) -> None:
    install_face(app, face)
    for bp in BLUEPRINTS:
        app.register_blueprint(bp)


def _money(value: float | None) -> str:
    if value is None:
        return ""
    return f"${value:,.4f}" if value < 1 else f"${value:,.2f}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S UTC") if at is not None else ""


async def _helpers() -> dict[str, Any]:
    return {
        "csrf_token": access.csrf_token,
        "money": _money,
        "duration": _duration,
        "when": _when,
        "url_endpoints": current_app.view_functions.keys(),
    }


async def _error(error: HTTPException) -> tuple[str, int]:
    status = error.code or 500
    body = await render_template("ops/error.html", status=status, message=error.description)
    return body, status


async def _unavailable(error: Exception) -> tuple[str, int]:
    log.error("ops console: database unavailable (%s)", type(error).__name__)
    body = await render_template(
        "ops/error.html", status=503, message="The database is unavailable; try again shortly."
    )
    return body, 503


# Once, at import: a blueprint is set up before any app registers it, and tests start
# several apps that register the same blueprints.
for _bp in BLUEPRINTS:
    _bp.before_request(access.require_session)
    _bp.after_request(access.security_headers)
    _bp.context_processor(_helpers)
    _bp.register_error_handler(HTTPException, _error)
    _bp.register_error_handler(StoreUnavailable, _unavailable)
    _bp.register_error_handler(DatabaseError, _unavailable)
