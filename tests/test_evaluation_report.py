"""The final report: key points matched per question and a score computed by hand."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from evaluation.report import Completion, Report, build_report
from evaluation.templates import DEFAULT_TEMPLATE, AnswerQuality, Question
from evaluation.tools import EndInterview, EvaluateAnswer, NextAction


def _eval(
    quality: AnswerQuality, points: tuple[str, ...], action: NextAction = "continue"
) -> EvaluateAnswer:
    return EvaluateAnswer(
        answer_quality=quality,
        key_points_covered=points,
        next_action=action,
        follow_up_needed=action == "follow_up",
    )


def _quick(evaluations: list[tuple[int, EvaluateAnswer]], completion: Completion) -> Report:
    return build_report(
        DEFAULT_TEMPLATE,
        evaluations,
        completion=completion,
        interruptions=0,
        reconnects=0,
        duration_s=60.0,
    )


def test_scripted_call_scores_as_computed_by_hand() -> None:
    evaluations = [
        (0, _eval("needs_clarification", ("Problem Solved",), "follow_up")),
        (0, _eval("excellent", ("own contribution", "Technical decisions!", "outcome"))),
        (1, _eval("good", ("checked the logs and metrics", "profiling"))),
        (2, _eval("off_topic", ())),
    ]
    report = build_report(
        DEFAULT_TEMPLATE,
        evaluations,
        completion="candidate_hung_up",
        interruptions=3,
        reconnects=1,
        duration_s=412.5,
    )
    # Q0: last quality excellent (1.0), all 4 key points over both evaluations.
    q0 = 1.0 * (0.5 + 0.5 * 4 / 4)
    # Q1: good (0.75), 1 of 4 key points ("logs and metrics").
    q1 = 0.75 * (0.5 + 0.5 * 1 / 4)
    # Q2: off_topic (0.0); Q3 never reached.
    q2 = 0.0
    q3 = 0.0
    assert (q0, q1) == (1.0, 0.46875)
    assert 100 * (q0 + q1 + q2 + q3) / 4 == 36.71875
    assert report.score == 36.7

    first, second, third, fourth = report.questions
    assert first.final_quality == "excellent"
    assert first.key_points_covered == DEFAULT_TEMPLATE.questions[0].key_points
    assert first.key_points_missing == ()
    assert first.follow_up_needed
    assert len(first.evaluations) == 2
    assert second.key_points_covered == ("logs and metrics",)
    assert second.key_points_missing == (
        "measure first",
        "isolate the bottleneck",
        "verify the fix",
    )
    assert second.other_points == ("profiling",)
    assert second.coverage == 0.25
    assert second.score == 0.4688
    assert not second.follow_up_needed
    assert third.score == 0.0
    assert fourth.final_quality is None
    assert fourth.evaluations == ()
    assert report.questions_answered == 3
    assert report.completion == "candidate_hung_up"
    assert (report.interruptions, report.reconnects, report.duration_s) == (3, 1, 412.5)


def test_rounding_is_half_up_to_one_decimal() -> None:
    t = DEFAULT_TEMPLATE.model_copy(
        update={"questions": (Question(text="Why?", key_points=("a", "b")),)}
    )
    report = build_report(
        t,
        [(0, _eval("good", ("a",)))],
        completion="completed",
        interruptions=0,
        reconnects=0,
        duration_s=60.0,
    )
    # 0.75 x (0.5 + 0.5 x 1/2) = 0.5625 -> 56.25 -> 56.3 (half-even would give 56.2)
    assert 100 * 0.75 * (0.5 + 0.5 * 1 / 2) == 56.25
    assert report.score == 56.3


def test_key_points_match_whole_words_only() -> None:
    t = DEFAULT_TEMPLATE.model_copy(
        update={"questions": (Question(text="Design?", key_points=("state", "API design")),)}
    )
    report = build_report(
        t,
        [(0, _eval("good", ("stateless services", "clean  api-design")))],
        completion="completed",
        interruptions=0,
        reconnects=0,
        duration_s=60.0,
    )
    q = report.questions[0]
    assert q.key_points_covered == ("API design",)
    assert q.key_points_missing == ("state",)
    assert q.other_points == ("stateless services",)


def test_a_perfect_interview_scores_100_and_an_empty_one_0() -> None:
    perfect = [
        (i, _eval("excellent", q.key_points)) for i, q in enumerate(DEFAULT_TEMPLATE.questions)
    ]
    assert _quick(perfect, "completed").score == 100
    assert _quick([], "failed").score == 0


def test_report_to_dict_is_plain_data_with_the_end_reason() -> None:
    report = build_report(
        DEFAULT_TEMPLATE,
        [(0, _eval("good", ("outcome",)))],
        completion="completed",
        interruptions=0,
        reconnects=0,
        duration_s=90.0,
        end=EndInterview(reason="candidate_requested", summary="Asked to stop early."),
    )
    data = json.loads(json.dumps(report.to_dict()))
    assert data["template_id"] == "default"
    assert data["end_reason"] == "candidate_requested"
    assert data["summary"] == "Asked to stop early."
    assert data["questions"][0]["evaluations"][0]["answer_quality"] == "good"
    assert data["questions"][0]["key_points_covered"] == ["outcome"]
    assert data["score"] == report.score
    assert data == report.model_dump(mode="json")


def test_a_stored_report_loads_back_as_an_equal_typed_value() -> None:
    report = build_report(
        DEFAULT_TEMPLATE,
        [
            (0, _eval("needs_clarification", ("outcome",), "follow_up")),
            (0, _eval("excellent", ("problem solved", "own contribution"))),
            (2, _eval("good", ("code review",))),
        ],
        completion="timed_out",
        interruptions=2,
        reconnects=1,
        duration_s=901.25,
        end=EndInterview(reason="time_limit"),
    )
    stored = json.loads(json.dumps(report.to_dict()))
    loaded = Report.model_validate(stored)
    assert loaded == report
    assert isinstance(loaded.questions[0].evaluations[1], EvaluateAnswer)
    assert loaded.questions[0].evaluations[1].key_points_covered == (
        "problem solved",
        "own contribution",
    )
    assert loaded.end_reason == "time_limit"
    assert loaded.questions[3].final_quality is None


def test_a_stored_report_with_a_wrong_value_is_refused() -> None:
    stored = _quick([], "completed").to_dict()
    stored["completion"] = "abandoned"
    with pytest.raises(ValidationError) as caught:
        Report.model_validate(stored)
    assert [e["loc"] for e in caught.value.errors()] == [("completion",)]


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="evaluation for question 4, but the template has 4"):
        _quick([(4, _eval("good", ()))], "completed")
    with pytest.raises(ValueError, match="completion must be one of"):
        _quick([], "abandoned")  # type: ignore[arg-type]
