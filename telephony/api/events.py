"""The webhook events: what each carries, and putting them in the outbox.

An event's id is derived from what it is about, so recording the same fact twice (a
retried hook, two workers) leaves one event; payloads name no candidate and no number.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from decimal import Decimal
from typing import Any

from evaluation.recommendation import recommend
from persistence.api_records import EventEntry, EventType, InterviewRecord, InterviewResult
from persistence.records import CallRecord
from persistence.store import Store


def event_id(event: EventType, subject: str) -> str:
    return "evt_" + hashlib.sha256(f"{event}:{subject}".encode()).hexdigest()[:24]


def entry(
    event: EventType, subject: str, data: dict[str, Any], at: datetime, interview_id: str | None
) -> EventEntry:
    eid = event_id(event, subject)
    payload = {"id": eid, "type": event, "created_at": at.isoformat(), "data": data}
    return EventEntry(event_id=eid, event=event, payload=payload, interview_id=interview_id)


def call_data(call: CallRecord) -> dict[str, Any]:
    return {
        "call_sid": call.call_sid,
        "interview_id": call.interview_id,
        "template_id": call.template_id,
        "direction": call.direction,
        "channel": call.channel,
        "from_masked": call.from_masked,
        "to_masked": call.to_masked,
        "completion": call.completion,
        "score": call.report.score if call.report else None,
        "duration_s": call.report.duration_s if call.report else call.duration_s,
        "cost_usd": call.cost.total_usd if call.cost else None,
    }


def interview_data(interview: InterviewRecord) -> dict[str, Any]:
    return {
        "interview_id": interview.id,
        "status": interview.status,
        "template_id": interview.template_id,
        "attempts": len(interview.attempts),
        "max_attempts": interview.max_attempts,
        "result": interview.result.model_dump(mode="json", exclude={"report"})
        if interview.result
        else None,
        "metadata": interview.metadata,
    }


async def emit(store: Store, event: EventEntry, at: datetime) -> int:
    return await store.webhooks.enqueue(event, at)


async def call_finished(
    store: Store, call: CallRecord, at: datetime, cost_alert_usd: Decimal
) -> list[EventEntry]:
    """Everything a finished call means for webhooks: call.completed, call.cost_alert, and
    for an interview's attempt interview.completed or interview.attempt_failed."""
    events = [entry("call.completed", call.call_sid, call_data(call), at, call.interview_id)]
    cost = call.cost.total_usd if call.cost else None
    if cost is not None and Decimal(str(cost)) > cost_alert_usd:
        data = {**call_data(call), "threshold_usd": float(cost_alert_usd)}
        events.append(entry("call.cost_alert", call.call_sid, data, at, call.interview_id))
    if call.interview_id is not None:
        events += await _attempt_finished(store, call, call.interview_id, at)
    for event in events:
        await emit(store, event, at)
    return events


async def _attempt_finished(
    store: Store, call: CallRecord, interview_id: str, at: datetime
) -> list[EventEntry]:
    completion = call.completion or "failed"
    interview = await store.interviews.attempt_ended(interview_id, call.call_sid, completion, at)
    if interview is None:
        return []
    if any(await store.dialing.requests(interview_id)):
        return []  # another time, or no more calls: the dialer settles the attempt
    if completion == "completed" and call.report is not None:
        result = InterviewResult(
            call_sid=call.call_sid,
            score=call.report.score,
            recommendation=recommend(call.report.score, completion),
            completion=completion,
            report=call.report.to_dict(),
        )
        await store.interviews.complete(interview_id, result, at)
        # Read back, so a retried hook still sends the event an earlier try closed it with.
        done = await store.interviews.get(interview_id)
        if done is None or done.result is None or done.result.call_sid != call.call_sid:
            return []
        return [entry("interview.completed", interview_id, interview_data(done), at, interview_id)]
    final = len(interview.attempts) >= interview.max_attempts
    if final:
        await store.interviews.fail(interview_id, at)
        interview = await store.interviews.get(interview_id) or interview
    data = {**interview_data(interview), "call_sid": call.call_sid, "final": final}
    subject = f"{interview_id}:{call.call_sid}"
    return [entry("interview.attempt_failed", subject, data, at, interview_id)]


async def expire_due(store: Store, now: datetime) -> int:
    """Close interviews whose time is up, each with one interview.expired event: the event
    is written first, so a crash between the two sends it again rather than never."""
    count = 0
    for interview in await store.interviews.expiring(now):
        data = {**interview_data(interview), "status": "expired"}
        await emit(store, entry("interview.expired", interview.id, data, now, interview.id), now)
        if await store.interviews.expire(interview.id, now) is not None:
            count += 1
    return count
