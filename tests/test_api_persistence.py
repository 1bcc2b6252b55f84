"""The recruiter API's repositories on the real wire server: rate counters under a burst,
interview codes held once, the outbox's one-entry-per-event and its leases."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from persistence.api_records import (
    CallWindow,
    Candidate,
    Consent,
    EventEntry,
    NewInterview,
    WebhookEndpoint,
)
from persistence.interviews import CodeTaken
from persistence.store import Store

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
# Rate counters expire through a TTL index; a window in the past could be removed by the
# database's TTL pass in the middle of the test, so the burst counts a window to come.
AHEAD = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(days=1)


async def test_a_burst_of_first_requests_is_counted_exactly(store: Store) -> None:
    hits = (store.rate_counters.hit("k1", AHEAD, MINUTE) for _ in range(20))
    counts = await asyncio.gather(*hits)
    assert sorted(counts) == list(range(1, 21))
    assert await store.rate_counters.hit("k1", AHEAD + MINUTE, MINUTE) == 1  # a new window
    assert await store.rate_counters.hit("k2", AHEAD, MINUTE) == 1  # another key


def new_interview(interview_id: str, code: str) -> NewInterview:
    return NewInterview(
        id=interview_id,
        key_id="k",
        request_hash="h",
        code=code,
        candidate=Candidate(name="A", phone="+14155552671"),
        template_id="default",
        timezone="America/Los_Angeles",
        timezone_source="given",
        window=CallWindow(start="09:00", end="17:00", days=["mon"]),
        not_before=None,
        expires_at=T0 + timedelta(days=7),
        max_attempts=1,
        variables={},
        metadata={},
        consent=Consent(obtained_at=T0, source="form"),
        planned=[T0],
        created_at=T0,
    )


async def test_an_open_interview_holds_its_code_until_it_closes(store: Store) -> None:
    first, created = await store.interviews.create(new_interview("iv_1", "123456"))
    assert created and first.status == "scheduled"
    with pytest.raises(CodeTaken):
        await store.interviews.create(new_interview("iv_2", "123456"))
    again, created = await store.interviews.create(new_interview("iv_1", "654321"))
    assert not created and again.code == "123456"  # the same request, retried
    assert await store.db["interview_codes"].count_documents({}) == 1
    assert await store.interviews.cancel("iv_1", T0) is not None
    _, created = await store.interviews.create(new_interview("iv_2", "123456"))
    assert created


async def test_the_outbox_keeps_one_entry_per_event_and_leases_claims(store: Store) -> None:
    for n in (1, 2):
        await store.webhooks.add(
            WebhookEndpoint(
                id=f"wh_{n}",
                url="http://127.0.0.1:9/x",
                events=["call.completed"],
                secret="s",
                created_at=T0,
                key_id="k",
            )
        )
    event = EventEntry(event_id="evt_1", event="call.completed", payload={"id": "evt_1"})
    assert await store.webhooks.enqueue(event, T0) == 2  # one per endpoint
    assert await store.webhooks.enqueue(event, T0) == 0  # the same event again: nothing new
    other = EventEntry(event_id="evt_2", event="interview.expired", payload={})
    assert await store.webhooks.enqueue(other, T0) == 0  # nobody subscribed

    lease = timedelta(seconds=30)
    a = await store.webhooks.claim("worker-a", T0, lease)
    b = await store.webhooks.claim("worker-b", T0, lease)
    assert a is not None and b is not None and a.id != b.id
    assert await store.webhooks.claim("worker-c", T0, lease) is None  # both are leased
    assert not await store.webhooks.delivered(a.id, "worker-b", 200, T0)  # not b's claim
    assert await store.webhooks.delivered(a.id, "worker-a", 200, T0)
    # worker-b dies; once its lease runs out, another worker takes the entry over.
    taken = await store.webhooks.claim("worker-c", T0 + lease + timedelta(seconds=1), lease)
    assert taken is not None and taken.id == b.id and taken.attempts == 2
    assert not await store.webhooks.retry(b.id, "worker-b", None, http_status=None, error="x")
