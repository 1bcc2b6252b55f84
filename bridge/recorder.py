"""What a live call writes, and where: interfaces that `persistence` implements.

The call never waits on the database: it hands records over and goes on, so a slow or
failing database delays records, not speech, and an outage of any length loses none
(the implementation journals them and retries until written). Tests record into memory
instead.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from persistence.records import CallOutcome, Evaluation, StreamClaim, StreamEnd, Turn


class CallRecorder(Protocol):
    """One call's records, written in the order given, retried until written."""

    def turn(self, turn: Turn) -> None: ...
    def evaluation(self, evaluation: Evaluation) -> None: ...
    def first_audio(self, at: datetime) -> None: ...
    def running_cost(self, usd: float, at: datetime) -> None: ...
    def outcome(self, outcome: CallOutcome, at: datetime) -> None: ...

    async def close(self, timeout_s: float) -> bool:
        """Wait for everything handed over to be written; false if that takes over
        `timeout_s` (or the database is away): the writes then go on in the background."""
        ...


class StreamCalls(Protocol):
    """The call document as its media stream needs it."""

    async def claim_stream(self, call_sid: str, stream_sid: str, at: datetime) -> StreamClaim:
        """Bind the call's one stream, atomically across workers (asked at once: the
        answer decides whether this worker serves the stream)."""
        ...

    def keypress(self, call_sid: str, n: int, digit: str, at: datetime) -> None:
        """The stream's `n`-th keypress (from 1); handed over like the recorder's writes,
        in order with them, and stored once per `n`."""
        ...

    def stream_ended(self, call_sid: str, end: StreamEnd, at: datetime) -> None:
        """Record the stream's summary and finalize the call (`end.reason`) once, after
        the call's other writes; handed over, retried until written."""
        ...
