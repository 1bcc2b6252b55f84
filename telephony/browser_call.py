"""The browser test call's WebSocket: the ops console's /ops/try page speaks Twilio's
media-stream messages over it, so the call runs through the same stream and session code
as a phone call (`media_stream.run_stream`).

No Twilio signature can exist here: the upgrade is authorised by the single-use token the
signed-in page was issued with its call (see `telephony.ops.try_call`). A wrong, used or
expired token is refused with close code 1008.
"""

from __future__ import annotations

import dataclasses
import logging

from quart import Quart

from bridge.clock import utcnow
from bridge.twilio_messages import Start
from persistence.browser_tokens import BrowserTicket
from persistence.records import NewCall, StatusEvent
from telephony.face import TwilioFace, face
from telephony.media_stream import ASGIApp, Receive, Scope, SendMessage, run_stream
from telephony.socket_line import INTERNAL_ERROR, SocketLine

log = logging.getLogger(__name__)
PATH = "/browser-call"
STATUS_SOURCE = "browser"
NUMBER = "browser"
"""What a browser call shows where a phone call shows its masked numbers."""


def install(app: Quart) -> None:
    """Route browser-call upgrades to `serve`, everything else to the app as before."""
    inner: ASGIApp = app.asgi_app  # type: ignore[assignment]

    async def asgi_app(scope: Scope, receive: Receive, send: SendMessage) -> None:
        path: str = scope.get("path", "")
        if scope["type"] == "websocket" and (path == PATH or path.startswith(PATH + "/")):
            await serve(face(app), scope, path[len(PATH) + 1 :], receive, send)
        else:
            await inner(scope, receive, send)

    app.asgi_app = asgi_app  # type: ignore[method-assign,assignment]


async def _redeem(twilio: TwilioFace, token: str) -> tuple[BrowserTicket | None, str | None]:
    store = twilio.open_store()
    if store is None or twilio.open_stream_calls() is None:
        return None, "database not open"
    if not token:
        return None, "the socket URL lacks its token"
    ticket = await store.browser_tokens.redeem(token, utcnow())
    if ticket is None:
        return None, "unknown, used or expired token"
    return ticket, None


async def serve(
    twilio: TwilioFace, scope: Scope, token: str, receive: Receive, send: SendMessage
) -> None:
    ticket, refusal = await _redeem(twilio, token)
    line = SocketLine(receive, send, "browser call", "stream", first="start", scope=scope)
    if not await line.accept(refusal) or ticket is None:
        return
    # The call is stored once its socket is open, so a token never used leaves no call.
    call = NewCall(
        call_sid=ticket.call_sid,
        direction="inbound",
        from_masked=NUMBER,
        to_masked=NUMBER,
        template_id=ticket.template_id,
        created_at=utcnow(),
        channel="browser",
    )
    try:
        await twilio.store().calls.create_or_get(call)
    except Exception as exc:
        log.error("browser call not stored (%s)", type(exc).__name__)
        await line.close(INTERNAL_ERROR, "the call could not be stored")
        return

    def session_start(start: Start) -> Start:
        # The template is the one the call was issued for, whatever the page says.
        params = {**start.custom_parameters, "template_id": ticket.template_id}
        return dataclasses.replace(start, custom_parameters=params)

    began = utcnow()
    stream = await run_stream(
        twilio,
        line,
        account_sid=None,
        issued_for=lambda call_sid: call_sid == ticket.call_sid,
        session_start=session_start,
    )
    if stream.start is None:
        return
    # No status callbacks come for a browser call: its end is its completion.
    ended = utcnow()
    event = StatusEvent(
        status="completed",
        at=ended,
        source=STATUS_SOURCE,
        duration_s=round((ended - began).total_seconds()),
    )
    try:
        await twilio.store().calls.record_status(ticket.call_sid, event)
    except Exception as exc:
        log.error(
            "browser call's completion not recorded (%s)",
            type(exc).__name__,
            extra={"call_sid": ticket.call_sid},
        )
