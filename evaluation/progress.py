"""Where a live interview stands: which question is next and how much time is left.

The model's evaluate_candidate_answer calls drive the question pointer, and the
one-line note built here goes back to the model as the function output, so it
never has to count questions or watch the clock itself. Times are seconds on a
monotonic clock read by the caller.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from evaluation.templates import Template
from evaluation.tools import END_INTERVIEW, EvaluateAnswer

NOTE_QUESTION_CHARS: Final = 60
WRAP_UP_S: Final = 60
"""Seconds before the limit from which the model is told to wrap up: the live call
sends instructions.wrap_up_note() then, and progress notes end with ", wrap up"."""


def call_limit_s(template: Template, max_call_seconds: int | None = None) -> int:
    """The interview's time limit: the template's, capped by the service-wide one."""
    if max_call_seconds is None:
        return template.max_duration_s
    return min(template.max_duration_s, max_call_seconds)


@dataclass(frozen=True, slots=True)
class ProgressStatus:
    current_question: int | None
    """0-based index of the question to ask or pursue next; None once all are done."""
    questions_left: int
    seconds_left: float
    follow_ups_on_current: int
    time_up: bool
    finished: bool
    """All questions done or time up: the interview should end now."""


class InterviewProgress:
    """The question pointer of one call, plus every evaluation stored against its question."""

    __slots__ = ("_current", "_deadline_s", "_evaluations", "_follow_ups", "_holding", "template")

    def __init__(self, template: Template, started_at_s: float, max_call_seconds: int) -> None:
        self.template = template
        self._deadline_s = started_at_s + call_limit_s(template, max_call_seconds)
        self._current = 0
        self._follow_ups = [0] * len(template.questions)
        self._holding = False
        self._evaluations: list[tuple[int, EvaluateAnswer]] = []

    @property
    def evaluations(self) -> tuple[tuple[int, EvaluateAnswer], ...]:
        """(question index, evaluation) pairs in arrival order, ready for build_report."""
        return tuple(self._evaluations)

    def follow_ups(self, question_index: int) -> int:
        return self._follow_ups[question_index]

    def apply(self, evaluation: EvaluateAnswer) -> int:
        """Store an evaluation and move the pointer; returns the question index used.

        The model's question_index wins when it names a real question; otherwise
        the current one (the last, once all are done). follow_up holds the pointer
        and is counted each time; continue and move_to_next_topic move past the
        judged question. The pointer never moves backwards.
        """
        count = len(self.template.questions)
        given = evaluation.question_index
        index = given if given is not None and 0 <= given < count else min(self._current, count - 1)
        if evaluation.next_action == "follow_up":
            self._follow_ups[index] += 1
            self._current = max(self._current, index)
            self._holding = self._current == index
        else:
            self._current = max(self._current, index + 1)
            self._holding = False
        self._evaluations.append((index, evaluation))
        return index

    def status(self, now_s: float) -> ProgressStatus:
        count = len(self.template.questions)
        current = self._current if self._current < count else None
        seconds_left = max(0.0, self._deadline_s - now_s)
        time_up = seconds_left <= 0
        return ProgressStatus(
            current_question=current,
            questions_left=count - self._current,
            seconds_left=seconds_left,
            follow_ups_on_current=self._follow_ups[current] if current is not None else 0,
            time_up=time_up,
            finished=current is None or time_up,
        )

    def progress_note(self, now_s: float) -> str:
        """One short line telling the model what to do next."""
        s = self.status(now_s)
        if s.time_up:
            return f"Time is up: call {END_INTERVIEW} now."
        if s.current_question is None:
            return f"All questions done: call {END_INTERVIEW}."
        count = len(self.template.questions)
        i = s.current_question
        text = self.template.questions[i].text
        if len(text) > NOTE_QUESTION_CHARS:
            text = text[: NOTE_QUESTION_CHARS - 1].rstrip() + "…"
        if self._holding:
            head = f"Stay on question {i} ({i + 1} of {count}), follow-up {s.follow_ups_on_current}"
            if s.follow_ups_on_current > 1:
                head += "; move on after this answer"
        else:
            head = f"Next: question {i} ({i + 1} of {count}): {text}"
        tail = _time_left(s.seconds_left)
        if s.seconds_left < WRAP_UP_S:
            tail += ", wrap up"
        return f"{head}; {tail}."


def _time_left(seconds: float) -> str:
    if seconds < 60:
        return f"{math.ceil(seconds)} s left"
    return f"{int(seconds // 60)} min left"
