"""Interview templates: the role, the questions and the rubric a call is judged by.

Templates arrive as JSON from recruiters and live as documents in MongoDB, so
they are validated once, when saved, and every problem is reported together,
one line per field path, so a recruiter can fix them all in one go.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

AnswerQuality = Literal["excellent", "good", "needs_clarification", "off_topic"]
ANSWER_QUALITIES: Final[tuple[AnswerQuality, ...]] = get_args(AnswerQuality)

VOICES: Final = (
    "alloy",
    "ash",
    "ballad",
    "coral",
    "echo",
    "sage",
    "shimmer",
    "verse",
    "marin",
    "cedar",
)

MIN_DURATION_S: Final = 60
MAX_DURATION_S: Final = 7200
MAX_QUESTIONS: Final = 30
MAX_KEY_POINTS: Final = 12
MAX_TEXT_CHARS: Final = 1000
MAX_KEY_POINT_CHARS: Final = 200

_TEMPLATE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*")
_TOP_FIELDS = (
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
)
_QUESTION_FIELDS = ("text", "key_points", "follow_up")


class TemplateError(ValueError):
    """Every problem found in a template, one line each, naming the field path."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True, slots=True)
class Question:
    text: str
    key_points: tuple[str, ...]
    follow_up: str | None = None


@dataclass(frozen=True, slots=True)
class Rubric:
    """What each answer quality means for this role; the model judges against it."""

    excellent: str
    good: str
    needs_clarification: str
    off_topic: str

    def describe(self, quality: AnswerQuality) -> str:
        return str(getattr(self, quality))


@dataclass(frozen=True, slots=True)
class Template:
    template_id: str
    role: str
    company: str
    language: str
    voice: str
    questions: tuple[Question, ...]
    rubric: Rubric
    max_duration_s: int
    greeting: str
    closing: str


class _Problems:
    """Collects problems while walking untrusted data."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.lines.append(f"{path}: {message}")

    def unknown(self, path: str, data: Mapping[str, Any], known: Sequence[str]) -> None:
        for key in data:
            if key not in known:
                where = f"{path}.{key}" if path else str(key)
                self.add(where, f"unknown field (expected one of: {', '.join(known)})")

    def text(self, path: str, value: Any, *, limit: int = MAX_TEXT_CHARS) -> str:
        if not isinstance(value, str) or not value.strip():
            self.add(path, "must be a non-empty string")
            return ""
        if len(value) > limit:
            self.add(path, f"must be at most {limit} characters")
        return value.strip()


def _question(p: _Problems, path: str, data: Any) -> Question:
    if not isinstance(data, Mapping):
        p.add(path, "must be an object with text, key_points and optional follow_up")
        return Question("", ())
    p.unknown(path, data, _QUESTION_FIELDS)
    text = p.text(f"{path}.text", data.get("text"))
    points = data.get("key_points")
    key_points: tuple[str, ...] = ()
    if (
        not isinstance(points, list)
        or not points
        or not all(isinstance(k, str) and k.strip() for k in points)
    ):
        p.add(f"{path}.key_points", "must be a non-empty list of strings")
    elif len(points) > MAX_KEY_POINTS:
        p.add(f"{path}.key_points", f"must have at most {MAX_KEY_POINTS} entries")
    else:
        key_points = tuple(
            p.text(f"{path}.key_points[{i}]", k, limit=MAX_KEY_POINT_CHARS)
            for i, k in enumerate(points)
        )
    follow_up = data.get("follow_up")
    if follow_up is not None:
        follow_up = p.text(f"{path}.follow_up", follow_up)
    return Question(text, key_points, follow_up or None)


def _rubric(p: _Problems, data: Any) -> Rubric:
    if not isinstance(data, Mapping):
        p.add("rubric", f"must be an object with {', '.join(ANSWER_QUALITIES)}")
        return Rubric("", "", "", "")
    p.unknown("rubric", data, ANSWER_QUALITIES)
    return Rubric(**{q: p.text(f"rubric.{q}", data.get(q)) for q in ANSWER_QUALITIES})


def parse_template(data: Mapping[str, Any]) -> Template:
    """Validate untrusted template data; raises TemplateError listing every problem."""
    p = _Problems()
    if not isinstance(data, Mapping):
        raise TemplateError(["template: must be an object"])
    p.unknown("", data, _TOP_FIELDS)

    template_id = data.get("template_id")
    if not isinstance(template_id, str) or not _TEMPLATE_ID.fullmatch(template_id):
        p.add(
            "template_id",
            "must be 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit",
        )
        template_id = ""
    role = p.text("role", data.get("role"), limit=200)
    company = p.text("company", data.get("company"), limit=200)
    language = data.get("language")
    if not isinstance(language, str) or not _LANGUAGE.fullmatch(language):
        p.add("language", "must be a language tag such as 'en' or 'en-US'")
        language = ""
    voice = data.get("voice")
    if voice not in VOICES:
        p.add("voice", f"must be one of: {', '.join(VOICES)}")
        voice = ""

    raw_questions = data.get("questions")
    questions: tuple[Question, ...] = ()
    if not isinstance(raw_questions, list) or not raw_questions:
        p.add("questions", "must be a non-empty list of questions")
    elif len(raw_questions) > MAX_QUESTIONS:
        p.add("questions", f"must have at most {MAX_QUESTIONS} entries")
    else:
        questions = tuple(_question(p, f"questions[{i}]", q) for i, q in enumerate(raw_questions))

    rubric = _rubric(p, data.get("rubric"))
    max_duration = data.get("max_duration_s")
    if (
        not isinstance(max_duration, int)
        or isinstance(max_duration, bool)
        or not MIN_DURATION_S <= max_duration <= MAX_DURATION_S
    ):
        p.add("max_duration_s", f"must be a whole number from {MIN_DURATION_S} to {MAX_DURATION_S}")
        max_duration = MIN_DURATION_S
    greeting = p.text("greeting", data.get("greeting"))
    closing = p.text("closing", data.get("closing"))

    if p.lines:
        raise TemplateError(p.lines)
    return Template(
        template_id=str(template_id),
        role=role,
        company=company,
        language=str(language),
        voice=str(voice),
        questions=questions,
        rubric=rubric,
        max_duration_s=int(max_duration),
        greeting=greeting,
        closing=closing,
    )


def template_to_dict(template: Template) -> dict[str, Any]:
    """Plain JSON/BSON data that parse_template turns back into an equal template."""
    questions: list[dict[str, Any]] = []
    for q in template.questions:
        item: dict[str, Any] = {"text": q.text, "key_points": list(q.key_points)}
        if q.follow_up is not None:
            item["follow_up"] = q.follow_up
        questions.append(item)
    return {
        "template_id": template.template_id,
        "role": template.role,
        "company": template.company,
        "language": template.language,
        "voice": template.voice,
        "questions": questions,
        "rubric": {q: template.rubric.describe(q) for q in ANSWER_QUALITIES},
        "max_duration_s": template.max_duration_s,
        "greeting": template.greeting,
        "closing": template.closing,
    }


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
