"""Twilio's calls-per-second limit as spacing between call creations. Pure arithmetic.

Twilio queues creations above the account's CPS rather than refusing them, but a queued
call rings later than planned. Spacing every creation at least 1/CPS apart (kept in
MongoDB, so all workers share it) never puts more than CPS in any second; the small
margin absorbs the jitter between reserving a time and Twilio receiving the request.
"""

from __future__ import annotations

from typing import Final

MARGIN: Final = 0.05


def interval_s(cps: int) -> float:
    """Seconds between two creations for `cps` calls per second."""
    if cps < 1:
        raise ValueError("cps must be at least 1")
    return (1 + MARGIN) / cps


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
