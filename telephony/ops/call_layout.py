"""A call's page laid out from its records, with no I/O: the transcript with offsets and
each evaluation beside the answer it scores, and the report as a scorecard.

An evaluation is stored when the model calls the tool, after the answer it judges and
before the reply that follows, so it belongs beside the caller's last turn before that
reply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from evaluation.recommendation import Recommendation, recommend
from evaluation.report import Report
from persistence.records import CallRecord, Evaluation, Turn


@dataclass
class Line:
    turn: Turn
    offset_s: float | None
    """Seconds from the stream's start to when the utterance was complete."""
    evaluations: list[Evaluation] = field(default_factory=list)


@dataclass(frozen=True)
class Evidence:
    seq: int
    quote: str


@dataclass(frozen=True)
class ScoreRow:
    index: int
    question: str
    score: float
    """0..100."""
    quality: str | None
    covered: tuple[str, ...]
    missing: tuple[str, ...]
    evidence: tuple[Evidence, ...]


@dataclass(frozen=True)
class Scorecard:
    score: float
    recommendation: Recommendation
    rows: tuple[ScoreRow, ...]
    strengths: tuple[str, ...]
    concerns: tuple[str, ...]
    summary: str | None


def transcript(
    turns: list[Turn], evaluations: list[Evaluation], start: datetime | None
) -> list[Line]:
    lines = [
        Line(
            turn,
            (turn.created_at - start).total_seconds()
            if start is not None and turn.created_at is not None
            else None,
        )
        for turn in sorted(turns, key=lambda t: t.seq)
    ]
    callers = [line for line in lines if line.turn.speaker == "caller"]
    for evaluation in evaluations:
        # The reply that followed the evaluation was stored after it; the answer judged is
        # the caller's last turn before that reply (its transcript may have come later).
        reply = next(
            (
                line.turn.seq
                for line in lines
                if line.turn.speaker == "assistant"
                and line.turn.created_at is not None
                and line.turn.created_at >= evaluation.created_at
            ),
            None,
        )
        before = [line for line in callers if reply is None or line.turn.seq < reply]
        target = before[-1] if before else (callers[0] if callers else None)
        if target is not None:
            target.evaluations.append(evaluation)
    return lines


def scorecard(report: Report, lines: list[Line]) -> Scorecard:
    quotes: dict[int, list[Evidence]] = {}
    for line in lines:
        for evaluation in line.evaluations:
            if evaluation.question_index is not None and line.turn.text:
                quotes.setdefault(evaluation.question_index, []).append(
                    Evidence(line.turn.seq, line.turn.text)
                )
    rows, strengths, concerns = [], [], []
    for q in report.questions:
        rows.append(
            ScoreRow(
                index=q.index,
                question=q.text,
                score=round(q.score * 100, 1),
                quality=q.final_quality,
                covered=q.key_points_covered,
                missing=q.key_points_missing,
                evidence=tuple(dict.fromkeys(quotes.get(q.index, []))),
            )
        )
        number = f"Question {q.index + 1}"
        if q.final_quality in ("excellent", "good") and q.key_points_covered:
            strengths.append(f"{number}: covered {', '.join(q.key_points_covered)}")
        if q.final_quality is None:
            concerns.append(f"{number}: not answered")
        elif q.final_quality in ("off_topic", "needs_clarification"):
            concerns.append(f"{number}: answer judged {q.final_quality.replace('_', ' ')}")
        if q.final_quality is not None and q.key_points_missing:
            concerns.append(f"{number}: did not mention {', '.join(q.key_points_missing)}")
    return Scorecard(
        score=report.score,
        recommendation=recommend(report.score, report.completion),
        rows=tuple(rows),
        strengths=tuple(strengths),
        concerns=tuple(concerns),
        summary=report.summary,
    )


def timeline(call: CallRecord) -> list[tuple[datetime, str]]:
    """Twilio's statuses and the service's own milestones, in the order they happened."""
    events = [(call.created_at, "created")]
    for e in call.status_history:
        extra = f" ({e.duration_s} s)" if e.duration_s is not None else ""
        events.append((e.at, f"{e.status}{extra}"))
    events += [(at, name.replace("_", " ")) for name, at in call.timings.items()]
    return sorted(events, key=lambda e: e[0])
