"""The greeting asked for by the voice webhook, before the media stream exists: ready when
the stream starts, asked for once, and billed on the call when no stream ever comes."""

from __future__ import annotations

import pytest

from persistence import CallRecord
from tests.support.call_harness import Env, live_env
from tests.support.hand_prices import realtime_usage_usd
from tests.support.openai import Say, Script
from tests.support.twilio_peer import BYTES_PER_MS, FRAME_BYTES
from tests.support.waiting import RECHECK_S, eventually

GREETING = "Hello, and thank you for calling. Tell me a little about yourself."
GREETING_MS = 900


def script() -> Script:
    return Script(responses=[Say(GREETING, audio_ms=GREETING_MS)])


async def greeting_generated(env: Env) -> None:
    await env.wait(
        lambda: (
            bool(env.model.connections) and bool(env.model.connections[0].events("response.done"))
        ),
        "the greeting generated while no stream exists",
    )


async def test_the_greeting_is_ready_when_the_stream_starts(mongo_uri: str, db_name: str) -> None:
    async with live_env(mongo_uri, db_name, script()) as env:
        call_sid = await env.ring()
        await greeting_generated(env)
        # Only now does 'Twilio' open the stream: the whole greeting waits in the service.
        twilio, caller = await env.stream_in(call_sid)
        await env.wait_played(twilio, 1)
        heard = twilio.played_bytes()
        call, turns = await env.hang_up(call_sid, twilio, caller)

    assert env.model.errors == []
    assert len(env.model.connections) == 1  # the webhook's session is the call's
    conn = env.model.connections[0]
    assert len(conn.client_events("response.create")) == 1  # asked for once, by the webhook
    assert heard >= GREETING_MS * BYTES_PER_MS - FRAME_BYTES  # and heard whole
    assert [(t.speaker, t.text, t.interrupted) for t in turns] == [("assistant", GREETING, False)]
    assert call.cost is not None and call.cost.responses == 1
    assert call.unplayed_greetings_usd == {}
    assert call.latency is not None and call.latency.first_audio_ms is not None


async def test_a_greeting_whose_stream_never_comes_is_billed_on_the_call(
    mongo_uri: str, db_name: str
) -> None:
    async with live_env(mongo_uri, db_name, script()) as env:
        call_sid = await env.ring()
        await greeting_generated(env)
        # The worker stops before the stream comes (or the stream went to another worker
        # and this session expires): the greeting was generated, and is paid for.
        await env.svc.services.interviews.pending.close_all()
        store = env.svc.store

        async def billed() -> CallRecord | None:
            call = await store.calls.get(call_sid)
            return call if call is not None and call.unplayed_greetings_usd else None

        call = await eventually(
            billed, timeout=15, what="the unplayed greeting's cost", every=RECHECK_S
        )

    assert call is not None
    conn = env.model.connections[0]
    response_id = conn.events("response.done")[0]["response"]["id"]
    assert list(call.unplayed_greetings_usd) == [response_id]
    assert call.unplayed_greetings_usd[response_id] == pytest.approx(
        float(realtime_usage_usd(conn.usages[0])), abs=1e-9
    )
    assert conn.closed  # the unused session is closed, not left to the model's timeout
    assert call.cost is None  # no stream, no call cost: the greeting is on its own line
