"""Tool schemas in the Realtime GA shape, generated from the models that parse the arguments."""

from __future__ import annotations

import json
from typing import Any

import pytest

from evaluation.tools import (
    KEY_POINTS_MAX,
    NOTES_MAX_CHARS,
    SUMMARY_MAX_CHARS,
    TOOLS,
    EndInterview,
    EvaluateAnswer,
    ToolArgumentError,
    parse_tool_call,
    tool_error_output,
    tool_ok_output,
)

MODELS: dict[str, type[EvaluateAnswer] | type[EndInterview]] = {
    "evaluate_candidate_answer": EvaluateAnswer,
    "end_interview": EndInterview,
}

# The schema the model has always been shown: generated now, it must not drift from this.
EXPECTED_TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": "evaluate_candidate_answer",
        "description": (
            "Record your judgement of the candidate's latest answer. Call it after every "
            "answer, before you reply. Never tell the candidate the result."
        ),
        "parameters": {
            "type": "object",
            "properties": {
                "question_index": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "0-based index of the question the answer is for.",
                },
                "answer_quality": {
                    "type": "string",
                    "enum": ["excellent", "good", "needs_clarification", "off_topic"],
                },
                "key_points_covered": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "Key points of this question the answer covered, as worded.",
                },
                "next_action": {
                    "type": "string",
                    "enum": ["continue", "follow_up", "move_to_next_topic"],
                    "description": "follow_up to stay on this question; otherwise move on.",
                },
                "follow_up_needed": {"type": "boolean"},
                "notes": {"type": "string", "description": "One short sentence, optional."},
            },
            "required": ["answer_quality", "key_points_covered", "next_action", "follow_up_needed"],
            "additionalProperties": False,
        },
    },
    {
        "type": "function",
        "name": "end_interview",
        "description": (
            "End the interview: after the last question, when the candidate asks to stop, "
            "or when told time is up. Then say the closing line."
        ),
        "parameters": {
            "type": "object",
            "properties": {
                "reason": {
                    "type": "string",
                    "enum": [
                        "completed",
                        "candidate_requested",
                        "time_limit",
                        "inappropriate",
                        "other",
                    ],
                },
                "summary": {"type": "string", "description": "Two sentences at most, optional."},
            },
            "required": ["reason"],
            "additionalProperties": False,
        },
    },
]


def _error(name: str, arguments: str) -> str:
    with pytest.raises(ToolArgumentError) as caught:
        parse_tool_call(name, arguments)
    return caught.value.message


def _evaluation(**changes: Any) -> str:
    args: dict[str, Any] = {
        "answer_quality": "good",
        "key_points_covered": [],
        "next_action": "continue",
        "follow_up_needed": False,
    }
    return json.dumps(args | changes)


def _keys(node: Any) -> set[str]:
    """Every schema keyword used anywhere, property names left out."""
    if isinstance(node, list):
        return set().union(*(_keys(item) for item in node))
    if not isinstance(node, dict):
        return set()
    found = set(node) - {"properties"}
    for key, value in node.items():
        values = value.values() if key == "properties" else [value]
        found |= set().union(*(_keys(v) for v in values))
    return found


def _example(schema: dict[str, Any]) -> Any:
    """A value a careful model would write for this property, read off the schema alone."""
    if "enum" in schema:
        return schema["enum"][-1]
    return {
        "integer": schema.get("minimum", 0),
        "boolean": True,
        "string": "text",
        "array": ["text"],
    }[schema["type"]]


def test_the_generated_tools_are_exactly_the_realtime_function_list() -> None:
    assert TOOLS == EXPECTED_TOOLS
    # Same text, key order included: the model reads it, and the estimate counts it.
    assert json.dumps(TOOLS) == json.dumps(EXPECTED_TOOLS)
    assert json.loads(json.dumps(TOOLS)) == TOOLS


def test_schemas_hold_no_pydantic_extras() -> None:
    keywords = _keys([tool["parameters"] for tool in TOOLS])
    assert keywords == {
        "type",
        "enum",
        "items",
        "minimum",
        "description",
        "required",
        "additionalProperties",
    }


@pytest.mark.parametrize("tool", TOOLS, ids=lambda t: t["name"])
def test_schema_properties_are_the_model_fields(tool: dict[str, Any]) -> None:
    model = MODELS[tool["name"]]
    parameters = tool["parameters"]
    assert list(parameters["properties"]) == list(model.model_fields)
    assert parameters["required"] == [
        name for name, field in model.model_fields.items() if field.is_required()
    ]


@pytest.mark.parametrize("tool", TOOLS, ids=lambda t: t["name"])
def test_payloads_built_from_the_schema_parse(tool: dict[str, Any]) -> None:
    parameters = tool["parameters"]
    full = {name: _example(prop) for name, prop in parameters["properties"].items()}
    call = parse_tool_call(tool["name"], json.dumps(full))
    assert call.to_dict() == {name: full[name] for name in call.to_dict()}
    required = {name: full[name] for name in parameters["required"]}
    assert isinstance(parse_tool_call(tool["name"], json.dumps(required)), MODELS[tool["name"]])


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
    assert EvaluateAnswer.model_validate(call.to_dict()) == call


def test_optional_fields_may_be_absent_or_null() -> None:
    call = parse_tool_call(
        "evaluate_candidate_answer", _evaluation(question_index=None, notes=None)
    )
    assert isinstance(call, EvaluateAnswer)
    assert call.question_index is None
    assert call.notes is None
    assert call.key_points_covered == ()
    assert parse_tool_call("end_interview", '{"reason": "other", "summary": null}') == (
        EndInterview(reason="other")
    )


def test_long_notes_and_summaries_are_cut_not_refused() -> None:
    call = parse_tool_call("evaluate_candidate_answer", _evaluation(notes="x" * 2000))
    assert isinstance(call, EvaluateAnswer)
    assert call.notes == "x" * NOTES_MAX_CHARS
    end = parse_tool_call("end_interview", json.dumps({"reason": "other", "summary": "y" * 5000}))
    assert isinstance(end, EndInterview)
    assert end.summary == "y" * SUMMARY_MAX_CHARS


def test_blank_notes_count_as_none() -> None:
    call = parse_tool_call("evaluate_candidate_answer", _evaluation(notes="   "))
    assert isinstance(call, EvaluateAnswer)
    assert call.notes is None


def test_key_points_are_stripped_blank_ones_dropped_and_capped() -> None:
    points = ["  ", *(f" p{i} " for i in range(KEY_POINTS_MAX + 5))]
    call = parse_tool_call("evaluate_candidate_answer", _evaluation(key_points_covered=points))
    assert isinstance(call, EvaluateAnswer)
    assert call.key_points_covered == tuple(f"p{i}" for i in range(KEY_POINTS_MAX))


def test_end_interview_parses() -> None:
    assert parse_tool_call("end_interview", '{"reason": "time_limit"}') == EndInterview(
        reason="time_limit"
    )
    call = parse_tool_call("end_interview", '{"reason": "completed", "summary": "Strong."}')
    assert call == EndInterview(reason="completed", summary="Strong.")


def test_bad_json_and_non_objects() -> None:
    assert _error("end_interview", '{"reason": ').startswith(
        "end_interview: arguments are not valid JSON ("
    )
    assert _error("end_interview", '["completed"]') == (
        "end_interview: arguments must be a JSON object"
    )


def test_unknown_tool() -> None:
    assert _error("hang_up", "{}") == (
        "unknown tool 'hang_up'; available: evaluate_candidate_answer, end_interview, "
        "reschedule_interview, opt_out, confirm_identity"
    )


def test_missing_fields_are_all_named() -> None:
    assert _error("evaluate_candidate_answer", "{}") == (
        "evaluate_candidate_answer: answer_quality: required; key_points_covered: required; "
        "next_action: required; follow_up_needed: required"
    )
    assert _error("end_interview", "") == "end_interview: reason: required"


def test_every_problem_is_in_one_message_naming_its_field() -> None:
    message = _error(
        "evaluate_candidate_answer",
        json.dumps(
            {
                "answer_quality": "superb",
                "key_points_covered": "tests",
                "next_action": "continue",
                "follow_up_needed": "no",
                "question_index": -1,
                "score": 9,
            }
        ),
    )
    assert message == (
        "evaluate_candidate_answer: question_index: must be a whole number >= 0; "
        "answer_quality: must be one of: excellent, good, needs_clarification, off_topic; "
        "got 'superb'; key_points_covered: must be a list; "
        "follow_up_needed: must be true or false; score: unknown field"
    )


def test_a_key_point_that_is_not_a_string_is_named_by_position() -> None:
    assert _error("evaluate_candidate_answer", _evaluation(key_points_covered=["a", 3])) == (
        "evaluate_candidate_answer: key_points_covered[1]: must be a string"
    )


def test_a_null_required_choice_is_refused() -> None:
    assert _error("evaluate_candidate_answer", _evaluation(next_action=None)) == (
        "evaluate_candidate_answer: next_action: must be one of: continue, follow_up, "
        "move_to_next_topic; got None"
    )


@pytest.mark.parametrize("index", [True, 1.5, 2.0, "2", -1])
def test_question_index_must_be_a_whole_number(index: object) -> None:
    assert _error("evaluate_candidate_answer", _evaluation(question_index=index)) == (
        "evaluate_candidate_answer: question_index: must be a whole number >= 0"
    )


@pytest.mark.parametrize("flag", [0, 1, "true", None])
def test_follow_up_needed_must_be_a_boolean(flag: object) -> None:
    assert _error("evaluate_candidate_answer", _evaluation(follow_up_needed=flag)) == (
        "evaluate_candidate_answer: follow_up_needed: must be true or false"
    )


def test_end_interview_rejects_bad_reason_and_summary_type() -> None:
    assert _error("end_interview", '{"reason": "bored", "summary": 3}') == (
        "end_interview: reason: must be one of: completed, candidate_requested, time_limit, "
        "inappropriate, other; got 'bored'; summary: must be a string"
    )


def test_outputs_are_json_for_function_call_output() -> None:
    assert json.loads(tool_error_output("bad")) == {"ok": False, "error": "bad"}
    assert json.loads(tool_ok_output()) == {"ok": True}
    assert json.loads(tool_ok_output("Next: question 1")) == {
        "ok": True,
        "note": "Next: question 1",
    }
