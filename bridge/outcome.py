"""What a finished call leaves on its record: how it ended, the report, cost and latency."""

from __future__ import annotations

import logging
from typing import Protocol

from bridge.ending import EndOfCall
from bridge.latency import CallLatency
from evaluation.progress import InterviewProgress
from evaluation.report import Report, build_report
from evaluation.templates import Template
from persistence.records import CallOutcome, CostRecord, Latency, LatencyStats

log = logging.getLogger(__name__)


class Voice(Protocol):
    """The engine's side of the line (Playout, or the relay's voice): barge-ins and latency."""

    @property
    def interruptions(self) -> int: ...
    @property
    def latency(self) -> CallLatency: ...


def call_outcome(
    *,
    template: Template,
    progress: InterviewProgress,
    ending: EndOfCall,
    playout: Voice,
    reconnects: int,
    duration_s: float,
    cost: CostRecord | None,
    call_sid: str,
) -> CallOutcome:
    completion = ending.completion or "candidate_hung_up"
    report: Report | None = None
    try:
        report = build_report(
            template,
            progress.evaluations,
            completion=completion,
            interruptions=playout.interruptions,
            reconnects=reconnects,
            duration_s=duration_s,
            end=ending.request,
        )
    except Exception:
        # The transcript and cost are still written; the report can be rebuilt from them.
        log.exception("the final report could not be built", extra={"call_sid": call_sid})
    reason = ending.reason or completion
    try:
        return CallOutcome(
            completion=completion,
            ended_reason=reason,
            latency=playout.latency.record(),
            interruptions=playout.interruptions,
            reconnects=reconnects,
            report=report,
            cost=cost,
        )
    except Exception:
        # How the call ended is worth keeping even when a figure beside it is not.
        log.exception("the call's outcome is incomplete", extra={"call_sid": call_sid})
        return CallOutcome(
            completion=completion,
            ended_reason=reason,
            latency=Latency(model=LatencyStats(n=0), bridge=LatencyStats(n=0)),
            interruptions=playout.interruptions,
            reconnects=reconnects,
        )
