"""/ops/interviews: the interview queue, each next attempt in the candidate's local time
and in UTC, every attempt's outcome, and buttons to cancel or to dial now."""

from __future__ import annotations

import logging
from datetime import datetime
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from quart import Blueprint, Response, render_template, request, url_for

from persistence.api_records import InterviewRecord
from persistence.interview_queue import QUEUE_STATES, InterviewQueue, QueueState, queue_state
from telephony.api import cursors
from telephony.ops.access import current, see_other
from telephony.ops.context import ops
from telephony.privacy import mask_phone

log = logging.getLogger(__name__)
bp = Blueprint("ops_queue", __name__, url_prefix="/ops")
PAGE = 50
DONE = {"canceled": "Interview canceled.", "dialing": "The next attempt is due now."}
NOT_DONE = "That interview is no longer scheduled; nothing was changed."


def local(at: datetime | None, zone: str) -> str:
    if at is None:
        return ""
    return at.astimezone(ZoneInfo(zone)).strftime("%a %Y-%m-%d %H:%M %Z")


def masked(interview: InterviewRecord) -> str:
    phone = interview.candidate.phone
    return mask_phone(phone) if phone else "erased"


@bp.get("/interviews")
async def queue() -> str:
    wanted = request.args.get("state")
    state: QueueState | None = next((s for s in QUEUE_STATES if s == wanted), None)
    after = None
    if cursor := request.args.get("cursor"):
        try:
            after = cursors.decode(cursor)
        except cursors.CursorError:
            after = None
    found = await InterviewQueue(ops().store().db).page(state, after, PAGE + 1)
    items, more = found[:PAGE], len(found) > PAGE
    next_link = None
    if more:
        last = items[-1]
        query = {"cursor": cursors.encode(last.created_at, last.id)}
        if state:
            query["state"] = state
        next_link = "?" + urlencode(query)
    return await render_template(
        "ops/interviews.html",
        items=items,
        state=state,
        states=QUEUE_STATES,
        queue_state=queue_state,
        local=local,
        masked=masked,
        next_link=next_link,
        message=DONE.get(request.args.get("done", ""))
        or (NOT_DONE if request.args.get("done") == "none" else None),
    )


def _back(done: str) -> Response:
    return see_other(url_for("ops_queue.queue") + "?" + urlencode({"done": done}))


@bp.post("/interviews/<interview_id>/cancel")
async def cancel(interview_id: str) -> Response:
    face = ops()
    closed = await face.store().interviews.cancel(interview_id, face.now())
    if closed is not None:
        log.info("ops console: interview %s canceled by key %s", interview_id, current().key_id)
    return _back("canceled" if closed is not None else "none")


@bp.post("/interviews/<interview_id>/dial-now")
async def dial_now(interview_id: str) -> Response:
    face = ops()
    moved = await InterviewQueue(face.store().db).dial_now(interview_id, face.now())
    if moved:
        log.info(
            "ops console: interview %s set to dial now by key %s", interview_id, current().key_id
        )
    return _back("dialing" if moved else "none")
