"""The two functions the model may call, their schemas, and parsing of its arguments.

Arguments arrive as a JSON string written by the model, so they are checked
against the schema by hand and every mismatch is reported in one message: sent
back as the function output, it lets the model correct itself in one retry.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeVar, get_args

from evaluation.templates import ANSWER_QUALITIES, AnswerQuality

NextAction = Literal["continue", "follow_up", "move_to_next_topic"]
NEXT_ACTIONS: Final[tuple[NextAction, ...]] = get_args(NextAction)
EndReason = Literal["completed", "candidate_requested", "time_limit", "inappropriate", "other"]
END_REASONS: Final[tuple[EndReason, ...]] = get_args(EndReason)

EVALUATE_ANSWER: Final = "evaluate_candidate_answer"
END_INTERVIEW: Final = "end_interview"

NOTES_MAX_CHARS: Final = 500
SUMMARY_MAX_CHARS: Final = 1000
KEY_POINTS_MAX: Final = 20

_EVALUATE_FIELDS: Final = (
    "question_index",
    "answer_quality",
    "key_points_covered",
    "next_action",
    "follow_up_needed",
    "notes",
)
_END_FIELDS: Final = ("reason", "summary")

_Option = TypeVar("_Option", bound=str)


class ToolArgumentError(ValueError):
    """The model's function call cannot be used; the message says why, for the model."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class EvaluateAnswer:
    answer_quality: AnswerQuality
    key_points_covered: tuple[str, ...]
    next_action: NextAction
    follow_up_needed: bool
    question_index: int | None = None
    notes: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "answer_quality": self.answer_quality,
            "key_points_covered": list(self.key_points_covered),
            "next_action": self.next_action,
            "follow_up_needed": self.follow_up_needed,
            "question_index": self.question_index,
            "notes": self.notes,
        }


@dataclass(frozen=True, slots=True)
class EndInterview:
    reason: EndReason
    summary: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"reason": self.reason, "summary": self.summary}


ToolCall = EvaluateAnswer | EndInterview

TOOLS: Final[list[dict[str, Any]]] = [
    {
        "type": "function",
        "name": EVALUATE_ANSWER,
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
                "answer_quality": {"type": "string", "enum": list(ANSWER_QUALITIES)},
                "key_points_covered": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "Key points of this question the answer covered, as worded.",
                },
                "next_action": {
                    "type": "string",
                    "enum": list(NEXT_ACTIONS),
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
        "name": END_INTERVIEW,
        "description": (
            "End the interview: after the last question, when the candidate asks to stop, "
            "or when told time is up. Then say the closing line."
        ),
        "parameters": {
            "type": "object",
            "properties": {
                "reason": {"type": "string", "enum": list(END_REASONS)},
                "summary": {"type": "string", "description": "Two sentences at most, optional."},
            },
            "required": ["reason"],
            "additionalProperties": False,
        },
    },
]


class _Args:
    """Reads one tool's arguments, collecting every problem."""

    def __init__(self, tool: str, data: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
        self.tool = tool
        self.data = data
        self.problems: list[str] = [
            f"unexpected field {key!r}" for key in data if key not in allowed
        ]

    def enum(self, name: str, options: tuple[_Option, ...]) -> _Option:
        value = self.data.get(name)
        for option in options:
            if value == option:
                return option
        if value is None:
            self.problems.append(f"{name} is required (one of: {', '.join(options)})")
        else:
            self.problems.append(f"{name} must be one of: {', '.join(options)}; got {value!r}")
        return options[0]

    def boolean(self, name: str) -> bool:
        value = self.data.get(name)
        if not isinstance(value, bool):
            self.problems.append(f"{name} is required and must be true or false")
            return False
        return value

    def text(self, name: str, limit: int) -> str | None:
        value = self.data.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            self.problems.append(f"{name} must be a string")
            return None
        return value.strip()[:limit] or None

    def strings(self, name: str) -> tuple[str, ...]:
        value = self.data.get(name)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problems.append(f"{name} is required and must be a list of strings")
            return ()
        return tuple(v.strip() for v in value[:KEY_POINTS_MAX] if v.strip())

    def index(self, name: str) -> int | None:
        value = self.data.get(name)
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            self.problems.append(f"{name} must be a whole number >= 0")
            return None
        return value

    def check(self) -> None:
        if self.problems:
            raise ToolArgumentError(f"{self.tool}: " + "; ".join(self.problems))


def _evaluate(args: _Args) -> EvaluateAnswer:
    quality = args.enum("answer_quality", ANSWER_QUALITIES)
    covered = args.strings("key_points_covered")
    action = args.enum("next_action", NEXT_ACTIONS)
    follow_up = args.boolean("follow_up_needed")
    index = args.index("question_index")
    notes = args.text("notes", NOTES_MAX_CHARS)
    args.check()
    return EvaluateAnswer(
        answer_quality=quality,
        key_points_covered=covered,
        next_action=action,
        follow_up_needed=follow_up,
        question_index=index,
        notes=notes,
    )


def _end(args: _Args) -> EndInterview:
    reason = args.enum("reason", END_REASONS)
    summary = args.text("summary", SUMMARY_MAX_CHARS)
    args.check()
    return EndInterview(reason=reason, summary=summary)


def parse_tool_call(name: str, arguments: str) -> ToolCall:
    """Turn a function call from response.function_call_arguments.done into a value.

    Optional fields given as null count as absent; over-long notes and
    summaries are cut rather than refused, since a retry costs a turn.
    """
    if name not in (EVALUATE_ANSWER, END_INTERVIEW):
        raise ToolArgumentError(
            f"unknown tool {name!r}; available: {EVALUATE_ANSWER}, {END_INTERVIEW}"
        )
    try:
        data = json.loads(arguments or "{}")
    except json.JSONDecodeError as e:
        raise ToolArgumentError(f"{name}: arguments are not valid JSON ({e.msg})") from None
    if not isinstance(data, dict):
        raise ToolArgumentError(f"{name}: arguments must be a JSON object")
    if name == EVALUATE_ANSWER:
        return _evaluate(_Args(name, data, _EVALUATE_FIELDS))
    return _end(_Args(name, data, _END_FIELDS))


def tool_error_output(message: str) -> str:
    """The function_call_output for a call that was refused, so the model can retry."""
    return json.dumps({"ok": False, "error": message})


def tool_ok_output(note: str | None = None) -> str:
    """The function_call_output for an accepted call, with an optional note for the model."""
    body: dict[str, Any] = {"ok": True}
    if note:
        body["note"] = note
    return json.dumps(body)
