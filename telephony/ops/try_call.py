"""/ops/try: a signed-in person tries an interview from the browser, through the same
stream and session code as a phone call (see `telephony.browser_call`).

Starting a call opens its model session ahead, as the voice webhook does, and issues the
page a short-lived single-use token for the call's socket, which stores the call
(`channel: "browser"`) once it opens. While the call runs, the page reads its stored turns
and evaluations.
"""

from __future__ import annotations

import logging
import re
import secrets
from datetime import timedelta
from typing import Any, Final

from quart import Blueprint, Response, abort, jsonify, render_template, request

from evaluation.outbound import OutboundCall
from evaluation.templates import DEFAULT_TEMPLATE
from persistence.browser_tokens import BrowserTicket
from telephony.face import face
from telephony.ops.access import current
from telephony.ops.context import ops

log = logging.getLogger(__name__)
bp = Blueprint("ops_try", __name__, url_prefix="/ops")
TOKEN_TTL: Final = timedelta(seconds=60)
"""Long enough for the page to open its socket on a slow link; a token is good once."""
SOCKET_PATH: Final = "/browser-call/"
VARIABLE_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
MAX_VARIABLE_CHARS: Final = 1000
MAX_VARIABLES: Final = 50


async def _templates() -> list[str]:
    stored = await ops().store().templates.list()
    return sorted({DEFAULT_TEMPLATE.template_id, *(t.template_id for t in stored)})


def variables_from(text: str) -> tuple[tuple[str, str], ...]:
    """`name: value` lines, as an interview's variables; ValueError naming the first bad
    line. Names as the recruiter API allows them; values kept short, as the model reads
    them in every turn."""
    found: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        name, value = name.strip(), value.strip()
        if not colon or not VARIABLE_NAME.fullmatch(name):
            raise ValueError(f"variables, line {number}: write it as name: value")
        if not value or len(value) > MAX_VARIABLE_CHARS:
            raise ValueError(
                f"variables, line {number}: a value of 1 to {MAX_VARIABLE_CHARS} characters"
            )
        found[name] = value
    if len(found) > MAX_VARIABLES:
        raise ValueError(f"variables: at most {MAX_VARIABLES}")
    return tuple(found.items())


def _refused(status: int, title: str, detail: str) -> tuple[Response, int]:
    body = jsonify({"type": "about:blank", "title": title, "status": status, "detail": detail})
    body.content_type = "application/problem+json"
    return body, status


@bp.get("/try")
async def try_page() -> str:
    return await render_template(
        "ops/try.html",
        templates=await _templates(),
        unavailable=face().interviews.unavailable_reason,
    )


@bp.post("/try/calls")
async def start_call() -> tuple[Response, int]:
    """The call's id and its socket's path (with the token); 422 for an unknown template,
    503 when calls cannot be interviewed now or the worker is full."""
    form = await request.form
    template_id = (form.get("template") or DEFAULT_TEMPLATE.template_id).strip()
    if template_id not in await _templates():
        return _refused(422, "Unknown template", f"template: no template {template_id!r}")
    try:
        variables = variables_from(form.get("variables") or "")
    except ValueError as exc:
        return _refused(422, "Invalid variables", str(exc))
    twilio = face()
    if (why := twilio.interviews.unavailable_reason) is not None:
        return _refused(503, "Interviews unavailable", why)
    if not twilio.admission.has_room():
        return _refused(503, "Busy", "every interviewer on this worker is busy; try again soon")
    store, now = ops().store(), ops().now()
    call_sid = "BR" + secrets.token_hex(16)
    token = secrets.token_urlsafe(32)
    ticket = BrowserTicket(call_sid=call_sid, template_id=template_id)
    await store.browser_tokens.issue(token, ticket, now, now + TOKEN_TTL)
    # As the voice webhook does: the greeting is ready when the socket starts.
    brief = OutboundCall(
        first_name=None,
        local_now=now.strftime("%A %Y-%m-%d %H:%M"),
        timezone="UTC",
        variables=variables,
        called_in=True,  # the opening and tools of a call the candidate made
    )
    twilio.interviews.preconnect(call_sid, template_id, channel="browser", brief=brief)
    log.info("browser test call started by key %s", current().key_id, extra={"call_sid": call_sid})
    return jsonify(
        {"call_sid": call_sid, "template_id": template_id, "socket": SOCKET_PATH + token}
    ), 201


@bp.get("/try/calls/<call_sid>/feed")
async def feed(call_sid: str) -> Response:
    """What has been stored of a browser call so far: turns, evaluations, whether it ended
    (404 until its socket has opened)."""
    store = ops().store()
    call = await store.calls.get(call_sid)
    if call is None or call.channel != "browser":
        abort(404, f"No browser call {call_sid}.")
    turns: list[dict[str, Any]] = [
        {
            "seq": t.seq,
            "speaker": "Candidate" if t.speaker == "caller" else "Interviewer",
            "text": "(could not be transcribed)" if t.transcription_failed else t.text,
            "interrupted": t.interrupted,
            "latency_ms": t.latency_ms,
        }
        for t in await store.turns.for_call(call_sid)
    ]
    evaluations = [
        {
            "question": None if e.question_index is None else e.question_index + 1,
            "quality": e.answer_quality,
            "covered": e.key_points_covered,
            "next": e.next_action,
        }
        for e in await store.evaluations.for_call(call_sid)
    ]
    return jsonify(
        {
            "call_sid": call_sid,
            "ended": "ended" in call.timings,
            "turns": turns,
            "evaluations": evaluations,
        }
    )
