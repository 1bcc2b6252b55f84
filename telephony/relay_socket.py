"""The ConversationRelay WebSocket endpoint, a bare ASGI handler beside the Quart app like
the media stream's: the upgrade is checked against X-Twilio-Signature and the per-call
token in its path, then `RelayStream` is driven from the socket's messages."""

from __future__ import annotations

import hmac

from quart import Quart

from bridge.relay_messages import Setup
from bridge.relay_stream import RelayListener, RelayStream
from bridge.stream import Send
from telephony.face import TwilioFace, face
from telephony.media_stream import ASGIApp, Receive, Scope, SendMessage, upgrade_refusal
from telephony.relay_twiml import RELAY_PATH
from telephony.socket_line import SocketLine


def install(app: Quart) -> None:
    """Route relay upgrades (`RELAY_PATH/<token>`) to `serve`, the rest as before."""
    inner: ASGIApp = app.asgi_app  # type: ignore[assignment]

    async def asgi_app(scope: Scope, receive: Receive, send: SendMessage) -> None:
        path: str = scope.get("path", "")
        if scope["type"] == "websocket" and (
            path == RELAY_PATH or path.startswith(RELAY_PATH + "/")
        ):
            await serve(face(app), scope, path[len(RELAY_PATH) + 1 :], receive, send)
        else:
            await inner(scope, receive, send)

    app.asgi_app = asgi_app  # type: ignore[method-assign,assignment]


async def serve(
    twilio: TwilioFace, scope: Scope, token: str, receive: Receive, send: SendMessage
) -> None:
    relays = twilio.relays
    refusal = upgrade_refusal(twilio, scope, token)
    if refusal is None and relays is None:
        refusal = "the relay engine is not configured"
    line = SocketLine(receive, send, "relay session", "relay", first="setup")
    if not await line.accept(refusal) or relays is None:
        return
    verifier = twilio.verifier
    assert verifier is not None

    admission = twilio.admission

    async def open_session(setup: Setup, send: Send) -> RelayListener | None:
        line.count(admission)  # once its call is claimed, as a media stream
        return await relays.open(setup, send)

    stream = RelayStream(
        relays.records(),
        line.send_text,
        account_sid=twilio.account_sid,
        listener_factory=open_session,
        issued_for=lambda call_sid: hmac.compare_digest(verifier.relay_token(call_sid), token),
    )
    await line.run(stream, admission, started=lambda: stream.setup is not None)
