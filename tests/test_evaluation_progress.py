"""The question pointer driven by scripted evaluations, and the time left."""

from __future__ import annotations

from evaluation.progress import InterviewProgress, ProgressStatus
from evaluation.templates import DEFAULT_TEMPLATE
from evaluation.tools import EvaluateAnswer, NextAction

START = 1000.0


def _eval(action: NextAction, index: int | None = None) -> EvaluateAnswer:
    return EvaluateAnswer(
        answer_quality="good",
        key_points_covered=(),
        next_action=action,
        follow_up_needed=action == "follow_up",
        question_index=index,
    )


def test_scripted_interview_moves_through_the_questions() -> None:
    p = InterviewProgress(DEFAULT_TEMPLATE, START, 3600)
    assert p.status(START).current_question == 0

    assert p.apply(_eval("follow_up")) == 0
    assert p.status(START).current_question == 0
    assert p.apply(_eval("follow_up")) == 0
    assert p.follow_ups(0) == 2
    assert p.status(START).follow_ups_on_current == 2

    assert p.apply(_eval("continue")) == 0
    assert p.status(START).current_question == 1
    # An out-of-range index falls back to the current question.
    assert p.apply(_eval("move_to_next_topic", index=7)) == 1
    assert p.apply(_eval("continue", index=2)) == 2
    assert p.status(START).questions_left == 1
    assert p.apply(_eval("continue")) == 3

    done = p.status(START + 60)
    assert done.current_question is None
    assert done.questions_left == 0
    assert done.finished
    assert not done.time_up
    # Anything after the last question is stored against the last question.
    assert p.apply(_eval("continue")) == 3
    assert [i for i, _ in p.evaluations] == [0, 0, 0, 1, 2, 3, 3]


def test_the_model_may_jump_ahead_but_the_pointer_never_goes_back() -> None:
    p = InterviewProgress(DEFAULT_TEMPLATE, START, 3600)
    assert p.apply(_eval("follow_up", index=2)) == 2
    assert p.status(START).current_question == 2
    assert p.apply(_eval("continue", index=0)) == 0
    assert p.status(START).current_question == 2
    assert p.apply(_eval("continue")) == 2
    assert p.status(START).current_question == 3


def test_time_left_uses_the_smaller_limit() -> None:
    p = InterviewProgress(DEFAULT_TEMPLATE, START, 600)
    assert p.status(START + 300) == ProgressStatus(
        current_question=0,
        questions_left=4,
        seconds_left=300.0,
        follow_ups_on_current=0,
        time_up=False,
        finished=False,
    )
    late = p.status(START + 601)
    assert late.seconds_left == 0.0
    assert late.time_up
    assert late.finished
    assert late.current_question == 0
    assert InterviewProgress(DEFAULT_TEMPLATE, START, 3600).status(START).seconds_left == 900.0


def test_progress_notes() -> None:
    p = InterviewProgress(DEFAULT_TEMPLATE, START, 3600)
    first = p.progress_note(START)
    assert first.startswith("Next: question 0 (1 of 4): Tell me about a recent project")
    assert first.endswith("; 15 min left.")
    p.apply(_eval("continue"))
    assert p.progress_note(START + 250).startswith("Next: question 1 (2 of 4): ")
    assert p.progress_note(START + 250).endswith("; 10 min left.")
    p.apply(_eval("follow_up"))
    assert p.progress_note(START + 300) == "Stay on question 1 (2 of 4), follow-up 1; 10 min left."
    p.apply(_eval("follow_up"))
    assert p.progress_note(START + 800) == (
        "Stay on question 1 (2 of 4), follow-up 2; move on after this answer; 1 min left."
    )
    assert p.progress_note(START + 840).endswith("; 1 min left.")
    assert p.progress_note(START + 841).endswith("; 59 s left, wrap up.")
    assert p.progress_note(START + 870).endswith("; 30 s left, wrap up.")
    assert p.progress_note(START + 900) == "Time is up: call end_interview now."
    for _ in range(3):
        p.apply(_eval("continue"))
    assert p.progress_note(START + 10) == "All questions done: call end_interview."


def test_notes_stay_short() -> None:
    p = InterviewProgress(DEFAULT_TEMPLATE, START, 3600)
    for _ in DEFAULT_TEMPLATE.questions:
        assert len(p.progress_note(START)) <= 120
        p.apply(_eval("continue"))
