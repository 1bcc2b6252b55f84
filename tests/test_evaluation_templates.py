"""Templates: validation reports every problem by field path, and data round-trips."""

from __future__ import annotations

import copy
import json
from types import MappingProxyType
from typing import Any

import pytest
from pydantic import ValidationError

from evaluation.templates import (
    DEFAULT_TEMPLATE,
    Question,
    TemplateError,
    parse_template,
    template_to_dict,
)


def _valid() -> dict[str, Any]:
    return {
        "template_id": "backend-2026",
        "role": "Backend Engineer",
        "company": "Acme",
        "language": "en-US",
        "voice": "coral",
        "questions": [
            {"text": "  Describe a system you designed.  ", "key_points": ["scale", "trade-offs"]},
            {
                "text": "How do you handle incidents?",
                "key_points": ["triage", "communication", "postmortem"],
                "follow_up": "What did you change afterwards?",
            },
        ],
        "rubric": {
            "excellent": "Concrete and correct.",
            "good": "Correct but general.",
            "needs_clarification": "Vague.",
            "off_topic": "Unrelated.",
        },
        "max_duration_s": 1200,
        "greeting": "Hello!",
        "closing": "Goodbye!",
    }


def _problems(data: Any) -> list[str]:
    with pytest.raises(TemplateError) as caught:
        parse_template(data)
    return caught.value.problems


def test_a_valid_template_parses_into_values() -> None:
    t = parse_template(_valid())
    assert t.template_id == "backend-2026"
    assert t.language == "en-US"
    assert t.voice == "coral"
    assert t.max_duration_s == 1200
    assert t.questions[0] == Question(
        text="Describe a system you designed.", key_points=("scale", "trade-offs")
    )
    assert t.questions[1].follow_up == "What did you change afterwards?"
    assert t.rubric.describe("off_topic") == "Unrelated."


def test_round_trip_through_plain_data() -> None:
    t = parse_template(_valid())
    data = template_to_dict(t)
    assert parse_template(json.loads(json.dumps(data))) == t
    assert "follow_up" not in data["questions"][0]
    assert data["questions"][1]["follow_up"] == "What did you change afterwards?"


def test_default_template_is_valid_and_generic() -> None:
    assert DEFAULT_TEMPLATE.template_id == "default"
    assert len(DEFAULT_TEMPLATE.questions) == 4
    assert parse_template(template_to_dict(DEFAULT_TEMPLATE)) == DEFAULT_TEMPLATE


def test_every_problem_is_reported_at_once_with_its_path() -> None:
    data = _valid()
    data["colour"] = "blue"
    data["voice"] = "robot"
    data["language"] = "English!"
    data["questions"][0]["hint"] = "x"
    data["questions"][1]["key_points"] = []
    data["questions"].append({"text": "", "key_points": ["ok", 3]})
    del data["rubric"]["off_topic"]
    data["rubric"]["great"] = "?"
    data["max_duration_s"] = 30
    data["greeting"] = "   "
    problems = _problems(data)
    assert problems == [
        "language: must be a language tag such as 'en' or 'en-US'",
        "voice: must be one of: alloy, ash, ballad, coral, echo, sage, shimmer, verse, marin, "
        "cedar",
        "questions[0].hint: unknown field",
        "questions[1].key_points: must be a non-empty list",
        "questions[2].text: must be a non-empty string",
        "questions[2].key_points[1]: must be a string",
        "rubric.off_topic: required",
        "rubric.great: unknown field",
        "max_duration_s: must be a whole number from 60 to 7200",
        "greeting: must be a non-empty string",
        "colour: unknown field",
    ]


def test_missing_everything_names_every_required_field() -> None:
    fields = {p.split(":")[0] for p in _problems({})}
    assert fields == {
        "template_id",
        "role",
        "company",
        "language",
        "voice",
        "questions",
        "rubric",
        "max_duration_s",
        "greeting",
        "closing",
    }


@pytest.mark.parametrize(("value", "ok"), [(60, True), (7200, True), (59, False), (7201, False)])
def test_duration_bounds(value: int, ok: bool) -> None:
    data = _valid()
    data["max_duration_s"] = value
    if ok:
        assert parse_template(data).max_duration_s == value
    else:
        assert _problems(data) == ["max_duration_s: must be a whole number from 60 to 7200"]


@pytest.mark.parametrize("value", [True, 600.0, "600"])
def test_duration_must_be_an_integer(value: Any) -> None:
    data = _valid()
    data["max_duration_s"] = value
    assert _problems(data) == ["max_duration_s: must be a whole number from 60 to 7200"]


def test_wrong_shapes_are_reported_not_crashed_on() -> None:
    assert _problems(["not", "a", "mapping"]) == ["template: must be an object"]
    data = _valid()
    data["questions"] = [{"text": "Fine?", "key_points": ["a"]}, "just a string"]
    data["rubric"] = "be nice"
    data["template_id"] = "has spaces"
    assert _problems(data) == [
        "template_id: must be 1-64 letters, digits, '_', '.' or '-', starting with a letter "
        "or digit",
        "questions[1]: must be an object",
        "rubric: must be an object",
    ]


def test_empty_question_list_and_blank_follow_up_are_errors() -> None:
    data = _valid()
    data["questions"] = []
    assert _problems(data) == ["questions: must be a non-empty list"]
    data = _valid()
    data["questions"][1]["follow_up"] = ""
    assert _problems(data) == ["questions[1].follow_up: must be a non-empty string"]


def test_a_null_follow_up_means_none() -> None:
    data = copy.deepcopy(_valid())
    data["questions"][1]["follow_up"] = None
    assert parse_template(data).questions[1].follow_up is None


def test_sizes_are_limited_with_the_limit_named() -> None:
    data = _valid()
    data["role"] = "r" * 201
    data["questions"][0]["key_points"] = [f"p{i}" for i in range(13)]
    data["questions"][1]["text"] = "t" * 1001
    assert _problems(data) == [
        "role: must be at most 200 characters",
        "questions[0].key_points: must have at most 12 entries",
        "questions[1].text: must be at most 1000 characters",
    ]
    data = _valid()
    data["questions"][0]["key_points"] = ["k" * 201]
    data["questions"] += [{"text": "Why?", "key_points": ["a"]}] * 29
    assert _problems(data) == ["questions[0].key_points[0]: must be at most 200 characters"]
    data["questions"][0]["key_points"] = ["k"]
    assert _problems(data) == ["questions: must have at most 30 entries"]


def test_every_string_is_stripped_and_any_mapping_is_read() -> None:
    data = _valid()
    data["role"] = "  Backend Engineer\n"
    data["rubric"]["good"] = "\tCorrect but general. "
    data["questions"][0]["key_points"] = [" scale ", "trade-offs  "]
    t = parse_template(MappingProxyType(data))
    assert t.role == "Backend Engineer"
    assert t.rubric.good == "Correct but general."
    assert t.questions[0].key_points == ("scale", "trade-offs")
    assert t == parse_template(_valid())


def test_templates_are_frozen_values() -> None:
    t = parse_template(_valid())
    with pytest.raises(ValidationError):
        t.role = "Other"
    assert hash(t) == hash(parse_template(_valid()))
    assert {t, parse_template(_valid())} == {t}
