"""The call session's logic in process: a scripted model link, a manual clock, Twilio's
side of the line and a recorder in memory. No sockets, no database; each test runs in
milliseconds. The whole-call tests (test_live_call.py) prove the same parts fit over
real sockets."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest

from bridge import realtime_events as rt
from bridge.ending import CLOSING_PROMPT, TIME_UP_PROMPT, Phase
from bridge.session import END_MARK, FAILURE_MESSAGE
from bridge.twilio_messages import Dtmf, Media
from evaluation.cost import CallCost
from evaluation.instructions import MISSED_REPLY, RECONNECT_NOTE, wrap_up_note
from evaluation.prices import load_prices
from evaluation.templates import DEFAULT_TEMPLATE
from evaluation.usage import ResponseUsage
from tests.support.session_doubles import Rig, ScriptedLink, quiesce

StartRig = Callable[..., Awaitable[Rig]]


@pytest.fixture
async def start_rig() -> AsyncIterator[StartRig]:
    """Starts sessions on stand-ins, and ends those a test leaves running."""
    rigs: list[Rig] = []

    async def start(**kwargs: Any) -> Rig:
        rig = await Rig.started(**kwargs)
        rigs.append(rig)
        return rig

    yield start
    for rig in rigs:
        if rig.session.ending.phase is not Phase.ENDED:
            await rig.session.on_end("test over")
        assert rig.twilio.errors == []  # everything sent is what Twilio accepts


GREETING = "Welcome to the interview. Before we start, let me explain how this works."
CLOSING = DEFAULT_TEMPLATE.closing
EVALUATION = json.dumps(
    {
        "answer_quality": "good",
        "key_points_covered": ["measure first"],
        "next_action": "move_to_next_topic",
        "follow_up_needed": False,
    }
)


async def test_the_interviewer_speaks_first_and_a_turn_is_stored_once_heard(
    start_rig: StartRig,
) -> None:
    rig = await start_rig()
    assert rig.link.commands == [("respond", None)]
    await rig.say(GREETING, ms=1000)
    assert rig.twilio.audio_bytes() == 8000
    assert len(rig.twilio.marks()) == 10  # a mark after every chunk sent
    assert rig.recorder.turns == []  # generated, but not yet heard
    await rig.clock.advance(0.5)
    await rig.echo_marks(upto=5)
    assert rig.recorder.turns == []
    await rig.play_out()
    ((speaker, text),) = rig.recorder.transcript()
    assert (speaker, text) == ("assistant", GREETING)
    assert not rig.recorder.turns[0].interrupted


async def test_barge_in_truncates_to_what_the_caller_heard(start_rig: StartRig) -> None:
    rig = await start_rig()
    response, item = await rig.reply_starts()
    await rig.audio(response, item, ms=2000)  # still generating when the caller talks
    await rig.clock.advance(0.7)
    await rig.echo_marks(upto=6)  # Twilio: 600 ms played, at 0.7 s
    await rig.clock.advance(0.05)
    await rig.link.feed(rt.SpeechStarted("user_1", 700))

    assert rig.twilio.messages[-1]["event"] == "clear"
    assert rig.link.sent("cancel") == [("cancel", response)]
    # The last echo, plus playback since: 600 + 50 ms.
    assert rig.link.sent("truncate") == [("truncate", item, 650)]
    sent = rig.twilio.audio_bytes()
    await rig.audio(response, item, ms=200)  # generated before the cancel took effect
    late_item = "item_late"  # even a new item of the cancelled reply stays silent
    await rig.link.feed(rt.OutputItemAdded(response, late_item, "message", "assistant"))
    await rig.audio(response, late_item, ms=200)
    assert rig.twilio.audio_bytes() == sent
    await rig.reply_ends(response, item, GREETING, status="cancelled")
    await rig.reply_ends(response, late_item, "Never heard.", status="cancelled")
    turn, late = rig.recorder.turns
    assert turn.interrupted and turn.truncated_at_ms == 650
    assert 0 < len(turn.text) < len(GREETING) and GREETING.startswith(turn.text)
    assert late.interrupted and (late.text, late.truncated_at_ms) == ("", 0)
    assert rig.session.out.interruptions == 1


async def test_barge_in_after_generation_only_clears_and_truncates(start_rig: StartRig) -> None:
    rig = await start_rig()
    _, item = await rig.say(GREETING, ms=2000)  # all generated, still playing
    await rig.clock.advance(1.0)
    await rig.echo_marks(upto=8)
    await rig.link.feed(rt.SpeechStarted("user_1", 900))
    assert rig.link.sent("cancel") == []  # nothing left to cancel
    assert rig.link.sent("truncate") == [("truncate", item, 800)]
    assert rig.recorder.turns[0].truncated_at_ms == 800


async def test_barge_in_during_a_pause_in_the_reply_stops_the_rest(start_rig: StartRig) -> None:
    rig = await start_rig()
    response, item = await rig.reply_starts()
    await rig.audio(response, item, ms=500)
    await rig.play_out()  # all of it heard; the model has paused, more is on its way
    await rig.link.feed(rt.SpeechStarted("user_1", 600))
    assert rig.link.sent("cancel") == [("cancel", response)]
    assert rig.link.sent("truncate") == [("truncate", item, 500)]
    sent = rig.twilio.audio_bytes()
    await rig.audio(response, item, ms=300)  # in flight when the reply was cancelled
    assert rig.twilio.audio_bytes() == sent
    await rig.reply_ends(response, item, "Tell me about a project you led last year.", "cancelled")
    (turn,) = rig.recorder.turns
    assert turn.interrupted and turn.truncated_at_ms == 500
    assert turn.text == "Tell me about a project"  # 500 of the 800 ms generated


async def test_a_caller_talking_over_silence_changes_nothing(start_rig: StartRig) -> None:
    rig = await start_rig()
    await rig.say("Hello.", ms=300)
    await rig.play_out()
    await rig.link.feed(rt.SpeechStarted("user_1", 0))
    assert rig.twilio.events("clear") == []
    assert rig.link.sent("truncate") == [] and rig.session.out.interruptions == 0


async def test_late_caller_transcripts_keep_conversation_order(start_rig: StartRig) -> None:
    rig = await start_rig()
    await rig.say("Hello, tell me about yourself.", ms=600)
    await rig.play_out()
    await rig.link.feed(
        rt.SpeechStarted("user_1", 0), rt.SpeechStopped("user_1", 900), rt.Committed("user_1", None)
    )
    await rig.say("Thanks!", ms=400)
    await rig.play_out()
    await rig.link.feed(rt.TranscriptionCompleted("user_1", " I am a backend engineer. ", None))
    assert rig.recorder.transcript() == [
        ("assistant", "Hello, tell me about yourself."),
        ("caller", "I am a backend engineer."),
        ("assistant", "Thanks!"),
    ]
    assert [t.seq for t in rig.recorder.turns] == [0, 2, 1]  # stored later, ordered earlier


async def test_a_caller_turn_that_cannot_be_transcribed_keeps_its_place(
    start_rig: StartRig,
) -> None:
    rig = await start_rig()
    await rig.say("Hello, tell me about yourself.", ms=400)
    await rig.play_out()
    await rig.link.feed(
        rt.Committed("user_1", None), rt.TranscriptionFailed("user_1", "audio unreadable")
    )
    await rig.say("Could you say that again?", ms=400)
    await rig.play_out()
    assert rig.recorder.transcript() == [
        ("assistant", "Hello, tell me about yourself."),
        ("caller", ""),
        ("assistant", "Could you say that again?"),
    ]
    unheard = sorted(rig.recorder.turns, key=lambda t: t.seq)[1]
    assert unheard.transcription_failed and unheard.item_id == "user_1"


async def test_latency_from_the_end_of_speech_to_the_first_audio(start_rig: StartRig) -> None:
    rig = await start_rig()
    await rig.say("Hello.", ms=200)
    await rig.play_out()
    await rig.link.feed(rt.SpeechStopped("user_1", 900), rt.Committed("user_1", None))
    await rig.clock.advance(0.42)
    await rig.say("Good answer.", ms=200)
    await rig.play_out()
    await rig.session.on_end("stream stopped")
    (outcome,) = rig.recorder.outcomes
    assert outcome.latency.model.n == 1 and outcome.latency.model.p50_ms == 420.0
    assert outcome.latency.bridge.n == 2
    assert outcome.latency.first_audio_ms == 0.0
    assert len(rig.recorder.first_audio_at) == 1


async def test_an_answer_is_evaluated_and_the_model_told_what_is_next(start_rig: StartRig) -> None:
    rig = await start_rig()
    response, item = await rig.reply_starts()
    await rig.audio(response, item, ms=200)
    call = rt.FunctionCall(response, "fc_1", "call_1", "evaluate_candidate_answer", EVALUATION)
    await rig.link.feed(call)
    assert rig.link.sent("tool_output") == []  # answered once the response is done
    await rig.reply_ends(response, item, "Noted.")
    ((_, call_id, output),) = rig.link.sent("tool_output")
    assert call_id == "call_1" and output["ok"] is True and "question 1" in output["note"]
    assert rig.link.commands[-1] == ("respond", None)  # the model goes on after the tool
    (evaluation,) = rig.recorder.evaluations
    assert (evaluation.question_index, evaluation.answer_quality) == (0, "good")
    assert evaluation.tool_call_id == "call_1"


async def test_bad_tool_arguments_are_refused_with_the_reason(start_rig: StartRig) -> None:
    rig = await start_rig()
    late = rt.FunctionCall("resp_gone", "fc_1", "call_9", "evaluate_candidate_answer", "{")
    await rig.link.feed(late)  # for a response already over: answered at once
    ((_, _, output),) = rig.link.sent("tool_output")
    assert output["ok"] is False and "JSON" in output["error"]
    assert rig.link.commands[-1] == ("respond", None)
    assert rig.recorder.evaluations == []


async def test_end_interview_in_a_spoken_reply_plays_the_goodbye_then_hangs_up(
    start_rig: StartRig,
) -> None:
    rig = await start_rig()
    response, item = await rig.reply_starts()
    await rig.audio(response, item, ms=800)
    end = rt.FunctionCall(response, "fc_1", "call_1", "end_interview", '{"reason": "completed"}')
    await rig.link.feed(end)
    await rig.reply_ends(response, item, CLOSING)
    assert rig.twilio.marks()[-1] == END_MARK
    assert rig.link.sent("respond") == [("respond", None)]  # no reply after the goodbye
    assert rig.session.ending.phase is Phase.GOODBYE_PLAYING
    assert rig.control.hang_ups == []
    await rig.play_out()  # the goodbye is heard: Twilio echoes the end mark
    await asyncio.wait_for(rig.control.called.wait(), 1)
    assert rig.control.hang_ups == [None]
    assert await rig.session.on_end("stream stopped") == "interview ended: completed"
    (outcome,) = rig.recorder.outcomes
    assert outcome.completion == "completed" and outcome.report is not None
    assert outcome.report.end_reason == "completed"
    assert rig.recorder.closed and rig.link.closed


async def test_end_interview_without_words_asks_for_the_closing_line(start_rig: StartRig) -> None:
    rig = await start_rig()
    silent = "resp_silent"
    await rig.link.feed(
        rt.ResponseCreated(silent),
        rt.FunctionCall(silent, "fc_1", "call_1", "end_interview", '{"reason": "other"}'),
        rt.ResponseDone(silent, "completed", None),
    )
    assert rig.link.commands[-1] == ("respond", f"{CLOSING_PROMPT}: {CLOSING}")
    assert rig.session.ending.phase is Phase.GOODBYE_REQUESTED
    await rig.say(CLOSING, ms=700)
    assert rig.twilio.marks()[-1] == END_MARK
    await rig.play_out()
    await asyncio.wait_for(rig.control.called.wait(), 1)
    assert await rig.session.on_end("stream stopped") == "interview ended: other"


async def test_time_limit_mid_reply_cuts_it_and_plays_a_goodbye(start_rig: StartRig) -> None:
    rig = await start_rig(max_call_seconds=300)
    await rig.clock.advance(240)  # wrap-up time: the model is told
    assert rig.link.commands[-1] == ("note", wrap_up_note())
    assert rig.session.ending.phase is Phase.WRAPPING_UP
    response, item = await rig.reply_starts()
    await rig.audio(response, item, ms=3000)
    await rig.clock.advance(60)  # the limit, mid-reply
    assert rig.twilio.events("clear") and rig.link.sent("cancel") == [("cancel", response)]
    await rig.session.on_media(Media("2", "MZ", "inbound", "1", "0", "/w=="), b"\xff")
    assert rig.link.audio == []  # the caller is no longer heard
    await rig.reply_ends(response, item, "A long answer.", status="cancelled")
    assert rig.link.commands[-1] == ("respond", f"{TIME_UP_PROMPT}: {CLOSING}")
    await rig.say("We are out of time. Goodbye.", ms=700)
    assert rig.twilio.marks()[-1] == END_MARK
    await rig.play_out()
    await asyncio.wait_for(rig.control.called.wait(), 1)
    assert await rig.session.on_end("stream stopped") == "time limit reached"
    assert rig.recorder.outcomes[0].completion == "timed_out"


async def test_a_goodbye_that_never_comes_still_ends_the_call(
    start_rig: StartRig, caplog: pytest.LogCaptureFixture
) -> None:
    rig = await start_rig(max_call_seconds=120)
    await rig.clock.advance(120)
    assert rig.link.commands[-1] == ("respond", f"{TIME_UP_PROMPT}: {CLOSING}")
    await rig.clock.advance(14)
    assert rig.control.hang_ups == []
    await rig.clock.advance(1)  # the goodbye timeout: a limit is a limit
    await asyncio.wait_for(rig.control.called.wait(), 1)
    assert any("goodbye did not finish" in r.getMessage() for r in caplog.records)


async def test_hang_up_falls_back_to_closing_the_stream(start_rig: StartRig) -> None:
    rig = await start_rig(max_call_seconds=120)
    rig.control.works = False  # Twilio refused the REST hang-up
    await rig.clock.advance(120 + 15)
    await asyncio.wait_for(rig.control.called.wait(), 1)
    await asyncio.sleep(0)
    assert rig.twilio.closed


async def test_model_drop_between_turns_reconnects_without_a_word(start_rig: StartRig) -> None:
    rig = await start_rig(link=ScriptedLink(reconnects=[True]))
    await rig.say("Hello. What did you work on last?", ms=600)
    await rig.play_out()
    await rig.caller_turn("A search engine.")
    await rig.say("Why that design?", ms=500)
    await rig.play_out()
    await rig.link.drop()
    ((history, note),) = rig.link.replayed
    assert [(t.speaker, t.text) for t in history] == [
        ("assistant", "Hello. What did you work on last?"),
        ("caller", "A search engine."),
        ("assistant", "Why that design?"),
    ]
    assert "question 0" in note
    assert rig.link.sent("note") == [] and rig.link.sent("respond") == [("respond", None)]
    assert rig.session.reconnects == 1
    await rig.say("Thank you.", ms=300)  # the new session carries on
    await rig.play_out()
    assert rig.recorder.transcript()[-1] == ("assistant", "Thank you.")


async def test_a_drop_before_the_greeting_still_brings_the_greeting(
    start_rig: StartRig,
) -> None:
    rig = await start_rig(link=ScriptedLink(reconnects=[True]))
    await rig.link.drop()  # the greeting was asked for, and never started
    assert rig.link.commands == [("respond", None), ("note", RECONNECT_NOTE), ("respond", None)]


async def test_model_drop_mid_reply_cuts_it_and_apologizes(start_rig: StartRig) -> None:
    rig = await start_rig(link=ScriptedLink(reconnects=[True]))
    response, item = await rig.reply_starts()
    await rig.audio(response, item, ms=3000)
    await rig.clock.advance(1.0)
    await rig.echo_marks(upto=10)
    await rig.link.drop()
    assert len(rig.twilio.events("clear")) == 1
    (turn,) = rig.recorder.turns
    assert turn.interrupted and turn.truncated_at_ms == 1000
    assert rig.link.commands[-2:] == [("note", RECONNECT_NOTE), ("respond", None)]


async def test_model_gone_for_good_apologizes_and_hangs_up(start_rig: StartRig) -> None:
    rig = await start_rig(link=ScriptedLink(reconnects=[False]))
    await rig.say("Hello, first question.", ms=500)
    await rig.play_out()
    await rig.link.drop()
    await asyncio.wait_for(rig.control.called.wait(), 1)
    assert rig.control.hang_ups == [FAILURE_MESSAGE]
    assert await rig.session.on_end("stream stopped") == (
        "model unavailable after reconnect attempts"
    )
    assert rig.recorder.outcomes[0].completion == "failed"


async def test_a_goodbye_asked_of_a_lost_model_is_asked_of_the_next(
    start_rig: StartRig,
) -> None:
    rig = await start_rig(link=ScriptedLink(reconnects=[True]), max_call_seconds=120)
    await rig.clock.advance(120)
    time_up = ("respond", f"{TIME_UP_PROMPT}: {CLOSING}")
    assert rig.link.commands[-1] == time_up
    await rig.link.drop()  # before the goodbye was generated
    assert rig.link.commands[-1] == time_up
    assert rig.link.sent("respond").count(time_up) == 2
    assert rig.link.sent("note") == [("note", wrap_up_note())]  # no apology: it is goodbye
    await rig.say("We are out of time. Goodbye.", ms=600)
    assert rig.twilio.marks()[-1] == END_MARK


async def test_time_up_with_no_model_left_has_twilio_say_the_closing_line(
    start_rig: StartRig,
) -> None:
    rig = await start_rig(link=ScriptedLink(reconnects=[False]), max_call_seconds=120)
    await rig.clock.advance(120)
    await rig.link.drop()
    await asyncio.wait_for(rig.control.called.wait(), 1)
    assert rig.control.hang_ups == [CLOSING]
    assert await rig.session.on_end("stream stopped") == "time limit reached"


async def test_a_model_lost_while_the_goodbye_plays_is_not_reopened(start_rig: StartRig) -> None:
    rig = await start_rig(link=ScriptedLink(reconnects=[True]))
    response, item = await rig.reply_starts()
    await rig.audio(response, item, ms=800)
    end = rt.FunctionCall(response, "fc_1", "call_1", "end_interview", '{"reason": "completed"}')
    await rig.link.feed(end)
    await rig.reply_ends(response, item, CLOSING)
    await rig.link.drop()
    assert rig.link.replayed == [] and rig.twilio.events("clear") == []
    await rig.play_out()
    await asyncio.wait_for(rig.control.called.wait(), 1)
    assert rig.recorder.transcript() == [("assistant", CLOSING)]


async def test_a_failing_event_reader_counts_as_a_dropped_connection(
    start_rig: StartRig, caplog: pytest.LogCaptureFixture
) -> None:
    rig = await start_rig(link=ScriptedLink(reconnects=[True]))
    await rig.link.break_down()
    assert rig.session.reconnects == 1
    assert any("reading the model's events failed" in r.getMessage() for r in caplog.records)


async def test_no_model_at_the_start_is_retried_with_an_apology(start_rig: StartRig) -> None:
    link = ScriptedLink(reconnects=[True])
    link.refuse_connect = True
    rig = await start_rig(link=link)
    assert len(link.replayed) == 1 and link.replayed[0][0] == []
    assert link.commands == [("note", RECONNECT_NOTE), ("respond", None)]
    await rig.say("Hello, sorry for the wait.", ms=400)
    await rig.play_out()
    assert rig.recorder.transcript() == [("assistant", "Hello, sorry for the wait.")]


async def test_caller_hanging_up_mid_reply_keeps_what_they_heard(start_rig: StartRig) -> None:
    rig = await start_rig()
    response, item = await rig.reply_starts("A long introduction")
    await rig.audio(response, item, ms=4000)
    await rig.clock.advance(1.5)
    await rig.echo_marks(upto=15)
    assert await rig.session.on_end("stream disconnected") == (
        "candidate hung up (stream disconnected)"
    )
    (turn,) = rig.recorder.turns
    assert turn.interrupted and turn.truncated_at_ms == 1500
    (outcome,) = rig.recorder.outcomes
    assert outcome.completion == "candidate_hung_up" and outcome.interruptions == 0
    assert rig.link.closed and rig.recorder.closed and rig.control.hang_ups == []


async def test_failed_replies_are_asked_again_then_apologized_for(
    start_rig: StartRig, caplog: pytest.LogCaptureFixture
) -> None:
    rig = await start_rig()
    for response_id, status in (("r1", "failed"), ("r2", "incomplete"), ("r3", "failed")):
        await rig.link.feed(
            rt.ResponseCreated(response_id), rt.ResponseDone(response_id, status, None)
        )
    assert rig.link.sent("respond") == [
        ("respond", None),  # the greeting
        ("respond", None),  # asked again once
        ("respond", MISSED_REPLY),  # then for a short apology, and no more
    ]
    warned = [r.getMessage() for r in caplog.records if "model response" in r.getMessage()]
    assert warned == [
        "model response failed, 1 in a row",
        "model response incomplete, 2 in a row",
        "model response failed, 3 in a row",
    ]
    # The apology failed too: a model that cannot reply cannot interview. Twilio says so.
    await asyncio.wait_for(rig.control.called.wait(), 1)
    assert rig.control.hang_ups == [FAILURE_MESSAGE]
    assert await rig.session.on_end("stream stopped") == "model replies keep failing"


async def test_a_reply_heard_starts_the_count_of_failed_ones_again(start_rig: StartRig) -> None:
    rig = await start_rig()
    for response_id in ("r1", "r2"):
        await rig.link.feed(
            rt.ResponseCreated(response_id), rt.ResponseDone(response_id, "failed", None)
        )
    await rig.say("Sorry, could you repeat that?", ms=300)  # heard
    await rig.link.feed(rt.ResponseCreated("r4"), rt.ResponseDone("r4", "failed", None))
    assert rig.link.commands[-1] == ("respond", None)  # asked again, as a first failure is
    assert rig.control.hang_ups == []


async def test_a_response_refused_while_another_is_active_is_asked_again(
    start_rig: StartRig,
) -> None:
    rig = await start_rig()
    response, item = await rig.reply_starts()
    late = rt.FunctionCall("resp_gone", "fc_1", "call_1", "evaluate_candidate_answer", "{")
    await rig.link.feed(late)  # answered at once, with a response.create...
    busy = "conversation_already_has_active_response"
    await rig.link.feed(rt.ServerError("invalid_request_error", busy, "Conversation busy"))
    asked = len(rig.link.sent("respond"))
    await rig.audio(response, item, ms=200)
    await rig.reply_ends(response, item, "One moment.")
    assert len(rig.link.sent("respond")) == asked + 1  # ...asked again once the reply ended
    assert rig.link.commands[-1] == ("respond", None)


async def test_keypad_digits_reach_the_model(start_rig: StartRig) -> None:
    rig = await start_rig()
    await rig.session.on_dtmf(Dtmf("3", "MZ", "inbound_track", "5"))
    await rig.clock.advance(0.5)
    assert rig.link.commands[-1] == ("caller_said", "[pressed keypad key 5]")
    for digit in "123":  # keyed in one go: one entry, not three
        await rig.session.on_dtmf(Dtmf("4", "MZ", "inbound_track", digit))
        await rig.clock.advance(0.3)
    await rig.clock.advance(0.5)
    assert rig.link.sent("caller_said") == [
        ("caller_said", "[pressed keypad key 5]"),
        ("caller_said", "[pressed keypad keys 1 2 3]"),
    ]


async def test_caller_audio_is_forwarded_while_the_call_is_live(start_rig: StartRig) -> None:
    rig = await start_rig()
    payload = base64.b64encode(b"\xff" * 160).decode()
    await rig.session.on_media(Media("2", "MZ", "inbound", "1", "0", payload), b"\xff" * 160)
    assert rig.link.audio == [payload]  # pcmu: passed through untouched


async def test_running_cost_is_recorded_and_the_alert_logged_once(
    start_rig: StartRig, caplog: pytest.LogCaptureFixture
) -> None:
    cost = CallCost(load_prices(), "gpt-realtime", transcription_model="gpt-4o-mini-transcribe")
    rig = await start_rig(cost=cost, cost_alert_usd=Decimal("0.001"))
    usage = ResponseUsage(text_in=1000, audio_in=500, audio_out=200)
    for response_id in ("r1", "r2"):
        await rig.link.feed(
            rt.ResponseCreated(response_id), rt.ResponseDone(response_id, "completed", usage)
        )
    # 1000 x $4 + 500 x $32 + 200 x $64 per million tokens, per response.
    assert rig.recorder.running == [pytest.approx(0.0328), pytest.approx(0.0656)]
    alerts = [r for r in caplog.records if "alert threshold" in r.getMessage()]
    assert len(alerts) == 1 and alerts[0].levelno == logging.WARNING
    await rig.session.on_end("stream stopped")
    final = rig.recorder.outcomes[0].cost
    assert final is not None and final.total_usd == pytest.approx(0.0656)
    assert final.responses == 2


async def caller_frames(rig: Rig, first: int, n: int) -> list[str]:
    """`n` numbered 20 ms frames from the caller (pcmu: sent to the model as they came)."""
    payloads = []
    for i in range(first, first + n):
        mulaw = bytes([i % 256]) * 160
        payload = base64.b64encode(mulaw).decode()
        await rig.session.on_media(Media("2", "MZ", "inbound", str(i), "0", payload), mulaw)
        payloads.append(payload)
    return payloads


async def test_an_answer_the_lost_model_never_transcribed_is_replayed_to_the_next(
    start_rig: StartRig,
) -> None:
    rig = await start_rig(link=ScriptedLink(reconnects=[True]))
    await rig.say("Hello. What did you work on last?", ms=600)
    await rig.play_out()
    before = await caller_frames(rig, 0, 50)  # 1 s of silence
    await rig.link.feed(rt.SpeechStarted("item_a", 1000 - 300))  # padded start, into the call
    answer = await caller_frames(rig, 50, 100)  # 2 s of answer
    await rig.link.feed(rt.SpeechStopped("item_a", 3000), rt.Committed("item_a", None))
    await rig.link.drop()  # before the transcript, before a reply
    # The new connection hears again everything since the last transcribed turn (none yet:
    # the call's start), answer included, before live audio; its own turn detection
    # answers it, so the session does not ask for a reply itself.
    replayed = rig.link.audio[150:]
    assert replayed == before + answer
    assert rig.link.commands[-1] == ("note", RECONNECT_NOTE)
    assert rig.link.sent("respond") == [("respond", None)]  # only the greeting's
    live = await caller_frames(rig, 150, 2)
    assert rig.link.audio[-2:] == live


async def test_audio_said_while_the_model_was_gone_is_sent_once_it_is_back(
    start_rig: StartRig,
) -> None:
    link = ScriptedLink(reconnects=[True])
    rig = await start_rig(link=link)
    await rig.say("Hello. What did you work on last?", ms=600)
    await rig.play_out()
    await caller_frames(rig, 0, 10)
    link.reconnect_gate = asyncio.Event()  # the caller talks on while the model is away
    await link.drop()
    during = await caller_frames(rig, 10, 25)
    assert link.audio[10:] == []  # nothing sent into no connection
    link.reconnect_gate.set()
    await quiesce()
    assert rig.session.reconnects == 1
    assert link.audio[10:][-25:] == during
    # Nobody was waiting for a reply: the session asks for none; the model's own turn
    # detection hears whatever the caller said in the replay.
    assert link.sent("respond") == [("respond", None)]


async def test_streaming_transcription_is_billed_by_the_audio_sent(start_rig: StartRig) -> None:
    cost = CallCost(load_prices(), "gpt-realtime-2.1", transcription_model="gpt-realtime-whisper")
    rig = await start_rig(cost=cost)
    await caller_frames(rig, 0, 150)  # 3 s sent to the model
    await rig.link.feed(rt.ResponseCreated("r1"), rt.ResponseDone("r1", "completed", None))
    line = cost.breakdown().line("transcription")
    assert line.quantity == 3
    assert rig.recorder.running[-1] == pytest.approx(float(Decimal(3) * Decimal("0.017") / 60))


async def test_a_model_silent_with_a_reply_owed_is_asked_again_then_reopened(
    start_rig: StartRig, caplog: pytest.LogCaptureFixture
) -> None:
    """A reply asked for and never created (the model stalls; its pings still answered)."""
    rig = await start_rig(link=ScriptedLink(reconnects=[True]), model_silence_s=5.0)
    await rig.clock.advance(9.0)  # the greeting owed, the model silent: not yet
    assert rig.link.sent("respond") == [("respond", None)]
    await rig.clock.advance(1.0)  # 10 s: twice the silence the link pings after
    assert rig.link.sent("respond") == [("respond", None)] * 2
    await rig.clock.advance(10.0)  # asked again, and silent again
    assert ("abort",) in rig.link.commands
    assert rig.session.reconnects == 1  # reopened, the conversation replayed
    assert [r.getMessage() for r in caplog.records if "reply owed" in r.getMessage()] == [
        "model silent for 10 s with a reply owed: asking again",
        "model silent for 10 s with a reply owed: reopening the connection",
    ]


async def test_a_reply_under_way_that_stalls_is_cancelled_and_asked_again(
    start_rig: StartRig,
) -> None:
    rig = await start_rig(model_silence_s=5.0)
    await rig.say("Hello. What did you work on last?", ms=600)
    await rig.play_out()
    response, _item = await rig.reply_starts()  # created, then nothing
    await rig.clock.advance(11.0)  # 10 s of silence, seen at the next check
    assert rig.link.sent("cancel") == [("cancel", response)]
    assert rig.link.sent("respond")[-1] == ("respond", None)


async def test_a_silent_model_with_nothing_owed_is_left_alone(start_rig: StartRig) -> None:
    rig = await start_rig(model_silence_s=5.0)
    await rig.say("Hello. What did you work on last?", ms=600)
    await rig.play_out()
    await rig.clock.advance(60.0)  # the candidate thinks; nothing is owed
    assert len(rig.link.sent("respond")) == 1 and ("abort",) not in rig.link.commands


async def test_a_transcript_still_owed_at_the_hang_up_is_waited_for(start_rig: StartRig) -> None:
    rig = await start_rig(transcript_wait_s=30.0)
    await rig.say("Hello. What did you work on last?", ms=600)
    await rig.play_out()
    await rig.link.feed(
        rt.SpeechStarted("item_a", 0), rt.SpeechStopped("item_a", 800), rt.Committed("item_a", None)
    )
    ending = asyncio.ensure_future(rig.session.on_end("stream stopped"))
    await rig.link.feed(rt.TranscriptionCompleted("item_a", "A search engine.", None))
    await asyncio.wait_for(ending, 5)
    assert rig.recorder.transcript()[-1] == ("caller", "A search engine.")


async def test_a_transcript_that_never_comes_is_kept_as_a_turn_without_text(
    start_rig: StartRig,
) -> None:
    rig = await start_rig()  # waits 10 ms: nothing here will transcribe it
    await rig.link.feed(
        rt.SpeechStarted("item_a", 0), rt.SpeechStopped("item_a", 800), rt.Committed("item_a", None)
    )
    await rig.session.on_end("stream stopped")
    (turn,) = [t for t in rig.recorder.turns if t.speaker == "caller"]
    assert turn.transcription_failed and turn.text == ""


async def test_caller_audio_is_taken_at_once_only_while_the_model_can_take_it(
    start_rig: StartRig,
) -> None:
    """The media stream's direct path: sent as it comes while a connection takes it;
    declined with nothing kept when it would have to wait (the frame then takes the
    usual path, so it is kept and sent once, not twice)."""
    rig = await start_rig()
    audio = rig.session.caller.audio
    payload = base64.b64encode(b"\xff" * 160).decode()
    media = Media("2", "MZ", "inbound", "1", "0", payload)
    assert rig.session.media_now(media, b"\xff" * 160)
    assert (rig.link.audio, audio.total_ms, audio.sent_ms) == ([payload], 20, 20)
    rig.link.up = False  # no connection to take it without a wait
    assert not rig.session.media_now(media, b"\xff" * 160)
    assert (rig.link.audio, audio.total_ms) == ([payload], 20)  # nothing done
    await rig.session.on_media(media, b"\xff" * 160)
    assert (audio.total_ms, audio.sent_ms) == (40, 20)  # kept for the next connection
    rig.link.up = True
    rig.session.caller.hold()  # reconnecting: kept, not sent, and nothing to wait for
    assert rig.session.media_now(media, b"\xff" * 160)
    assert (rig.link.audio, audio.total_ms) == ([payload], 60)
