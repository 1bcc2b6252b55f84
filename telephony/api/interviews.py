"""/api/v1/interviews: candidates to interview by phone, and their planned attempts."""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from quart import Blueprint, request
from quart_schema import (
    document_request,
    document_response,
    validate_headers,
    validate_querystring,
    validate_request,
    validate_response,
)

from evaluation.problems import FieldProblem
from evaluation.templates import DEFAULT_TEMPLATE
from persistence.api_records import (
    CallWindow,
    Candidate,
    Consent,
    InterviewFilter,
    InterviewRecord,
    NewInterview,
    RedialRecord,
)
from persistence.interviews import CodeTaken
from telephony.api import cursors
from telephony.api.auth import current_key, needs
from telephony.api.context import api
from telephony.api.openapi import errors
from telephony.api.planning import Window, local_text
from telephony.api.problems import ApiError, from_validation, invalid, problem_body
from telephony.api.scheduling import Plan, PlanError, make_plan
from telephony.api.schemas import (
    AttemptOut,
    BatchEnvelope,
    BatchItemOut,
    BatchOut,
    CandidateOut,
    ConsentOut,
    Deleted,
    IdempotencyHeaders,
    InterviewBatchIn,
    InterviewIn,
    InterviewOut,
    InterviewPage,
    InterviewQuery,
    PlannedOut,
    PreviewOut,
    RedialIn,
    RedialOut,
    RescheduleIn,
    ResultOut,
    WindowIn,
    WindowOut,
)
from telephony.dialer.redial import RedialPolicy, policy_of

bp = Blueprint("interviews", __name__, url_prefix="/api/v1")
CODE_TRIES = 20


def _window(window: WindowIn) -> Window:
    return Window.parse(window.start, window.end, list(window.days))


def _zone_of(record: InterviewRecord) -> str | None:
    return None if record.timezone_source == "phone_number" else record.timezone


def render(record: InterviewRecord) -> InterviewOut:
    zone = ZoneInfo(record.timezone)
    nxt = record.next_attempt_at
    return InterviewOut(
        id=record.id,
        status=record.status,
        code=record.code,
        candidate=CandidateOut(name=record.candidate.name, phone=record.candidate.phone),
        template_id=record.template_id,
        timezone=record.timezone,
        timezone_source=record.timezone_source,
        window=WindowOut(**record.window.model_dump()),
        not_before=record.not_before,
        expires_at=record.expires_at,
        max_attempts=record.max_attempts,
        variables=record.variables,
        metadata=record.metadata,
        consent=ConsentOut(**record.consent.model_dump()),
        redial=_redial_out(policy_of(record.redial)),
        next_attempt_at=nxt,
        next_attempt_local=local_text(nxt, zone) if nxt is not None else None,
        planned=[PlannedOut(at=at, local=local_text(at, zone)) for at in record.planned],
        attempts=[AttemptOut(**a.model_dump()) for a in record.attempts],
        result=ResultOut(**record.result.model_dump()) if record.result else None,
        created_at=record.created_at,
        updated_at=record.updated_at,
        erased_at=record.erased_at,
    )


def _redial_out(policy: RedialPolicy) -> RedialOut:
    busy = policy.busy_min
    return RedialOut(
        no_answer_minutes=list(policy.no_answer_min),
        busy_minutes=list(busy) if busy is not None else None,
        failed_minutes=list(policy.failed_min),
        dropped_minutes=list(policy.dropped_min),
        voicemail="next_day" if policy.voicemails else "never",
    )


def _redial_record(given: RedialIn | None) -> RedialRecord | None:
    if given is None:
        return None
    return RedialRecord(
        no_answer_min=given.no_answer_minutes,
        busy_min=given.busy_minutes,
        failed_min=given.failed_minutes,
        dropped_min=given.dropped_minutes,
        voicemail=given.voicemail,
    )


def _plan(body: InterviewIn, now: datetime) -> Plan:
    if body.consent.obtained_at > now:
        raise invalid("consent.obtained_at", "must not be in the future")
    try:
        return make_plan(
            phone=body.candidate.phone,
            timezone=body.candidate.timezone,
            window=_window(body.window),
            not_before=body.not_before,
            expires_at=body.expires_at,
            attempts=body.max_attempts,
            now=now,
            gap=api().retry_gap,
        )
    except PlanError as exc:
        raise invalid(exc.path, exc.message) from None


async def _check_template(template_id: str, known: set[str] | None = None) -> None:
    """The template exists; `known` remembers the ones found, across a batch."""
    if template_id == DEFAULT_TEMPLATE.template_id or (known and template_id in known):
        return
    if await api().store().templates.get(template_id) is None:
        raise invalid("template_id", f"no template {template_id!r}")
    if known is not None:
        known.add(template_id)


def _interview_id(idempotency_key: str | None) -> str:
    if idempotency_key is None:
        return "iv_" + secrets.token_hex(12)
    seed = f"{current_key().key_hash}\0{idempotency_key}".encode()
    return "iv_" + hashlib.sha256(seed).hexdigest()[:24]


async def _create(
    body: InterviewIn, idempotency_key: str | None, known: set[str] | None = None
) -> tuple[InterviewOut, int]:
    """The interview and 201, or an earlier identical request's and 200."""
    now = api().now()
    # Without its own redial the body hashes as before that field existed, so a request
    # retried across an upgrade is still recognised.
    unset = {"redial"} if body.redial is None else None
    request_hash = hashlib.sha256(
        json.dumps(body.model_dump(mode="json", exclude=unset), sort_keys=True).encode()
    ).hexdigest()
    interview_id = _interview_id(idempotency_key)
    store = api().store()
    if idempotency_key is not None:
        existing = await store.interviews.get(interview_id)
        if existing is not None:
            return _replay(existing, request_hash)
    plan = _plan(body, now)
    await _check_template(body.template_id, known)
    if await store.dialing.on_do_not_call(api().number_hash(body.candidate.phone)):
        raise ApiError(409, "This number asked not to be called again.")
    for _ in range(CODE_TRIES):
        new = NewInterview(
            id=interview_id,
            key_id=current_key().key_id,
            request_hash=request_hash,
            code=f"{secrets.randbelow(1_000_000):06d}",
            candidate=Candidate(name=body.candidate.name, phone=body.candidate.phone),
            template_id=body.template_id,
            timezone=plan.timezone,
            timezone_source=plan.source,
            window=CallWindow(**body.window.model_dump()),
            not_before=body.not_before,
            expires_at=plan.expires_at,
            max_attempts=body.max_attempts,
            variables=body.variables,
            metadata=body.metadata,
            consent=Consent(**body.consent.model_dump()),
            redial=_redial_record(body.redial),
            planned=plan.planned,
            created_at=now,
        )
        try:
            record, created = await store.interviews.create(new)
        except CodeTaken:
            continue
        if not created:
            return _replay(record, request_hash)
        return render(record), 201
    raise ApiError(503, "No free interview code could be drawn; try again.")


def _replay(existing: InterviewRecord, request_hash: str) -> tuple[InterviewOut, int]:
    if existing.request_hash != request_hash:
        raise ApiError(409, "This Idempotency-Key was used with a different request.")
    return render(existing), 200


@bp.post("/interviews")
@validate_headers(IdempotencyHeaders)
@validate_request(InterviewIn)
@validate_response(InterviewOut, 201)
@document_response(InterviewOut, 200)
@errors(400, 403, 409, 413, 422)
@needs("write")
async def create_interview(data: InterviewIn, headers: IdempotencyHeaders) -> Any:
    """Schedule an interview.

    201 with the new interview; 200 with the same interview when a request with the same
    Idempotency-Key was made before."""
    return await _create(data, headers.idempotency_key)


def _item_problem(index: int, error: ApiError) -> BatchItemOut:
    problems = [FieldProblem(f"items[{index}].{p.path}", p.message) for p in error.errors]
    return BatchItemOut(
        index=index, status=error.status, problem=problem_body(error.status, error.detail, problems)
    )


@bp.post("/interviews:batch")
@validate_headers(IdempotencyHeaders)
@document_request(InterviewBatchIn)
@validate_response(BatchOut, 200)
@errors(400, 403, 413, 422)
@needs("write")
async def create_batch(headers: IdempotencyHeaders) -> BatchOut:
    """Schedule up to 1000 interviews; each item is validated and answered on its own.

    With an Idempotency-Key, item i is retried under "<key>:<i>"."""
    raw = await request.get_json()
    try:
        envelope = BatchEnvelope.model_validate(raw)
    except ValidationError as exc:
        raise ApiError(422, "The request has invalid fields.", from_validation(exc)) from None
    results: list[BatchItemOut] = []
    known: set[str] = set()
    for index, item in enumerate(envelope.items):
        key = f"{headers.idempotency_key}:{index}" if headers.idempotency_key else None
        try:
            body = InterviewIn.model_validate(item)
            interview, status = await _create(body, key, known)
        except ValidationError as exc:
            error = ApiError(422, "The item has invalid fields.", from_validation(exc))
            results.append(_item_problem(index, error))
        except ApiError as error:
            results.append(_item_problem(index, error))
        else:
            results.append(BatchItemOut(index=index, status=status, interview=interview))
    created = sum(1 for r in results if r.status in (200, 201))
    return BatchOut(created=created, refused=len(results) - created, items=results)


@bp.post("/interviews:preview")
@validate_request(InterviewIn)
@validate_response(PreviewOut, 200)
@errors(400, 413, 422)
@needs("read")
async def preview_interview(data: InterviewIn) -> PreviewOut:
    """What creating this interview would plan, storing nothing."""
    plan = _plan(data, api().now())
    await _check_template(data.template_id)
    first = plan.planned[0]
    return PreviewOut(
        timezone=plan.timezone,
        timezone_source=plan.source,
        zones=plan.zones,
        next_attempt_at=first,
        next_attempt_local=plan.local(first),
        planned=[PlannedOut(at=at, local=plan.local(at)) for at in plan.planned],
    )


def cursor_position(cursor: str | None) -> tuple[datetime, str] | None:
    if cursor is None:
        return None
    try:
        return cursors.decode(cursor)
    except cursors.CursorError as exc:
        raise invalid("query.cursor", str(exc)) from None


@bp.get("/interviews")
@validate_querystring(InterviewQuery)
@validate_response(InterviewPage, 200)
@errors(422)
@needs("read")
async def list_interviews(query_args: InterviewQuery) -> InterviewPage:
    """Interviews, newest first; pass `next_cursor` back as `cursor` for the next page."""
    q = query_args
    flt = InterviewFilter(
        status=q.status,
        template_id=q.template_id,
        created_from=q.created_from,
        created_to=q.created_to,
    )
    found = await api().store().interviews.page(flt, cursor_position(q.cursor), q.limit + 1)
    items, more = found[: q.limit], len(found) > q.limit
    last = items[-1] if items else None
    return InterviewPage(
        items=[render(i) for i in items],
        next_cursor=cursors.encode(last.created_at, last.id) if more and last else None,
    )


async def _found(interview_id: str) -> InterviewRecord:
    record = await api().store().interviews.get(interview_id)
    if record is None:
        raise ApiError(404, f"No interview {interview_id!r}.")
    return record


@bp.get("/interviews/<interview_id>")
@validate_response(InterviewOut, 200)
@errors(404)
@needs("read")
async def get_interview(interview_id: str) -> InterviewOut:
    """One interview with every attempt and, once done, its result."""
    return render(await _found(interview_id))


@bp.post("/interviews/<interview_id>/cancel")
@validate_response(InterviewOut, 200)
@errors(403, 404, 409)
@needs("write")
async def cancel_interview(interview_id: str) -> InterviewOut:
    """Cancel a scheduled interview: no further attempt is made."""
    record = await _found(interview_id)
    canceled = await api().store().interviews.cancel(interview_id, api().now())
    if canceled is None:
        raise ApiError(409, f"The interview is {record.status}; only a scheduled one can be.")
    return render(canceled)


@bp.post("/interviews/<interview_id>/reschedule")
@validate_request(RescheduleIn)
@validate_response(InterviewOut, 200)
@errors(400, 403, 404, 409, 413, 422)
@needs("write")
async def reschedule_interview(interview_id: str, data: RescheduleIn) -> InterviewOut:
    """New timing for a scheduled interview; the attempts are planned again."""
    record = await _found(interview_id)
    if record.status != "scheduled":
        raise ApiError(409, f"The interview is {record.status}; only a scheduled one can be.")
    if record.candidate.phone is None:
        raise ApiError(409, "The interview has been erased.")
    now = api().now()
    window = data.window or WindowIn(**record.window.model_dump())
    timezone = data.timezone if data.timezone is not None else _zone_of(record)
    fields = data.model_fields_set
    not_before = data.not_before if "not_before" in fields else record.not_before
    expires_at = data.expires_at if "expires_at" in fields else record.expires_at
    try:
        plan = make_plan(
            phone=record.candidate.phone,
            timezone=timezone,
            window=_window(window),
            not_before=not_before,
            expires_at=expires_at,
            attempts=max(1, record.max_attempts - len(record.attempts)),
            now=now,
            gap=api().retry_gap,
        )
    except PlanError as exc:
        raise invalid(exc.path, exc.message) from None
    changes = {
        "window": window.model_dump(),
        "not_before": not_before,
        "expires_at": plan.expires_at,
        "timezone": plan.timezone,
        "timezone_source": plan.source,
    }
    updated = await api().store().interviews.reschedule(interview_id, changes, plan.planned, now)
    if updated is None:
        raise ApiError(409, "The interview is no longer scheduled.")
    return render(updated)


@bp.delete("/interviews/<interview_id>")
@validate_response(Deleted, 200)
@errors(403, 404)
@needs("write")
async def erase_interview(interview_id: str) -> Deleted:
    """Erase the candidate's personal data: name, number, transcripts, evaluation text.

    Durations, costs and scores stay, without anything that names the candidate. A
    scheduled interview is canceled first."""
    record = await _found(interview_id)
    store, now = api().store(), api().now()
    sids = [a.call_sid for a in record.attempts if a.call_sid is not None]
    sids += [
        c.call_sid for c in await store.call_log.page({"interview_id": interview_id}, None, 200)
    ]
    await store.call_log.erase(sorted(set(sids)))
    await store.webhooks.forget_interview(interview_id)
    await store.interviews.erase(interview_id, now)
    return Deleted(id=interview_id, deleted=True)
