"""Session instructions: complete enough to run the interview, short enough to re-bill."""

from __future__ import annotations

from evaluation.instructions import build_instructions, call_limit_s, wrap_up_note
from evaluation.progress import WRAP_UP_S
from evaluation.templates import ANSWER_QUALITIES, DEFAULT_TEMPLATE, Question

MAX_DEFAULT_CHARS = 2400


def test_default_instructions_stay_short() -> None:
    assert len(build_instructions(DEFAULT_TEMPLATE)) < MAX_DEFAULT_CHARS


def test_instructions_hold_every_question_key_point_and_follow_up_in_order() -> None:
    text = build_instructions(DEFAULT_TEMPLATE)
    positions = []
    for i, q in enumerate(DEFAULT_TEMPLATE.questions):
        assert f"{i}: {q.text}" in text
        positions.append(text.index(q.text))
        assert f"Key points: {'; '.join(q.key_points)}" in text
        if q.follow_up:
            assert f"Follow-up: {q.follow_up}" in text
    assert positions == sorted(positions)


def test_instructions_hold_the_rubric_role_and_lines() -> None:
    t = DEFAULT_TEMPLATE
    text = build_instructions(t)
    for quality in ANSWER_QUALITIES:
        assert f"- {quality}: {t.rubric.describe(quality)}" in text
    for fragment in (t.role, t.company, t.greeting, t.closing, f"Language: {t.language}"):
        assert fragment in text


def test_instructions_say_when_to_call_each_tool_and_how_to_behave() -> None:
    text = build_instructions(DEFAULT_TEMPLATE)
    assert "After each answer, call evaluate_candidate_answer" in text
    assert "Call end_interview after the last question, if the candidate asks to stop" in text
    assert "when told time is up" in text
    assert "one question at a time" in text
    assert "never reveal scores" in text


def test_the_time_limit_is_the_smaller_of_template_and_service() -> None:
    assert call_limit_s(DEFAULT_TEMPLATE) == 900
    assert call_limit_s(DEFAULT_TEMPLATE, 600) == 600
    assert call_limit_s(DEFAULT_TEMPLATE, 3600) == 900
    assert "within 10 minutes" in build_instructions(DEFAULT_TEMPLATE, max_call_seconds=600)
    assert "within 15 minutes" in build_instructions(DEFAULT_TEMPLATE, max_call_seconds=3600)


def test_questions_without_follow_up_get_no_follow_up_line() -> None:
    t = DEFAULT_TEMPLATE.model_copy(
        update={"questions": (Question(text="Why us?", key_points=("motivation",)),)}
    )
    text = build_instructions(t)
    assert "Follow-up:" not in text
    assert "0: Why us?" in text


def test_the_wrap_up_note_names_the_time_left_and_the_tool() -> None:
    assert WRAP_UP_S == 60
    assert wrap_up_note() == (
        "About one minute is left. Ask no new questions: thank the candidate, "
        "say the closing line and call end_interview."
    )
