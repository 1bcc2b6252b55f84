"""Typed records for what the recruiter API stores: interviews and their attempts, webhook
endpoints and their deliveries.

Like `persistence.records`, importing this loads no database code.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from persistence.records import Record

InterviewStatus = Literal[
    "scheduled", "in_progress", "completed", "failed", "expired", "canceled", "erased"
]
# An interview in one of these can still be dialed, so its template must stay.
OPEN_STATUSES = ("scheduled", "in_progress")
TimezoneSource = Literal["given", "phone_number"]
EventType = Literal[
    "interview.completed",
    "interview.attempt_failed",
    "interview.expired",
    "call.completed",
    "call.cost_alert",
]
DeliveryStatus = Literal["pending", "sending", "delivered", "failed"]


class Candidate(Record):
    """Erased to None on request; the number is the one full number the service keeps."""

    name: str | None
    phone: str | None


class CallWindow(Record):
    start: str
    """Local "HH:MM"."""
    end: str
    days: list[str]


class Consent(Record):
    obtained_at: datetime
    source: str


class Attempt(Record):
    """One dial: planned by the API, filled in by the dialer and the call's end."""

    number: int
    planned_at: datetime
    call_sid: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    outcome: str | None = None
    confirmed_at: datetime | None = None
    """When the candidate confirmed who they are (outbound calls)."""
    ends_by: datetime | None = None
    """A dialed call must have ended by then (ring, time limit, grace): past it with no
    final status, the dialer asks Twilio."""


class RedialRecord(Record):
    """An interview's own redial delays (minutes), as the recruiter gave them."""

    no_answer_min: list[int]
    busy_min: list[int] | None
    """None: busy shares no-answer's delays."""
    failed_min: list[int]
    dropped_min: list[int]
    voicemail: Literal["next_day", "never"]


class InterviewResult(Record):
    call_sid: str
    score: float
    recommendation: str
    completion: str
    report: dict[str, Any] | None = None


class NewInterview(Record):
    id: str
    key_id: str
    request_hash: str
    code: str
    candidate: Candidate
    template_id: str
    timezone: str
    timezone_source: TimezoneSource
    window: CallWindow
    not_before: datetime | None
    expires_at: datetime
    max_attempts: int
    variables: dict[str, str]
    metadata: dict[str, Any]
    consent: Consent
    planned: list[datetime]
    created_at: datetime
    redial: RedialRecord | None = None
    """None: the dialer's defaults."""


class InterviewRecord(NewInterview):
    status: InterviewStatus
    updated_at: datetime
    next_attempt_at: datetime | None = None
    attempts: list[Attempt] = Field(default_factory=list)
    result: InterviewResult | None = None
    erased_at: datetime | None = None


class InterviewFilter(Record):
    status: InterviewStatus | None = None
    template_id: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


class WebhookEndpoint(Record):
    id: str
    url: str
    events: list[EventType]
    secret: str
    created_at: datetime
    key_id: str
    disabled_at: datetime | None = None


class Delivery(Record):
    """One event for one endpoint: the outbox entry, and what became of it."""

    id: str
    endpoint_id: str
    event_id: str
    event: EventType
    payload: dict[str, Any]
    status: DeliveryStatus
    created_at: datetime
    next_at: datetime
    attempts: int = 0
    interview_id: str | None = None
    lease_owner: str | None = None
    lease_until: datetime | None = None
    delivered_at: datetime | None = None
    last_status: int | None = None
    last_error: str | None = None


class EventEntry(Record):
    """An event ready for the outbox: one delivery per subscribed endpoint."""

    event_id: str
    event: EventType
    payload: dict[str, Any]
    interview_id: str | None = None
