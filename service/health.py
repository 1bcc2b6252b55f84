"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

import asyncio

from quart import Blueprint, Response, current_app, jsonify

from persistence.store import StoreUnavailable
from service.services import EXTENSION, Services

READY_TIMEOUT_S = 2.0
bp = Blueprint("health", __name__)


@bp.get("/healthz")
async def healthz() -> Response:
    return jsonify(status="ok")


def _unavailable(svc: Services, reason: str) -> tuple[Response, int]:
    return jsonify(status="unavailable", reason=reason, **_load(svc)), 503


def _load(svc: Services) -> dict[str, int]:
    """calls: streams open here; connecting: answered here, stream not arrived yet."""
    admission = svc.admission
    return {
        "calls": admission.capacity.live,
        "connecting": admission.reserved(),
        "max_calls": admission.capacity.limit,
    }


@bp.get("/readyz")
async def readyz() -> tuple[Response, int]:
    """200 when this worker can take a call; 503 with a reason a load balancer can act on.

    A full worker is not ready, so new calls are routed to another worker or host
    rather than degrading every call on this one.
    """
    svc: Services = current_app.extensions[EXTENSION]
    store = svc.store
    if store is None:
        return _unavailable(svc, "database not open")
    try:
        await asyncio.wait_for(store.ping(), READY_TIMEOUT_S)
    except TimeoutError:
        return _unavailable(svc, f"database did not answer within {READY_TIMEOUT_S:.0f} s")
    except StoreUnavailable as exc:
        return _unavailable(svc, f"database: {exc}")
    if not store.prepared:
        return _unavailable(svc, "database indexes not yet created")
    admission = svc.admission
    if not admission.has_room():
        taken = admission.capacity.live + admission.reserved()
        return _unavailable(svc, f"at capacity ({taken} calls)")
    return jsonify(status="ready", **_load(svc)), 200
