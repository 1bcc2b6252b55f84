"""The media-stream WebSocket endpoint, served as a bare ASGI handler beside the Quart app.

A call sends 50 frames a second each way, so per-message overhead decides how many calls
a core carries. Quart's websocket machinery (a request context, a second message queue
and the task that feeds it) cost about a tenth of the CPU per call in the load benchmark,
so this one route skips it and drives `TwilioStream` straight from ASGI messages; every
other request, and the app's start-up and shutdown, still go through Quart.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from quart import Quart
from werkzeug.datastructures import Headers

from bridge.stream import Outcome, Send, StreamListener, TwilioStream
from bridge.twilio_messages import Start
from telephony.face import TwilioFace, face
from telephony.twilio_auth import UNKNOWN_BASE, public_base, websocket_base

log = logging.getLogger(__name__)
PATH = "/twilio/media-stream"
NORMAL = 1000
POLICY_VIOLATION = 1008
INTERNAL_ERROR = 1011
START_WAIT_S = 5.0  # Twilio sends `start` at once; an upgrade that does not is not Twilio

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


def _refusal(twilio: TwilioFace, scope: Scope, token: str) -> str | None:
    """Why this upgrade may not stream, or None. Twilio signs the exact wss:// URL."""
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
    first = await receive()
    if first["type"] != "websocket.connect":
        return
    reason = _refusal(twilio, scope, token)
    await send({"type": "websocket.accept"})
    if reason is not None:
        log.warning("media stream refused: %s", reason)
        await send({"type": "websocket.close", "code": POLICY_VIOLATION, "reason": reason[:120]})
        return
    calls, verifier = twilio.stream_calls(), twilio.verifier
    assert verifier is not None
    closed = False

    async def close(code: int = NORMAL, why: str = "") -> None:
        nonlocal closed
        if not closed:
            closed = True
            try:
                await send({"type": "websocket.close", "code": code, "reason": why[:120]})
            except Exception as exc:  # Twilio closes its side right after `stop`
                log.debug("media stream already closed by the other side (%s)", type(exc).__name__)

    async def send_text(text: str) -> None:
        if closed:
            raise ConnectionError("the media stream is closed")
        await send({"type": "websocket.send", "text": text})

    admission = twilio.admission
    counted = False

    async def open_session(start: Start, send: Send) -> StreamListener | None:
        # Counted against the worker's cap once its call is claimed: an upgrade replayed
        # with a captured URL, which never sends `start`, holds no slot.
        nonlocal counted
        admission.stream_opened()
        counted = True
        return await twilio.interviews.open(start, send, close)

    stream = TwilioStream(
        calls,
        send_text,
        account_sid=twilio.account_sid,
        listener_factory=open_session,
        issued_for=lambda call_sid: hmac.compare_digest(verifier.stream_token(call_sid), token),
    )
    ending = "stream disconnected"
    loop = asyncio.get_running_loop()
    start_by = loop.time() + START_WAIT_S
    try:
        while True:
            if stream.start is None:  # Twilio sends `start` right after `connected`
                try:
                    message = await asyncio.wait_for(receive(), max(0.0, start_by - loop.time()))
                except TimeoutError:
                    ending = "stream refused"
                    log.warning("media stream closed: no start within %.0f s", START_WAIT_S)
                    await close(POLICY_VIOLATION, "no start")
                    break
            else:
                message = await receive()
            if message["type"] != "websocket.receive":
                closed = True  # websocket.disconnect: the caller (or Twilio) went away
                break
            text = message.get("text")
            outcome = await stream.handle(text if text is not None else message.get("bytes", b""))
            if outcome is Outcome.STOP:
                ending = "stream stopped"
                await close()
                break
            if outcome is Outcome.REFUSE:
                ending = "stream refused"
                await close(POLICY_VIOLATION, stream.refusal or "refused")
                break
    except asyncio.CancelledError:
        raise  # the server is shutting down; the finally block still records the call
    except Exception:
        ending = "stream failed: internal error"
        log.exception("media stream failed", extra={"call_sid": stream.call_sid or "?"})
        await close(INTERNAL_ERROR, "internal error")
    finally:
        # Shielded: a second cancellation must not lose the call's final record.
        if counted:
            admission.stream_closed()
        try:
            await asyncio.shield(stream.finish(ending))
        except Exception:
            log.exception("could not record the end of the stream")
