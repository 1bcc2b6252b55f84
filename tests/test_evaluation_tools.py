"""Tool schemas in the Realtime GA shape, and strict parsing of the model's arguments."""

from __future__ import annotations

import json

import pytest

from evaluation.tools import (
    NOTES_MAX_CHARS,
    TOOLS,
    EndInterview,
    EvaluateAnswer,
    ToolArgumentError,
    parse_tool_call,
    tool_error_output,
    tool_ok_output,
)


def _error(name: str, arguments: str) -> str:
    with pytest.raises(ToolArgumentError) as caught:
        parse_tool_call(name, arguments)
    return caught.value.message


def test_tools_have_the_realtime_function_shape() -> None:
    by_name = {t["name"]: t for t in TOOLS}
    assert set(by_name) == {"evaluate_candidate_answer", "end_interview"}
    for tool in TOOLS:
        assert set(tool) == {"type", "name", "description", "parameters"}
        assert tool["type"] == "function"
        assert tool["parameters"]["type"] == "object"
        assert tool["parameters"]["additionalProperties"] is False
    evaluate = by_name["evaluate_candidate_answer"]["parameters"]
    assert evaluate["required"] == [
        "answer_quality",
        "key_points_covered",
        "next_action",
        "follow_up_needed",
    ]
    props = evaluate["properties"]
    assert props["answer_quality"]["enum"] == [
        "excellent",
        "good",
        "needs_clarification",
        "off_topic",
    ]
    assert props["next_action"]["enum"] == ["continue", "follow_up", "move_to_next_topic"]
    assert props["key_points_covered"] == {
        "type": "array",
        "items": {"type": "string"},
        "description": props["key_points_covered"]["description"],
    }
    assert props["follow_up_needed"]["type"] == "boolean"
    assert props["question_index"]["type"] == "integer"
    end = by_name["end_interview"]["parameters"]
    assert end["required"] == ["reason"]
    assert end["properties"]["reason"]["enum"] == [
        "completed",
        "candidate_requested",
        "time_limit",
        "inappropriate",
        "other",
    ]
    assert json.loads(json.dumps(TOOLS)) == TOOLS


def test_every_schema_property_is_accepted_by_the_parser() -> None:
    args = {
        "question_index": 1,
        "answer_quality": "good",
        "key_points_covered": ["a"],
        "next_action": "continue",
        "follow_up_needed": False,
        "notes": "fine",
    }
    props = TOOLS[0]["parameters"]["properties"]
    assert set(props) == set(args)
    assert isinstance(
        parse_tool_call("evaluate_candidate_answer", json.dumps(args)), EvaluateAnswer
    )


def test_a_good_evaluation_parses() -> None:
    call = parse_tool_call(
        "evaluate_candidate_answer",
        json.dumps(
            {
                "answer_quality": "needs_clarification",
                "key_points_covered": [" measure first ", "", "logs and metrics"],
                "next_action": "follow_up",
                "follow_up_needed": True,
                "question_index": 1,
                "notes": "  Mentioned metrics only.  ",
            }
        ),
    )
    assert call == EvaluateAnswer(
        answer_quality="needs_clarification",
        key_points_covered=("measure first", "logs and metrics"),
        next_action="follow_up",
        follow_up_needed=True,
        question_index=1,
        notes="Mentioned metrics only.",
    )
    assert call.to_dict()["key_points_covered"] == ["measure first", "logs and metrics"]


def test_optional_fields_may_be_absent_or_null() -> None:
    call = parse_tool_call(
        "evaluate_candidate_answer",
        '{"answer_quality": "good", "key_points_covered": [], "next_action": "continue",'
        ' "follow_up_needed": false, "question_index": null, "notes": null}',
    )
    assert isinstance(call, EvaluateAnswer)
    assert call.question_index is None
    assert call.notes is None
    assert call.key_points_covered == ()


def test_long_notes_are_cut_not_refused() -> None:
    args = {
        "answer_quality": "good",
        "key_points_covered": [],
        "next_action": "continue",
        "follow_up_needed": False,
        "notes": "x" * 2000,
    }
    call = parse_tool_call("evaluate_candidate_answer", json.dumps(args))
    assert isinstance(call, EvaluateAnswer)
    assert call.notes == "x" * NOTES_MAX_CHARS


def test_end_interview_parses() -> None:
    assert parse_tool_call("end_interview", '{"reason": "time_limit"}') == EndInterview(
        "time_limit"
    )
    call = parse_tool_call("end_interview", '{"reason": "completed", "summary": "Strong."}')
    assert call == EndInterview("completed", "Strong.")


def test_bad_json_and_non_objects() -> None:
    assert _error("end_interview", '{"reason": ').startswith(
        "end_interview: arguments are not valid JSON ("
    )
    assert _error("end_interview", '["completed"]') == (
        "end_interview: arguments must be a JSON object"
    )


def test_unknown_tool() -> None:
    assert _error("hang_up", "{}") == (
        "unknown tool 'hang_up'; available: evaluate_candidate_answer, end_interview"
    )


def test_missing_fields_are_all_named() -> None:
    assert _error("evaluate_candidate_answer", "{}") == (
        "evaluate_candidate_answer: answer_quality is required (one of: excellent, good, "
        "needs_clarification, off_topic); key_points_covered is required and must be a list "
        "of strings; next_action is required (one of: continue, follow_up, "
        "move_to_next_topic); follow_up_needed is required and must be true or false"
    )
    assert _error("end_interview", "") == (
        "end_interview: reason is required (one of: completed, candidate_requested, "
        "time_limit, inappropriate, other)"
    )


def test_wrong_types_bad_enums_and_extra_fields() -> None:
    message = _error(
        "evaluate_candidate_answer",
        json.dumps(
            {
                "answer_quality": "great",
                "key_points_covered": "tests",
                "next_action": "continue",
                "follow_up_needed": "no",
                "question_index": -1,
                "score": 9,
            }
        ),
    )
    assert message == (
        "evaluate_candidate_answer: unexpected field 'score'; answer_quality must be one of: "
        "excellent, good, needs_clarification, off_topic; got 'great'; key_points_covered is "
        "required and must be a list of strings; follow_up_needed is required and must be "
        "true or false; question_index must be a whole number >= 0"
    )


@pytest.mark.parametrize("index", [True, 1.5, "2"])
def test_question_index_must_be_a_whole_number(index: object) -> None:
    args = {
        "answer_quality": "good",
        "key_points_covered": [],
        "next_action": "continue",
        "follow_up_needed": False,
        "question_index": index,
    }
    assert "question_index must be a whole number >= 0" in _error(
        "evaluate_candidate_answer", json.dumps(args)
    )


def test_end_interview_rejects_bad_reason_and_summary_type() -> None:
    assert _error("end_interview", '{"reason": "bored", "summary": 3}') == (
        "end_interview: reason must be one of: completed, candidate_requested, time_limit, "
        "inappropriate, other; got 'bored'; summary must be a string"
    )


def test_outputs_are_json_for_function_call_output() -> None:
    assert json.loads(tool_error_output("bad")) == {"ok": False, "error": "bad"}
    assert json.loads(tool_ok_output()) == {"ok": True}
    assert json.loads(tool_ok_output("Next: question 1")) == {
        "ok": True,
        "note": "Next: question 1",
    }
