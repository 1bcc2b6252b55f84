"""The end-of-call state machine on its own: every way a call ends, and what may not
happen twice."""

from __future__ import annotations

from bridge.ending import (
    CLOSING_PROMPT,
    TIME_UP_PROMPT,
    CutReply,
    EndOfCall,
    HangUp,
    Phase,
    PlayGoodbye,
    RequestGoodbye,
)
from evaluation.tools import EndInterview


def test_wrap_up_is_said_once_and_only_while_live() -> None:
    end = EndOfCall()
    assert end.wrap_up() and end.phase is Phase.WRAPPING_UP
    assert not end.wrap_up()
    closing = EndOfCall()
    closing.end_requested(EndInterview(reason="completed"))
    assert closing.response_done("r1", spoke=True) == PlayGoodbye()
    assert not closing.wrap_up()  # no note while the goodbye plays


def test_end_requested_in_a_spoken_reply() -> None:
    end = EndOfCall()
    end.end_requested(EndInterview(reason="candidate_requested"))
    assert end.listening
    assert end.response_done("r1", spoke=True) == PlayGoodbye()
    assert end.phase is Phase.GOODBYE_PLAYING
    assert end.response_done("r2", spoke=True) is None  # a stray reply changes nothing
    assert end.end_mark_echoed() == HangUp(None)
    assert (end.completion, end.reason) == ("completed", "interview ended: candidate_requested")
    assert end.end_mark_echoed() is None and end.goodbye_timed_out() is None


def test_end_requested_without_words_asks_for_the_closing_line_once() -> None:
    end = EndOfCall()
    end.end_requested(EndInterview(reason="completed"))
    assert end.response_done("r1", spoke=False) == RequestGoodbye(CLOSING_PROMPT)
    assert end.response_done("r0", spoke=False) is None  # not asked twice
    end.response_created("r2")
    assert end.end_mark_echoed() is None  # no goodbye has played yet
    assert end.response_done("r2", spoke=True) == PlayGoodbye()


def test_time_up_while_silent_and_while_replying() -> None:
    quiet = EndOfCall()
    assert quiet.time_up(replying=False) == RequestGoodbye(TIME_UP_PROMPT)
    assert not quiet.listening and quiet.completion == "timed_out"
    assert quiet.time_up(replying=False) is None
    busy = EndOfCall()
    assert busy.time_up(replying=True) == CutReply()
    assert busy.response_done("cut", spoke=True) == RequestGoodbye(TIME_UP_PROMPT)
    busy.response_created("bye")
    assert busy.response_done("bye", spoke=True) == PlayGoodbye()
    assert busy.time_up(replying=False) is None


def test_the_first_outcome_stands() -> None:
    end = EndOfCall()
    end.time_up(replying=False)
    assert end.fail("model unavailable", "Sorry.") == HangUp("Sorry.")
    assert end.completion == "timed_out" and end.reason == "time limit reached"
    assert end.hang_up() is None  # already hanging up
    end.stream_ended("stream stopped")
    assert end.phase is Phase.ENDED and end.completion == "timed_out"


def test_a_caller_who_hangs_up_first() -> None:
    end = EndOfCall()
    end.stream_ended("stream disconnected")
    assert (end.completion, end.reason) == (
        "candidate_hung_up",
        "candidate hung up (stream disconnected)",
    )
    assert end.hung_up and end.response_done("r1", spoke=True) is None
    assert end.time_up(replying=False) is None


def test_a_new_model_session_is_asked_again_for_a_goodbye_never_played() -> None:
    cut = EndOfCall()
    assert cut.time_up(replying=True) == CutReply()
    assert cut.reopened() == RequestGoodbye(TIME_UP_PROMPT)  # the cut reply died with it
    cut.response_created("bye")
    assert cut.response_done("bye", spoke=True) == PlayGoodbye()
    assert cut.reopened() is None and not cut.model_needed  # the goodbye is out
    asked = EndOfCall()
    asked.end_requested(EndInterview(reason="completed"))
    asked.response_done("r1", spoke=False)
    asked.response_created("lost")
    assert asked.reopened() == RequestGoodbye(CLOSING_PROMPT)
    assert asked.response_done("lost", spoke=False) is None  # the old session's reply
    live = EndOfCall()
    assert live.reopened() is None and live.model_needed
