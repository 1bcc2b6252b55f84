"""A live call's records reach MongoDB in order, through short outages, without the call
waiting on them (persistence.recorder.CallWriter, the bridge's recorder)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest

from persistence import CallOutcome, Latency, LatencyStats, NewCall, Turn
from persistence.recorder import CallWriter
from persistence.store import Store
from tests.support.tcp_proxy import TcpProxy

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
CALL = "CA" + "7" * 32


@pytest.fixture
async def line(mongo_uri: str) -> AsyncIterator[TcpProxy]:
    """The database, reached through a line the test can cut."""
    if "," in (urlsplit(mongo_uri).netloc or ""):
        pytest.fail("the outage tests need a single-host MONGODB_URI")
    parts = urlsplit(mongo_uri)
    assert parts.hostname is not None and parts.port is not None
    async with TcpProxy(parts.hostname, parts.port) as proxy:
        yield proxy


@pytest.fixture
async def store(line: TcpProxy, mongo_uri: str, db_name: str) -> AsyncIterator[Store]:
    parts = urlsplit(mongo_uri)
    uri = parts._replace(netloc=f"127.0.0.1:{line.port}").geturl()
    store = Store.connect(uri, db_name, timeout_ms=300)
    await store.prepare(None)
    created, _ = await store.calls.create_or_get(
        NewCall(
            call_sid=CALL,
            direction="inbound",
            from_masked="+*******0123",
            to_masked="+*******0100",
            template_id="default",
            created_at=T0,
        )
    )
    assert created.status == "created"
    try:
        yield store
    finally:
        line.restore()
        await store.db.client.drop_database(db_name)
        await store.close()


def turn(seq: int) -> Turn:
    return Turn(
        call_sid=CALL, seq=seq, speaker="caller" if seq % 2 else "assistant", text=f"t{seq}"
    )


def outcome() -> CallOutcome:
    return CallOutcome(
        completion="completed",
        ended_reason="interview ended: completed",
        latency=Latency(model=LatencyStats(n=0), bridge=LatencyStats(n=0)),
        interruptions=0,
        reconnects=0,
    )


async def test_records_are_written_in_the_order_handed_over(store: Store) -> None:
    writer = CallWriter(store, CALL)
    handed = [3, 0, 4, 1, 2]  # a late transcript is handed over after later turns
    for seq in handed:
        writer.turn(turn(seq))
    writer.running_cost(0.12, T0)
    writer.first_audio(T0)
    writer.outcome(outcome(), T0)
    assert await writer.close(5.0)
    # Inserted in the order handed over (ObjectIds rise with each insert)...
    written = [doc["seq"] async for doc in store.db["turns"].find({}).sort("_id", 1)]
    assert written == handed
    # ...and read back in conversation order.
    assert [t.seq for t in await store.turns.for_call(CALL)] == [0, 1, 2, 3, 4]
    call = await store.calls.get(CALL)
    assert call is not None and call.completion == "completed"
    assert call.cost is not None and call.cost.running_usd == 0.12
    assert call.timings["first_audio_out"] == T0


async def test_a_short_outage_delays_records_and_loses_none(store: Store, line: TcpProxy) -> None:
    writer = CallWriter(store, CALL, first_backoff_s=0.05)
    writer.turn(turn(0))
    line.cut()
    for seq in range(1, 4):
        writer.turn(turn(seq))  # handed over at once: the call never waits on the database
    await asyncio.wait_for(line.refusal.wait(), 10)  # a write was tried, and failed
    line.restore()
    writer.outcome(outcome(), T0)
    assert await writer.close(15.0)
    written = [doc["seq"] async for doc in store.db["turns"].find({}).sort("_id", 1)]
    assert written == [0, 1, 2, 3]
    call = await store.calls.get(CALL)
    assert call is not None and call.completion == "completed"


async def test_an_outage_past_every_retry_is_logged_and_later_writes_go_on(
    store: Store, line: TcpProxy
) -> None:
    lost: list[logging.LogRecord] = []
    said = asyncio.Event()

    class Watch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "lost after retries" in record.getMessage():
                lost.append(record)
                said.set()

    watch = Watch()
    logging.getLogger("persistence.recorder").addHandler(watch)
    try:
        writer = CallWriter(store, CALL, retries=2, first_backoff_s=0.01)
        line.cut()
        writer.turn(turn(0))
        assert not await writer.close(0.01)  # still retrying: said, not waited for
        await asyncio.wait_for(said.wait(), 10)
    finally:
        logging.getLogger("persistence.recorder").removeHandler(watch)
    assert lost[0].levelno == logging.ERROR and getattr(lost[0], "call_sid", None) == CALL
    line.restore()
    writer.turn(turn(1))
    assert await writer.close(10.0)
    assert [t.seq for t in await store.turns.for_call(CALL)] == [1]


async def test_transcripts_are_stored_redacted_when_asked(store: Store) -> None:
    writer = CallWriter(store, CALL, redact=lambda text: text.replace("secret", "[x]"))
    writer.turn(Turn(call_sid=CALL, seq=0, speaker="caller", text="my secret is out"))
    assert await writer.close(5.0)
    (stored,) = await store.turns.for_call(CALL)
    assert stored.text == "my [x] is out"
