"""The recruiter API's request and response bodies: the OpenAPI document is generated from
these, and requests are validated against the same models."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from evaluation.problems import explained
from evaluation.report import Report
from evaluation.templates import Template
from persistence.api_records import EventType, InterviewStatus, TimezoneSource
from persistence.records import CostRecord, Evaluation, Latency, StatusEvent, Turn
from telephony.api.phones import PhoneError, known_zone, to_e164
from telephony.api.planning import DAYS, EARLIEST, LATEST
from telephony.api.problems import Problem
from telephony.dialer.redial import DEFAULT_POLICY

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Clock = Annotated[
    str,
    StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$"),
    explained('must be a local time "HH:MM"'),
]
TemplateRef = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"),
    explained("must be a template id: 1-64 letters, digits, '_', '.' or '-'"),
]
WEEKDAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri")
MAX_METADATA_BYTES = 16 * 1024
MAX_BATCH = 1000
MAX_REDIALS = 10  # as many as max_attempts allows
MAX_REDIAL_MINUTES = 7 * 24 * 60


def _phone(value: str) -> str:
    try:
        return to_e164(value)
    except PhoneError as exc:
        raise ValueError(str(exc)) from None


def _zone(value: str | None) -> str | None:
    if value is not None and not known_zone(value):
        raise ValueError("is not an IANA time zone such as America/New_York")
    return value


def _metadata(value: dict[str, JsonValue]) -> dict[str, JsonValue]:
    if len(json.dumps(value)) > MAX_METADATA_BYTES:
        raise ValueError(f"must be at most {MAX_METADATA_BYTES} bytes as JSON")
    return value


class _In(BaseModel):
    """Recruiters' JSON: unknown fields are typos, and stray whitespace is never meant."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CandidateIn(_In):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    phone: Annotated[
        str,
        Field(min_length=1, max_length=40, description="Any common format; stored as E.164."),
        AfterValidator(_phone),
    ]
    timezone: Annotated[
        str | None,
        Field(
            default=None,
            max_length=64,
            description="IANA zone; when absent, derived from the number.",
        ),
        AfterValidator(_zone),
    ] = None


class WindowIn(_In):
    """Local calling hours, within 08:00-21:00."""

    start: Clock = "09:00"
    end: Clock = "20:00"
    days: Annotated[list[Day], Field(min_length=1, max_length=7)] = Field(
        default_factory=lambda: list(WEEKDAYS)
    )

    @field_validator("start")
    @classmethod
    def _not_before_eight(cls, start: str) -> str:
        if start < EARLIEST.strftime("%H:%M"):
            raise ValueError("must be 08:00 or later (local calling hours)")
        return start

    @field_validator("end")
    @classmethod
    def _after_start(cls, end: str, info: ValidationInfo) -> str:
        if end > LATEST.strftime("%H:%M"):
            raise ValueError("must be 21:00 or earlier (local calling hours)")
        start = info.data.get("start")
        if isinstance(start, str) and end <= start:
            raise ValueError("must be after start")
        return end

    @field_validator("days")
    @classmethod
    def _in_order(cls, days: list[Day]) -> list[Day]:
        return sorted(set(days), key=DAYS.index)


class ConsentIn(_In):
    """The candidate's prior consent to an automated call (FCC 24-17): required."""

    obtained_at: AwareDatetime
    source: Annotated[
        str,
        Field(min_length=1, max_length=200, description="Where it was given, e.g. a form."),
    ]


Variables = Annotated[
    dict[
        Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")],
        Annotated[str, Field(max_length=1000)],
    ],
    Field(max_length=50, description="Strings the template may use, e.g. role or company."),
]
Metadata = Annotated[
    dict[Annotated[str, Field(max_length=100)], JsonValue],
    Field(max_length=50, description="Yours, echoed back and sent with webhooks."),
    AfterValidator(_metadata),
]


Minutes = Annotated[
    int,
    Field(ge=1, le=MAX_REDIAL_MINUTES),
    explained(f"must be whole minutes between 1 and {MAX_REDIAL_MINUTES}"),
]


def _delays(description: str, default: tuple[int, ...]) -> Any:
    return Field(
        default_factory=lambda: list(default),
        max_length=MAX_REDIALS,
        description=f"{description} At most {MAX_REDIALS}; [] never redials.",
    )


class RedialIn(_In):
    """When to call again, by how an attempt ended (the n-th such outcome waits the n-th
    delay). Fields left out keep the defaults; every redial stays within `max_attempts`,
    the window and `expires_at`."""

    no_answer_minutes: Annotated[
        list[Minutes],
        _delays(
            "After no answer (and busy, unless busy_minutes is given).",
            DEFAULT_POLICY.no_answer_min,
        ),
    ]
    busy_minutes: Annotated[
        list[Minutes] | None,
        Field(
            max_length=MAX_REDIALS,
            description="After busy, counted over busy outcomes only; null: no_answer_minutes.",
        ),
    ] = None
    failed_minutes: Annotated[
        list[Minutes], _delays("After a failed call.", DEFAULT_POLICY.failed_min)
    ]
    dropped_minutes: Annotated[
        list[Minutes],
        _delays("After a call that dropped before the first answer.", DEFAULT_POLICY.dropped_min),
    ]
    voicemail: Annotated[
        Literal["next_day", "never"],
        Field(description="After a voicemail: once, in the next day's window; or never."),
    ] = "next_day"


class InterviewIn(_In):
    candidate: CandidateIn
    template_id: TemplateRef
    not_before: AwareDatetime | None = None
    window: WindowIn = Field(default_factory=WindowIn)
    expires_at: Annotated[
        AwareDatetime | None, Field(description="Default: 14 days after creation.")
    ] = None
    max_attempts: Annotated[int, Field(ge=1, le=10)] = 3
    variables: Variables = Field(default_factory=dict)
    metadata: Metadata = Field(default_factory=dict)
    consent: ConsentIn
    redial: RedialIn | None = None


class InterviewBatchIn(BaseModel):
    """Up to 1000 interviews; each is validated and answered on its own."""

    items: Annotated[list[InterviewIn], Field(min_length=1, max_length=MAX_BATCH)]


class BatchEnvelope(BaseModel):
    """What a batch must be before its items are read one by one."""

    items: Annotated[list[Any], Field(min_length=1, max_length=MAX_BATCH)]


class RescheduleIn(_In):
    """New timing; fields left out keep their value."""

    not_before: AwareDatetime | None = None
    window: WindowIn | None = None
    expires_at: AwareDatetime | None = None
    timezone: Annotated[str | None, Field(max_length=64), AfterValidator(_zone)] = None


class CandidateOut(BaseModel):
    name: str | None
    phone: str | None = Field(description="E.164; null once erased.")


class WindowOut(BaseModel):
    start: str
    end: str
    days: list[str]


class ConsentOut(BaseModel):
    obtained_at: datetime
    source: str


class PlannedOut(BaseModel):
    at: datetime
    local: str = Field(description="The candidate's local time, with its offset.")


class AttemptOut(BaseModel):
    number: int
    planned_at: datetime
    call_sid: str | None
    started_at: datetime | None
    ended_at: datetime | None
    outcome: str | None
    confirmed_at: datetime | None = Field(
        default=None, description="When the candidate confirmed who they are on the call."
    )


class ResultOut(BaseModel):
    call_sid: str
    score: float = Field(description="0..100")
    recommendation: str
    completion: str
    report: dict[str, Any] | None


class RedialOut(BaseModel):
    """The redial delays this interview is dialed by (its own, or the defaults)."""

    no_answer_minutes: list[int]
    busy_minutes: list[int] | None
    failed_minutes: list[int]
    dropped_minutes: list[int]
    voicemail: Literal["next_day", "never"]


class InterviewOut(BaseModel):
    id: str
    status: InterviewStatus
    code: str = Field(description="6 digits the candidate can key in on the inbound number.")
    candidate: CandidateOut
    template_id: str
    timezone: str
    timezone_source: TimezoneSource
    window: WindowOut
    not_before: datetime | None
    expires_at: datetime
    max_attempts: int
    variables: dict[str, str]
    metadata: dict[str, Any]
    consent: ConsentOut
    redial: RedialOut
    next_attempt_at: datetime | None
    next_attempt_local: str | None
    planned: list[PlannedOut]
    attempts: list[AttemptOut]
    result: ResultOut | None
    created_at: datetime
    updated_at: datetime
    erased_at: datetime | None


class InterviewPage(BaseModel):
    items: list[InterviewOut]
    next_cursor: str | None


class PreviewOut(BaseModel):
    """What would be stored: the zone used and the planned local dial times."""

    timezone: str
    timezone_source: TimezoneSource
    zones: list[str] = Field(description="Every zone the window was checked against.")
    next_attempt_at: datetime | None
    next_attempt_local: str | None
    planned: list[PlannedOut]


class BatchItemOut(BaseModel):
    index: int
    status: int = Field(description="201 created, 200 an earlier request's, 4xx refused.")
    interview: InterviewOut | None = None
    problem: Problem | None = None


class BatchOut(BaseModel):
    created: int
    refused: int
    items: list[BatchItemOut]


class InterviewQuery(BaseModel):
    status: InterviewStatus | None = None
    template_id: str | None = None
    created_from: AwareDatetime | None = None
    created_to: AwareDatetime | None = None
    cursor: str | None = None
    limit: Annotated[int, Field(ge=1, le=200)] = 50


class IdempotencyHeaders(BaseModel):
    idempotency_key: Annotated[
        str | None,
        Field(
            default=None,
            min_length=1,
            max_length=200,
            description="Retries with the same key return the same interview.",
        ),
    ] = None


class TemplateOut(BaseModel):
    template_id: str
    template: Template | None = Field(description="null when the stored one is not valid.")
    problems: list[str] = Field(description="Why the stored template is not valid, if so.")
    phone_numbers: list[str] = Field(description="Inbound numbers routed to it.")
    updated_at: datetime


class TemplateList(BaseModel):
    items: list[TemplateOut]


class Deleted(BaseModel):
    id: str
    deleted: bool


class CallOut(BaseModel):
    call_sid: str
    direction: str
    channel: Annotated[
        str, Field(description="phone, or browser for a test call from the ops console")
    ]
    from_masked: str
    to_masked: str
    template_id: str
    interview_id: str | None
    status: str
    completion: str | None
    score: float | None
    cost_usd: float | None
    duration_s: int | None
    ended_reason: str | None
    created_at: datetime
    updated_at: datetime


class CallDetail(CallOut):
    status_history: list[StatusEvent]
    timings: dict[str, datetime]
    turns: list[Turn]
    evaluations: list[Evaluation]
    report: Report | None
    cost: CostRecord | None
    latency: Latency | None


class CallPage(BaseModel):
    items: list[CallOut]
    next_cursor: str | None


class CallQuery(BaseModel):
    status: str | None = None
    outcome: Annotated[
        str | None, Field(description="How the interview ended: completed, failed, ...")
    ] = None
    direction: Literal["inbound", "outbound"] | None = None
    channel: Literal["phone", "browser"] | None = None
    template_id: str | None = None
    interview_id: str | None = None
    created_from: AwareDatetime | None = None
    created_to: AwareDatetime | None = None
    min_score: Annotated[float | None, Field(ge=0, le=100)] = None
    max_score: Annotated[float | None, Field(ge=0, le=100)] = None
    cursor: str | None = None
    limit: Annotated[int, Field(ge=1, le=200)] = 50


class WebhookIn(_In):
    url: Annotated[
        str,
        StringConstraints(pattern=r"^https?://[^\s/?#]+[^\s#]*$", max_length=2000),
        explained("must be an http:// or https:// URL"),
    ]
    events: Annotated[list[EventType], Field(min_length=1, max_length=5)]


class WebhookOut(BaseModel):
    id: str
    url: str
    events: list[EventType]
    created_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(description="Signing secret; shown this once.")


class WebhookList(BaseModel):
    items: list[WebhookOut]


class DeliveryOut(BaseModel):
    id: str
    event_id: str
    event: EventType
    status: str
    attempts: int
    created_at: datetime
    next_at: datetime
    delivered_at: datetime | None
    last_status: int | None
    last_error: str | None


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None


class PageQuery(BaseModel):
    cursor: str | None = None
    limit: Annotated[int, Field(ge=1, le=200)] = 50
