"""What a live call writes, and where: interfaces that `persistence` implements.

The session never waits on the database: it hands records over and goes on, so a slow or
failing database delays records, not speech. Tests record into memory instead.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from persistence.records import CallOutcome, Evaluation, StreamClaim, StreamEnd, Turn


class CallRecorder(Protocol):
    """One call's records, written in the order given, retried through short outages."""

    def turn(self, turn: Turn) -> None: ...
    def evaluation(self, evaluation: Evaluation) -> None: ...
    def first_audio(self, at: datetime) -> None: ...
    def running_cost(self, usd: float, at: datetime) -> None: ...
    def outcome(self, outcome: CallOutcome, at: datetime) -> None: ...

    async def close(self, timeout_s: float) -> bool:
        """Write everything handed over, then stop; false if that takes over `timeout_s`."""
        ...


class StreamCalls(Protocol):
    """The call document as its media stream needs it (the `calls` repository)."""

    async def claim_stream(self, call_sid: str, stream_sid: str, at: datetime) -> StreamClaim:
        """Bind the call's one stream, atomically across workers."""
        ...

    async def add_keypress(self, call_sid: str, digit: str, at: datetime) -> bool: ...
    async def record_stream_end(self, call_sid: str, end: StreamEnd, at: datetime) -> bool: ...
    async def mark_time(self, call_sid: str, name: str, at: datetime) -> bool: ...

    async def finalize(self, call_sid: str, reason: str, at: datetime) -> bool:
        """Mark the call ended exactly once; true for the one caller that did."""
        ...
