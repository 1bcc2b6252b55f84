"""A live call's records reach MongoDB in order, through database outages of any length,
without the call waiting on them (persistence.recorder over persistence.durable_writer).

The database is a real one behind a line the test cuts (`TcpProxy`); every try of a
write during an outage is a real try that fails. Only the writer's backoff is counted
instead of waited out (`CountedPauses`), so "a minute without the database" is a minute
of the writer's backoff, reached in a few seconds of the test.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from persistence import CallOutcome, CallRecord, Evaluation, Latency, LatencyStats, NewCall, Turn
from persistence.durable_writer import DurableWriter
from persistence.journal import Journal
from persistence.recorder import CallWriter, StreamRecords
from persistence.records import StreamEnd
from persistence.store import Store
from persistence.write_retries import REFUSED_TRIES
from tests.support.pauses import CountedPauses
from tests.support.tcp_proxy import TcpProxy
from tests.support.waiting import RECHECK_S, eventually

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
CALL = "CA" + "7" * 32
OLD_TRIES = 5  # what a write used to get (about 28 s) before it was dropped
WRITER = "persistence.durable_writer"
# A bound, not a timing: close returns as soon as the writes are in; a loaded machine may
# take seconds over what is normally milliseconds.
WRITTEN_WITHIN_S = 60.0


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
async def direct(store: Store) -> Store:
    """The same database, not through the line: what is in it during an outage."""
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
    assert await store.calls.claim_stream(CALL, "MZ" + "7" * 32, T0) == "claimed"
    return store


@pytest.fixture
async def through_line(
    line: TcpProxy, mongo_uri: str, db_name: str, direct: Store
) -> AsyncIterator[Store]:
    """The store the writer uses, reaching the database through the line."""
    parts = urlsplit(mongo_uri)
    uri = parts._replace(netloc=f"127.0.0.1:{line.port}").geturl()
    store = Store.connect(uri, db_name, timeout_ms=100)
    try:
        yield store
    finally:
        line.restore()
        await store.close()


@pytest.fixture
def pauses() -> CountedPauses:
    return CountedPauses()


@pytest.fixture
async def writer(
    through_line: Store, tmp_path: Path, pauses: CountedPauses
) -> AsyncIterator[DurableWriter]:
    w = DurableWriter.open(through_line, tmp_path / "journal", sleep=pauses)
    try:
        yield w
    finally:
        await w.close(5.0)


def turn(seq: int) -> Turn:
    return Turn(
        call_sid=CALL, seq=seq, speaker="caller" if seq % 2 else "assistant", text=f"t{seq}"
    )


def evaluation(tool_call_id: str) -> Evaluation:
    return Evaluation(
        call_sid=CALL,
        question_index=0,
        answer_quality="good",
        key_points_covered=["measure first"],
        next_action="move_to_next_topic",
        follow_up_needed=False,
        created_at=T0,
        tool_call_id=tool_call_id,
    )


def outcome() -> CallOutcome:
    return CallOutcome(
        completion="completed",
        ended_reason="interview ended: completed",
        latency=Latency(model=LatencyStats(n=0), bridge=LatencyStats(n=0)),
        interruptions=0,
        reconnects=0,
    )


END = StreamEnd(reason="stream stopped", frames_in=100, marks_in=4, bad_input={})


async def inserted_seqs(store: Store) -> list[int]:
    """Turn numbers in the order they were inserted (ObjectIds rise with each insert)."""
    return [doc["seq"] async for doc in store.db["turns"].find({}).sort("_id", 1)]


async def finalized(store: Store) -> CallRecord:
    """The call once it is marked ended; the outcome must be there by then (written first)."""

    async def ended() -> CallRecord | None:
        call = await store.calls.get(CALL)
        return call if call is not None and "ended" in call.timings else None

    call = await eventually(ended, timeout=30, what="the call finalized", every=RECHECK_S)
    assert call is not None
    assert call.completion == "completed", "finalized before its outcome was written"
    return call


async def outage(pauses: CountedPauses, seconds: float) -> None:
    await eventually(
        lambda: pauses.total >= seconds,
        timeout=60,
        what=f"{seconds:g} s of the writer's backoff",
        on=pauses.changed,
    )


def messages(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == WRITER and r.levelno == level]


async def test_records_are_written_in_the_order_handed_over(
    writer: DurableWriter, direct: Store
) -> None:
    call = CallWriter(writer, CALL)
    handed = [3, 0, 4, 1, 2]  # a late transcript is handed over after later turns
    for seq in handed:
        call.turn(turn(seq))
    call.running_cost(0.12, T0)
    call.first_audio(T0)
    call.outcome(outcome(), T0)
    assert await call.close(WRITTEN_WITHIN_S)
    assert await inserted_seqs(direct) == handed
    # ...and read back in conversation order, each stamped when it was handed over.
    turns = await direct.turns.for_call(CALL)
    assert [t.seq for t in turns] == [0, 1, 2, 3, 4]
    assert all(t.created_at is not None for t in turns)
    record = await direct.calls.get(CALL)
    assert record is not None and record.completion == "completed"
    assert record.cost is not None and record.cost.running_usd == 0.12
    assert record.timings["first_audio_out"] == T0
    assert writer.queued == 0 and writer.held == 0


@pytest.mark.slow
async def test_a_minute_without_the_database_mid_call_loses_nothing(
    writer: DurableWriter,
    direct: Store,
    line: TcpProxy,
    pauses: CountedPauses,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=WRITER)
    call, stream = CallWriter(writer, CALL), StreamRecords(direct.calls, writer)
    call.turn(turn(0))
    call.turn(turn(1))
    assert await call.close(WRITTEN_WITHIN_S)
    line.cut()
    for seq in range(2, 6):
        call.turn(turn(seq))  # handed over at once: the call never waits on the database
        if seq == 3:
            call.evaluation(evaluation("call_1"))
            stream.keypress(CALL, 1, "5", T0)
    call.running_cost(0.25, T0)
    await outage(pauses, 60)
    # Far past what a write used to get, and none of it is in the database yet.
    assert writer.counts.failed_tries > 2 * OLD_TRIES
    assert writer.waiting
    assert await inserted_seqs(direct) == [0, 1]
    line.restore()
    for seq in range(6, 8):
        call.turn(turn(seq))
    call.outcome(outcome(), T0)
    stream.stream_ended(CALL, END, T0)
    record = await finalized(direct)
    assert await inserted_seqs(direct) == list(range(8))
    assert [e.tool_call_id for e in await direct.evaluations.for_call(CALL)] == ["call_1"]
    assert [k.digit for k in record.dtmf] == ["5"]
    assert record.cost is not None and record.cost.running_usd == 0.25
    assert record.stream is not None and record.stream.frames_in == 100
    assert record.ended_reason == "stream stopped"
    assert writer.counts.lost == 0
    # One warning as the writes began to wait, one line when they caught up, no error.
    assert len(messages(caplog, logging.WARNING)) == 1
    assert [m for m in messages(caplog, logging.INFO) if "caught up" in m]
    assert messages(caplog, logging.ERROR) == []


@pytest.mark.slow
async def test_a_minute_without_the_database_spanning_the_hang_up_still_finalizes_the_call(
    writer: DurableWriter, direct: Store, line: TcpProxy, pauses: CountedPauses
) -> None:
    call, stream = CallWriter(writer, CALL), StreamRecords(direct.calls, writer)
    call.turn(turn(0))
    assert await call.close(WRITTEN_WITHIN_S)
    line.cut()
    call.turn(turn(1))
    call.evaluation(evaluation("call_1"))
    call.turn(turn(2))  # the goodbye
    call.outcome(outcome(), T0)
    # The session's end does not wait out the outage, however long it is allowed to: false
    # as soon as the writer finds the database away, and the writes go on.
    assert not await asyncio.wait_for(call.close(3600.0), 30)
    assert writer.waiting
    stream.stream_ended(CALL, END, T0)
    await outage(pauses, 60)
    assert writer.counts.failed_tries > 2 * OLD_TRIES
    assert await inserted_seqs(direct) == [0]
    record = await direct.calls.get(CALL)
    assert record is not None and "ended" not in record.timings
    line.restore()
    record = await finalized(direct)
    assert await inserted_seqs(direct) == [0, 1, 2]
    assert len(await direct.evaluations.for_call(CALL)) == 1
    assert record.ended_reason == "stream stopped"
    assert "stream_stopped" in record.timings
    assert writer.counts.lost == 0 and writer.queued == 0


async def test_a_refused_write_is_logged_as_lost_and_the_call_s_later_writes_go_on(
    writer: DurableWriter, direct: Store, pauses: CountedPauses, caplog: pytest.LogCaptureFixture
) -> None:
    call = CallWriter(writer, CALL)
    # A turn the repository refuses (not an outage): retrying cannot help.
    call.turn(Turn(call_sid=CALL, seq=-1, speaker="caller", text="t-1"))
    call.turn(turn(0))
    assert await call.close(WRITTEN_WITHIN_S)
    assert await inserted_seqs(direct) == [0]
    assert writer.counts.lost == 1 and writer.counts.failed_tries == REFUSED_TRIES
    (lost,) = [r for r in caplog.records if r.name == WRITER and r.levelno == logging.ERROR]
    assert "turn write was refused" in lost.getMessage()
    assert getattr(lost, "call_sid", None) == CALL
    assert "t-1" not in lost.getMessage()  # no transcript text in logs


async def test_transcripts_are_stored_redacted_when_asked(
    writer: DurableWriter, direct: Store
) -> None:
    call = CallWriter(writer, CALL, redact=lambda text: text.replace("secret", "[x]"))
    call.turn(Turn(call_sid=CALL, seq=0, speaker="caller", text="my secret is out"))
    assert await call.close(WRITTEN_WITHIN_S)
    (stored,) = await direct.turns.for_call(CALL)
    assert stored.text == "my [x] is out"
    # The journal holds the stored (redacted) text only.
    assert b"secret" not in writer.journal.path.read_bytes()


async def test_memory_holds_a_bounded_number_of_writes_and_one_running_cost_per_call(
    through_line: Store,
    direct: Store,
    line: TcpProxy,
    pauses: CountedPauses,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    writer = DurableWriter.open(through_line, tmp_path, max_held=3, sleep=pauses)
    call = CallWriter(writer, CALL)
    line.cut()
    try:
        for seq in range(10):
            call.turn(turn(seq))
            if seq % 2 == 0:
                call.running_cost(seq / 100, T0)  # each replaces the one still queued
            assert writer.held <= 3
        assert writer.queued == 11  # ten turns and the latest cost
        assert writer.counts.coalesced == 4
        assert writer.held == 3 and writer.counts.spilled == 8
        spilling = [m for m in messages(caplog, logging.WARNING) if "over 3 call writes" in m]
        assert len(spilling) == 1
        line.restore()
        assert await call.close(30.0)
    finally:
        await writer.close(5.0)
    # The writes kept only in the journal were read back from it, in their turn.
    assert await inserted_seqs(direct) == list(range(10))
    assert [t.text for t in await direct.turns.for_call(CALL)] == [f"t{n}" for n in range(10)]
    record = await direct.calls.get(CALL)
    assert record is not None and record.cost is not None and record.cost.running_usd == 0.08
    assert writer.held == 0 and writer.queued == 0


async def test_the_journal_is_emptied_once_everything_in_it_is_written(
    through_line: Store, direct: Store, tmp_path: Path
) -> None:
    writer = DurableWriter(through_line, Journal.create(tmp_path, compact_bytes=100))
    call = CallWriter(writer, CALL)
    try:
        for seq in range(3):
            call.turn(turn(seq))
        assert await call.close(WRITTEN_WITHIN_S)
        assert writer.journal.path.stat().st_size == 0
        call.turn(turn(3))  # and goes on from there
        assert await call.close(WRITTEN_WITHIN_S)
    finally:
        await writer.close(5.0)
    assert await inserted_seqs(direct) == [0, 1, 2, 3]
    assert list(tmp_path.iterdir()) == []


async def test_a_worker_stopped_during_an_outage_leaves_its_writes_to_the_next(
    through_line: Store, direct: Store, line: TcpProxy, pauses: CountedPauses, tmp_path: Path
) -> None:
    first = DurableWriter.open(through_line, tmp_path, sleep=pauses)
    call = CallWriter(first, CALL)
    call.turn(turn(0))
    assert await call.close(WRITTEN_WITHIN_S)
    line.cut()
    call.turn(turn(1))
    call.outcome(outcome(), T0)
    StreamRecords(direct.calls, first).stream_ended(CALL, END, T0)
    await outage(pauses, 1)
    await first.close(5.0)  # the worker stops with three writes unwritten
    assert [p.name for p in tmp_path.iterdir()] == [first.journal.path.name]
    line.restore()
    second = DurableWriter.open(through_line, tmp_path)
    try:
        assert second.adopt(tmp_path) == 3
        assert not first.journal.path.exists()
        record = await finalized(direct)
    finally:
        await second.close(5.0)
    assert await inserted_seqs(direct) == [0, 1]
    assert record.ended_reason == "stream stopped"


async def test_a_journal_that_cannot_be_written_leaves_the_writes_in_memory(
    through_line: Store, direct: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # /dev/full answers every write with ENOSPC, as a full disk does.
    path = tmp_path / "writes-full.jsonl"
    path.symlink_to("/dev/full")
    writer = DurableWriter(through_line, Journal(path, os.open(path, os.O_RDWR)))
    call = CallWriter(writer, CALL)
    try:
        call.turn(turn(0))
        call.turn(turn(1))
        assert await call.close(WRITTEN_WITHIN_S)
    finally:
        await writer.close(5.0)
    assert await inserted_seqs(direct) == [0, 1]
    (error,) = [r for r in caplog.records if r.name == WRITER and r.levelno == logging.ERROR]
    assert "held in memory only" in error.getMessage()
    assert writer.counts.lost == 0 and writer.held == 0
