"""Whether a due attempt may be dialed now, in the candidate's local time, and if not when.

Pure (the time is an argument): the interview's window, narrowed by CALLING_HOURS (itself
within 08:00-21:00), in every zone the number may be in. DST-safe through `zoneinfo`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from telephony.api.planning import Window, next_slot


@dataclass(frozen=True, slots=True)
class Hours:
    """The local hours the dialer may call in: CALLING_HOURS."""

    start: time = time(8, 0)
    end: time = time(21, 0)

    @classmethod
    def parse(cls, hours: tuple[str, str]) -> Hours:
        return cls(time.fromisoformat(hours[0]), time.fromisoformat(hours[1]))

    def narrow(self, window: Window) -> Window:
        return Window(max(window.start, self.start), min(window.end, self.end), window.days)


@dataclass(frozen=True, slots=True)
class DialNow:
    pass


@dataclass(frozen=True, slots=True)
class MoveTo:
    at: datetime


@dataclass(frozen=True, slots=True)
class Expired:
    pass


Decision = DialNow | MoveTo | Expired


def decide(
    now: datetime, window: Window, zones: list[str], expires_at: datetime, hours: Hours
) -> Decision:
    """Dial now inside the window; otherwise move to the next window start, or expire."""
    slot = next_at(now, window, zones, expires_at, hours)
    if slot is None:
        return Expired()
    return DialNow() if slot <= now else MoveTo(slot)


def next_at(
    earliest: datetime, window: Window, zones: list[str], expires_at: datetime, hours: Hours
) -> datetime | None:
    """The first allowed instant at or after `earliest`, or None before expiry."""
    return next_slot(
        earliest.astimezone(UTC), hours.narrow(window), [ZoneInfo(z) for z in zones], expires_at
    )


def next_day(after: datetime, zone: str) -> datetime:
    """Midnight starting the candidate's next local day (a window start follows it)."""
    tz = ZoneInfo(zone)
    local = after.astimezone(tz).date() + timedelta(days=1)
    return datetime.combine(local, time(0, 0), tzinfo=tz).astimezone(UTC)
