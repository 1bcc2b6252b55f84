"""/api/v1/calls: the call log, with each call's transcript, evaluations, report, cost and
latency. Numbers stay masked as they are stored."""

from __future__ import annotations

from quart import Blueprint
from quart_schema import validate_querystring, validate_response

from persistence.call_log import call_filter
from persistence.records import CallRecord
from telephony.api import cursors
from telephony.api.auth import needs
from telephony.api.context import api
from telephony.api.interviews import cursor_position
from telephony.api.openapi import errors
from telephony.api.problems import ApiError
from telephony.api.schemas import CallDetail, CallOut, CallPage, CallQuery

bp = Blueprint("calls", __name__, url_prefix="/api/v1")


def summary(call: CallRecord) -> CallOut:
    return CallOut(
        call_sid=call.call_sid,
        direction=call.direction,
        channel=call.channel,
        from_masked=call.from_masked,
        to_masked=call.to_masked,
        template_id=call.template_id,
        interview_id=call.interview_id,
        status=call.status,
        completion=call.completion,
        score=call.report.score if call.report else None,
        cost_usd=(call.cost.total_usd or call.cost.running_usd) if call.cost else None,
        duration_s=call.duration_s,
        ended_reason=call.ended_reason,
        created_at=call.created_at,
        updated_at=call.updated_at,
    )


@bp.get("/calls")
@validate_querystring(CallQuery)
@validate_response(CallPage, 200)
@errors(422)
@needs("read")
async def list_calls(query_args: CallQuery) -> CallPage:
    """Calls, newest first; pass `next_cursor` back as `cursor` for the next page."""
    q = query_args
    query = call_filter(
        status=q.status,
        outcome=q.outcome,
        direction=q.direction,
        channel=q.channel,
        template_id=q.template_id,
        interview_id=q.interview_id,
        created_from=q.created_from,
        created_to=q.created_to,
        min_score=q.min_score,
        max_score=q.max_score,
    )
    found = await api().store().call_log.page(query, cursor_position(q.cursor), q.limit + 1)
    items, more = found[: q.limit], len(found) > q.limit
    last = items[-1] if items else None
    return CallPage(
        items=[summary(c) for c in items],
        next_cursor=cursors.encode(last.created_at, last.call_sid) if more and last else None,
    )


@bp.get("/calls/<call_sid>")
@validate_response(CallDetail, 200)
@errors(404)
@needs("read")
async def get_call(call_sid: str) -> CallDetail:
    """One call: turns in order, evaluations, report, cost breakdown and latency."""
    store = api().store()
    call = await store.calls.get(call_sid)
    if call is None:
        raise ApiError(404, f"No call {call_sid!r}.")
    return CallDetail(
        **summary(call).model_dump(),
        status_history=call.status_history,
        timings=call.timings,
        turns=await store.turns.for_call(call_sid),
        evaluations=await store.evaluations.for_call(call_sid),
        report=call.report,
        cost=call.cost,
        latency=call.latency,
    )
