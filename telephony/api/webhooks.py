"""/api/v1/webhooks: endpoints that receive signed events, and what was sent to each."""

from __future__ import annotations

import secrets
from typing import Any

from quart import Blueprint
from quart_schema import validate_querystring, validate_request, validate_response

from persistence.api_records import Delivery, WebhookEndpoint
from telephony.api import cursors
from telephony.api.auth import current_key, needs
from telephony.api.context import api
from telephony.api.destinations import DestinationRefused
from telephony.api.interviews import cursor_position
from telephony.api.openapi import errors
from telephony.api.problems import ApiError, invalid
from telephony.api.schemas import (
    Deleted,
    DeliveryOut,
    DeliveryPage,
    PageQuery,
    WebhookCreated,
    WebhookIn,
    WebhookList,
    WebhookOut,
)

bp = Blueprint("webhooks", __name__, url_prefix="/api/v1")


def render(endpoint: WebhookEndpoint) -> WebhookOut:
    return WebhookOut(
        id=endpoint.id, url=endpoint.url, events=endpoint.events, created_at=endpoint.created_at
    )


def render_delivery(d: Delivery) -> DeliveryOut:
    return DeliveryOut(
        id=d.id,
        event_id=d.event_id,
        event=d.event,
        status=d.status,
        attempts=d.attempts,
        created_at=d.created_at,
        next_at=d.next_at,
        delivered_at=d.delivered_at,
        last_status=d.last_status,
        last_error=d.last_error,
    )


async def _found(webhook_id: str) -> WebhookEndpoint:
    endpoint = await api().store().webhooks.get(webhook_id)
    if endpoint is None:
        raise ApiError(404, f"No webhook {webhook_id!r}.")
    return endpoint


@bp.post("/webhooks")
@validate_request(WebhookIn)
@validate_response(WebhookCreated, 201)
@errors(400, 403, 413, 422)
@needs("write")
async def create_webhook(data: WebhookIn) -> Any:
    """Subscribe a URL to events; the signing secret is in this response only.

    Each delivery is signed: `Voice-Interview-Signature: t=<unix>,v1=<hex HMAC-SHA256
    of "<t>.<raw body>" with the secret>`."""
    try:
        api().destinations.check_literal(data.url)
    except DestinationRefused as exc:
        raise invalid("url", str(exc)) from None
    endpoint = WebhookEndpoint(
        id="wh_" + secrets.token_hex(12),
        url=data.url,
        events=sorted(set(data.events)),
        secret="whsec_" + secrets.token_urlsafe(32),
        created_at=api().now(),
        key_id=current_key().key_id,
    )
    await api().store().webhooks.add(endpoint)
    return WebhookCreated(**render(endpoint).model_dump(), secret=endpoint.secret), 201


@bp.get("/webhooks")
@validate_response(WebhookList, 200)
@needs("read")
async def list_webhooks() -> WebhookList:
    """Every active endpoint (without secrets)."""
    return WebhookList(items=[render(e) for e in await api().store().webhooks.list()])


@bp.get("/webhooks/<webhook_id>")
@validate_response(WebhookOut, 200)
@errors(404)
@needs("read")
async def get_webhook(webhook_id: str) -> WebhookOut:
    """One endpoint (without its secret)."""
    return render(await _found(webhook_id))


@bp.delete("/webhooks/<webhook_id>")
@validate_response(Deleted, 200)
@errors(403, 404)
@needs("write")
async def delete_webhook(webhook_id: str) -> Deleted:
    """Stop sending to the endpoint; entries not yet delivered are dropped."""
    await _found(webhook_id)
    if not await api().store().webhooks.disable(webhook_id, api().now()):
        raise ApiError(404, f"No webhook {webhook_id!r}.")
    return Deleted(id=webhook_id, deleted=True)


@bp.get("/webhooks/<webhook_id>/deliveries")
@validate_querystring(PageQuery)
@validate_response(DeliveryPage, 200)
@errors(404, 422)
@needs("read")
async def list_deliveries(webhook_id: str, query_args: PageQuery) -> DeliveryPage:
    """What was sent to the endpoint (and what is still to be), newest first."""
    await _found(webhook_id)
    q = query_args
    found = (
        await api().store().webhooks.deliveries(webhook_id, cursor_position(q.cursor), q.limit + 1)
    )
    items, more = found[: q.limit], len(found) > q.limit
    last = items[-1] if items else None
    return DeliveryPage(
        items=[render_delivery(d) for d in items],
        next_cursor=cursors.encode(last.created_at, last.id) if more and last else None,
    )
