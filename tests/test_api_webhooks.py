"""Webhooks end to end: endpoints over HTTP, events from a finished call's hook, a real
receiver on 127.0.0.1 that checks every signature, a receiver that is down and comes back,
two delivery loops on one outbox, a restart, and giving up after the maximum age."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bridge.clock import utcnow
from evaluation.report import Report
from persistence import CallOutcome, CostRecord, Latency, LatencyStats, NewCall, StreamEnd
from persistence.api_records import Attempt
from persistence.call_writes import CallWrite
from persistence.durable_writer import DurableWriter
from persistence.recorder import CallWriter, StreamRecords
from persistence.store import Store
from service.call_events import CallEvents
from telephony.api.delivery import DeliveryLoop
from telephony.api.destinations import Destinations
from telephony.api.events import entry, expire_due
from tests.support.api import RECEIVERS, Api, Receiver, api_server, interview_body
from tests.support.waiting import RECHECK_S, eventually

ALL_EVENTS = [
    "interview.completed",
    "interview.attempt_failed",
    "interview.expired",
    "call.completed",
    "call.cost_alert",
]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    yield r
    await r.stop()


@pytest.fixture(scope="module")
async def api(mongo_uri: str) -> AsyncIterator[Api]:
    async with api_server(mongo_uri, webhook_retry_ms=100) as served:
        yield served


@pytest.fixture(autouse=True)
async def fresh_endpoints(api: Api) -> AsyncIterator[None]:
    """Each test's endpoints only: the ones before it are deleted with what they had left."""
    yield
    for endpoint in await api.store.webhooks.list():
        await api.store.webhooks.disable(endpoint.id, utcnow())


async def subscribe(api: Api, receiver: Receiver, events: list[str] = ALL_EVENTS) -> str:
    response = await api.post("/api/v1/webhooks", {"url": receiver.url, "events": events})
    assert response.status_code == 201, response.text
    receiver.secret = response.json()["secret"]
    webhook_id: str = response.json()["id"]
    return webhook_id


async def finished_call(
    store: Store,
    *,
    interview_id: str | None = None,
    completion: str = "completed",
    score: float = 82.0,
    cost_usd: float = 0.5,
) -> str:
    """A call whose outcome is written, as the live call's writer leaves it."""
    sid = "CA" + uuid.uuid4().hex
    at = utcnow()
    await store.calls.create_or_get(
        NewCall(
            call_sid=sid,
            direction="outbound",
            from_masked="+*******0100",
            to_masked="+*******2671",
            template_id="default",
            created_at=at,
            interview_id=interview_id,
        )
    )
    if interview_id is not None:
        attempt = Attempt(number=1, planned_at=at, call_sid=sid, started_at=at)
        await store.interviews.add_attempt(interview_id, attempt, at)
    stats = LatencyStats(n=0)
    report = Report(
        template_id="default",
        score=score,
        questions=(),
        questions_answered=4,
        completion=completion,  # type: ignore[arg-type]
        end_reason=None,
        summary=None,
        interruptions=0,
        reconnects=0,
        duration_s=420.0,
    )
    outcome = CallOutcome(
        completion=completion,  # type: ignore[arg-type]
        ended_reason="done",
        latency=Latency(model=stats, bridge=stats),
        interruptions=0,
        reconnects=0,
        report=report,
        cost=CostRecord(total_usd=cost_usd),
    )
    await store.calls.record_outcome(sid, outcome, at)
    return sid


async def delivered(api: Api, webhook_id: str) -> list[dict[str, Any]]:
    page = await api.get(f"/api/v1/webhooks/{webhook_id}/deliveries", params={"limit": 200})
    items: list[dict[str, Any]] = page.json()["items"]
    return items


async def test_endpoints_are_created_listed_and_deleted_and_the_secret_shown_once(
    api: Api, receiver: Receiver
) -> None:
    webhook_id = await subscribe(api, receiver, ["call.completed"])
    assert receiver.secret.startswith("whsec_")
    got = (await api.get(f"/api/v1/webhooks/{webhook_id}")).json()
    assert got["events"] == ["call.completed"] and "secret" not in got
    listed = (await api.get("/api/v1/webhooks")).json()["items"]
    assert webhook_id in [w["id"] for w in listed]
    assert all("secret" not in w for w in listed)
    assert (await api.delete(f"/api/v1/webhooks/{webhook_id}")).status_code == 200
    assert (await api.get(f"/api/v1/webhooks/{webhook_id}")).status_code == 404
    assert (await api.get(f"/api/v1/webhooks/{webhook_id}/deliveries")).status_code == 404
    bad = await api.post("/api/v1/webhooks", {"url": "ftp://x", "events": ["call.started"]})
    assert bad.status_code == 422
    assert {e["path"] for e in bad.json()["errors"]} == {"url", "events[0]"}


async def test_a_finished_interview_call_sends_signed_events_once(
    api: Api, receiver: Receiver
) -> None:
    await receiver.start()
    webhook_id = await subscribe(api, receiver)
    interview = (await api.post("/api/v1/interviews", interview_body(metadata={"ats": 7}))).json()
    sid = await finished_call(api.store, interview_id=interview["id"], cost_usd=9.0)
    await api.services.call_events.call_ended(sid)
    await api.services.call_events.call_ended(sid)  # a retried hook adds nothing

    await eventually(
        lambda: len(receiver.received) >= 3, timeout=10, what="3 events", on=receiver.changes
    )
    kinds = sorted(r.event for r in receiver.received)
    assert kinds == ["call.completed", "call.cost_alert", "interview.completed"]
    assert all(r.signed for r in receiver.received)
    completed = receiver.events("interview.completed")[0].body
    assert completed["data"]["interview_id"] == interview["id"]
    assert completed["data"]["result"]["recommendation"] == "advance"
    assert completed["data"]["metadata"] == {"ats": 7}
    alert = receiver.events("call.cost_alert")[0].body["data"]
    assert alert["cost_usd"] == 9.0 and alert["threshold_usd"] == 5.0
    everything = repr([r.body for r in receiver.received])
    assert "Ada" not in everything and "4155552671" not in everything

    got = (await api.get(f"/api/v1/interviews/{interview['id']}")).json()
    assert got["status"] == "completed" and got["result"]["score"] == 82.0
    assert got["attempts"][0]["outcome"] == "completed"
    deliveries = await eventually(
        lambda: _all_delivered(api, webhook_id, 3), timeout=5, what="deliveries", every=RECHECK_S
    )
    assert {d["event"] for d in deliveries} == set(kinds)
    assert len(receiver.received) == 3


async def _all_delivered(api: Api, webhook_id: str, count: int) -> list[dict[str, Any]] | None:
    items = await delivered(api, webhook_id)
    done = [d for d in items if d["status"] == "delivered"]
    return items if len(done) == count == len(items) else None


async def test_a_failed_last_attempt_fails_the_interview(api: Api, receiver: Receiver) -> None:
    await receiver.start()
    await subscribe(api, receiver, ["interview.attempt_failed"])
    body = interview_body(max_attempts=1)
    interview = (await api.post("/api/v1/interviews", body)).json()
    sid = await finished_call(
        api.store, interview_id=interview["id"], completion="candidate_hung_up"
    )
    await api.services.call_events.call_ended(sid)
    await eventually(lambda: receiver.received, timeout=10, what="an event", on=receiver.changes)
    (event,) = receiver.received
    assert event.event == "interview.attempt_failed" and event.signed
    assert event.body["data"]["final"] is True and event.body["data"]["call_sid"] == sid
    got = (await api.get(f"/api/v1/interviews/{interview['id']}")).json()
    assert got["status"] == "failed"


async def test_expired_interviews_send_interview_expired(api: Api, receiver: Receiver) -> None:
    await receiver.start()
    await subscribe(api, receiver, ["interview.expired"])
    interview = (await api.post("/api/v1/interviews", interview_body())).json()
    past = utcnow() - timedelta(minutes=1)
    await api.store.db["interviews"].update_one(
        {"_id": interview["id"]}, {"$set": {"expires_at": past}}
    )
    assert await expire_due(api.store, utcnow()) == 1
    assert await expire_due(api.store, utcnow()) == 0
    api.services.deliveries.wake()
    await eventually(lambda: receiver.received, timeout=10, what="an event", on=receiver.changes)
    assert [r.body["data"]["interview_id"] for r in receiver.received] == [interview["id"]]
    got = (await api.get(f"/api/v1/interviews/{interview['id']}")).json()
    assert got["status"] == "expired" and got["next_attempt_at"] is None


@pytest.mark.slow
async def test_a_receiver_that_is_down_gets_every_event_once_it_is_back(
    api: Api, receiver: Receiver
) -> None:
    webhook_id = await subscribe(api, receiver, ["call.completed"])
    sids = [await finished_call(api.store) for _ in range(3)]
    for sid in sids:
        await api.services.call_events.call_ended(sid)

    async def retried() -> bool:
        items = await delivered(api, webhook_id)
        return len(items) == 3 and all(d["attempts"] >= 2 for d in items)

    await eventually(retried, timeout=10, what="failed attempts", every=RECHECK_S)
    down = await delivered(api, webhook_id)
    assert {d["status"] for d in down} <= {"pending", "sending"}
    assert all(d["last_error"] == "ConnectError" for d in down if d["status"] == "pending")
    await receiver.start()
    await eventually(
        lambda: len(receiver.received) >= 3, timeout=15, what="3 events", on=receiver.changes
    )
    assert sorted(r.body["data"]["call_sid"] for r in receiver.received) == sorted(sids)
    assert all(r.signed for r in receiver.received)
    await eventually(
        lambda: _all_delivered(api, webhook_id, 3), timeout=5, what="deliveries", every=RECHECK_S
    )
    assert len(receiver.received) == 3


async def test_two_workers_share_the_outbox_without_sending_twice(
    api: Api, receiver: Receiver
) -> None:
    await receiver.start()
    webhook_id = await subscribe(api, receiver, ["call.completed"])
    second = DeliveryLoop(
        lambda: api.store, utcnow, first_retry_s=0.1, destinations=Destinations(RECEIVERS)
    )
    second.start()
    try:
        at = utcnow()
        for n in range(20):
            event = entry("call.completed", f"shared-{webhook_id}-{n}", {"n": n}, at, None)
            await api.store.webhooks.enqueue(event, at)
        api.services.deliveries.wake()
        second.wake()
        await eventually(
            lambda: len(receiver.received) >= 20, timeout=15, what="20 events", on=receiver.changes
        )
    finally:
        await second.stop()
    assert sorted(r.body["data"]["n"] for r in receiver.received) == list(range(20))
    assert all(r.signed for r in receiver.received)


@pytest.mark.slow
async def test_the_outbox_outlives_a_restart(mongo_uri: str, receiver: Receiver) -> None:
    db_name = f"test_{uuid.uuid4().hex[:12]}"
    async with api_server(mongo_uri, db_name=db_name, drop=False) as first:
        webhook_id = await subscribe(first, receiver, ["call.completed"])
        await first.services.deliveries.stop()  # this worker dies before sending
        sid = await finished_call(first.store)
        await first.services.call_events.call_ended(sid)
    await receiver.start()
    async with api_server(mongo_uri, db_name=db_name, webhook_retry_ms=100) as second:
        await eventually(lambda: receiver.received, timeout=30, what="event", on=receiver.changes)
        assert [r.body["data"]["call_sid"] for r in receiver.received] == [sid]
        # Recorded as delivered once the receiver's answer is back.
        await eventually(
            lambda: _with_status(second, webhook_id, "delivered"),
            timeout=30,
            what="delivered",
            every=RECHECK_S,
        )


async def test_a_delivery_is_given_up_after_the_maximum_age(api: Api, receiver: Receiver) -> None:
    receiver.status = 500
    await receiver.start()
    webhook_id = await subscribe(api, receiver, ["call.completed"])
    at = utcnow()
    await api.store.webhooks.enqueue(
        entry("call.completed", f"doomed-{webhook_id}", {}, at, None), at
    )
    await api.services.deliveries.stop()  # only the short-lived loop below sends
    loop = DeliveryLoop(
        lambda: api.store,
        utcnow,
        first_retry_s=0.05,
        max_age=timedelta(seconds=0.3),
        destinations=Destinations(RECEIVERS),
    )
    loop.start()
    try:
        items = await eventually(
            lambda: _with_status(api, webhook_id, "failed"),
            timeout=10,
            what="given up",
            every=RECHECK_S,
        )
    finally:
        await loop.stop()
        api.services.deliveries.start()
    (item,) = items
    assert item["last_status"] == 500 and item["last_error"] == "HTTP 500"
    assert item["attempts"] >= 1 and item["delivered_at"] is None


async def _with_status(api: Api, webhook_id: str, status: str) -> list[dict[str, Any]] | None:
    items = await delivered(api, webhook_id)
    return items if items and all(d["status"] == status for d in items) else None


async def test_the_durable_writer_runs_the_hook_after_each_write(
    store: Store, tmp_path: Path
) -> None:
    sid = "CA" + uuid.uuid4().hex
    await store.calls.create_or_get(
        NewCall(
            call_sid=sid,
            direction="inbound",
            from_masked="x",
            to_masked="y",
            template_id="default",
            created_at=datetime.now(UTC),
        )
    )
    assert await store.calls.claim_stream(sid, "MZ" + sid[2:], datetime.now(UTC)) == "claimed"
    seen: list[tuple[str, str | None, bool]] = []

    async def hook(write: CallWrite) -> None:
        call = await store.calls.get(sid)
        assert call is not None
        seen.append((write.kind, call.completion, "ended" in call.timings))

    writer = DurableWriter.open(store, tmp_path, after_write=hook)
    calls = CallWriter(writer, sid)
    stats = LatencyStats(n=0)
    at = datetime.now(UTC)
    calls.outcome(
        CallOutcome(
            completion="timed_out",
            ended_reason="time",
            latency=Latency(model=stats, bridge=stats),
            interruptions=0,
            reconnects=0,
        ),
        at,
    )
    StreamRecords(store.calls, writer).stream_ended(
        sid, StreamEnd(reason="stream stopped", frames_in=1, marks_in=0, bad_input={}), at
    )
    assert await calls.close(5)
    await writer.close(1)
    # Each hook call sees its own write applied: the stream's end after the outcome.
    assert seen == [("outcome", "timed_out", False), ("stream_end", "timed_out", True)]


async def test_a_failing_hook_never_costs_the_call_its_write(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sid = "CA" + uuid.uuid4().hex
    await store.calls.create_or_get(
        NewCall(
            call_sid=sid,
            direction="inbound",
            from_masked="x",
            to_masked="y",
            template_id="default",
            created_at=datetime.now(UTC),
        )
    )
    events = CallEvents(lambda: store, Decimal(5), lambda: None)
    writer = DurableWriter.open(store, tmp_path, after_write=events.after_write)
    # A stream never claimed: its end leaves a document the call record cannot read, so
    # the hook fails on it.
    end = StreamEnd(reason="stream stopped", frames_in=0, marks_in=0, bad_input={})
    StreamRecords(store.calls, writer).stream_ended(sid, end, datetime.now(UTC))
    assert await writer.drain(sid, 5)
    await writer.close(1)
    doc = await store.db["calls"].find_one({"call_sid": sid})
    assert doc is not None and "ended" in doc["timings"]
    assert writer.counts.lost == 0 and writer.counts.written == 1
    assert "webhook events were not recorded" in caplog.text


async def test_a_webhook_is_never_delivered_into_a_private_network(
    api: Api, receiver: Receiver
) -> None:
    """A URL that was allowed when registered, but whose host is not allowed where the
    delivery is made, is refused there: nothing reaches it, and the record says why."""
    await receiver.start()
    webhook_id = await subscribe(api, receiver, ["call.completed"])
    await api.services.deliveries.stop()  # only the loop below, allowing no private network
    loop = DeliveryLoop(lambda: api.store, utcnow, first_retry_s=60)
    loop.start()
    try:
        at = utcnow()
        await api.store.webhooks.enqueue(
            entry("call.completed", f"inside-{webhook_id}", {}, at, None), at
        )
        loop.wake()
        items = await eventually(
            lambda: _tried(api, webhook_id), timeout=10, what="a try", every=RECHECK_S
        )
    finally:
        await loop.stop()
        api.services.deliveries.start()
    (item,) = items
    assert item["last_error"].startswith("destination refused: ")
    assert "127.0.0.1" in item["last_error"]
    assert receiver.received == []


async def _tried(api: Api, webhook_id: str) -> list[dict[str, Any]] | None:
    """Once a try has ended (its error recorded), not merely been claimed."""
    items = await delivered(api, webhook_id)
    return items if items and all(d["last_error"] for d in items) else None


async def test_a_private_address_is_refused_when_the_webhook_is_registered(
    mongo_uri: str,
) -> None:
    urls = [
        "http://169.254.169.254/latest/meta-data/",  # a cloud metadata service
        "http://10.0.0.7:27017/",  # a database on the private network
        "http://localhost:8000/ops",
        "https://[::1]/hook",
        "http://[::ffff:192.168.1.1]/",
    ]
    async with api_server(mongo_uri, webhook_allow_networks=()) as strict:
        for url in urls:
            response = await strict.post(
                "/api/v1/webhooks", {"url": url, "events": ["call.completed"]}
            )
            assert response.status_code == 422, url
            (error,) = response.json()["errors"]
            assert error["path"] == "url" and "not a public address" in error["message"], url
        public = await strict.post(
            "/api/v1/webhooks",
            {"url": "https://hooks.example.com/in", "events": ["call.completed"]},
        )
        assert public.status_code == 201
