"""When a candidate may be called: a window in their local time, on given weekdays, never
outside 08:00-21:00 there (47 CFR 64.1200(c)(1)), and in every zone the number may be in
when the zone was not given.

Pure: times come in as arguments, so daylight-saving changes are tested with fixed dates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
EARLIEST = time(8, 0)
LATEST = time(21, 0)
# How far ahead a slot is looked for; an interview expiring later is still planned.
HORIZON_DAYS = 400


@dataclass(frozen=True, slots=True)
class Window:
    """Local calling hours: from `start` (inclusive) to `end` (exclusive) on `days`
    (0 = Monday)."""

    start: time
    end: time
    days: frozenset[int]

    @classmethod
    def parse(cls, start: str, end: str, days: list[str]) -> Window:
        return cls(time.fromisoformat(start), time.fromisoformat(end), frozenset(map(day, days)))

    def admits(self, local: datetime) -> bool:
        moment = local.time()
        return local.weekday() in self.days and max(self.start, EARLIEST) <= moment < min(
            self.end, LATEST
        )


def day(name: str) -> int:
    return DAYS.index(name)


def allowed(at: datetime, window: Window, zones: list[ZoneInfo]) -> bool:
    """Whether `at` (aware) falls in the window in every one of the zones."""
    return all(window.admits(at.astimezone(zone)) for zone in zones)


def _window_starts(earliest: datetime, window: Window, zone: ZoneInfo, days: int) -> list[datetime]:
    first: date = earliest.astimezone(zone).date()
    opening = max(window.start, EARLIEST)
    starts = []
    for offset in range(days + 1):
        local = datetime.combine(first + timedelta(days=offset), opening, tzinfo=zone)
        # A wall time skipped by a clock change does not exist: zoneinfo moves it on.
        starts.append(local.astimezone(UTC))
    return starts


def next_slot(
    earliest: datetime, window: Window, zones: list[ZoneInfo], until: datetime
) -> datetime | None:
    """The first instant at or after `earliest` and before `until` that every zone allows.

    An intersection of windows opens either at `earliest` or where one zone's window opens,
    so only those instants need checking."""
    if earliest >= until:
        return None
    span = min(HORIZON_DAYS, (until - earliest).days + 1)
    candidates = {earliest.astimezone(UTC)}
    for zone in zones:
        candidates.update(t for t in _window_starts(earliest, window, zone, span) if t > earliest)
    for candidate in sorted(candidates):
        if candidate >= until:
            return None
        if allowed(candidate, window, zones):
            return candidate
    return None


def plan_attempts(
    earliest: datetime,
    window: Window,
    zones: list[ZoneInfo],
    until: datetime,
    count: int,
    gap: timedelta,
) -> list[datetime]:
    """Up to `count` dial times, each at least `gap` after the one before, all allowed."""
    planned: list[datetime] = []
    at = earliest
    while len(planned) < count:
        slot = next_slot(at, window, zones, until)
        if slot is None:
            break
        planned.append(slot)
        at = slot + gap
    return planned


def local_text(at: datetime, zone: ZoneInfo) -> str:
    """The instant as the candidate's clock shows it, with its offset."""
    return at.astimezone(zone).isoformat(timespec="minutes")
