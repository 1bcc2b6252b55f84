"""Candidates calling in to a template that requires identification: asked for their
interview code (keypad or speech, three tries); a right code links the call to that
interview (its template, and an attempt on it) before the media stream starts."""

from __future__ import annotations

from datetime import UTC, datetime

from quart import Response, request
from twilio.twiml.voice_response import Gather, VoiceResponse

from persistence.api_records import Attempt
from telephony.call_templates import load_template
from telephony.dialer.codes import TRIES, code_from
from telephony.face import face
from telephony.twilio_auth import public_base

CODE_PATH = "/twilio/inbound/code"
ASK = "Welcome. Please key in or say your six digit interview code."
AGAIN = "Sorry, that code was not recognised. Please key in or say your six digit code again."
GOODBYE = "Sorry, we could not find your interview. Please check your code and call again. Goodbye."


def _base() -> str:
    twilio = face()
    trusted = twilio.proxies.trusts(request.remote_addr)
    base = public_base(twilio.public_url, request.headers, request.scheme, forwarded=trusted)
    assert base is not None  # `signed` has built the same base to check the signature
    return base


def gather(prompt: str, attempt: int) -> Response:
    response = VoiceResponse()
    ask = Gather(
        input="dtmf speech",
        num_digits=6,
        action=f"{_base()}{CODE_PATH}?try={attempt}",
        method="POST",
        timeout=8,
    )
    ask.say(prompt)
    response.append(ask)
    # No answer at all counts as a wrong try.
    response.redirect(f"{_base()}{CODE_PATH}?try={attempt}", method="POST")
    return Response(str(response), content_type="application/xml")


async def ask_for_code(params: dict[str, str], template_id: str) -> Response | None:
    """The question for the code, when the call's template requires one and the call is not
    linked yet; None to go on with the interview."""
    if params.get("Direction", "inbound") != "inbound":
        return None
    store = face().store()
    call = await store.calls.get(params["CallSid"])
    if call is not None and call.interview_id is not None:
        return None
    if not (await load_template(store, template_id)).require_code:
        return None
    return gather(ASK, 1)


async def code_given(params: dict[str, str]) -> tuple[Response | None, bool]:
    """(TwiML to answer with, None to connect the stream; whether the call is linked)."""
    try:
        attempt = int(request.args.get("try", "1"))
    except ValueError:
        attempt = TRIES
    store = face().store()
    code = code_from(params.get("Digits", ""), params.get("SpeechResult", ""))
    interview = None
    if code is not None:
        interview = await store.interviews.by_code(code)
    if interview is None or interview.status not in ("scheduled", "in_progress"):
        if attempt >= TRIES:
            response = VoiceResponse()
            response.say(GOODBYE)
            response.hangup()
            return Response(str(response), content_type="application/xml"), False
        return gather(AGAIN, attempt + 1), False
    now = datetime.now(UTC)
    number = len(interview.attempts) + 1
    entry = Attempt(number=number, planned_at=now, call_sid=params["CallSid"], started_at=now)
    if not await store.dialing.called_in(interview.id, interview.template_id, entry, now):
        response = VoiceResponse()
        response.say("Your interview is already under way on another call. Goodbye.")
        response.hangup()
        return Response(str(response), content_type="application/xml"), False
    return None, True
