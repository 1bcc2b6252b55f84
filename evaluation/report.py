"""The final report of one interview, and its overall score.

Score (also in evaluation/SCORING.md):

    quality points      excellent 1.0, good 0.75, needs_clarification 0.4, off_topic 0.0
    coverage(q)         expected key points of q covered by any of its evaluations
                        / expected key points of q
    question score(q)   points(quality of q's LAST evaluation) x (0.5 + 0.5 x coverage(q))
                        0 if q was never evaluated
    overall             100 x mean of question score over ALL template questions,
                        rounded half-up to 1 decimal

The last evaluation wins on quality because a follow-up exists to let the
candidate improve an answer; coverage accumulates over every evaluation of the
question for the same reason. Coverage can at most halve a question's score, so
a right answer phrased differently from the key points is not zeroed. Questions
never reached count as 0, so ending early costs score.

A key point counts as covered when a reported point, lower-cased with
punctuation reduced to spaces, equals it or contains it as whole words.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from fractions import Fraction
from typing import Any, Final, Literal, get_args

from pydantic import BaseModel, ConfigDict

from evaluation.templates import AnswerQuality, Template
from evaluation.tools import EndInterview, EndReason, EvaluateAnswer

Completion = Literal["completed", "candidate_hung_up", "timed_out", "failed"]
COMPLETIONS: Final[tuple[Completion, ...]] = get_args(Completion)

QUALITY_POINTS: Final[dict[AnswerQuality, Fraction]] = {
    "excellent": Fraction(1),
    "good": Fraction(3, 4),
    "needs_clarification": Fraction(2, 5),
    "off_topic": Fraction(0),
}

_NON_WORD = re.compile(r"[^\w]+")


def _words(text: str) -> tuple[str, ...]:
    return tuple(_NON_WORD.sub(" ", text.casefold()).split())


def _contains(haystack: tuple[str, ...], needle: tuple[str, ...]) -> bool:
    n = len(needle)
    return n > 0 and any(haystack[i : i + n] == needle for i in range(len(haystack) - n + 1))


class _Stored(BaseModel):
    """Stored with the call and loaded back as a typed value by model_validate."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class QuestionReport(_Stored):
    index: int
    text: str
    evaluations: tuple[EvaluateAnswer, ...]
    final_quality: AnswerQuality | None
    key_points_covered: tuple[str, ...]
    """Expected key points matched, in template order."""
    key_points_missing: tuple[str, ...]
    other_points: tuple[str, ...]
    """Points the model reported that match no expected key point."""
    coverage: float
    follow_up_needed: bool
    score: float
    """0..1, as defined in the module docstring."""


class Report(_Stored):
    template_id: str
    score: float
    """0..100, one decimal."""
    questions: tuple[QuestionReport, ...]
    questions_answered: int
    completion: Completion
    end_reason: EndReason | None
    summary: str | None
    interruptions: int
    reconnects: int
    duration_s: float


def _question_report(
    index: int, text: str, expected: tuple[str, ...], evaluations: tuple[EvaluateAnswer, ...]
) -> tuple[QuestionReport, Fraction]:
    reported = [p for e in evaluations for p in e.key_points_covered]
    reported_words = [_words(p) for p in reported]
    covered: list[str] = []
    missing: list[str] = []
    used: set[int] = set()
    for point in expected:
        want = _words(point)
        hits = [i for i, got in enumerate(reported_words) if got == want or _contains(got, want)]
        (covered if hits else missing).append(point)
        used.update(hits)
    others = tuple(dict.fromkeys(p for i, p in enumerate(reported) if i not in used))
    coverage = Fraction(len(covered), len(expected)) if expected else Fraction(1)
    quality = evaluations[-1].answer_quality if evaluations else None
    score = (
        QUALITY_POINTS[quality] * (Fraction(1, 2) + coverage / 2)
        if quality is not None
        else Fraction(0)
    )
    report = QuestionReport(
        index=index,
        text=text,
        evaluations=evaluations,
        final_quality=quality,
        key_points_covered=tuple(covered),
        key_points_missing=tuple(missing),
        other_points=others,
        coverage=round(float(coverage), 4),
        follow_up_needed=any(
            e.follow_up_needed or e.next_action == "follow_up" for e in evaluations
        ),
        score=round(float(score), 4),
    )
    return report, score


def build_report(
    template: Template,
    evaluations: Sequence[tuple[int, EvaluateAnswer]],
    *,
    completion: Completion,
    interruptions: int,
    reconnects: int,
    duration_s: float,
    end: EndInterview | None = None,
) -> Report:
    """Judge a finished call; evaluations are (question index, evaluation) in arrival order."""
    if completion not in COMPLETIONS:
        raise ValueError(f"completion must be one of {', '.join(COMPLETIONS)}, not {completion!r}")
    count = len(template.questions)
    by_question: list[list[EvaluateAnswer]] = [[] for _ in range(count)]
    for index, evaluation in evaluations:
        if not 0 <= index < count:
            raise ValueError(f"evaluation for question {index}, but the template has {count}")
        by_question[index].append(evaluation)
    reports, scores = [], []
    for i, q in enumerate(template.questions):
        report, score = _question_report(i, q.text, q.key_points, tuple(by_question[i]))
        reports.append(report)
        scores.append(score)
    mean = sum(scores, Fraction(0)) / count
    tenths = math.floor(mean * 1000 + Fraction(1, 2))
    return Report(
        template_id=template.template_id,
        score=tenths / 10,
        questions=tuple(reports),
        questions_answered=sum(1 for r in reports if r.evaluations),
        completion=completion,
        end_reason=end.reason if end else None,
        summary=end.summary if end else None,
        interruptions=interruptions,
        reconnects=reconnects,
        duration_s=duration_s,
    )
