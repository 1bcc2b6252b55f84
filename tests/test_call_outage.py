"""Whole interviews with the database away for a minute: mid-call, and across the hang-up.

The service runs as in the other whole-call tests, with its database reached through a
line the test cuts (`TcpProxy`). Every try of a write is a real one; only the writer's
backoff is counted instead of waited out (`CountedPauses`), so a minute of outage is a
minute of the writer's time, far past the five tries (about 28 s) a write used to get.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest

from persistence import CallRecord
from persistence.store import Store
from tests.support.call_harness import Env, live_env
from tests.support.openai import CallTool, Say, Script
from tests.support.pauses import CountedPauses
from tests.support.tcp_proxy import TcpProxy
from tests.support.waiting import RECHECK_S, eventually

pytestmark = pytest.mark.slow

OUTAGE_S = 60
OLD_TRIES = 5
EVALUATION = json.dumps(
    {
        "answer_quality": "good",
        "key_points_covered": ["measure first"],
        "next_action": "move_to_next_topic",
        "follow_up_needed": False,
    }
)
TRANSCRIPT = [
    ("assistant", "Hello, thanks for calling. Tell me about a recent project."),
    ("caller", "I built a billing service."),
    ("assistant", "Great. How do you debug a slow API?"),
    ("caller", "I measure first, then profile."),
    ("assistant", "Thank you, that is all. Goodbye."),
]


def script() -> Script:
    return Script(
        responses=[
            Say(TRANSCRIPT[0][1], audio_ms=1200),
            CallTool("evaluate_candidate_answer", EVALUATION),
            Say(TRANSCRIPT[2][1], audio_ms=800),
            [
                Say(TRANSCRIPT[4][1], audio_ms=800),
                CallTool("end_interview", json.dumps({"reason": "completed"})),
            ],
        ],
        caller_transcripts=[TRANSCRIPT[1][1], TRANSCRIPT[3][1]],
    )


@pytest.fixture
async def line(mongo_uri: str) -> AsyncIterator[TcpProxy]:
    parts = urlsplit(mongo_uri)
    if parts.hostname is None or parts.port is None or "," in parts.netloc:
        pytest.fail("the outage tests need a single-host MONGODB_URI")
    async with TcpProxy(parts.hostname, parts.port) as proxy:
        try:
            yield proxy
        finally:
            proxy.restore()


@pytest.fixture
async def direct(store: Store) -> Store:
    """The database itself, not through the line: what it holds during the outage."""
    return store


@pytest.fixture
def pauses() -> CountedPauses:
    return CountedPauses()


@pytest.fixture
async def env(
    line: TcpProxy, mongo_uri: str, db_name: str, pauses: CountedPauses
) -> AsyncIterator[Env]:
    uri = urlsplit(mongo_uri)._replace(netloc=f"127.0.0.1:{line.port}").geturl()
    async with live_env(
        uri, db_name, script(), write_pause=pauses, mongodb_timeout_ms=200
    ) as environment:
        yield environment


async def stored_turns(direct: Store, call_sid: str) -> list[tuple[str, str]]:
    return [(t.speaker, t.text) for t in await direct.turns.for_call(call_sid)]


async def inserted_texts(direct: Store, call_sid: str) -> list[str]:
    """Turn texts in the order they were inserted (ObjectIds rise with each insert)."""
    cursor = direct.db["turns"].find({"call_sid": call_sid}).sort("_id", 1)
    return [doc["text"] async for doc in cursor]


async def a_minute_of_outage(pauses: CountedPauses) -> None:
    await eventually(
        lambda: pauses.total >= OUTAGE_S,
        timeout=60,
        what=f"{OUTAGE_S} s of the writer's backoff",
        on=pauses.changed,
    )
    assert len(pauses.asked) > 2 * OLD_TRIES


async def greeting_stored(direct: Store, call_sid: str) -> None:
    async def stored() -> bool:
        return len(await stored_turns(direct, call_sid)) >= 1

    await eventually(stored, timeout=10, what="the greeting stored", every=RECHECK_S)


async def finalized(direct: Store, call_sid: str) -> CallRecord:
    """The call once it is marked ended (read directly: the service's own connection
    through the line may take a moment to find the database again)."""

    async def ended() -> CallRecord | None:
        call = await direct.calls.get(call_sid)
        return call if call is not None and "ended" in call.timings else None

    call = await eventually(ended, timeout=30, what="the call finalized", every=RECHECK_S)
    assert call is not None
    return call


def check_everything_stored(call: CallRecord, turns: list[tuple[str, str]]) -> None:
    assert turns == TRANSCRIPT
    assert call.completion == "completed"
    assert call.ended_reason == "interview ended: completed"
    assert call.report is not None
    assert call.stream is not None and call.stream.end == "interview ended: completed"
    assert {"first_audio_out", "stream_stopped", "ended"} <= set(call.timings)


async def test_a_minute_without_the_database_mid_call_loses_nothing(
    env: Env, line: TcpProxy, direct: Store, pauses: CountedPauses
) -> None:
    call_sid, twilio, caller = await env.dial_in()
    await env.wait_played(twilio, 1)
    await greeting_stored(direct, call_sid)
    line.cut()
    await twilio.send_dtmf("5")
    caller.say()  # answered, evaluated and asked the next question, all during the outage
    await env.wait_played(twilio, 3)
    await a_minute_of_outage(pauses)
    assert await stored_turns(direct, call_sid) == TRANSCRIPT[:1]
    assert await direct.evaluations.for_call(call_sid) == []
    line.restore()
    caller.say()
    call = await finalized(direct, call_sid)
    await caller.stop()
    check_everything_stored(call, await stored_turns(direct, call_sid))
    assert await inserted_texts(direct, call_sid) == [text for _, text in TRANSCRIPT]
    assert [e.answer_quality for e in await direct.evaluations.for_call(call_sid)] == ["good"]
    assert [k.digit for k in call.dtmf] == ["5"]
    assert twilio.errors == [] and env.model.errors == []


async def test_a_minute_without_the_database_across_the_hang_up_still_finalizes_the_call(
    env: Env, line: TcpProxy, direct: Store, pauses: CountedPauses
) -> None:
    call_sid, twilio, caller = await env.dial_in()
    await env.wait_played(twilio, 1)
    caller.say()
    await env.wait_played(twilio, 3)
    await env.wait(lambda: len(env.model.connections[0].events("response.done")) >= 3, "reply")
    line.cut()
    caller.say()  # the last answer: the goodbye, the hang-up and the end all in the outage
    # The call ends (the stream closed by the service) without waiting for the database.
    await twilio.wait_closed(timeout=20)
    await caller.stop()
    await a_minute_of_outage(pauses)
    before = await direct.calls.get(call_sid)
    assert before is not None and "ended" not in before.timings and before.completion is None
    assert len(await stored_turns(direct, call_sid)) < len(TRANSCRIPT)
    line.restore()
    call = await finalized(direct, call_sid)
    check_everything_stored(call, await stored_turns(direct, call_sid))
    assert await inserted_texts(direct, call_sid) == [text for _, text in TRANSCRIPT]
    assert len(await direct.evaluations.for_call(call_sid)) == 1
    assert twilio.errors == [] and env.model.errors == []
