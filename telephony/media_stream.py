"""The media-stream WebSocket endpoint: authenticate the upgrade, then feed frames to the bridge."""

from __future__ import annotations

import asyncio
import logging

from quart import Blueprint, websocket

from bridge.stream import Outcome, TwilioStream
from telephony.interview import listener_factory
from telephony.services import services, store
from telephony.twilio_auth import public_base, websocket_base

log = logging.getLogger(__name__)
bp = Blueprint("media_stream", __name__)
POLICY_VIOLATION = 1008
INTERNAL_ERROR = 1011


@bp.websocket("/twilio/media-stream")
async def media_stream() -> None:
    svc = services()
    verifier = svc.twilio_verifier
    # Twilio signs the exact wss:// URL with no parameters.
    url = websocket_base(public_base(svc.settings, websocket.headers, "https")) + websocket.path
    reason = (
        "TWILIO_AUTH_TOKEN is not set"
        if verifier is None
        else verifier.check(url, {}, websocket.headers)
    )
    await websocket.accept()
    if reason is not None:
        log.warning("media stream refused: %s", reason)
        await websocket.close(POLICY_VIOLATION, reason[:120])
        return

    async def send(text: str) -> None:
        await websocket.send(text)

    async def close_stream() -> None:
        await websocket.close(1000)

    stream = TwilioStream(
        store(),
        send,
        account_sid=svc.settings.twilio_account_sid,
        listener_factory=listener_factory(svc, store(), close_stream),
    )
    ending = "stream disconnected"
    try:
        while True:
            frame = await websocket.receive()
            outcome = await stream.handle(frame)
            if outcome is Outcome.STOP:
                ending = "stream stopped"
                await websocket.close(1000)
                break
            if outcome is Outcome.REFUSE:
                ending = "stream refused"
                await websocket.close(POLICY_VIOLATION, (stream.refusal or "refused")[:120])
                break
    except asyncio.CancelledError:
        raise  # the caller hung up: Quart cancels us; the finally block still records it
    except Exception:
        ending = "stream failed: internal error"
        log.exception("media stream failed", extra={"call_sid": stream.call_sid or "?"})
        await websocket.close(INTERNAL_ERROR, "internal error")
    finally:
        # Shielded: a second cancellation must not lose the call's final record.
        try:
            await asyncio.shield(stream.finish(ending))
        except Exception:
            log.exception("could not record the end of the stream")
