"""A live call's records, handed to the worker's durable writer.

Implements the live call's interfaces (see `bridge.recorder`): the session's recorder
(`CallWriter`) and the media stream's view of the call document (`StreamRecords`). Both
hand their writes to the one `DurableWriter` of the worker, which journals them and
writes them in order, through database outages of any length, so the call never waits
on the database and the end of the call is recorded however late the database returns.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from persistence.call_writes import (
    EvaluationWrite,
    KeypressWrite,
    OutcomeWrite,
    RunningCostWrite,
    StreamEndWrite,
    TimingWrite,
    TurnWrite,
)
from persistence.calls import Calls
from persistence.durable_writer import DurableWriter
from persistence.records import CallOutcome, Evaluation, StreamClaim, StreamEnd, Turn


class CallWriter:
    """One call's recorder (bridge.recorder.CallRecorder)."""

    def __init__(
        self,
        writer: DurableWriter,
        call_sid: str,
        *,
        redact: Callable[[str], str] | None = None,
    ) -> None:
        """`redact` rewrites transcript text before it is stored (the live model is not
        affected: it has heard the words already)."""
        self._writer = writer
        self.call_sid = call_sid
        self._redact = redact

    def turn(self, turn: Turn) -> None:
        update: dict[str, object] = {}
        if self._redact is not None and turn.text:
            update["text"] = self._redact(turn.text)
        if turn.created_at is None:  # when it was said, not when the database took it
            update["created_at"] = datetime.now(UTC)
        self._writer.put(TurnWrite(turn=turn.model_copy(update=update) if update else turn))

    def evaluation(self, evaluation: Evaluation) -> None:
        if self._redact is not None:  # its notes and points quote the answer
            evaluation = evaluation.model_copy(
                update={
                    "notes": self._redact(evaluation.notes) if evaluation.notes else None,
                    "key_points_covered": [self._redact(p) for p in evaluation.key_points_covered],
                }
            )
        self._writer.put(EvaluationWrite(evaluation=evaluation))

    def first_audio(self, at: datetime) -> None:
        self._writer.put(TimingWrite(call_sid=self.call_sid, name="first_audio_out", at=at))

    def running_cost(self, usd: float, at: datetime) -> None:
        self._writer.put(RunningCostWrite(call_sid=self.call_sid, usd=usd, at=at))

    def outcome(self, outcome: CallOutcome, at: datetime) -> None:
        if self._redact is not None and outcome.report is not None:
            # The report repeats the evaluations' notes and points, and sums the call up.
            report = _strings_redacted(outcome.report.model_dump(mode="json"), self._redact)
            outcome = outcome.model_copy(
                update={"report": type(outcome.report).model_validate(report)}
            )
        self._writer.put(OutcomeWrite(call_sid=self.call_sid, outcome=outcome, at=at))

    async def close(self, timeout_s: float) -> bool:
        """Wait up to `timeout_s` for the call's writes; false at once if the database is
        away. Nothing is lost either way: they are journaled and go on being retried."""
        return await self._writer.drain(self.call_sid, timeout_s)


class StreamRecords:
    """The call document as the media stream needs it (bridge.recorder.StreamCalls).

    The claim asks the database at once, as its answer decides whether this worker owns
    the stream; the keypresses and the end of the stream are durable writes, queued behind
    the session's own writes for the call, so the call is finalized after its outcome."""

    def __init__(self, calls: Calls, writer: DurableWriter) -> None:
        self._calls = calls
        self._writer = writer

    async def claim_stream(self, call_sid: str, stream_sid: str, at: datetime) -> StreamClaim:
        return await self._calls.claim_stream(call_sid, stream_sid, at)

    def keypress(self, call_sid: str, n: int, digit: str, at: datetime) -> None:
        self._writer.put(KeypressWrite(call_sid=call_sid, n=n, digit=digit, at=at))

    def stream_ended(self, call_sid: str, end: StreamEnd, at: datetime) -> None:
        self._writer.put(StreamEndWrite(call_sid=call_sid, end=end, at=at))


def _strings_redacted(value: Any, redact: Callable[[str], str]) -> Any:
    """Every string inside `value` redacted (identifiers and enum values pass unchanged:
    the patterns only match free-standing numbers and addresses)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [_strings_redacted(v, redact) for v in value]
    if isinstance(value, dict):
        return {k: _strings_redacted(v, redact) for k, v in value.items()}
    return value
