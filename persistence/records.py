"""Typed records for each collection: the only shapes other packages see.

Pydantic models, so a stored document is checked once, where it is read, and the same
types can describe an API's responses. Importing this module loads no database code:
the live call (`bridge`) builds these records without knowing MongoDB.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from evaluation.cost import Direction
from evaluation.report import Completion, Report

Speaker = Literal["caller", "assistant"]
CallStatus = Literal[
    "created",
    "queued",
    "initiated",
    "ringing",
    "in-progress",
    "completed",
    "busy",
    "failed",
    "no-answer",
    "canceled",
]
StreamClaim = Literal["claimed", "duplicate", "unknown"]
Engine = Literal["realtime", "relay"]
Channel = Literal["phone", "browser"]
"""How the candidate reached the interview: a phone call through Twilio, or the ops
console's browser test call. Documents from before the field read as "phone"."""
HANDED_OVER = "handed over to ConversationRelay"
"""A media stream's end reason when its call went on over the relay: not the call's end."""

# Twilio call statuses in lifecycle order; every terminal status shares the top rank,
# so once a call has ended no late callback can move it back or sideways.
TERMINAL_STATUSES: Final = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
STATUS_RANK: Final[dict[str, int]] = {
    "queued": 0,
    "initiated": 1,
    "ringing": 2,
    "in-progress": 3,
    **dict.fromkeys(TERMINAL_STATUSES, 4),
}


class Record(BaseModel):
    """Immutable; fields a document has but a record does not know are ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class NewCall(Record):
    call_sid: str
    direction: Direction
    from_masked: str
    to_masked: str
    template_id: str
    created_at: datetime
    account_sid: str | None = None
    interview_id: str | None = None
    """The recruiter API's interview this call is an attempt of, if any."""
    channel: Channel = "phone"


class StatusEvent(Record):
    status: str
    at: datetime
    sequence_number: int | None = None
    source: str = "twilio"
    duration_s: int | None = None


class StreamInfo(Record):
    """The call's one media stream: claimed at `start`, summed up when it ends."""

    sid: str
    started_at: datetime
    stopped_at: datetime | None = None
    end: str | None = None
    frames_in: int = 0
    marks_in: int = 0
    bad_input: dict[str, int] = Field(default_factory=dict)


class StreamEnd(Record):
    """What a media stream leaves behind: why it ended and what came in over it."""

    reason: str
    frames_in: int
    marks_in: int
    bad_input: dict[str, int]


class EngineUse(Record):
    """Which engine ran the call from `at` on, and why it was chosen."""

    engine: Engine
    at: datetime
    reason: str


class RelayInfo(Record):
    """The call's ConversationRelay session: claimed at `setup`, summed up when it ends."""

    session_id: str
    started_at: datetime
    stopped_at: datetime | None = None
    end: str | None = None
    prompts: int = 0
    interrupts: int = 0
    errors: list[str] = Field(default_factory=list)
    bad_input: dict[str, int] = Field(default_factory=dict)


class RelayEnd(Record):
    """What a ConversationRelay session leaves behind: why it ended and what came in."""

    reason: str
    prompts: int
    interrupts: int
    errors: list[str]
    bad_input: dict[str, int]


class Keypress(Record):
    digit: str
    at: datetime
    n: int | None = None
    """Its number in the call's stream (from 1), which makes a replayed write harmless."""


class StreamStatus(Record):
    """One of Twilio's stream status callbacks."""

    event: Literal["stream-started", "stream-stopped", "stream-error"]
    at: datetime
    stream_sid: str | None = None
    error: str | None = None


class LatencyStats(Record):
    n: int
    p50_ms: float | None = None
    p95_ms: float | None = None
    max_ms: float | None = None


class Latency(Record):
    model: LatencyStats
    """End of the caller's speech to the model's first audio, per answered turn."""
    bridge: LatencyStats
    """First audio from the model to its first frame sent to Twilio, per response."""
    first_audio_ms: float | None = None
    """Stream start to the greeting's first frame."""


class CostLineRecord(Record):
    quantity: int | float
    unit: str
    rate_usd: float
    per: str
    usd: float


class CostRecord(Record):
    """A call's cost: `running_usd` while it lasts, the full breakdown once it ends."""

    running_usd: float | None = None
    currency: str = "USD"
    model: str | None = None
    responses: int | None = None
    total_usd: float | None = None
    lines: dict[str, CostLineRecord] = Field(default_factory=dict)
    text_model: str | None = None
    """The ConversationRelay engine's text model, when it ran any of the call."""


class CallOutcome(Record):
    """What a live interview leaves on its call document when it ends."""

    completion: Completion
    ended_reason: str
    latency: Latency
    interruptions: int
    reconnects: int
    report: Report | None = None
    cost: CostRecord | None = None


class CallRecord(Record):
    call_sid: str
    direction: Direction
    from_masked: str
    to_masked: str
    template_id: str
    status: CallStatus
    created_at: datetime
    updated_at: datetime
    channel: Channel = "phone"
    account_sid: str | None = None
    interview_id: str | None = None
    status_history: list[StatusEvent] = Field(default_factory=list)
    timings: dict[str, datetime] = Field(default_factory=dict)
    duration_s: int | None = None
    ended_reason: str | None = None
    unavailable_reason: str | None = None
    stream: StreamInfo | None = None
    stream_events: list[StreamStatus] = Field(default_factory=list)
    dtmf: list[Keypress] = Field(default_factory=list)
    completion: Completion | None = None
    report: Report | None = None
    cost: CostRecord | None = None
    latency: Latency | None = None
    interruptions: int | None = None
    reconnects: int | None = None
    engines: list[EngineUse] = Field(default_factory=list)
    relay: RelayInfo | None = None
    unplayed_greetings_usd: dict[str, float] = Field(default_factory=dict)
    """Greetings asked for ahead of a stream that never came to their worker, by response
    id: billed by OpenAI, never heard, and not in `cost` (the stream's worker wrote that)."""


class CallFilter(Record):
    status: str | None = None
    direction: Direction | None = None
    channel: Channel | None = None
    template_id: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


class CallPage(Record):
    items: list[CallRecord]
    total: int
    offset: int
    limit: int

    @property
    def has_more(self) -> bool:
        return self.offset + len(self.items) < self.total


class Turn(Record):
    call_sid: str
    seq: int
    speaker: Speaker
    text: str
    started_ms: int | None = None
    ended_ms: int | None = None
    interrupted: bool = False
    truncated_at_ms: int | None = None
    item_id: str | None = None
    created_at: datetime | None = None
    transcription_failed: bool = False
    """The caller spoke but their words could not be transcribed: the text is unknown."""
    latency_ms: float | None = None
    """An assistant reply's delay: end of the caller's speech to the reply's first audio."""


class Evaluation(Record):
    call_sid: str
    question_index: int | None
    answer_quality: str
    key_points_covered: list[str]
    next_action: str
    follow_up_needed: bool
    created_at: datetime
    tool_call_id: str | None = None
    notes: str | None = None


class TemplateRecord(Record):
    template_id: str
    body: dict[str, Any]
    updated_at: datetime
    phone_numbers: list[str] = Field(default_factory=list)


class ApiKey(Record):
    key_hash: str
    key_id: str = ""
    """The key's public part, by which it is listed and revoked."""
    label: str
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None
