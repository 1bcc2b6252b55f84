"""The writes a live call makes, as typed values that can be journaled and applied later.

Each kind is a pydantic model, so a write is one JSON line in the worker's journal
(`persistence.journal`) and is read back exactly as it was handed over. `apply` makes
the write through the repositories; every kind is safe to apply twice, because a write
may be replayed after it reached the database but before that was noted (a crash):
turns are unique on (call, seq), evaluations on their tool call, keypresses on their
number in the stream, timings and the end of the call are set once, the rest are plain `$set`s.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from persistence.records import HANDED_OVER, CallOutcome, Evaluation, RelayEnd, StreamEnd, Turn
from persistence.store import Store


class _Write(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TurnWrite(_Write):
    kind: Literal["turn"] = "turn"
    turn: Turn

    @property
    def call_sid(self) -> str:
        return self.turn.call_sid

    async def apply(self, store: Store) -> None:
        await store.turns.append(self.turn)


class EvaluationWrite(_Write):
    kind: Literal["evaluation"] = "evaluation"
    evaluation: Evaluation

    @property
    def call_sid(self) -> str:
        return self.evaluation.call_sid

    async def apply(self, store: Store) -> None:
        await store.evaluations.add(self.evaluation)


class TimingWrite(_Write):
    kind: Literal["timing"] = "timing"
    call_sid: str
    name: str
    at: datetime

    async def apply(self, store: Store) -> None:
        await store.calls.mark_time(self.call_sid, self.name, self.at)


class RunningCostWrite(_Write):
    """Only the latest matters: a queued one is replaced by the next (see the writer)."""

    kind: Literal["running_cost"] = "running_cost"
    call_sid: str
    usd: float
    at: datetime

    async def apply(self, store: Store) -> None:
        await store.calls.set_running_cost(self.call_sid, self.usd, self.at)


class UnplayedGreetingWrite(_Write):
    kind: Literal["unplayed_greeting"] = "unplayed_greeting"
    call_sid: str
    response_id: str
    usd: float
    at: datetime

    async def apply(self, store: Store) -> None:
        await store.calls.unplayed_greeting(self.call_sid, self.response_id, self.usd, self.at)


class KeypressWrite(_Write):
    kind: Literal["keypress"] = "keypress"
    call_sid: str
    n: int
    digit: str
    at: datetime

    async def apply(self, store: Store) -> None:
        await store.calls.add_keypress(self.call_sid, self.digit, self.at, self.n)


class OutcomeWrite(_Write):
    kind: Literal["outcome"] = "outcome"
    call_sid: str
    outcome: CallOutcome
    at: datetime

    async def apply(self, store: Store) -> None:
        await store.calls.record_outcome(self.call_sid, self.outcome, self.at)


class StreamEndWrite(_Write):
    """The stream's summary, its stop time and the end of the call, as one write: the
    three updates are each idempotent, so a retry after a partial success is harmless."""

    kind: Literal["stream_end"] = "stream_end"
    call_sid: str
    end: StreamEnd
    at: datetime

    @property
    def ends_call(self) -> bool:
        """False when the call went on over ConversationRelay."""
        return self.end.reason != HANDED_OVER

    async def apply(self, store: Store) -> None:
        await store.calls.record_stream_end(self.call_sid, self.end, self.at)
        await store.calls.mark_time(self.call_sid, "stream_stopped", self.at)
        if self.ends_call:
            await store.calls.finalize(self.call_sid, self.end.reason, self.at)


class RelayEndWrite(_Write):
    """The ConversationRelay session's summary, its stop time and the end of the call."""

    kind: Literal["relay_end"] = "relay_end"
    call_sid: str
    end: RelayEnd
    at: datetime

    @property
    def ends_call(self) -> bool:
        return True

    async def apply(self, store: Store) -> None:
        await store.calls.record_relay_end(self.call_sid, self.end, self.at)
        await store.calls.mark_time(self.call_sid, "relay_stopped", self.at)
        await store.calls.finalize(self.call_sid, self.end.reason, self.at)


CallWrite = Annotated[
    TurnWrite
    | EvaluationWrite
    | TimingWrite
    | RunningCostWrite
    | KeypressWrite
    | UnplayedGreetingWrite
    | OutcomeWrite
    | StreamEndWrite
    | RelayEndWrite,
    Field(discriminator="kind"),
]
CALL_WRITE: TypeAdapter[CallWrite] = TypeAdapter(CallWrite)
