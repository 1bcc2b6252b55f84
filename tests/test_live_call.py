"""Whole interviews over real sockets: Twilio and OpenAI peers, real Hypercorn and MongoDB."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from tests.call_harness import Env, live_env
from tests.openai_peer import CallTool, Say, Script

EVALUATION = json.dumps(
    {
        "answer_quality": "good",
        "key_points_covered": ["measure first", "logs and metrics"],
        "next_action": "move_to_next_topic",
        "follow_up_needed": False,
    }
)


async def test_a_whole_interview(mongo_uri: str, db_name: str) -> None:
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
    async with live_env(mongo_uri, db_name, script) as env:
        call_sid, twilio, caller = await env.dial_in()
        await env.wait_played(twilio, 1)
        caller.say()
        await env.wait(lambda: len(env.model.connections[0].events("response.done")) >= 3)
        await env.wait_played(twilio, 3)
        caller.say()
        call = await env.ended(call_sid, timeout=20)
        await caller.stop()
        turns = await env.turns(call_sid)
        evaluations = await env.svc.store.evaluations.for_call(call_sid)

    assert env.model.errors == [], env.model.errors
    assert twilio.errors == []
    assert env.rest.errors == []
    # The interviewer spoke first, and the goodbye played before the hang-up.
    assert [u.status for u in env.rest.updates] == ["completed"]
    assert twilio.echoed_marks and twilio.echoed_marks[-1][1] == "end-of-call"
    # Transcript in conversation order, caller turns from transcription.
    assert [(t.speaker, t.text) for t in turns] == [
        ("assistant", "Hello, thanks for calling. Tell me about a recent project."),
        ("caller", "I built a billing service."),
        ("assistant", "Great. How do you debug a slow API?"),
        ("caller", "I measure first, then profile."),
        ("assistant", "Thank you, that is all. Goodbye."),
    ]
    assert [t.seq for t in turns] == sorted(t.seq for t in turns)
    assert not any(t.interrupted for t in turns)
    assert [(e.question_index, e.answer_quality) for e in evaluations] == [(0, "good")]
    assert call.ended_reason == "interview ended: completed"
    assert call.extra["report"]["completion"] == "completed"
    assert "first_audio_out" in call.timings
    latency = call.extra["latency"]
    assert latency["model"]["n"] == 2  # one per caller turn answered with audio
    assert latency["bridge"]["n"] == 3  # one per response that spoke
    assert latency["first_audio_ms"] is not None
    assert call.extra["cost"]["total_usd"] == pytest.approx(float(priced_by_hand(env)), abs=1e-6)


def priced_by_hand(env: Env) -> Decimal:
    """gpt-realtime and gpt-4o-mini-transcribe at the published 2026 rates, one minute of
    inbound local Twilio voice plus Media Streams."""
    m = Decimal(1_000_000)
    total = Decimal(0)
    conn = env.model.connections[0]
    for usage in conn.usages:
        inp, out = usage["input_token_details"], usage["output_token_details"]
        cached = inp["cached_tokens_details"]
        total += (inp["text_tokens"] - cached["text_tokens"]) * Decimal("4") / m
        total += cached["text_tokens"] * Decimal("0.40") / m
        total += (inp["audio_tokens"] - cached["audio_tokens"]) * Decimal("32") / m
        total += cached["audio_tokens"] * Decimal("0.40") / m
        total += out["text_tokens"] * Decimal("16") / m + out["audio_tokens"] * Decimal("64") / m
    for event in conn.events("conversation.item.input_audio_transcription.completed"):
        usage = event["usage"]
        total += usage["input_token_details"]["audio_tokens"] * Decimal("1.25") / m
        total += usage["output_tokens"] * Decimal("5") / m
    return total + Decimal("0.0085") + Decimal("0.004")
