"""The functions the model may call: their schemas and the parsing of its arguments.

Each function is one pydantic model, and the schema the model is given is
generated from it, so what the model is told and what is accepted cannot
drift. Arguments arrive as a JSON string written by the model; every problem
is reported in one message because, sent back as the function output, it lets
the model correct itself in one retry.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, ClassVar, Final, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
)

from evaluation.problems import explained, problem_lines
from evaluation.templates import ANSWER_QUALITIES, AnswerQuality

NextAction = Literal["continue", "follow_up", "move_to_next_topic"]
NEXT_ACTIONS: Final[tuple[NextAction, ...]] = get_args(NextAction)
EndReason = Literal["completed", "candidate_requested", "time_limit", "inappropriate", "other"]
END_REASONS: Final[tuple[EndReason, ...]] = get_args(EndReason)

EVALUATE_ANSWER: Final = "evaluate_candidate_answer"
END_INTERVIEW: Final = "end_interview"
RESCHEDULE_INTERVIEW: Final = "reschedule_interview"
OPT_OUT: Final = "opt_out"
CONFIRM_IDENTITY: Final = "confirm_identity"

NOTES_MAX_CHARS: Final = 500
SUMMARY_MAX_CHARS: Final = 1000
KEY_POINTS_MAX: Final = 20


class ToolArgumentError(ValueError):
    """The model's function call cannot be used; the message says why, for the model."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


def _cut(limit: int) -> AfterValidator:
    """Over-long text is cut, not refused: a retry would cost the candidate a turn."""

    def cut(text: str | None) -> str | None:
        return text.strip()[:limit] or None if text is not None else None

    return AfterValidator(cut)


def _kept_points(points: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(p for p in (p.strip() for p in points) if p)[:KEY_POINTS_MAX]


class _Arguments(BaseModel):
    """One function's arguments; unknown fields are refused so a misspelling is corrected."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tool_name: ClassVar[str]
    tool_description: ClassVar[str]

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class EvaluateAnswer(_Arguments):
    tool_name: ClassVar[str] = EVALUATE_ANSWER
    tool_description: ClassVar[str] = (
        "Record your judgement of the candidate's latest answer. Call it after every "
        "answer, before you reply. Never tell the candidate the result."
    )

    question_index: Annotated[
        StrictInt | None,
        Field(ge=0, description="0-based index of the question the answer is for."),
        explained("must be a whole number >= 0"),
    ] = None
    answer_quality: Annotated[
        AnswerQuality,
        explained(f"must be one of: {', '.join(ANSWER_QUALITIES)}", show_input=True),
    ]
    key_points_covered: Annotated[
        tuple[StrictStr, ...],
        Field(description="Key points of this question the answer covered, as worded."),
        AfterValidator(_kept_points),
    ]
    next_action: Annotated[
        NextAction,
        Field(description="follow_up to stay on this question; otherwise move on."),
        explained(f"must be one of: {', '.join(NEXT_ACTIONS)}", show_input=True),
    ]
    follow_up_needed: StrictBool
    notes: Annotated[
        StrictStr | None,
        Field(description="One short sentence, optional."),
        _cut(NOTES_MAX_CHARS),
    ] = None


class EndInterview(_Arguments):
    tool_name: ClassVar[str] = END_INTERVIEW
    tool_description: ClassVar[str] = (
        "End the interview: after the last question, when the candidate asks to stop, "
        "or when told time is up. Then say the closing line."
    )

    reason: Annotated[
        EndReason, explained(f"must be one of: {', '.join(END_REASONS)}", show_input=True)
    ]
    summary: Annotated[
        StrictStr | None,
        Field(description="Two sentences at most, optional."),
        _cut(SUMMARY_MAX_CHARS),
    ] = None


class RescheduleInterview(_Arguments):
    """Outbound calls only: the candidate names a better time."""

    tool_name: ClassVar[str] = RESCHEDULE_INTERVIEW
    tool_description: ClassVar[str] = (
        "The candidate asks to be called at another time: give that time in their local "
        "time. The result says the time booked, which you confirm aloud."
    )

    local_time: Annotated[
        StrictStr,
        Field(
            pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$",
            description="The candidate's local date and time, YYYY-MM-DDTHH:MM.",
        ),
        explained("must be a local date and time such as 2026-06-11T15:30"),
    ]


class OptOut(_Arguments):
    """Outbound calls only: the candidate asks never to be called again."""

    tool_name: ClassVar[str] = OPT_OUT
    tool_description: ClassVar[str] = (
        "The candidate asks not to be called again. Their number goes on the do-not-call "
        "list; then confirm it and say goodbye."
    )


class ConfirmIdentity(_Arguments):
    """Outbound calls only: the person is the candidate, and now suits them."""

    tool_name: ClassVar[str] = CONFIRM_IDENTITY
    tool_description: ClassVar[str] = (
        "The person has said they are the candidate and that now is a good time. Call it "
        "once, before the first interview question; then start the interview."
    )


ToolCall = EvaluateAnswer | EndInterview | RescheduleInterview | OptOut | ConfirmIdentity
CandidateRequest = RescheduleInterview | OptOut | ConfirmIdentity
_BY_NAME: Final[dict[str, type[ToolCall]]] = {
    EVALUATE_ANSWER: EvaluateAnswer,
    END_INTERVIEW: EndInterview,
    RESCHEDULE_INTERVIEW: RescheduleInterview,
    OPT_OUT: OptOut,
    CONFIRM_IDENTITY: ConfirmIdentity,
}


# The order a person writes a schema in: the model reads it as text.
_KEY_ORDER: Final = {
    k: i
    for i, k in enumerate(
        ("type", "enum", "items", "minimum", "description", "properties", "required")
    )
}


def _plain(schema: Any) -> Any:
    """A JSON schema without titles, defaults or nullable unions, as the model is shown.

    Optional arguments are simply left out by the model, and null is accepted
    as absent, so "string or null" would only add noise to every response's input.
    """
    if isinstance(schema, list):
        return [_plain(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    node = dict(schema)
    options = [s for s in node.pop("anyOf", []) if s != {"type": "null"}]
    if len(options) > 1:
        node["anyOf"] = options
    elif options:
        node = {**options[0], **node}
    out: dict[str, Any] = {}
    for key in sorted(node, key=lambda k: _KEY_ORDER.get(k, len(_KEY_ORDER))):
        if key == "properties":
            out[key] = {name: _plain(prop) for name, prop in node[key].items()}
        elif key not in ("title", "default"):
            out[key] = _plain(node[key])
    return out


def _function(model: type[_Arguments]) -> dict[str, Any]:
    parameters = _plain(model.model_json_schema())
    parameters.pop("description", None)
    if "$defs" in parameters:
        raise TypeError(f"{model.__name__}: tool schemas must be inline, without $defs")
    return {
        "type": "function",
        "name": model.tool_name,
        "description": model.tool_description,
        "parameters": parameters,
    }


TOOLS: Final[list[dict[str, Any]]] = [_function(EvaluateAnswer), _function(EndInterview)]
# Given to the model on outbound calls only, besides TOOLS.
OUTBOUND_TOOLS: Final[list[dict[str, Any]]] = [
    _function(ConfirmIdentity),
    _function(RescheduleInterview),
    _function(OptOut),
]


def parse_tool_call(name: str, arguments: str) -> ToolCall:
    """Turn a function call from response.function_call_arguments.done into a value.

    Optional fields given as null count as absent; over-long notes and
    summaries are cut rather than refused, since a retry costs a turn.
    """
    model = _BY_NAME.get(name)
    if model is None:
        raise ToolArgumentError(f"unknown tool {name!r}; available: {', '.join(_BY_NAME)}")
    try:
        data = json.loads(arguments or "{}")
    except json.JSONDecodeError as e:
        raise ToolArgumentError(f"{name}: arguments are not valid JSON ({e.msg})") from None
    if not isinstance(data, dict):
        raise ToolArgumentError(f"{name}: arguments must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise ToolArgumentError(f"{name}: " + "; ".join(problem_lines(e))) from None


def tool_error_output(message: str) -> str:
    """The function_call_output for a call that was refused, so the model can retry."""
    return json.dumps({"ok": False, "error": message})


def tool_ok_output(note: str | None = None) -> str:
    """The function_call_output for an accepted call, with an optional note for the model."""
    body: dict[str, Any] = {"ok": True}
    if note:
        body["note"] = note
    return json.dumps(body)
