"""Whole interviews over ConversationRelay: a real server and MongoDB, Twilio's relay
socket and REST API, the Responses API and the Realtime API, all as strict peers."""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from pathlib import Path

import pytest

from bridge.clock import utcnow
from persistence import CallRecord
from persistence.api_records import WebhookEndpoint
from persistence.records import HANDED_OVER
from tests.support.api import RECEIVERS, Receiver
from tests.support.call_harness import ACCOUNT, Env
from tests.support.openai import CallTool, Say, Script
from tests.support.relay_harness import RelayEnv, relay_env
from tests.support.relay_peer import relay_element
from tests.support.telephony_fixtures import service, settings_for
from tests.support.waiting import RECHECK_S, eventually
from tests.test_live_call import priced_by_hand as realtime_priced_by_hand

pytestmark = pytest.mark.slow

EVALUATION = json.dumps(
    {
        "answer_quality": "good",
        "key_points_covered": ["measure first"],
        "next_action": "move_to_next_topic",
        "follow_up_needed": False,
    }
)
M = Decimal(1_000_000)


async def heard_whole(env: Env, call_sid: str, replies: int) -> None:
    """Until the service has stored `replies` assistant turns as heard to the end: the
    handset's mark echoes have reached it, so a model lost now cuts nothing short."""

    async def stored() -> bool:
        turns = await env.turns(call_sid)
        whole = [t for t in turns if t.speaker == "assistant" and not t.interrupted]
        return len(whole) >= replies

    await eventually(stored, timeout=30, what=f"{replies} replies stored whole", every=RECHECK_S)


def priced_by_hand(renv: RelayEnv, relay_minutes: int = 1) -> Decimal:
    """gpt-4.1-mini at $0.40 / $0.10 cached / $1.60 per 1M tokens, every response's input
    billed again (its cached part once, at the cached rate); ConversationRelay at $0.07 and
    inbound local voice at $0.0085 per started minute."""
    total = Decimal(0)
    for usage in renv.text.usages:
        cached = usage["input_tokens_details"]["cached_tokens"]
        total += (usage["input_tokens"] - cached) * Decimal("0.40") / M
        total += cached * Decimal("0.10") / M
        total += usage["output_tokens"] * Decimal("1.60") / M
    return total + relay_minutes * Decimal("0.07") + Decimal("0.0085")


async def ended(renv: RelayEnv, call_sid: str) -> CallRecord:
    return await renv.env.ended(call_sid, timeout=20)


async def test_a_whole_interview_over_the_relay(
    mongo_uri: str, db_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    script = Script(
        responses=[
            Say("Great. Tell me about a recent project."),
            CallTool("evaluate_candidate_answer", EVALUATION),
            Say("Thanks. How do you debug a slow API?"),
            [
                Say("Thank you, that is all. Goodbye."),
                CallTool("end_interview", '{"reason": "completed"}'),
            ],
        ]
    )
    async with relay_env(mongo_uri, db_name, script, interview_engine="relay") as renv:
        call_sid, peer, greeting = await renv.relay_call()
        await renv.answer(peer, "Yes, now is fine.")
        await peer.dtmf("7")
        await renv.answer(peer, "I built a billing service.")
        await renv.answer(peer, "I measure first, then profile.")
        await renv.wait(lambda: peer.ended is not None, "the relay session ended")
        call = await ended(renv, call_sid)
        turns = await renv.env.turns(call_sid)
        evaluations = await renv.env.svc.store.evaluations.for_call(call_sid)

    assert renv.text.errors == [] and peer.errors == [] and renv.env.rest.errors == []
    assert renv.env.model.connections == []  # the Realtime API was never used
    loud = [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.WARNING]
    assert loud == []  # nothing went wrong, so nothing above INFO
    said = "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.INFO)
    assert "billing service" not in said and "+1415555" not in said
    assert greeting.startswith("Hello, I'm an automated interviewer")
    # Tokens went out as they came, each turn closed with last: true.
    texts = peer.sent("text")
    assert len(texts) > len(peer.utterances) and all(not t["last"] for t in texts if t["token"])
    assert peer.utterances == [
        "Great. Tell me about a recent project.",
        "Thanks. How do you debug a slow API?",
        "Thank you, that is all. Goodbye.",
    ]
    # The same stored shape as a realtime call.
    assert [(t.speaker, t.text) for t in turns] == [
        ("assistant", greeting),
        ("caller", "Yes, now is fine."),
        ("assistant", "Great. Tell me about a recent project."),
        ("caller", "I built a billing service."),
        ("assistant", "Thanks. How do you debug a slow API?"),
        ("caller", "I measure first, then profile."),
        ("assistant", "Thank you, that is all. Goodbye."),
    ]
    assert [t.seq for t in turns] == list(range(7))
    assert [(e.question_index, e.answer_quality) for e in evaluations] == [(0, "good")]
    assert call.completion == "completed" and call.ended_reason == "interview ended: completed"
    assert call.report is not None and call.report.completion == "completed"
    assert [(e.engine, e.reason) for e in call.engines] == [("relay", "INTERVIEW_ENGINE=relay")]
    assert call.relay is not None and call.relay.prompts == 3 and call.relay.errors == []
    assert [k.digit for k in call.dtmf] == ["7"]
    keyed = [i for r in renv.text.requests for i in r["input"] if "keypad" in str(i.get("content"))]
    assert keyed and keyed[0] == {"role": "user", "content": "[pressed keypad key 7]"}
    assert call.latency is not None and call.latency.model.n == 3
    assert call.cost is not None and call.cost.text_model == "gpt-4.1-mini"
    assert call.cost.lines["twilio_media_streams"].quantity == 0
    assert call.cost.lines["twilio_conversation_relay"].rate_usd == 0.07
    assert call.cost.total_usd == pytest.approx(float(priced_by_hand(renv)), abs=1e-6)


async def test_an_interrupt_stores_what_the_caller_heard(mongo_uri: str, db_name: str) -> None:
    long = (
        "Before we start, let me explain how this works, what we will cover today, "
        "and roughly how long each part of the interview should take."
    )
    script = Script(responses=[Say(long), Say("Of course, go ahead.")])
    async with relay_env(mongo_uri, db_name, script, interview_engine="relay") as renv:
        renv.text.delta_delay_s = 0.05  # still streaming when the caller talks
        call_sid, peer, _ = await renv.relay_call()
        await peer.say("Yes.")
        await renv.wait(lambda: len(peer.current) >= 40, "part of the explanation spoken")
        heard = await peer.interrupt(30)
        await renv.wait(
            lambda: renv.text.responses[0].status == "cancelled", "the model's stream cancelled"
        )
        sent_before = len(peer.sent("text"))
        await renv.answer(peer, "Sorry, can I ask something first?")
        await peer.close()
        call = await ended(renv, call_sid)
        turns = await renv.env.turns(call_sid)

    assert peer.errors == [] and renv.text.errors == []
    assert len(peer.sent("text")) > sent_before
    cut = turns[2]
    assert (cut.speaker, cut.text, cut.interrupted) == ("assistant", heard, True)
    assert cut.truncated_at_ms == len(heard) * 60
    assert 0 < len(heard) < len(long) and long.startswith(heard)
    # The model was told what the caller heard, not what it had generated.
    assert {"role": "assistant", "content": heard} in renv.text.requests[1]["input"]
    assert call.interruptions == 1 and call.report is not None
    assert call.report.interruptions == 1


async def test_the_breaker_sends_calls_to_the_relay_until_realtime_recovers(
    mongo_uri: str, db_name: str
) -> None:
    async with relay_env(
        mongo_uri, db_name, Script(), breaker_failures=2, breaker_open_s=1
    ) as renv:
        env = renv.env
        env.model.refuse_connections = True
        # Two calls while the Realtime API refuses: each webhook's pre-connect fails.
        early = [await renv.ring() for _ in range(2)]
        assert all("<Stream" in twiml for _, twiml in early)
        await renv.wait(
            lambda: [s for s, _ in env.model.handshakes] == [503, 503], "two refused connections"
        )
        during, twiml = await renv.ring()
        relay_element(twiml)  # the breaker is open: the relay's TwiML
        env.model.refuse_connections = False

        async def probe_call() -> str | None:
            call_sid, twiml = await renv.ring()
            return call_sid if "<Stream" in twiml else None

        # After BREAKER_OPEN_S one call probes the API; the clock is all that changes.
        probe = await eventually(probe_call, timeout=5, what="a probing call", every=0.1)
        assert probe is not None
        await renv.wait(lambda: 101 in [s for s, _ in env.model.handshakes], "the probe connects")
        after, twiml = await renv.ring()
        calls = [await env.svc.store.calls.get(sid) for sid in (early[0][0], during, probe, after)]

    assert "<Stream" in twiml  # the probe connected: the breaker closed again
    assert env.model.errors == []
    engines = [[(e.engine, e.reason) for e in c.engines] for c in calls if c is not None]
    assert engines == [
        [("realtime", "Realtime API")],
        [("relay", "Realtime API circuit breaker open")],
        [("realtime", "Realtime API")],
        [("realtime", "Realtime API")],
    ]


async def test_a_call_whose_realtime_model_is_gone_for_good_goes_on_over_the_relay(
    mongo_uri: str, db_name: str
) -> None:
    realtime = Script(
        responses=[
            Say("Hello. Tell me about a recent project.", audio_ms=600),
            CallTool("evaluate_candidate_answer", EVALUATION),
            Say("Thanks. How do you debug a slow API?", audio_ms=600),
        ],
        caller_transcripts=["I built a billing service."],
    )
    text = Script(
        responses=[
            Say("As I was asking: how do you debug a slow API?"),
            CallTool("evaluate_candidate_answer", EVALUATION.replace('"good"', '"excellent"')),
            [
                Say("Thank you, that is all. Goodbye."),
                CallTool("end_interview", '{"reason": "completed"}'),
            ],
        ]
    )
    async with relay_env(mongo_uri, db_name, text, realtime) as renv:
        env = renv.env
        call_sid, twilio, caller = await env.dial_in()
        await env.wait_played(twilio, 1)
        caller.say()
        await env.wait_played(twilio, 3)
        await heard_whole(env, call_sid, replies=2)
        # The Realtime API goes away for good: every reconnect is refused.
        env.model.refuse_connections = True
        await env.model.drop()
        await renv.wait(lambda: call_sid in renv.redirects, "the redirect to the relay")
        await caller.stop()
        await twilio.wait_closed()
        peer = await renv.join(call_sid, renv.redirects[call_sid])
        await renv.wait(lambda: len(peer.utterances) >= 1, "the relay's first words")
        await renv.answer(peer, "I measure first, then profile.")
        await renv.wait(lambda: peer.ended is not None, "the relay session ended")
        call = await ended(renv, call_sid)
        turns = await env.turns(call_sid)
        evaluations = await env.svc.store.evaluations.for_call(call_sid)

    assert env.model.errors == [] and renv.text.errors == [] and peer.errors == []
    assert env.rest.errors == [] and twilio.errors == []
    # Twilio was given the relay's TwiML for the live call, with the short apology.
    (update,) = env.rest.updates
    relay = relay_element(update.twiml or "")
    assert relay.get("welcomeGreeting") == "Sorry, one moment... let's continue."
    refused = [s for s, _ in env.model.handshakes if s == 503]
    assert len(refused) == 3  # every reconnect was tried first
    # The relay's model was given the conversation so far, and told to go on.
    first = renv.text.requests[0]["input"]
    assert first[:4] == [
        {"role": "assistant", "content": "Hello. Tell me about a recent project."},
        {"role": "user", "content": "I built a billing service."},
        {"role": "assistant", "content": "Thanks. How do you debug a slow API?"},
        {"role": "assistant", "content": "Sorry, one moment... let's continue."},
    ]
    assert "Continue the interview" in first[-1]["content"]
    # Nothing stored lost or duplicated: one conversation, in order, across both engines.
    assert [(t.speaker, t.text) for t in turns] == [
        ("assistant", "Hello. Tell me about a recent project."),
        ("caller", "I built a billing service."),
        ("assistant", "Thanks. How do you debug a slow API?"),
        ("assistant", "Sorry, one moment... let's continue."),
        ("assistant", "As I was asking: how do you debug a slow API?"),
        ("caller", "I measure first, then profile."),
        ("assistant", "Thank you, that is all. Goodbye."),
    ]
    assert [t.seq for t in turns] == list(range(7))
    assert [(e.question_index, e.answer_quality) for e in evaluations] == [
        (0, "good"),
        (1, "excellent"),
    ]
    assert call.completion == "completed" and call.report is not None
    assert (
        len(call.report.questions[1].evaluations) == 1
        if hasattr(call.report, "questions")
        else True
    )
    assert [e.engine for e in call.engines] == ["realtime", "relay"]
    assert call.engines[1].reason == "realtime model unavailable after reconnect attempts"
    assert call.stream is not None and call.stream.end == "handed over to ConversationRelay"
    assert call.reconnects == 0
    # One bill for both engines: realtime tokens, streamed transcription and Media Streams
    # for the first part, the text model and ConversationRelay for the rest.
    assert call.cost is not None and call.cost.model == "gpt-realtime-2.1"
    assert call.cost.text_model == "gpt-4.1-mini"
    # Streaming transcription is billed by the caller audio the service sent; frames in
    # flight as the model dropped may never have reached the peer (a few on a loaded
    # machine), never the other way round.
    transcription = call.cost.lines["transcription"]
    heard_s = sum(c.input_audio_ms for c in env.model.connections) / 1000
    assert heard_s <= transcription.quantity <= heard_s + 0.2
    heard_usd = Decimal(repr(heard_s)) * Decimal("0.017") / 60
    by_hand = realtime_priced_by_hand(env) - heard_usd + priced_by_hand(renv) - Decimal("0.0085")
    assert call.cost.total_usd is not None
    billed = call.cost.total_usd - transcription.usd
    assert billed == pytest.approx(float(by_hand), abs=1e-6)


async def test_a_redirect_twilio_refuses_ends_the_call_with_the_apology(
    mongo_uri: str, db_name: str
) -> None:
    realtime = Script(responses=[Say("Hello, first question.", audio_ms=500)])
    async with relay_env(mongo_uri, db_name, Script(), realtime) as renv:
        env = renv.env
        call_sid, twilio, caller = await env.dial_in()
        await env.wait_played(twilio, 1)
        env.rest.fail_with = 500  # Twilio refuses every update: the redirect, the hang-up
        env.model.refuse_connections = True
        await env.model.drop()
        call = await env.ended(call_sid, timeout=20)
        await caller.stop()

    assert env.rest.updates == [] and renv.redirects == {}
    assert call.ended_reason == "model unavailable after reconnect attempts"
    assert call.completion == "failed" and call.report is not None
    assert [e.engine for e in call.engines] == ["realtime"]
    assert renv.text.requests == []


async def test_a_call_handed_over_sends_one_call_completed_when_the_relay_ends(
    mongo_uri: str, db_name: str
) -> None:
    receiver = Receiver(secret="whsec_relay")
    await receiver.start()
    realtime = Script(responses=[Say("Hello, first question.", audio_ms=400)])
    text = Script(
        responses=[[Say("Thank you. Goodbye."), CallTool("end_interview", '{"reason": "other"}')]]
    )
    try:
        async with relay_env(
            mongo_uri, db_name, text, realtime, webhook_allow_networks=RECEIVERS
        ) as renv:
            env = renv.env
            await env.svc.store.webhooks.add(
                WebhookEndpoint(
                    id="wh_relay",
                    url=receiver.url,
                    events=["call.completed"],
                    secret=receiver.secret,
                    created_at=utcnow(),
                    key_id="k",
                )
            )
            call_sid, twilio, caller = await env.dial_in()
            await env.wait_played(twilio, 1)
            env.model.refuse_connections = True
            await env.model.drop()
            await renv.wait(lambda: call_sid in renv.redirects, "the redirect to the relay")
            await caller.stop()
            await twilio.wait_closed()

            async def handed_over() -> bool:
                call = await env.svc.store.calls.get(call_sid)
                return (
                    call is not None and call.stream is not None and call.stream.end == HANDED_OVER
                )

            # The media stream's end is written (and its hook has run) before the relay starts.
            await eventually(handed_over, timeout=10, what="the stream's end", every=RECHECK_S)
            peer = await renv.join(call_sid, renv.redirects[call_sid])
            await renv.wait(lambda: peer.ended is not None, "the relay session ended")
            call = await ended(renv, call_sid)
            await eventually(
                lambda: receiver.received, timeout=10, what="call.completed", on=receiver.changes
            )
    finally:
        await receiver.stop()
    (event,) = receiver.received  # the hand-over did not end the call; the relay did
    assert event.event == "call.completed"
    assert event.body["data"]["completion"] == call.completion == "completed"


async def test_a_takeover_that_lands_on_another_worker_goes_on_from_the_database(
    mongo_uri: str, db_name: str, tmp_path: Path
) -> None:
    realtime = Script(
        responses=[
            Say("Hello. Tell me about a recent project.", audio_ms=600),
            Say("Thanks. How do you debug a slow API?", audio_ms=600),
        ],
        caller_transcripts=["I built a billing service."],
    )
    text = Script(
        responses=[
            [
                Say("Thank you, that is all. Goodbye."),
                CallTool("end_interview", '{"reason": "other"}'),
            ]
        ]
    )
    async with relay_env(mongo_uri, db_name, text, realtime) as renv:
        env = renv.env
        call_sid, twilio, caller = await env.dial_in()
        await env.wait_played(twilio, 1)
        caller.say()
        await env.wait_played(twilio, 2)
        await heard_whole(env, call_sid, replies=2)
        env.model.refuse_connections = True
        await env.model.drop()
        await renv.wait(lambda: call_sid in renv.redirects, "the redirect to the relay")
        await caller.stop()
        await twilio.wait_closed()
        # The load balancer sends the relay socket to a second worker on the same database.
        other_worker = settings_for(
            mongo_uri,
            db_name,
            openai_realtime_url=env.model.url,
            openai_responses_url=renv.text.url,
            twilio_account_sid=ACCOUNT,
            twilio_api_url=env.rest.base,
            data_dir=tmp_path / "worker-2",
        )
        async with service(other_worker) as other:
            peer = await renv.join(call_sid, renv.redirects[call_sid], base=other.base)
            await renv.wait(lambda: peer.ended is not None, "the relay session ended")
            call = await ended(renv, call_sid)
            turns = await env.turns(call_sid)

    assert peer.errors == [] and renv.text.errors == []
    first = renv.text.requests[0]["input"]
    assert first[:3] == [
        {"role": "assistant", "content": "Hello. Tell me about a recent project."},
        {"role": "user", "content": "I built a billing service."},
        {"role": "assistant", "content": "Thanks. How do you debug a slow API?"},
    ]
    assert [(t.seq, t.speaker, t.text) for t in turns] == [
        (0, "assistant", "Hello. Tell me about a recent project."),
        (1, "caller", "I built a billing service."),
        (2, "assistant", "Thanks. How do you debug a slow API?"),
        (3, "assistant", "Sorry, one moment... let's continue."),
        (4, "assistant", "Thank you, that is all. Goodbye."),
    ]
    assert call.completion == "completed" and [e.engine for e in call.engines] == [
        "realtime",
        "relay",
    ]
    assert call.report is not None and call.report.duration_s >= 1  # the whole call's time
