"""Twilio's HTTP side: the voice webhook (TwiML) and the call and stream status callbacks."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import wraps
from urllib.parse import parse_qsl

from quart import Blueprint, Response, request
from twilio.twiml.voice_response import Connect, VoiceResponse
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import RequestEntityTooLarge

from bridge.clock import utcnow
from evaluation.templates import DEFAULT_TEMPLATE
from persistence import TERMINAL_STATUSES, CallRecord, NewCall, StatusEvent, StreamStatus
from persistence.store import Store
from telephony.dialer import call_in
from telephony.face import face
from telephony.privacy import mask_phone, mask_phones_in
from telephony.twilio_auth import UNKNOWN_BASE, public_base, websocket_base
from telephony.twilio_params import CALL_PARAMETERS, direction, problem

log = logging.getLogger(__name__)
bp = Blueprint("twilio", __name__, url_prefix="/twilio")

MEDIA_STREAM_PATH = "/twilio/media-stream"
STREAM_STATUS_PATH = "/twilio/stream-status"
UNAVAILABLE_MESSAGE = (
    "Sorry, the interview line is not available right now. Please try again later. Goodbye."
)
BUSY_MESSAGE = (
    "All our interviewers are busy right now. Please call again in a few minutes. Goodbye."
)
DEFAULT_TEMPLATE_ID = DEFAULT_TEMPLATE.template_id
MAX_BODY_BYTES = 64 * 1024

Handler = Callable[[dict[str, str]], Awaitable[Response | tuple[Response, int]]]


def store() -> Store:
    return face().store()


def _text(body: str, status: int) -> Response:
    return Response(body, status=status, content_type="text/plain; charset=utf-8")


async def _read_form() -> MultiDict[str, str] | None:
    """The posted form, or None when the body is larger than Twilio ever sends (a few
    hundred bytes): unsigned bytes are read only as far as that."""
    if (request.content_length or 0) > MAX_BODY_BYTES:
        return None
    data = bytearray()
    try:
        async for chunk in request.body:
            data += chunk
            if len(data) > MAX_BODY_BYTES:
                return None
    except RequestEntityTooLarge:
        return None
    return MultiDict(parse_qsl(data.decode("utf-8", "replace"), keep_blank_values=True))


def signed(handler: Handler) -> Callable[[], Awaitable[Response | tuple[Response, int]]]:
    """Reject anything not signed by Twilio with 403, logging why but not the parameters."""

    @wraps(handler)
    async def wrapper() -> Response | tuple[Response, int]:
        twilio = face()
        verifier = twilio.verifier
        if verifier is None:
            log.warning("Twilio webhook refused: TWILIO_AUTH_TOKEN is not set")
            return _text("Twilio webhooks are disabled: TWILIO_AUTH_TOKEN is not set", 503)
        form = await _read_form()
        if form is None:
            log.warning("Twilio webhook refused on %s: body too large", request.path)
            return _text("request body too large", 413)
        trusted = twilio.proxies.trusts(request.remote_addr)
        base = public_base(twilio.public_url, request.headers, request.scheme, forwarded=trusted)
        if base is None:
            log.warning("Twilio webhook refused on %s: %s", request.path, UNKNOWN_BASE)
            return _text(f"forbidden: {UNKNOWN_BASE}", 403)
        url = base + request.path
        if request.query_string:
            url += "?" + request.query_string.decode("latin-1")
        reason = verifier.check(url, form, request.headers)
        if reason is not None:
            log.warning("Twilio webhook refused on %s: %s", request.path, reason)
            return _text(f"forbidden: {reason}", 403)
        params = {k: form[k] for k in form}
        call_webhook = request.path.endswith(("/voice", "/status"))
        wrong = (
            "a parameter is repeated"
            if len(params) != len(list(form.items(multi=True)))
            else problem(
                params,
                account_sid=twilio.account_sid,
                status_required=request.path.endswith("/status"),
                required=CALL_PARAMETERS if call_webhook else (),
            )
        )
        if wrong is not None:
            # Signed, but not in Twilio's shapes: a signature re-split into new parameters.
            log.warning("Twilio webhook refused on %s: %s", request.path, wrong)
            return _text(f"bad request: {wrong}", 400)
        return await handler(params)

    return wrapper


@bp.errorhandler(Exception)
async def _unavailable(error: Exception) -> Response:
    # A database outage must not answer Twilio with an HTML stack page.
    log.error("Twilio webhook failed on %s (%s)", request.path, type(error).__name__)
    return _text("temporarily unavailable", 503)


def _twiml(response: VoiceResponse) -> Response:
    return Response(str(response), content_type="application/xml")


async def _ensure_call(params: dict[str, str], template_id: str | None = None) -> None:
    now = utcnow()
    call = NewCall(
        call_sid=params["CallSid"],
        direction=direction(params),
        from_masked=mask_phone(params.get("From", "")),
        to_masked=mask_phone(params.get("To", "")),
        template_id=template_id or DEFAULT_TEMPLATE_ID,
        created_at=now,
        account_sid=params.get("AccountSid"),
    )
    await store().calls.create_or_get(call)


def _handled(call: CallRecord) -> bool:
    """The call has had its stream, or has ended: a voice webhook for it now is a replay
    (a captured request is valid forever), never Twilio asking what to do."""
    return (
        call.stream is not None
        or "ended" in call.timings
        or call.status in TERMINAL_STATUSES
        or call.unavailable_reason is not None
    )


async def _template_for(params: dict[str, str], existing: CallRecord | None) -> str:
    """Inbound calls route by the dialed number; outbound ones were given theirs at dialing."""
    if existing is not None:
        return existing.template_id
    if direction(params) == "inbound" and params.get("To"):
        mapped = await store().templates.for_number(params["To"])
        if mapped is not None:
            return mapped.template_id
    return DEFAULT_TEMPLATE_ID


@bp.post("/voice")
@signed
async def voice(params: dict[str, str]) -> Response | tuple[Response, int]:
    call_sid = params["CallSid"]
    existing = await store().calls.get(call_sid)
    if existing is not None and _handled(existing):
        # Nothing is opened, held or rewritten for it.
        log.warning("voice webhook replayed for a handled call", extra={"call_sid": call_sid})
        response = VoiceResponse()
        response.hangup()
        return _twiml(response)
    template_id = await _template_for(params, existing)
    await _ensure_call(params, template_id)
    now = utcnow()
    await store().calls.mark_time(call_sid, "webhook_received", now)
    if (ask := await call_in.ask_for_code(params, template_id)) is not None:
        return ask  # the template requires the caller's interview code first
    twilio = face()
    response = VoiceResponse()
    relays = twilio.relays
    engine, chosen = relays.choose() if relays is not None else ("realtime", "Realtime API")
    why = chosen if engine is None else twilio.interviews.unavailable_reason
    if engine == "relay":
        why = None
    if why is not None:
        await store().calls.set_unavailable(call_sid, why, now)
        log.warning("call answered as unavailable: %s", why, extra={"call_sid": call_sid})
        response.say(UNAVAILABLE_MESSAGE)
        response.hangup()
        return _twiml(response)
    if not twilio.admission.has_room(call_sid):
        # A full worker degrades every call on it; refuse this one before it costs anything.
        why = twilio.admission.busy_reason(call_sid)
        await store().calls.set_unavailable(call_sid, why, now)
        log.warning("call refused, worker at capacity: %s", why, extra={"call_sid": call_sid})
        response.say(BUSY_MESSAGE)
        response.hangup()
        return _twiml(response)
    trusted = twilio.proxies.trusts(request.remote_addr)
    base = public_base(twilio.public_url, request.headers, request.scheme, forwarded=trusted)
    assert base is not None  # `signed` has built the same base to check the signature
    if relays is not None:
        await relays.record_engine(call_sid, engine or "realtime", chosen)
    if relays is not None and engine == "relay":
        twiml = await relays.twiml(call_sid, template_id, base)
        log.info("voice webhook answered with ConversationRelay", extra={"call_sid": call_sid})
        return Response(twiml, content_type="application/xml")
    connect = Connect()
    assert twilio.verifier is not None  # `signed` has checked the request with it
    token = twilio.verifier.stream_token(call_sid)
    stream = connect.stream(
        url=f"{websocket_base(base)}{MEDIA_STREAM_PATH}/{token}",
        status_callback=base + STREAM_STATUS_PATH,
        status_callback_method="POST",
    )
    stream.parameter(name="call_id", value=call_sid)
    stream.parameter(name="template_id", value=template_id)
    response.append(connect)
    twilio.interviews.preconnect(call_sid, template_id, direction(params))
    log.info("voice webhook answered with a media stream", extra={"call_sid": call_sid})
    return _twiml(response)


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


@bp.post("/status")
@signed
async def call_status(params: dict[str, str]) -> Response | tuple[Response, int]:
    call_sid, status = params["CallSid"], params["CallStatus"]
    # An outbound call's first callbacks can beat everything else here.
    existing = await store().calls.get(call_sid)
    await _ensure_call(params, await _template_for(params, existing))
    event = StatusEvent(
        status=status,
        at=utcnow(),
        sequence_number=_int_or_none(params.get("SequenceNumber")),
        duration_s=_int_or_none(params.get("CallDuration")),
    )
    record = await store().calls.record_status(call_sid, event)
    log.info(
        "call status %s (now %s)",
        status,
        record.status if record else "?",
        extra={"call_sid": call_sid},
    )
    return Response(status=204)


@bp.post("/stream-status")
@signed
async def stream_status(params: dict[str, str]) -> Response | tuple[Response, int]:
    call_sid = params["CallSid"]
    kind = params.get("StreamEvent", "")
    if kind not in ("stream-started", "stream-stopped", "stream-error"):
        return _text("a known StreamEvent is required", 400)
    entry = StreamStatus(
        event=kind,  # type: ignore[arg-type]  # checked against the three events above
        at=utcnow(),
        stream_sid=params.get("StreamSid") or None,
        error=mask_phones_in(params.get("StreamError", "")[:500]) or None,
    )
    if not await store().calls.add_stream_status(call_sid, entry):
        log.warning("stream status for an unknown call", extra={"call_sid": call_sid})
    elif kind == "stream-error":
        log.warning("Twilio reports a stream error", extra={"call_sid": call_sid})
    return Response(status=204)
