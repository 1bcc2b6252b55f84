"""Interview templates: the role, the questions and the rubric a call is judged by.

Templates arrive as JSON from recruiters and live as documents in MongoDB, so
they are validated once, when saved, and every problem is reported together,
one line per field path, so a recruiter can fix them all in one go.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Final, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
)

from evaluation.problems import explained, problem_lines

AnswerQuality = Literal["excellent", "good", "needs_clarification", "off_topic"]
ANSWER_QUALITIES: Final[tuple[AnswerQuality, ...]] = get_args(AnswerQuality)

Voice = Literal[
    "alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar"
]
VOICES: Final[tuple[Voice, ...]] = get_args(Voice)

MIN_DURATION_S: Final = 60
MAX_DURATION_S: Final = 7200
MAX_QUESTIONS: Final = 30
MAX_KEY_POINTS: Final = 12
MAX_TEXT_CHARS: Final = 1000
MAX_NAME_CHARS: Final = 200
MAX_KEY_POINT_CHARS: Final = 200

Text = Annotated[StrictStr, Field(min_length=1, max_length=MAX_TEXT_CHARS)]
Name = Annotated[StrictStr, Field(min_length=1, max_length=MAX_NAME_CHARS)]
KeyPoint = Annotated[StrictStr, Field(min_length=1, max_length=MAX_KEY_POINT_CHARS)]
TemplateId = Annotated[
    StrictStr,
    Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"),
    explained("must be 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit"),
]
LanguageTag = Annotated[
    StrictStr,
    Field(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$"),
    explained("must be a language tag such as 'en' or 'en-US'"),
]
Duration = Annotated[
    StrictInt,
    Field(ge=MIN_DURATION_S, le=MAX_DURATION_S),
    explained(f"must be a whole number from {MIN_DURATION_S} to {MAX_DURATION_S}"),
]


class TemplateError(ValueError):
    """Every problem found in a template, one line each, naming the field path."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class _Strict(BaseModel):
    """Recruiters' JSON: unknown fields are typos, and stray whitespace is never meant."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Question(_Strict):
    text: Text
    key_points: Annotated[tuple[KeyPoint, ...], Field(min_length=1, max_length=MAX_KEY_POINTS)]
    follow_up: Text | None = None


class Rubric(_Strict):
    """What each answer quality means for this role; the model judges against it."""

    excellent: Text
    good: Text
    needs_clarification: Text
    off_topic: Text

    def describe(self, quality: AnswerQuality) -> str:
        return str(getattr(self, quality))


class Template(_Strict):
    template_id: TemplateId
    role: Name
    company: Name
    language: LanguageTag
    voice: Annotated[Voice, explained(f"must be one of: {', '.join(VOICES)}")]
    questions: Annotated[tuple[Question, ...], Field(min_length=1, max_length=MAX_QUESTIONS)]
    rubric: Rubric
    max_duration_s: Duration
    greeting: Text
    closing: Text
    require_code: StrictBool = False
    """Candidates calling in must give their interview's 6-digit code first, which links
    the call to that interview."""
    voicemail: Text | None = None
    """Left on a candidate's voicemail by the outbound dialer; None: built from the role and
    company (see `evaluation.outbound`)."""


def parse_template(data: Mapping[str, Any]) -> Template:
    """Validate untrusted template data; raises TemplateError listing every problem."""
    if not isinstance(data, Mapping):
        raise TemplateError(["template: must be an object"])
    try:
        return Template.model_validate(data)
    except ValidationError as e:
        raise TemplateError(problem_lines(e)) from None


def template_to_dict(template: Template) -> dict[str, Any]:
    """Plain JSON/BSON data that parse_template turns back into an equal template."""
    return template.model_dump(mode="json", exclude_none=True)


DEFAULT_TEMPLATE: Final = Template(
    template_id="default",
    role="Software Engineer",
    company="Example Labs",
    language="en",
    voice="marin",
    questions=(
        Question(
            text="Tell me about a recent project you are proud of and your part in it.",
            key_points=("problem solved", "own contribution", "technical decisions", "outcome"),
            follow_up="What would you do differently if you started it again?",
        ),
        Question(
            text="How would you find the cause of an API that has suddenly become slow?",
            key_points=(
                "measure first",
                "logs and metrics",
                "isolate the bottleneck",
                "verify the fix",
            ),
            follow_up="What if it only happens in production?",
        ),
        Question(
            text="How do you make sure your code keeps working as it changes?",
            key_points=("automated tests", "code review", "continuous integration"),
            follow_up="What do you test, and what do you leave untested?",
        ),
        Question(
            text="Tell me about a disagreement with a teammate and how it was resolved.",
            key_points=("listened to the other view", "used evidence", "reached a decision"),
        ),
    ),
    rubric=Rubric(
        excellent="Specific, first-hand and correct; explains trade-offs and results.",
        good="Relevant and correct but general, or missing one key point.",
        needs_clarification="Vague, partial or unclear; a follow-up could show more.",
        off_topic="Does not address the question.",
    ),
    max_duration_s=900,
    greeting=(
        "Hello, I'm an automated interviewer calling from Example Labs about the Software "
        "Engineer role. This screen takes about fifteen minutes. Is now a good time?"
    ),
    closing=(
        "Thank you for your time today. The hiring team will review the interview and "
        "get back to you. Goodbye!"
    ),
)
