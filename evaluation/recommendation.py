"""What a recruiter is told to do next with a candidate, from the call's score.

A screening aid for the human who decides (see SCORING.md), never a decision itself; an
interview that did not finish is always left to a person.
"""

from __future__ import annotations

from typing import Final, Literal

from evaluation.report import Completion

Recommendation = Literal["advance", "review", "decline"]
ADVANCE_FROM: Final = 70.0
DECLINE_BELOW: Final = 40.0


def recommend(score: float, completion: Completion) -> Recommendation:
    if completion != "completed":
        return "review"
    if score >= ADVANCE_FROM:
        return "advance"
    if score < DECLINE_BELOW:
        return "decline"
    return "review"
