"""The model's function calls during a call: checked, applied to the interview's progress,
and answered, so the model learns at once what comes next or what to correct."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bridge import realtime_events as rt
from evaluation.progress import InterviewProgress
from evaluation.tools import (
    CandidateRequest,
    EndInterview,
    EvaluateAnswer,
    ToolArgumentError,
    parse_tool_call,
    tool_error_output,
    tool_ok_output,
)
from persistence.records import Evaluation

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ToolResult:
    output: str
    """The function_call_output the model is sent."""
    evaluation: Evaluation | None = None
    """An answer judged: to be stored."""
    end: EndInterview | None = None
    """The model ended the interview."""
    request: CandidateRequest | None = None
    """The candidate confirmed who they are, or asked to be called another time, or never
    again: the session's `CandidateRequests` answers it (the output is then theirs)."""


class CandidateRequests(Protocol):
    """Acts on what the candidate asks of an outbound call (who they are, another time, no
    more calls); returns the function output the model is sent."""

    async def handle(self, call_sid: str, request: CandidateRequest) -> str: ...


async def answer_request(
    result: ToolResult, call_sid: str, requests: CandidateRequests | None
) -> str:
    """The output for the model: a candidate's request answered by `requests` (on calls
    that have them), any other call's as `run_tool` gave it."""
    if result.request is not None and requests is not None:
        return await requests.handle(call_sid, result.request)
    return result.output


def run_tool(
    call: rt.FunctionCall,
    progress: InterviewProgress,
    *,
    call_sid: str,
    now: float,
    at: datetime,
) -> ToolResult:
    try:
        parsed = parse_tool_call(call.name, call.arguments)
    except ToolArgumentError as exc:
        extra = {"call_sid": call_sid}
        # The detail can quote what the model wrote: keep it out of INFO-level logs.
        name = call.name[:60]
        log.warning("bad arguments for tool %s; the model was told why", name, extra=extra)
        log.debug("tool argument problems: %s", exc, extra=extra)
        return ToolResult(tool_error_output(str(exc)))
    if isinstance(parsed, EvaluateAnswer):
        index = progress.apply(parsed)
        record = Evaluation(
            call_sid=call_sid,
            question_index=index,
            answer_quality=parsed.answer_quality,
            key_points_covered=list(parsed.key_points_covered),
            next_action=parsed.next_action,
            follow_up_needed=parsed.follow_up_needed,
            created_at=at,
            tool_call_id=call.call_id,
            notes=parsed.notes,
        )
        return ToolResult(tool_ok_output(progress.progress_note(now)), evaluation=record)
    if isinstance(parsed, EndInterview):
        return ToolResult(tool_ok_output("Say your closing line now if you have not."), end=parsed)
    return ToolResult(tool_error_output("not available on this call"), request=parsed)
