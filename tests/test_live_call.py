"""Whole interviews over real sockets: Twilio and OpenAI peers, a real server (Hypercorn,
and for the main scenarios also uvicorn as production runs it) and MongoDB."""

from __future__ import annotations

import asyncio
import json
import logging
from decimal import Decimal

import pytest

from evaluation.report import Report
from persistence import CallRecord
from service.server import SERVERS, ServerName
from tests.support.call_harness import Env, live_env
from tests.support.hand_prices import realtime_usage_usd
from tests.support.openai import CallTool, Say, Script
from tests.support.waiting import RECHECK_S, eventually

pytestmark = pytest.mark.slow

EVALUATION = json.dumps(
    {
        "answer_quality": "good",
        "key_points_covered": ["measure first", "logs and metrics"],
        "next_action": "move_to_next_topic",
        "follow_up_needed": False,
    }
)


@pytest.mark.parametrize("server", SERVERS)
async def test_a_whole_interview(mongo_uri: str, db_name: str, server: ServerName) -> None:
    script = Script(
        responses=[
            Say("Hello, thanks for calling. Tell me about a recent project.", audio_ms=1200),
            CallTool("evaluate_candidate_answer", EVALUATION),
            Say("Great. How do you debug a slow API?", audio_ms=800),
            [
                Say("Thank you, that is all. Goodbye.", audio_ms=800),
                CallTool("end_interview", json.dumps({"reason": "completed"})),
            ],
        ],
        caller_transcripts=["I built a billing service.", "I measure first, then profile."],
    )
    async with live_env(mongo_uri, db_name, script, server=server) as env:
        call_sid, twilio, caller = await env.dial_in()
        await env.wait_played(twilio, 1)
        await twilio.send_dtmf("5")
        caller.say()
        await env.wait(
            lambda: len(env.model.connections[0].events("response.done")) >= 3,
            "the third reply",
        )
        await env.wait_played(twilio, 3)
        caller.say()
        call = await env.ended(call_sid, timeout=20)
        await caller.stop()
        turns = await env.turns(call_sid)
        evaluations = await env.svc.store.evaluations.for_call(call_sid)

    assert env.model.errors == [], env.model.errors
    assert twilio.errors == []
    assert env.rest.errors == []
    # One model session, opened by the voice webhook before the stream even started.
    (conn,) = env.model.connections
    assert conn.client_events("session.update")
    keypad = [
        e["item"]["content"][0]["text"]
        for e in conn.client_events("conversation.item.create")
        if e["item"]["type"] == "message"
    ]
    assert keypad == ["[pressed keypad key 5]"]
    assert [k.digit for k in call.dtmf] == ["5"]
    # The interviewer spoke first, and the goodbye played before the hang-up.
    assert [u.status for u in env.rest.updates] == ["completed"]
    assert twilio.echoed_marks and twilio.echoed_marks[-1][1] == "end-of-call"
    assert twilio.played_ms() >= 1200 + 800 + 800 - 40  # every reply, goodbye included
    # Transcript in conversation order, caller turns from transcription.
    assert [(t.speaker, t.text) for t in turns] == [
        ("assistant", "Hello, thanks for calling. Tell me about a recent project."),
        ("caller", "I built a billing service."),
        ("assistant", "Great. How do you debug a slow API?"),
        ("caller", "I measure first, then profile."),
        ("assistant", "Thank you, that is all. Goodbye."),
    ]
    assert not any(t.interrupted for t in turns)
    assert [(e.question_index, e.answer_quality) for e in evaluations] == [(0, "good")]
    assert call.ended_reason == "interview ended: completed"
    assert report(call).completion == "completed"
    assert "first_audio_out" in call.timings
    latency = call.latency
    assert latency is not None
    assert latency.model.n == 2  # one per caller turn answered with audio
    assert latency.bridge.n == 3  # one per response that spoke
    assert latency.first_audio_ms is not None
    # The current models: reasoning at the configured effort, billed as text output, and
    # streaming transcription billed by the caller audio the model was sent.
    assert conn.client_events("session.update")[0]["session"]["reasoning"] == {"effort": "minimal"}
    assert call.cost is not None and call.cost.model == "gpt-realtime-2.1"
    transcription = call.cost.lines["transcription"]
    assert transcription.unit == "seconds" and transcription.rate_usd == 0.017
    assert transcription.quantity == pytest.approx(conn.input_audio_ms / 1000, abs=0.001)
    assert total_usd(call) == pytest.approx(float(priced_by_hand(env)), abs=1e-6)


def report(call: CallRecord) -> Report:
    assert call.report is not None, "the call has no report"
    return call.report


def total_usd(call: CallRecord) -> float:
    assert call.cost is not None and call.cost.total_usd is not None, "the call has no cost"
    return call.cost.total_usd


def priced_by_hand(env: Env) -> Decimal:
    """gpt-realtime-2.1 (its reasoning billed as text output) and gpt-realtime-whisper (per
    minute of the caller audio streamed to the model) at the published rates, and one
    minute of inbound local Twilio voice plus Media Streams."""
    total = Decimal(0)
    for conn in env.model.connections:
        total += sum((realtime_usage_usd(usage) for usage in conn.usages), Decimal(0))
        streamed_s = Decimal(repr(conn.input_audio_ms)) / 1000
        total += streamed_s * Decimal("0.017") / 60
    return total + Decimal("0.0085") + Decimal("0.004")


@pytest.mark.parametrize(
    ("realtime_factor", "server"), [(1.25, "hypercorn"), (4.0, "hypercorn"), (1.25, "uvicorn")]
)
async def test_barge_in_truncates_to_what_the_caller_heard(
    mongo_uri: str, db_name: str, realtime_factor: float, server: ServerName
) -> None:
    script = Script(
        responses=[
            Say(
                "Welcome to the interview. Before we start, let me explain how this works, "
                "what we will cover today and how long it should take.",
                audio_ms=6000,
            ),
            Say("Of course, go ahead.", audio_ms=600),
        ],
        caller_transcripts=["Sorry, can I ask something first?"],
    )
    # At 1.25 the reply is still streaming when the caller talks; at 4.0 it has all been
    # generated and is only still playing.
    # The model delivers two more deltas of the reply after cancelling it, as the real API
    # can: they were generated before the cancel took effect, and must never be played.
    async with live_env(
        mongo_uri,
        db_name,
        script,
        realtime_factor=realtime_factor,
        server=server,
        deltas_after_cancel=2,
    ) as env:
        call_sid, twilio, caller = await env.dial_in()
        # Let about a second and a half of the greeting play, then talk over it.
        await env.wait(lambda: twilio.played_ms() >= 1500, "1.5 s of the greeting heard")
        caller.say()
        await env.wait(lambda: bool(env.model.connections[0].truncations), "the truncation")
        await env.wait(
            lambda: len(env.model.connections[0].events("response.done")) >= 2,
            "the second reply",
        )
        await env.wait_played(twilio, 2)
        call, turns = await env.hang_up(call_sid, twilio, caller)

    conn = env.model.connections[0]
    assert env.model.errors == [] and twilio.errors == []
    ((_, audio_end_ms, _),) = conn.truncations
    assert len(twilio.clears) == 1
    clear_at = twilio.clears[0]
    heard_ms = twilio.played_ms(at=clear_at)
    # Within one mark: marks follow every delta, and the largest delta is 200 ms.
    assert abs(audio_end_ms - heard_ms) <= 200, (audio_end_ms, heard_ms)
    # The response was cancelled (by the server's VAD or by us) and nothing of it
    # reached the caller after the clear.
    dones = conn.events("response.done")
    greeting_id = dones[0]["response"]["id"]
    assert all(c.get("response_id") == greeting_id for c in conn.client_events("response.cancel"))
    if realtime_factor < 2:  # still streaming when interrupted
        assert dones[0]["response"]["status"] == "cancelled"
        cut = conn.responses[0].cancelled_at_event
        assert cut is not None
        after_cancel = [
            e
            for e in conn.sent[cut:]
            if e["type"] == "response.output_audio.delta"
            and e["response_id"] == dones[0]["response"]["id"]
        ]
        assert len(after_cancel) == 2
    second_created = conn.sent_at[conn.sent.index(conn.events("response.created")[1])]
    late = [r for r in twilio.events("media") if clear_at < r.at < second_created]
    assert late == []
    greeting = turns[0]
    assert greeting.speaker == "assistant" and greeting.interrupted
    assert greeting.truncated_at_ms == audio_end_ms
    full = script.responses[0]
    assert isinstance(full, Say)
    assert 0 < len(greeting.text) < len(full.text) and full.text.startswith(greeting.text)
    assert [t.speaker for t in turns] == ["assistant", "caller", "assistant"]
    assert call.interruptions == 1
    assert report(call).interruptions == 1


async def test_running_cost_is_stored_as_responses_complete(
    mongo_uri: str, db_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    script = Script(responses=[Say("Hello, first question.", audio_ms=500)])
    async with live_env(mongo_uri, db_name, script, cost_alert_usd=Decimal("0.000001")) as env:
        call_sid, twilio, caller = await env.dial_in()
        await env.wait(lambda: bool(env.model.connections[0].usages), "the first usage")

        async def running_cost() -> float:
            call = await env.svc.store.calls.get(call_sid)
            assert call is not None and "ended" not in call.timings
            return (call.cost.running_usd if call.cost else None) or 0.0

        # The write is queued behind the audio, not awaited: it reaches the database later.
        running = await eventually(
            running_cost, timeout=10, what="the running cost stored", every=RECHECK_S
        )
        await caller.stop()
        await twilio.close()  # the line drops: the call ends abruptly
        final = await env.ended(call_sid)

    assert running > 0
    assert total_usd(final) >= running
    assert total_usd(final) == pytest.approx(float(priced_by_hand(env)), abs=1e-6)
    alerts = [r for r in caplog.records if "alert threshold" in r.getMessage()]
    assert len(alerts) == 1 and alerts[0].levelname == "WARNING"


async def test_late_transcription_keeps_conversation_order(mongo_uri: str, db_name: str) -> None:
    script = Script(
        responses=[
            Say("Hello, tell me about yourself.", audio_ms=600),
            Say("Thanks!", audio_ms=400),
        ],
        caller_transcripts=["I am a backend engineer."],
        transcript_delay_ms=1500,
    )
    async with live_env(mongo_uri, db_name, script) as env:
        call_sid, twilio, caller = await env.dial_in()
        await env.wait_played(twilio, 1)
        caller.say()
        conn = env.model.connections[0]
        await env.wait(
            lambda: bool(conn.events("conversation.item.input_audio_transcription.completed")),
            "the caller's transcript",
        )
        await env.wait_played(twilio, 2)
        await twilio.send_stop()
        await env.ended(call_sid)
        await caller.stop()
        turns = await env.turns(call_sid)

    # The reply's transcript arrived before the caller's: order follows the items.
    sent = [e["type"] for e in conn.sent]
    assert sent.index(
        "response.output_audio_transcript.done", sent.index("input_audio_buffer.committed")
    ) < sent.index("conversation.item.input_audio_transcription.completed")
    assert [(t.speaker, t.text) for t in turns] == [
        ("assistant", "Hello, tell me about yourself."),
        ("caller", "I am a backend engineer."),
        ("assistant", "Thanks!"),
    ]
    assert turns[1].created_at is not None and turns[2].created_at is not None
    assert turns[1].created_at > turns[2].created_at  # stored later, ordered earlier


async def test_bad_tool_arguments_get_an_error_output(mongo_uri: str, db_name: str) -> None:
    script = Script(
        responses=[
            Say("First question: what is a cache?", audio_ms=500),
            CallTool("evaluate_candidate_answer", '{"answer_quality": "superb"'),
            CallTool("evaluate_candidate_answer", json.dumps({"answer_quality": "superb"})),
            Say("Let me rephrase that.", audio_ms=400),
        ],
        caller_transcripts=["Fast storage."],
    )
    async with live_env(mongo_uri, db_name, script) as env:
        call_sid, twilio, caller = await env.dial_in()
        await env.wait_played(twilio, 1)
        caller.say()
        conn = env.model.connections[0]
        await env.wait(lambda: len(conn.events("response.done")) >= 4, "four responses")
        await env.wait_played(twilio, 4)
        await twilio.send_stop()
        await env.ended(call_sid)
        await caller.stop()
        evaluations = await env.svc.store.evaluations.for_call(call_sid)

    assert env.model.errors == []
    outputs = [
        json.loads(e["item"]["output"])
        for e in conn.client_events("conversation.item.create")
        if e["item"]["type"] == "function_call_output"
    ]
    assert len(outputs) == 2 and all("error" in o for o in outputs)
    assert "JSON" in outputs[0]["error"] or "json" in outputs[0]["error"]
    assert "answer_quality" in outputs[1]["error"]
    assert evaluations == []
    assert len(conn.client_events("response.create")) == 3  # greeting and one after each error


@pytest.mark.parametrize("loss", ["drop", "session_expired"])
async def test_model_loss_between_turns_reconnects_silently(
    mongo_uri: str, db_name: str, loss: str
) -> None:
    script = Script(
        responses=[
            Say("Hello. What did you work on last?", audio_ms=600),
            Say("Interesting. Why that design?", audio_ms=600),
            Say("Thank you.", audio_ms=400),
        ],
        caller_transcripts=["A search engine.", "It was simpler to operate."],
    )
    async with live_env(mongo_uri, db_name, script) as env:
        call_sid, twilio, caller = await env.dial_in()
        await env.wait_played(twilio, 1)
        caller.say()
        first = env.model.connections[0]
        await env.wait(lambda: len(first.events("response.done")) >= 2, "the second reply")
        await env.wait_played(twilio, 2)
        # A dropped socket, or the API's 60-minute cap (an error event, then a close).
        await (env.model.drop() if loss == "drop" else env.model.expire())
        await env.wait(lambda: len(env.model.connections) == 2, "the reconnection")
        second = env.model.connections[1]
        await env.wait(
            lambda: bool(second.client_events("conversation.item.create")),
            "the conversation replayed",
        )
        caller.say()
        await env.wait(
            lambda: len(second.events("response.done")) >= 1, "a reply after reconnecting"
        )
        await env.wait_played(twilio, 1)
        call, turns = await env.hang_up(call_sid, twilio, caller)

    assert env.model.errors == []
    assert second.client_events("session.update")
    items = [e["item"] for e in second.client_events("conversation.item.create")]
    replayed = [(i["role"], i["content"][0]["text"]) for i in items if i["role"] != "system"]
    assert replayed == [
        ("assistant", "Hello. What did you work on last?"),
        ("user", "A search engine."),
        ("assistant", "Interesting. Why that design?"),
    ]
    # Nobody was speaking or waiting: no apology, and no reply until the caller talks.
    notes = [i["content"][0]["text"] for i in items if i["role"] == "system"]
    assert not any("apologize" in n for n in notes)
    assert [(t.speaker, t.text) for t in turns] == [
        ("assistant", "Hello. What did you work on last?"),
        ("caller", "A search engine."),
        ("assistant", "Interesting. Why that design?"),
        ("caller", "It was simpler to operate."),
        ("assistant", "Thank you."),
    ]
    assert call.reconnects == 1
    assert report(call).reconnects == 1


async def test_model_drop_mid_reply_apologizes(mongo_uri: str, db_name: str) -> None:
    script = Script(
        responses=[
            Say("Hello and welcome, this is a rather long introduction " * 3, audio_ms=6000),
            Say("Sorry, the line dropped for a moment. As I was saying.", audio_ms=600),
        ],
    )
    async with live_env(mongo_uri, db_name, script, realtime_factor=1.25) as env:
        call_sid, twilio, caller = await env.dial_in()
        await env.wait(lambda: twilio.played_ms() >= 1000, "1 s of the introduction heard")
        await env.model.drop()
        await env.wait(lambda: len(env.model.connections) == 2, "the reconnection")
        second = env.model.connections[1]
        await env.wait(
            lambda: len(second.events("response.done")) >= 1, "a reply after reconnecting"
        )
        await env.wait_played(twilio, 1)
        call, turns = await env.hang_up(call_sid, twilio, caller)

    assert env.model.errors == []
    notes = [
        e["item"]["content"][0]["text"]
        for e in second.client_events("conversation.item.create")
        if e["item"]["role"] == "system"
    ]
    assert any("apologize" in n for n in notes)
    assert len(twilio.clears) == 1  # the cut-off reply stopped playing at once
    first_turn, apology = turns
    intro = script.responses[0]
    assert isinstance(intro, Say)
    assert first_turn.interrupted and 0 < len(first_turn.text) < len(intro.text)
    assert apology.text.startswith("Sorry, the line dropped")
    assert call.reconnects == 1


async def test_model_gone_for_good_apologizes_and_hangs_up(mongo_uri: str, db_name: str) -> None:
    script = Script(responses=[Say("Hello, first question.", audio_ms=500)])
    # With INTERVIEW_ENGINE=auto the call would go on over the relay (tests/test_relay_call).
    async with live_env(mongo_uri, db_name, script, interview_engine="realtime") as env:
        call_sid, twilio, caller = await env.dial_in()
        await env.wait_played(twilio, 1)
        env.model.refuse_connections = True
        await env.model.drop()
        call = await env.ended(call_sid, timeout=20)
        await caller.stop()

    assert len(env.model.connections) == 1
    refused = [status for status, _ in env.model.handshakes if status == 503]
    assert len(refused) == 3  # every reconnect attempt was made, and refused
    (update,) = env.rest.updates
    assert update.status is None and "technical difficulties" in update.said[0]
    assert call.ended_reason == "model unavailable after reconnect attempts"
    assert report(call).completion == "failed"


@pytest.mark.parametrize("server", SERVERS)
async def test_a_normal_hang_up_logs_nothing_above_info(
    mongo_uri: str, db_name: str, server: ServerName, caplog: pytest.LogCaptureFixture
) -> None:
    """Twilio sends `stop` and closes its side at once, before the service's own close."""
    script = Script(
        responses=[Say("Hello, tell me about a recent project.", audio_ms=800)],
        caller_transcripts=["I built a billing service."],
    )
    caplog.set_level(logging.INFO)
    async with live_env(mongo_uri, db_name, script, server=server) as env:
        call_sid, twilio, caller = await env.dial_in()
        await env.wait_played(twilio, 1)
        call, turns = await env.hang_up(call_sid, twilio, caller)

    assert call.ended_reason == "candidate hung up (stream stopped)"
    assert [t.speaker for t in turns] == ["assistant"]
    loud = [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.WARNING]
    assert loud == []


@pytest.mark.parametrize("server", SERVERS)
async def test_caller_hanging_up_mid_reply(
    mongo_uri: str, db_name: str, server: ServerName
) -> None:
    script = Script(responses=[Say("A long introduction " * 10, audio_ms=8000)])
    async with live_env(mongo_uri, db_name, script, realtime_factor=1.25, server=server) as env:
        call_sid, twilio, caller = await env.dial_in()
        conn = env.model.connections and env.model.connections[0]
        await env.wait(lambda: twilio.played_ms() >= 500, "0.5 s of the introduction heard")
        await caller.stop()
        hung_up = asyncio.get_running_loop().time()
        await twilio.close()
        model_conn = env.model.connections[0]
        await env.wait(lambda: model_conn.closed, "the model session closed", timeout=5)
        closed_after = asyncio.get_running_loop().time() - hung_up
        call = await env.ended(call_sid)
        turns = await env.turns(call_sid)

    assert conn
    assert closed_after < 1.0
    assert env.rest.updates == []  # nothing to hang up: the caller did
    assert call.ended_reason == "candidate hung up (stream disconnected)"
    assert report(call).completion == "candidate_hung_up"
    assert total_usd(call) > 0
    assert turns and turns[0].speaker == "assistant"


async def test_max_call_seconds_wraps_up_and_ends(mongo_uri: str, db_name: str) -> None:
    script = Script(
        responses=[
            Say("Hello, let us begin.", audio_ms=500),
            Say("We are out of time. Thank you and goodbye.", audio_ms=700),
        ]
    )
    async with live_env(mongo_uri, db_name, script, max_call_seconds=4) as env:
        call_sid, twilio, caller = await env.dial_in()
        call = await env.ended(call_sid, timeout=20)
        await caller.stop()

    conn = env.model.connections[0]
    notes = [
        e["item"]["content"][0]["text"]
        for e in conn.client_events("conversation.item.create")
        if e["item"]["type"] == "message" and e["item"]["role"] == "system"
    ]
    assert any("one minute is left" in n for n in notes)
    closing = conn.client_events("response.create")[-1]
    assert "closing line" in closing["response"]["instructions"]
    assert [u.status for u in env.rest.updates] == ["completed"]
    assert twilio.echoed_marks[-1][1] == "end-of-call"
    assert call.ended_reason == "time limit reached"
    assert report(call).completion == "timed_out"


async def test_time_limit_during_a_reply_still_plays_the_goodbye(
    mongo_uri: str, db_name: str
) -> None:
    script = Script(
        responses=[
            Say("A very long welcome that runs past the limit " * 4, audio_ms=8000),
            Say("We are out of time. Goodbye.", audio_ms=700),
        ]
    )
    async with live_env(
        mongo_uri, db_name, script, realtime_factor=1.25, max_call_seconds=3
    ) as env:
        call_sid, twilio, caller = await env.dial_in()
        call = await env.ended(call_sid, timeout=25)
        await caller.stop()
        turns = await env.turns(call_sid)

    conn = env.model.connections[0]
    assert env.model.errors == []
    statuses = [d["response"]["status"] for d in conn.events("response.done")]
    assert statuses == ["cancelled", "completed"]
    goodbye_sent = sum(
        len(r.raw["media"]["payload"]) for r in twilio.events("media") if r.at > twilio.clears[0]
    )
    assert goodbye_sent > 0
    assert twilio.echoed_marks[-1][1] == "end-of-call"
    (update,) = env.rest.updates
    assert update.status == "completed"
    assert report(call).completion == "timed_out"
    (first, goodbye) = turns
    assert first.interrupted and goodbye.text == "We are out of time. Goodbye."


async def test_unreadable_frames_from_the_model_are_skipped_and_the_call_goes_on(
    mongo_uri: str, db_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    script = Script(
        responses=[
            Say("Hello, tell me about yourself.", audio_ms=600),
            Say("Thanks!", audio_ms=400),
        ],
        caller_transcripts=["I am a backend engineer."],
    )
    async with live_env(mongo_uri, db_name, script) as env:
        call_sid, twilio, caller = await env.dial_in()
        await env.wait_played(twilio, 1)
        conn = env.model.connections[0]
        # Frames no parser should survive: not JSON, nested past any recursion limit, and
        # a known event missing what it must carry.
        for frame in ("not json", "[" * 50_000 + "]" * 50_000, '{"type": "response.done"}'):
            await conn.ws.send(frame)
        caller.say()
        await env.wait_played(twilio, 2)
        call, turns = await env.hang_up(call_sid, twilio, caller)

    assert len(env.model.connections) == 1 and call.reconnects == 0
    assert [(t.speaker, t.text) for t in turns] == [
        ("assistant", "Hello, tell me about yourself."),
        ("caller", "I am a backend engineer."),
        ("assistant", "Thanks!"),
    ]
    skipped = [r for r in caplog.records if "unreadable Realtime event" in r.getMessage()]
    assert len(skipped) == 3


async def test_an_answer_given_as_the_model_drops_is_heard_by_the_next(
    mongo_uri: str, db_name: str
) -> None:
    """The line to the model dies just as the caller finishes an answer: before the model
    said the turn had ended, long before its transcript. The reopened session is sent the
    answer's audio again, and answers it."""
    script = Script(
        responses=[
            Say("Hello. What did you work on last?", audio_ms=600),
            Say("Interesting. Why that design?", audio_ms=600),
        ],
        caller_transcripts=["A search engine."],
    )
    async with live_env(mongo_uri, db_name, script) as env:
        call_sid, twilio, caller = await env.dial_in()
        await env.wait_played(twilio, 1)
        env.model.drop_before = "input_audio_buffer.speech_stopped"
        caller.say()
        await env.wait(lambda: len(env.model.connections) == 2, "the reconnection")
        second = env.model.connections[1]
        await env.wait(lambda: len(second.events("response.done")) >= 1, "the answer answered")
        await env.wait_played(twilio, 1)  # the reply on the new connection
        call, turns = await env.hang_up(call_sid, twilio, caller)

    assert env.model.errors == []
    first = env.model.connections[0]
    assert first.events("input_audio_buffer.speech_started")  # it heard the answer begin
    assert not first.events("input_audio_buffer.committed")  # and died before the end
    assert [(t.speaker, t.text) for t in turns] == [
        ("assistant", "Hello. What did you work on last?"),
        ("caller", "A search engine."),
        ("assistant", "Interesting. Why that design?"),
    ]
    assert call.reconnects == 1


async def test_a_half_open_model_connection_is_noticed_and_nothing_said_into_it_is_lost(
    mongo_uri: str, db_name: str
) -> None:
    """The model's socket stays up but nothing comes back, pongs included: the caller's
    answer goes into it. The silence is noticed, the connection reopened, and the answer
    replayed to the new one."""
    script = Script(
        responses=[
            Say("Hello. What did you work on last?", audio_ms=600),
            Say("Interesting. Why that design?", audio_ms=600),
        ],
        caller_transcripts=["A search engine."],
    )
    async with live_env(mongo_uri, db_name, script, model_silence_s=2.0) as env:
        call_sid, twilio, caller = await env.dial_in()
        await env.wait_played(twilio, 1)
        env.model.freeze()
        frozen = env.model.connections[0]
        caller.say()  # 2.8 s of answer, all of it into the dead connection
        await caller.finish_speaking()
        assert len(env.model.connections) == 1  # not noticed before 2 s + 2 s
        await env.wait(lambda: len(env.model.connections) == 2, "the reconnection")
        assert frozen.frozen_at is not None
        noticed_after = env.model.connections[1].opened_at - frozen.frozen_at
        second = env.model.connections[1]
        await env.wait(lambda: len(second.events("response.done")) >= 1, "the answer answered")
        await env.wait_played(twilio, 1)  # the reply on the new connection
        call, turns = await env.hang_up(call_sid, twilio, caller)

    assert env.model.errors == []
    # Silent for 2 s (counted from the model's last event, shortly before the freeze), then
    # 2 s to answer a ping, checked every second: far sooner than the keepalive's 20-40 s.
    assert 2 <= noticed_after < 10
    assert [(t.speaker, t.text) for t in turns] == [
        ("assistant", "Hello. What did you work on last?"),
        ("caller", "A search engine."),
        ("assistant", "Interesting. Why that design?"),
    ]
    assert call.reconnects == 1
