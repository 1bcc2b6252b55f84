"""When to call again, by how the last attempt ended. Pure.

Defaults follow what candidates tolerate: no answer or busy is tried after 30, 60 and 120
minutes; a failed call once after 10 minutes; a voicemail once, in the next day's window;
a call that dropped before the first answer once after 10 minutes; a canceled call, a
candidate who left mid-interview, and a completed interview never. The window (and
`max_attempts`) then decide whether that time can be used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

from persistence.api_records import RedialRecord

Outcome = Literal[
    "completed", "no-answer", "busy", "failed", "canceled", "voicemail", "dropped", "partial"
]
NOT_CONNECTED: Final = frozenset({"no-answer", "busy", "failed", "canceled"})
NEXT_DAY: Final = "next_day"


@dataclass(frozen=True, slots=True)
class RedialPolicy:
    no_answer_min: tuple[int, ...] = (30, 60, 120)
    """Shared by no-answer and busy (unless `busy_min` is given): the n-th such outcome
    waits the n-th delay."""
    busy_min: tuple[int, ...] | None = None
    """Busy's own delays, counted over busy outcomes only; None: no-answer's."""
    failed_min: tuple[int, ...] = (10,)
    dropped_min: tuple[int, ...] = (10,)
    voicemails: int = 1
    """Voicemails left before giving up; each retry is in the next day's window."""


DEFAULT_POLICY: Final = RedialPolicy()


def policy_of(own: RedialRecord | None, default: RedialPolicy = DEFAULT_POLICY) -> RedialPolicy:
    """The policy an interview is dialed by: its own (given through the API), or the default."""
    if own is None:
        return default
    return RedialPolicy(
        no_answer_min=tuple(own.no_answer_min),
        busy_min=tuple(own.busy_min) if own.busy_min is not None else None,
        failed_min=tuple(own.failed_min),
        dropped_min=tuple(own.dropped_min),
        voicemails=1 if own.voicemail == "next_day" else 0,
    )


_FAMILY: Final[dict[str, frozenset[str]]] = {
    "no-answer": frozenset({"no-answer", "busy"}),
    "busy": frozenset({"no-answer", "busy"}),
    "failed": frozenset({"failed"}),
    "dropped": frozenset({"dropped"}),
    "voicemail": frozenset({"voicemail"}),
}


def redial_after(
    outcome: str, history: Sequence[str | None], policy: RedialPolicy = DEFAULT_POLICY
) -> timedelta | str | None:
    """The wait before the next attempt, NEXT_DAY, or None for no redial. `history` holds
    every attempt's outcome, the one just ended included."""
    family = _FAMILY.get(outcome)
    if family is None:
        return None
    own_busy = policy.busy_min is not None
    if own_busy and outcome in ("busy", "no-answer"):
        family = frozenset({outcome})
    nth = sum(1 for o in history if o in family)
    if outcome == "voicemail":
        return NEXT_DAY if nth <= policy.voicemails else None
    delays = {
        "failed": policy.failed_min,
        "dropped": policy.dropped_min,
        "busy": policy.busy_min if policy.busy_min is not None else policy.no_answer_min,
    }.get(outcome, policy.no_answer_min)
    return timedelta(minutes=delays[nth - 1]) if 1 <= nth <= len(delays) else None


def earliest_redial(
    outcome: str,
    history: Sequence[str | None],
    ended_at: datetime,
    next_day: datetime,
    policy: RedialPolicy = DEFAULT_POLICY,
) -> datetime | None:
    """The earliest time the next attempt may be dialed (before the window is applied)."""
    wait = redial_after(outcome, history, policy)
    if wait is None:
        return None
    return next_day if wait == NEXT_DAY else ended_at + wait  # type: ignore[operator]
