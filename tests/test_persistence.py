from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from persistence import (
    CallFilter,
    CallOutcome,
    CostRecord,
    Evaluation,
    Latency,
    LatencyStats,
    NewCall,
    StatusEvent,
    StreamEnd,
    StreamStatus,
    Turn,
)
from persistence.api_keys import DuplicateApiKey
from persistence.indexes import RETENTION_INDEX, ensure_indexes
from persistence.store import Store
from persistence.templates import PhoneNumberTaken

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def new_call(sid: str, at: datetime = T0, **kw: str) -> NewCall:
    fields = {
        "direction": "inbound",
        "from_masked": "+*******0123",
        "to_masked": "+*******0100",
        "template_id": "default",
    } | kw
    return NewCall(call_sid=sid, created_at=at, **fields)  # type: ignore[arg-type]


async def test_indexes_are_created_and_idempotent(store: Store) -> None:
    await ensure_indexes(store.db, None)
    await ensure_indexes(store.db, None)
    calls = await store.db["calls"].index_information()
    assert calls["call_sid_unique"]["unique"] is True
    turns = await store.db["turns"].index_information()
    assert turns["call_seq"]["key"] == [("call_sid", 1), ("seq", 1)]
    assert turns["call_seq"]["unique"] is True
    assert RETENTION_INDEX not in turns
    for name in ("calls", "turns", "evaluations", "templates", "api_keys"):
        assert name in await store.db.list_collection_names()


async def test_retention_ttl_is_added_changed_and_removed(store: Store) -> None:
    await ensure_indexes(store.db, 30)
    info = await store.db["turns"].index_information()
    assert info[RETENTION_INDEX]["expireAfterSeconds"] == 30 * 86400
    await ensure_indexes(store.db, 7)
    await ensure_indexes(store.db, 7)
    for name in ("turns", "evaluations"):
        info = await store.db[name].index_information()
        assert info[RETENTION_INDEX]["expireAfterSeconds"] == 7 * 86400
    await ensure_indexes(store.db, None)
    assert RETENTION_INDEX not in await store.db["turns"].index_information()


async def test_create_or_get_call_is_idempotent(store: Store) -> None:
    first, created = await store.calls.create_or_get(new_call("CA1"))
    assert created and first.status == "created"
    again, created_again = await store.calls.create_or_get(new_call("CA1", template_id="other"))
    assert not created_again
    assert again.template_id == "default"  # the first write wins
    assert await store.db["calls"].count_documents({"call_sid": "CA1"}) == 1


async def test_concurrent_creates_yield_one_document(store: Store) -> None:
    results = await asyncio.gather(*(store.calls.create_or_get(new_call("CA2")) for _ in range(8)))
    assert sum(created for _, created in results) == 1
    assert await store.db["calls"].count_documents({"call_sid": "CA2"}) == 1


async def test_get_unknown_call_is_none(store: Store) -> None:
    assert await store.calls.get("CAnope") is None


async def test_status_moves_forward_only_and_keeps_history(store: Store) -> None:
    await store.calls.create_or_get(new_call("CA3"))
    await store.calls.record_status("CA3", StatusEvent(status="ringing", at=T0, sequence_number=1))
    done = StatusEvent(
        status="completed", at=T0 + timedelta(seconds=62), sequence_number=3, duration_s=61
    )
    await store.calls.record_status("CA3", done)
    await store.calls.record_status("CA3", done)  # duplicate callback
    late = await store.calls.record_status(
        "CA3", StatusEvent(status="in-progress", at=T0, sequence_number=2)
    )
    assert late is not None
    assert late.status == "completed"
    assert late.duration_s == 61
    seen = [(e.status, e.sequence_number) for e in late.status_history]
    assert seen == [("ringing", 1), ("completed", 3), ("in-progress", 2)]
    # A second, different terminal status does not replace the first.
    after = await store.calls.record_status(
        "CA3", StatusEvent(status="failed", at=T0, sequence_number=4)
    )
    assert after is not None and after.status == "completed"


async def test_status_for_unknown_call(store: Store) -> None:
    assert (
        await store.calls.record_status(
            "CAx", StatusEvent(status="ringing", at=T0, sequence_number=0)
        )
        is None
    )


async def test_timings_are_first_write_wins(store: Store) -> None:
    await store.calls.create_or_get(new_call("CA4"))
    assert await store.calls.mark_time("CA4", "stream_started", T0)
    assert not await store.calls.mark_time("CA4", "stream_started", T0 + timedelta(seconds=5))
    call = await store.calls.get("CA4")
    assert call is not None and call.timings["stream_started"] == T0


async def test_finalize_happens_once(store: Store) -> None:
    await store.calls.create_or_get(new_call("CA5"))
    outcomes = await asyncio.gather(
        *(store.calls.finalize("CA5", f"reason-{i}", T0) for i in range(5))
    )
    assert outcomes.count(True) == 1
    call = await store.calls.get("CA5")
    assert call is not None and call.ended_reason is not None and "ended" in call.timings


async def test_named_writes_are_read_back_typed(store: Store) -> None:
    await store.calls.create_or_get(new_call("CA6"))
    assert await store.calls.set_running_cost("CA6", 0.42, T0)
    call = await store.calls.get("CA6")
    assert call is not None and call.cost is not None and call.cost.running_usd == 0.42
    assert await store.calls.set_unavailable("CA6", "busy: 2 calls", T0)
    assert await store.calls.add_keypress("CA6", "7", T0)
    stopped = StreamStatus(event="stream-stopped", at=T0, stream_sid="MZ1")
    assert await store.calls.add_stream_status("CA6", stopped)
    assert await store.calls.claim_stream("CA6", "MZ1", T0) == "claimed"
    end = StreamEnd(reason="stream stopped", frames_in=12, marks_in=3, bad_input={"x": 1})
    assert await store.calls.record_stream_end("CA6", end, T0 + timedelta(seconds=9))
    outcome = CallOutcome(
        completion="timed_out",
        ended_reason="time limit reached",
        latency=Latency(
            model=LatencyStats(n=2, p50_ms=410.0, p95_ms=600.5, max_ms=600.5),
            bridge=LatencyStats(n=0),
            first_audio_ms=7.5,
        ),
        interruptions=1,
        reconnects=0,
        cost=CostRecord(model="gpt-realtime", responses=3, total_usd=0.5),
    )
    assert await store.calls.record_outcome("CA6", outcome, T0)
    call = await store.calls.get("CA6")
    assert call is not None
    assert call.unavailable_reason == "busy: 2 calls"
    assert [(k.digit, k.at) for k in call.dtmf] == [("7", T0)]
    assert [(e.event, e.stream_sid) for e in call.stream_events] == [("stream-stopped", "MZ1")]
    assert call.stream is not None and call.stream.sid == "MZ1"
    assert (call.stream.end, call.stream.frames_in, call.stream.bad_input) == (
        "stream stopped",
        12,
        {"x": 1},
    )
    assert call.completion == "timed_out" and call.ended_reason == "time limit reached"
    assert call.latency == outcome.latency
    assert (call.interruptions, call.reconnects) == (1, 0)
    assert call.cost is not None and call.cost.total_usd == 0.5 and call.cost.running_usd is None
    for write in (
        store.calls.set_running_cost("CAmissing", 1.0, T0),
        store.calls.set_unavailable("CAmissing", "x", T0),
        store.calls.add_keypress("CAmissing", "1", T0),
        store.calls.record_outcome("CAmissing", outcome, T0),
    ):
        assert not await write


async def test_a_numbered_keypress_recorded_again_is_stored_once(store: Store) -> None:
    """A journaled keypress may be applied twice (replayed after a crash); a flood of one
    digit within a millisecond is still kept whole."""
    await store.calls.create_or_get(new_call("CA7"))
    for n in (1, 2, 2, 3, 1):
        assert await store.calls.add_keypress("CA7", "3", T0, n)
    call = await store.calls.get("CA7")
    assert call is not None
    assert [(k.digit, k.n) for k in call.dtmf] == [("3", 1), ("3", 2), ("3", 3)]
    assert not await store.calls.add_keypress("CAmissing", "3", T0, 1)


async def test_list_calls_filters_and_pages(store: Store) -> None:
    for i in range(7):
        direction = "outbound" if i % 2 else "inbound"
        await store.calls.create_or_get(
            new_call(f"CAL{i}", T0 + timedelta(minutes=i), direction=direction)
        )
    await store.calls.record_status(
        "CAL6", StatusEvent(status="completed", at=T0, sequence_number=5)
    )
    page = await store.calls.list(offset=0, limit=3)
    assert [c.call_sid for c in page.items] == ["CAL6", "CAL5", "CAL4"]
    assert page.total == 7 and page.has_more
    last = await store.calls.list(offset=6, limit=3)
    assert [c.call_sid for c in last.items] == ["CAL0"] and not last.has_more
    outbound = await store.calls.list(CallFilter(direction="outbound"))
    assert {c.call_sid for c in outbound.items} == {"CAL1", "CAL3", "CAL5"}
    completed = await store.calls.list(CallFilter(status="completed"))
    assert [c.call_sid for c in completed.items] == ["CAL6"]
    window = await store.calls.list(
        CallFilter(created_from=T0 + timedelta(minutes=2), created_to=T0 + timedelta(minutes=4))
    )
    assert [c.call_sid for c in window.items] == ["CAL3", "CAL2"]
    with pytest.raises(ValueError):
        await store.calls.list(limit=0)
    with pytest.raises(ValueError):
        await store.calls.list(offset=-1)


async def test_turns_append_in_order_and_reject_duplicates(store: Store) -> None:
    assert await store.turns.last_seq("CA7") is None
    for seq, speaker, text in [(1, "caller", "I built a cache"), (0, "assistant", "Hello")]:
        turn = Turn(call_sid="CA7", seq=seq, speaker=speaker, text=text)  # type: ignore[arg-type]
        assert await store.turns.append(turn)
    retry = Turn(call_sid="CA7", seq=1, speaker="caller", text="retry of the same turn")
    assert not await store.turns.append(retry)
    cut = Turn(
        call_sid="CA7",
        seq=2,
        speaker="assistant",
        text="Tell me ab",
        interrupted=True,
        truncated_at_ms=840,
    )
    assert await store.turns.append(cut)
    turns = await store.turns.for_call("CA7")
    assert [t.seq for t in turns] == [0, 1, 2]
    assert turns[1].text == "I built a cache"
    assert turns[2].interrupted and turns[2].truncated_at_ms == 840
    assert turns[0].created_at is not None
    assert await store.turns.last_seq("CA7") == 2
    with pytest.raises(ValueError):
        await store.turns.append(Turn(call_sid="CA7", seq=-1, speaker="caller", text="x"))


async def test_evaluations(store: Store) -> None:
    ev = Evaluation(
        call_sid="CA8",
        question_index=0,
        answer_quality="good",
        key_points_covered=["caching"],
        next_action="continue",
        follow_up_needed=False,
        created_at=T0,
        tool_call_id="call_1",
    )
    assert await store.evaluations.add(ev)
    assert not await store.evaluations.add(ev)  # a retried write
    later = Evaluation(
        call_sid="CA8",
        question_index=1,
        answer_quality="excellent",
        key_points_covered=[],
        next_action="move_to_next_topic",
        follow_up_needed=False,
        created_at=T0 + timedelta(1),
    )
    await store.evaluations.add(later)
    got = await store.evaluations.for_call("CA8")
    assert got == [ev, later]


async def test_templates_and_number_mapping(store: Store) -> None:
    body = {"role": "Backend engineer", "questions": [{"text": "Tell me about caching"}]}
    saved = await store.templates.save("backend", body, T0, ["+14155550100"])
    assert saved.phone_numbers == ["+14155550100"]
    got = await store.templates.get("backend")
    assert got is not None and got.body == body
    by_number = await store.templates.for_number("+14155550100")
    assert by_number is not None and by_number.template_id == "backend"
    with pytest.raises(PhoneNumberTaken):
        await store.templates.save("frontend", body, T0, ["+14155550100"])
    await store.templates.save("backend", {**body, "role": "Staff"}, T0, [])
    assert await store.templates.for_number("+14155550100") is None
    assert [t.template_id for t in await store.templates.list()] == ["backend"]
    assert await store.templates.delete("backend")
    assert not await store.templates.delete("backend")


async def test_api_keys(store: Store) -> None:
    key = await store.api_keys.add("hash1", "recruiting team", ["calls:write", "calls:read"], T0)
    assert key.scopes == ["calls:read", "calls:write"] and key.active
    with pytest.raises(DuplicateApiKey):
        await store.api_keys.add("hash1", "again", [], T0)
    found = await store.api_keys.find_active("hash1")
    assert found is not None and found.label == "recruiting team"
    assert await store.api_keys.revoke("hash1", T0)
    assert not await store.api_keys.revoke("hash1", T0)
    assert await store.api_keys.find_active("hash1") is None
    listed = await store.api_keys.list()
    assert len(listed) == 1 and not listed[0].active
