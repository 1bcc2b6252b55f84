"""Prototype layout for the load benchmark: the media stream as a bare ASGI handler.

Everything except `/twilio/media-stream` goes to the unchanged Quart app (webhooks, health,
start-up and shutdown through its lifespan). The media stream skips Quart's websocket
machinery -- its request context, its second message queue and the task that feeds it --
and drives the very same `TwilioStream` and call session straight from ASGI messages.

    hypercorn benchmarks.load_thin:app      (run from the repository root)

Only the benchmark uses it (`load.py --app thin`); it is a measurement, not a change.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from werkzeug.datastructures import Headers

from bridge.stream import Outcome, TwilioStream
from telephony.asgi import app as quart_app
from telephony.interview import listener_factory
from telephony.services import services
from telephony.twilio_auth import public_base, websocket_base

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

PATH = "/twilio/media-stream"
POLICY_VIOLATION = 1008
INTERNAL_ERROR = 1011
log = logging.getLogger("telephony.media_stream")


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "websocket" and scope["path"] == PATH:
        await media_stream(scope, receive, send)
    else:
        await quart_app(scope, receive, send)  # type: ignore[arg-type]


async def media_stream(scope: Scope, receive: Receive, send: Send) -> None:
    first = await receive()
    if first["type"] != "websocket.connect":
        return
    svc = services(quart_app)
    headers = Headers([(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]])
    url = websocket_base(public_base(svc.settings, headers, "https")) + scope["path"]
    verifier = svc.twilio_verifier
    reason = (
        "TWILIO_AUTH_TOKEN is not set" if verifier is None else verifier.check(url, {}, headers)
    )
    await send({"type": "websocket.accept"})
    if reason is not None or svc.store is None:
        why = reason or "database not open"
        log.warning("media stream refused: %s", why)
        await send({"type": "websocket.close", "code": POLICY_VIOLATION, "reason": why[:120]})
        return
    store = svc.store
    closed = False

    async def close(code: int = 1000, why: str = "") -> None:
        nonlocal closed
        if not closed:
            closed = True
            await send({"type": "websocket.close", "code": code, "reason": why})

    async def send_text(text: str) -> None:
        if not closed:
            await send({"type": "websocket.send", "text": text})

    async def close_stream() -> None:
        await close(1000)

    stream = TwilioStream(
        store,
        send_text,
        account_sid=svc.settings.twilio_account_sid,
        listener_factory=listener_factory(svc, store, close_stream),
    )
    ending = "stream disconnected"
    try:
        while True:
            message = await receive()
            if message["type"] != "websocket.receive":
                break
            text = message.get("text")
            outcome = await stream.handle(text if text is not None else message.get("bytes", b""))
            if outcome is Outcome.STOP:
                ending = "stream stopped"
                await close(1000)
                break
            if outcome is Outcome.REFUSE:
                ending = "stream refused"
                await close(POLICY_VIOLATION, (stream.refusal or "refused")[:120])
                break
    except asyncio.CancelledError:
        raise
    except Exception:
        ending = "stream failed: internal error"
        log.exception("media stream failed", extra={"call_sid": stream.call_sid or "?"})
        await close(INTERNAL_ERROR, "internal error")
    finally:
        try:
            await asyncio.shield(stream.finish(ending))
        except Exception:
            log.exception("could not record the end of the stream")
