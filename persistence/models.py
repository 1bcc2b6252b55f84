"""Typed records for each collection; the only shapes other packages see."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Direction = Literal["inbound", "outbound"]
Speaker = Literal["caller", "assistant"]

# Twilio call statuses in lifecycle order; every terminal status shares the top rank,
# so once a call has ended no late callback can move it back or sideways.
TERMINAL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
STATUS_RANK: dict[str, int] = {
    "queued": 0,
    "initiated": 1,
    "ringing": 2,
    "in-progress": 3,
    **dict.fromkeys(TERMINAL_STATUSES, 4),
}


@dataclass(frozen=True, slots=True)
class NewCall:
    call_sid: str
    direction: Direction
    from_masked: str
    to_masked: str
    template_id: str
    created_at: datetime
    account_sid: str | None = None
    scheduled_call_id: str | None = None


@dataclass(frozen=True, slots=True)
class StatusEvent:
    status: str
    at: datetime
    sequence_number: int | None = None
    source: str = "twilio"
    duration_s: int | None = None


@dataclass(frozen=True, slots=True)
class CallRecord:
    call_sid: str
    direction: Direction
    from_masked: str
    to_masked: str
    template_id: str
    status: str
    created_at: datetime
    updated_at: datetime
    status_history: list[StatusEvent] = field(default_factory=list)
    timings: dict[str, datetime] = field(default_factory=dict)
    duration_s: int | None = None
    ended_reason: str | None = None
    stream: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CallFilter:
    status: str | None = None
    direction: Direction | None = None
    template_id: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


@dataclass(frozen=True, slots=True)
class CallPage:
    items: list[CallRecord]
    total: int
    offset: int
    limit: int

    @property
    def has_more(self) -> bool:
        return self.offset + len(self.items) < self.total


@dataclass(frozen=True, slots=True)
class Turn:
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


@dataclass(frozen=True, slots=True)
class Evaluation:
    call_sid: str
    question_index: int | None
    answer_quality: str
    key_points_covered: list[str]
    next_action: str
    follow_up_needed: bool
    created_at: datetime
    tool_call_id: str | None = None
    notes: str | None = None


@dataclass(frozen=True, slots=True)
class TemplateRecord:
    template_id: str
    body: dict[str, Any]
    updated_at: datetime
    phone_numbers: list[str] = field(default_factory=list)


ScheduledStatus = Literal["pending", "claimed", "dialed", "failed", "canceled"]


@dataclass(frozen=True, slots=True)
class ScheduledCall:
    id: str
    to_number: str
    template_id: str
    run_at: datetime
    status: ScheduledStatus
    created_at: datetime
    attempts: int = 0
    lease_owner: str | None = None
    lease_until: datetime | None = None
    call_sid: str | None = None
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class ApiKey:
    key_hash: str
    label: str
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None
