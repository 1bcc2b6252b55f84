"""The media-stream WebSocket endpoint, served as a bare ASGI handler beside the Quart app.

A call sends 50 frames a second each way, so per-message overhead decides how many calls
a core carries. Quart's websocket machinery (a request context, a second message queue
and the task that feeds it) cost about a tenth of the CPU per call in the load benchmark,
so this one route skips it and drives `TwilioStream` straight from ASGI messages; every
other request, and the app's start-up and shutdown, still go through Quart.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

from quart import Quart
from werkzeug.datastructures import Headers

from bridge.stream import Send, StreamListener, TwilioStream
from bridge.twilio_messages import Start
from telephony.face import TwilioFace, face
from telephony.socket_line import SocketLine
from telephony.twilio_auth import UNKNOWN_BASE, public_base, websocket_base

PATH = "/twilio/media-stream"

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
SendMessage = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, SendMessage], Awaitable[None]]


def install(app: Quart) -> None:
    """Route media-stream upgrades to `serve`, everything else to the app as before."""
    inner: ASGIApp = app.asgi_app  # type: ignore[assignment]

    async def asgi_app(scope: Scope, receive: Receive, send: SendMessage) -> None:
        token = call_token(scope["path"]) if scope["type"] == "websocket" else None
        if token is not None:
            await serve(face(app), scope, token, receive, send)
        else:
            await inner(scope, receive, send)

    app.asgi_app = asgi_app  # type: ignore[method-assign,assignment]


def call_token(path: str) -> str | None:
    """The call token from a media-stream path (`PATH/<token>`), "" when it has none,
    None when the path is not a media stream's."""
    if path == PATH:
        return ""
    if path.startswith(PATH + "/"):
        return path[len(PATH) + 1 :]
    return None


def upgrade_refusal(twilio: TwilioFace, scope: Scope, token: str) -> str | None:
    """Why this upgrade may not go on, or None. Twilio signs the exact wss:// URL (media
    streams and ConversationRelay alike)."""
    if twilio.open_stream_calls() is None:
        return "database not open"
    verifier = twilio.verifier
    if verifier is None:
        return "TWILIO_AUTH_TOKEN is not set"
    headers = Headers([(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]])
    # Twilio only streams over wss://; TLS usually ends at a proxy that may not say so.
    client = scope.get("client")
    trusted = twilio.proxies.trusts(client[0] if client else None)
    base = public_base(twilio.public_url, headers, "https", forwarded=trusted)
    if base is None:
        return UNKNOWN_BASE
    url = websocket_base(base) + scope["path"]
    reason = verifier.check(url, {}, headers)
    if reason is None and not token:
        # A signed bare URL signs nothing call-specific (see twilio_auth.stream_token).
        return "the stream URL lacks its call token"
    return reason


async def serve(
    twilio: TwilioFace, scope: Scope, token: str, receive: Receive, send: SendMessage
) -> None:
    line = SocketLine(receive, send, "media stream", "stream", first="start", scope=scope)
    if not await line.accept(upgrade_refusal(twilio, scope, token)):
        return
    verifier = twilio.verifier
    assert verifier is not None
    await run_stream(
        twilio,
        line,
        account_sid=twilio.account_sid,
        issued_for=lambda call_sid: hmac.compare_digest(verifier.stream_token(call_sid), token),
    )


async def run_stream(
    twilio: TwilioFace,
    line: SocketLine,
    *,
    account_sid: str | None,
    issued_for: Callable[[str], bool],
    session_start: Callable[[Start], Start] = lambda start: start,
) -> TwilioStream:
    """One accepted stream in Twilio's message format, from `connected` to its end, fed to
    the call's session; the Twilio route and the browser-call route both run it.
    `session_start` adjusts the `start` the session is opened with."""
    admission = twilio.admission

    async def open_session(start: Start, send: Send) -> StreamListener | None:
        # Counted against the worker's cap once its call is claimed: an upgrade replayed
        # with a captured URL, which never sends `start`, holds no slot.
        line.count(admission)
        return await twilio.interviews.open(session_start(start), send, line.close)

    stream = TwilioStream(
        twilio.stream_calls(),
        line.send_text,
        account_sid=account_sid,
        listener_factory=open_session,
        issued_for=issued_for,
    )
    await line.run(
        stream, admission, started=lambda: stream.start is not None, now=stream.handle_now
    )
    return stream
