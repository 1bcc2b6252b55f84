"""Twilio's calls-per-second limit as spacing between call creations. Pure arithmetic.

Twilio queues creations above the account's CPS rather than refusing them, but a queued
call rings later than planned. Every creation reserves a moment (kept in MongoDB, so all
workers share it) at least (1 + MARGIN)/CPS after the one before, and leaves within
half of MARGIN/CPS of it or not at all (a worker that wakes later takes the next moment):
so two creations always leave more than 1/CPS apart, and no second ever holds more than
CPS, with half the margin left for the trip to Twilio.
"""

from __future__ import annotations

from typing import Final

MARGIN: Final = 0.1


def interval_s(cps: int) -> float:
    """Seconds between two creations for `cps` calls per second."""
    if cps < 1:
        raise ValueError("cps must be at least 1")
    return (1 + MARGIN) / cps


def late_s(cps: int) -> float:
    """How long after its reserved moment a creation may still leave."""
    return MARGIN / 2 / cps


def most_in_any_second(times: list[float]) -> int:
    """The largest number of `times` within any half-open second [t, t + 1)."""
    ordered = sorted(times)
    best, first = 0, 0
    for last, t in enumerate(ordered):
        while ordered[first] <= t - 1:
            first += 1
        best = max(best, last - first + 1)
    return best


def most_at_once(spans: list[tuple[float, float]]) -> int:
    """The largest number of (start, end) spans open at one instant; an end frees its
    place before a start at the same instant takes it."""
    edges = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    best = now = 0
    for _, step in edges:
        now += step
        best = max(best, now)
    return best
