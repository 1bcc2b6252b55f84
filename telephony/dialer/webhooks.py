"""Twilio's callbacks for the dialer's calls: the voice webhook and status callbacks of an
outbound call (which link the call to its interview before anything else is recorded,
then do what every call's do), and the asynchronous machine-detection verdict."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from quart import Blueprint, Quart, Response, current_app, request

from evaluation.outbound import voicemail_message
from persistence import NewCall
from persistence.records import TERMINAL_STATUSES
from persistence.store import Store, opened
from telephony import twilio_webhooks
from telephony.call_templates import load_template
from telephony.dialer.call_in import code_given
from telephony.dialer.settle import MACHINE, Rules, settle
from telephony.privacy import mask_phone
from telephony.twilio_params import direction
from telephony.twilio_webhooks import signed

log = logging.getLogger(__name__)
bp = Blueprint("dialer", __name__, url_prefix="/twilio")
EXTENSION = "dialer_face"
INTERVIEW_ID = re.compile(r"iv_[0-9a-f]{24}")
ANSWERED_BY = frozenset({"human", "machine_start", "fax", "unknown", *MACHINE})


@dataclass(frozen=True, slots=True)
class DialerFace:
    open_store: Callable[[], Store | None]
    clock: Callable[[], datetime]
    rules: Rules
    callback_number: str | None
    hang_up: Callable[[str, str | None], Awaitable[bool]] | None
    wake: Callable[[], None]
    prepare: Callable[[str], Awaitable[object]] | None = None
    """Reads the call's brief (whom to ask for) before the voice webhook opens its model."""

    def store(self) -> Store:
        return opened(self.open_store())


def install(app: Quart, face: DialerFace) -> None:
    app.extensions[EXTENSION] = face
    app.register_blueprint(bp)


def dialer() -> DialerFace:
    found: DialerFace = current_app.extensions[EXTENSION]
    return found


def _text(body: str, status: int) -> Response:
    return Response(body, status=status, content_type="text/plain; charset=utf-8")


async def _link(params: dict[str, str]) -> bool:
    """Create the call linked to its interview (from the URL's query, which Twilio signs)."""
    interview_id = request.args.get("interview", "")
    if not INTERVIEW_ID.fullmatch(interview_id):
        return False
    store = dialer().store()
    interview = await store.interviews.get(interview_id)
    if interview is None:
        return False
    call = NewCall(
        call_sid=params["CallSid"],
        direction=direction(params),
        from_masked=mask_phone(params.get("From", "")),
        to_masked=mask_phone(params.get("To", "")),
        template_id=interview.template_id,
        created_at=dialer().clock(),
        account_sid=params.get("AccountSid"),
        interview_id=interview_id,
    )
    await store.calls.create_or_get(call)
    return True


@bp.post("/outbound/voice")
@signed
async def outbound_voice(params: dict[str, str]) -> Response | tuple[Response, int]:
    if not await _link(params):
        return _text("unknown interview", 404)
    prepare = dialer().prepare
    if prepare is not None:
        await prepare(params["CallSid"])
    return await twilio_webhooks.voice.__wrapped__(params)  # type: ignore[attr-defined,no-any-return]


@bp.post("/outbound/status")
@signed
async def outbound_status(params: dict[str, str]) -> Response | tuple[Response, int]:
    if not await _link(params):
        return _text("unknown interview", 404)
    answer: Response = await twilio_webhooks.call_status.__wrapped__(params)  # type: ignore[attr-defined]
    if params["CallStatus"] in TERMINAL_STATUSES:
        face = dialer()
        store = face.store()
        interview = await store.dialing.by_live_call(params["CallSid"])
        if interview is not None:
            await settle(store, interview, params["CallSid"], face.clock(), face.rules)
        face.wake()
    return answer


@bp.post("/inbound/code")
@signed
async def inbound_code(params: dict[str, str]) -> Response | tuple[Response, int]:
    """The code a caller keyed or said: linked, the interview starts as any call does."""
    answer, linked = await code_given(params)
    if answer is not None:
        return answer
    prepare = dialer().prepare
    if linked and prepare is not None:
        # The model session opened next knows the candidate's first name and the
        # interview's variables.
        await prepare(params["CallSid"])
    return await twilio_webhooks.voice.__wrapped__(params)  # type: ignore[attr-defined,no-any-return]


@bp.post("/amd")
@signed
async def amd(params: dict[str, str]) -> Response | tuple[Response, int]:
    """The verdict is stored with its delay; a machine reached before the candidate has
    confirmed who they are (`confirm_identity`) gets the voicemail message once, and the
    call ends; after it, the verdict is marked ignored and the interview goes on."""
    call_sid, verdict = params["CallSid"], params.get("AnsweredBy", "")
    if verdict not in ANSWERED_BY:
        return _text("a known AnsweredBy is required", 400)
    face = dialer()
    store = face.store()
    now = face.clock()
    try:
        detection_ms: int | None = int(params.get("MachineDetectionDuration", ""))
    except ValueError:
        detection_ms = None
    await store.dialing.record_amd(call_sid, verdict, detection_ms, now)
    ctx = {"call_sid": call_sid}
    log.info("machine detection: %s after %s ms", verdict, detection_ms, extra=ctx)
    if verdict not in MACHINE:
        return Response(status=204)
    confirmed = await store.dialing.confirmed_at(call_sid) is not None
    if not confirmed and await store.evaluations.for_call(call_sid):
        # A backstop for a model that went on without confirming: a person is answering.
        await store.dialing.amd_ignored(call_sid, "the candidate had already answered")
        log.info("machine verdict ignored: the candidate had answered", extra=ctx)
        return Response(status=204)
    call = await store.calls.get(call_sid)
    interview = (
        await store.interviews.get(call.interview_id)
        if call is not None and call.interview_id
        else None
    )
    hang_up, callback = face.hang_up, face.callback_number
    if (
        interview is not None
        and hang_up is not None
        and callback is not None
        and await store.dialing.voicemail_once(call_sid, now)
    ):
        template = await load_template(store, interview.template_id)
        message = voicemail_message(template, callback, interview.code)
        if not await hang_up(call_sid, message):
            log.warning("the voicemail message could not be left", extra=ctx)
    elif confirmed or await store.dialing.confirmed_at(call_sid) is not None:
        # AMD false positives hang up on real people: once they have confirmed, ignore it.
        # (Read again: a confirmation may have won the race with the voicemail's write.)
        await store.dialing.amd_ignored(call_sid, "the candidate had confirmed who they are")
        log.info("machine verdict ignored: the candidate had confirmed", extra=ctx)
    return Response(status=204)
