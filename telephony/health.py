"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

import asyncio

from quart import Blueprint, Response, jsonify

from persistence import StoreUnavailable
from telephony.services import services

READY_TIMEOUT_S = 2.0
bp = Blueprint("health", __name__)


@bp.get("/healthz")
async def healthz() -> Response:
    return jsonify(status="ok")


@bp.get("/readyz")
async def readyz() -> tuple[Response, int]:
    store = services().store
    if store is None:
        return jsonify(status="unavailable", reason="database not open"), 503
    try:
        await asyncio.wait_for(store.ping(), READY_TIMEOUT_S)
    except TimeoutError:
        reason = f"database did not answer within {READY_TIMEOUT_S:.0f} s"
        return jsonify(status="unavailable", reason=reason), 503
    except StoreUnavailable as exc:
        return jsonify(status="unavailable", reason=f"database: {exc}"), 503
    if not store.prepared:
        return jsonify(status="unavailable", reason="database indexes not yet created"), 503
    return jsonify(status="ready"), 200
