"""The relay session in process: a scripted text model, a clock moved by hand, Twilio's
relay socket as a list of the messages sent to it, records in memory."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from bridge import relay_messages as relay
from bridge import responses_events as te
from bridge.handover import HANDED_OVER, HandOver
from bridge.relay_session import Continued, RelayOptions, RelaySession
from bridge.session import FAILURE_MESSAGE
from evaluation.cost import CallCost
from evaluation.instructions import TAKEOVER_NOTE
from evaluation.prices import load_prices
from evaluation.templates import DEFAULT_TEMPLATE
from evaluation.usage import ResponseUsage
from persistence.records import Evaluation, Turn
from tests.support.session_doubles import (
    EPOCH,
    ManualClock,
    MemoryRecorder,
    ScriptedLink,
    quiesce,
)
from tests.support.session_doubles import (
    Rig as RealtimeRig,
)

CALL = "CA" + "7" * 32
SETUP = relay.Setup("VX1", CALL, "AC" + "1" * 32, "inbound")
EVALUATION = json.dumps(
    {
        "answer_quality": "good",
        "key_points_covered": ["measure first"],
        "next_action": "move_to_next_topic",
        "follow_up_needed": False,
    }
)
Events = list[te.TextEvent]


def say(n: int, *words: str, usage: int = 100) -> Events:
    item = f"msg_{n}"
    return [
        te.Created(f"resp_{n}"),
        te.MessageStarted(item),
        *[te.TextDelta(item, w) for w in words],
        te.Finished(
            f"resp_{n}",
            "completed",
            ResponseUsage.billed_text(
                input_tokens=usage, cached_tokens=usage // 2, output_tokens=len(words)
            ),
        ),
    ]


def tool(n: int, name: str, arguments: str) -> Events:
    return [
        te.Created(f"resp_{n}"),
        te.FunctionCall(f"fc_{n}", f"call_{n}", name, arguments),
        te.Finished(f"resp_{n}", "completed", None),
    ]


@dataclass
class ScriptedText:
    """The text model: one scripted reply per request; `hold` stops a reply after that
    many events until `release`."""

    replies: list[Events | Exception]
    requests: list[dict[str, Any]] = field(default_factory=list)
    hold: int | None = None
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    cancelled: int = 0

    async def stream(self, body: dict[str, Any]) -> AsyncIterator[te.TextEvent]:
        self.requests.append(body)
        reply = self.replies.pop(0) if self.replies else say(99, "Okay.")
        if isinstance(reply, Exception):
            raise reply
        try:
            for i, event in enumerate(reply):
                if self.hold is not None and i == self.hold:
                    await self.gate.wait()
                yield event
        except asyncio.CancelledError:
            self.cancelled += 1
            raise


@dataclass
class Rig:
    session: RelaySession
    model: ScriptedText
    sent: list[dict[str, Any]]
    recorder: MemoryRecorder
    clock: ManualClock

    def texts(self) -> list[tuple[str, bool]]:
        return [(m["token"], m["last"]) for m in self.sent if m["type"] == "text"]

    def spoken(self) -> str:
        return "".join(m["token"] for m in self.sent if m["type"] == "text")


def rig(replies: list[Events | Exception], continued: Continued | None = None, **kw: Any) -> Rig:
    clock = ManualClock()
    sent: list[dict[str, Any]] = []
    recorder = MemoryRecorder()
    model = ScriptedText(replies)

    async def send(text: str) -> None:
        sent.append(json.loads(text))

    prices = load_prices()
    session = RelaySession(
        call_sid=CALL,
        send=send,
        stream=model.stream,
        recorder=recorder,
        template=DEFAULT_TEMPLATE,
        options=RelayOptions(
            "gpt-4.1-mini", 1800, Decimal(5), "local", speech_chars_per_s=100.0, **kw
        ),
        cost=CallCost(
            prices,
            "gpt-realtime-2.1",
            text_model="gpt-4.1-mini",
            transcription_model="gpt-realtime-whisper" if continued else None,
        ),
        greeting=DEFAULT_TEMPLATE.greeting,
        continued=continued,
        clock=clock,
    )
    return Rig(session, model, sent, recorder, clock)


async def test_a_prompt_is_answered_token_by_token_and_turns_are_stored_in_order() -> None:
    r = rig([say(1, "Great. ", "First question?")])
    await r.session.on_setup(SETUP)
    await r.session.on_prompt(relay.Prompt("Yes, ", "en-US", last=False))
    await r.session.on_prompt(relay.Prompt("now is fine.", "en-US", last=True))
    await quiesce()
    assert r.texts() == [("Great. ", False), ("First question?", False), ("", True)]
    body = r.model.requests[0]
    assert body["stream"] is True and body["store"] is False
    assert body["input"] == [
        {"role": "assistant", "content": DEFAULT_TEMPLATE.greeting},
        {"role": "user", "content": "Yes, now is fine."},
    ]
    assert [t["name"] for t in body["tools"]] == ["evaluate_candidate_answer", "end_interview"]
    # The reply is stored once the caller has answered it (its hearing is settled).
    assert r.recorder.transcript() == [
        ("assistant", DEFAULT_TEMPLATE.greeting),
        ("caller", "Yes, now is fine."),
    ]
    await r.session.on_prompt(relay.Prompt("Sure.", "en-US", last=True))
    await quiesce()
    assert r.recorder.transcript()[2:] == [
        ("assistant", "Great. First question?"),
        ("caller", "Sure."),
    ]
    await r.session.on_end("caller hung up")
    (outcome,) = r.recorder.outcomes
    assert outcome.latency.model.n == 2 and outcome.completion == "candidate_hung_up"
    assert outcome.cost is not None and outcome.cost.lines["text_model_in"].quantity == 100


async def test_an_interrupt_stores_what_was_heard_and_cancels_the_stream() -> None:
    r = rig([say(1, "Let me explain ", "how this ", "works in detail.")])
    r.model.hold = 4  # two deltas out, then the model is slow
    await r.session.on_setup(SETUP)
    await r.session.on_prompt(relay.Prompt("Hi.", "en-US", last=True))
    await quiesce()
    assert r.spoken() == "Let me explain how this "
    await r.session.on_interrupt(relay.Interrupt("Let me explain", 900))
    await quiesce()
    assert r.model.cancelled == 1
    assert r.texts()[-1] == ("how this ", False)  # nothing more was sent, no `last`
    cut = r.recorder.turns[-1]
    assert (cut.speaker, cut.text, cut.interrupted, cut.truncated_at_ms) == (
        "assistant",
        "Let me explain",
        True,
        900,
    )
    await r.session.on_prompt(relay.Prompt("Wait, a question.", "en-US", last=True))
    await quiesce()
    # The model is told what the caller heard, not what it generated.
    assert {"role": "assistant", "content": "Let me explain"} in r.model.requests[1]["input"]
    await r.session.on_end("caller hung up")
    assert r.recorder.outcomes[0].interruptions == 1


async def test_an_interrupted_greeting_is_cut_too() -> None:
    r = rig([say(1, "Of course.")])
    await r.session.on_setup(SETUP)
    await r.session.on_interrupt(relay.Interrupt("Hello, I'm an automated", 1500))
    await r.session.on_prompt(relay.Prompt("Who is this?", "en-US", last=True))
    await quiesce()
    assert r.recorder.transcript()[:2] == [
        ("assistant", "Hello, I'm an automated"),
        ("caller", "Who is this?"),
    ]


async def test_tools_are_run_and_the_interview_ends_after_the_goodbye() -> None:
    r = rig(
        [
            tool(1, "evaluate_candidate_answer", EVALUATION),
            say(2, "Thanks. That is all."),
            tool(3, "end_interview", json.dumps({"reason": "completed"})),
            say(4, "Thank you for your time. Goodbye!"),
        ]
    )
    await r.session.on_setup(SETUP)
    await r.session.on_prompt(relay.Prompt("I measure first.", "en-US", last=True))
    await quiesce()
    assert len(r.recorder.evaluations) == 1
    outputs = [i for i in r.model.requests[1]["input"] if i.get("type") == "function_call_output"]
    assert [o["call_id"] for o in outputs] == ["call_1"]
    await r.session.on_prompt(relay.Prompt("Okay, bye.", "en-US", last=True))
    await quiesce()
    # end_interview without words: the closing line is asked for, then the session ends.
    assert "Say exactly this closing line" in r.model.requests[3]["input"][-1]["content"]
    assert not [m for m in r.sent if m["type"] == "end"]
    await r.clock.advance(1.0)
    assert r.sent[-1] == {"type": "end"}
    await r.session.on_end("relay ended")
    (outcome,) = r.recorder.outcomes
    assert outcome.completion == "completed" and outcome.report is not None


async def test_a_text_model_that_stays_down_ends_the_call_with_an_apology() -> None:
    down = te.TextModelUnavailable("HTTP 503: overloaded")
    r = rig([down, down, down])
    await r.session.on_setup(SETUP)
    await r.session.on_prompt(relay.Prompt("Hello?", "en-US", last=True))
    await quiesce()
    assert len(r.model.requests) == 3
    assert "technical difficulties" in r.spoken()
    await r.clock.advance(10)
    assert r.sent[-1] == {"type": "end"}
    await r.session.on_end("relay ended")
    assert r.recorder.outcomes[0].completion == "failed"


async def test_a_call_handed_over_goes_on_with_its_turns_and_evaluations() -> None:
    history = [
        Turn(call_sid=CALL, seq=0, speaker="assistant", text="Tell me about a project."),
        Turn(call_sid=CALL, seq=1, speaker="caller", text="A billing service."),
    ]
    evaluation = Evaluation(
        call_sid=CALL,
        question_index=0,
        answer_quality="good",
        key_points_covered=[],
        next_action="move_to_next_topic",
        follow_up_needed=False,
        created_at=EPOCH,
    )
    continued = Continued(history, [evaluation], started_at_s=0.0, reconnects=3, streamed_s=12.5)
    r = rig([say(1, "Next: how do you debug?")], continued=continued)
    await r.session.on_setup(relay.Setup("VX2", CALL, "AC" + "1" * 32, "inbound"))
    await quiesce()
    body = r.model.requests[0]
    assert body["input"][:2] == [
        {"role": "assistant", "content": "Tell me about a project."},
        {"role": "user", "content": "A billing service."},
    ]
    assert body["input"][-1] == {"role": "developer", "content": TAKEOVER_NOTE}
    assert r.session.progress.status(0).current_question == 1
    await r.session.on_prompt(relay.Prompt("With logs.", "en-US", last=True))
    await r.session.on_end("caller hung up")
    assert [t.seq for t in r.recorder.turns] == [2, 3, 4]  # after the earlier engine's turns
    (outcome,) = r.recorder.outcomes
    assert outcome.reconnects == 3
    assert outcome.cost is not None
    assert outcome.cost.lines["transcription"].quantity == 12.5


async def test_keypad_digits_reach_the_model() -> None:
    r = rig([say(1, "Noted.")])
    await r.session.on_setup(SETUP)
    await r.session.on_dtmf(relay.Digit("4"))
    await r.session.on_dtmf(relay.Digit("2"))
    await r.clock.advance(1.0)
    await r.session.on_prompt(relay.Prompt("That is my answer.", "en-US", last=True))
    await quiesce()
    assert {"role": "user", "content": "[pressed keypad keys 4 2]"} in r.model.requests[0]["input"]


async def test_the_time_limit_wraps_up_then_says_goodbye_and_ends() -> None:
    r = rig([say(1, "Thank you for your time. Goodbye!")])
    limit = r.session.time_limit.limit_s
    await r.session.on_setup(SETUP)
    await r.clock.advance(limit - 60)
    assert r.model.requests == []  # the wrap-up note waits for the next request
    await r.clock.advance(60)
    (goodbye,) = r.model.requests
    assert goodbye["input"][-2]["content"].startswith("About one minute is left")
    assert goodbye["input"][-1]["content"].startswith("Time is up. Say exactly this closing line")
    await r.clock.advance(1)
    assert r.sent[-1] == {"type": "end"}
    await r.session.on_end("relay ended")
    assert r.recorder.outcomes[0].completion == "timed_out"


async def test_a_goodbye_that_never_comes_still_ends_the_call() -> None:
    r = rig([say(1, "Goodbye!")], goodbye_timeout_s=5.0)
    r.model.hold = 1  # the model never gets past response.created
    await r.session.on_setup(SETUP)
    await r.clock.advance(r.session.time_limit.limit_s)
    assert not [m for m in r.sent if m["type"] == "end"]
    await r.clock.advance(5)
    assert r.sent[-1] == {"type": "end"}
    await r.session.on_end("relay ended")
    assert r.model.cancelled == 1 and r.recorder.outcomes[0].completion == "timed_out"


async def test_a_realtime_call_handed_over_leaves_its_end_to_the_relay() -> None:
    handed: list[HandOver] = []

    async def hand_over(state: HandOver) -> bool:
        handed.append(state)
        return await state.flush(1.0)

    rig = await RealtimeRig.started(
        link=ScriptedLink(reconnects=[False]), hand_over=hand_over, max_call_seconds=120
    )
    await rig.say("Hello, first question.", ms=500)
    await rig.play_out()
    await rig.link.drop()
    await quiesce()
    (state,) = handed
    assert (state.call_sid, state.template_id, state.reconnects) == (
        rig.session.call_sid,
        "default",
        0,
    )
    assert rig.control.hang_ups == []  # no apology: the call goes on elsewhere
    await rig.clock.advance(200)  # past the limit: the realtime session's timers are gone
    assert not [c for c in rig.link.commands if c[0] == "respond" and c[1]]
    assert await rig.session.on_end("stream stopped") == HANDED_OVER
    assert rig.recorder.outcomes == []  # the relay writes the call's outcome
    assert [t.text for t in rig.recorder.turns] == ["Hello, first question."]


async def test_a_hand_over_that_fails_leaves_the_apology() -> None:
    async def hand_over(state: HandOver) -> bool:
        raise ConnectionError("Twilio unreachable")

    rig = await RealtimeRig.started(link=ScriptedLink(reconnects=[False]), hand_over=hand_over)
    await rig.say("Hello, first question.", ms=500)
    await rig.play_out()
    await rig.link.drop()
    await asyncio.wait_for(rig.control.called.wait(), 1)
    assert rig.control.hang_ups == [FAILURE_MESSAGE]
    assert await rig.session.on_end("stream stopped") == (
        "model unavailable after reconnect attempts"
    )
    assert rig.recorder.outcomes[0].completion == "failed"
