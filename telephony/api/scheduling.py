"""An interview's plan: which zone its local times are in, and when each attempt may dial.

Pure (the time is an argument); the routes store what this returns, and preview shows it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from persistence.api_records import TimezoneSource
from telephony.api.phones import zones_of
from telephony.api.planning import Window, local_text, plan_attempts

DEFAULT_LIFETIME = timedelta(days=14)


class PlanError(ValueError):
    """The request cannot be planned; `path` names the field to change."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


@dataclass(frozen=True, slots=True)
class Plan:
    timezone: str
    """The zone local times are shown in."""
    source: TimezoneSource
    zones: list[str]
    """Every zone each attempt is allowed in."""
    expires_at: datetime
    planned: list[datetime]

    def local(self, at: datetime) -> str:
        return local_text(at, ZoneInfo(self.timezone))


def make_plan(
    *,
    phone: str,
    timezone: str | None,
    window: Window,
    not_before: datetime | None,
    expires_at: datetime | None,
    attempts: int,
    now: datetime,
    gap: timedelta,
) -> Plan:
    if timezone is not None:
        zones, source = [timezone], "given"
    else:
        zones, source = zones_of(phone), "phone_number"
        if not zones:
            raise PlanError(
                "candidate.timezone", "is required: the number's time zone is not known"
            )
    earliest = max(now, not_before) if not_before is not None else now
    until = expires_at if expires_at is not None else earliest + DEFAULT_LIFETIME
    if until <= now:
        raise PlanError("expires_at", "must be in the future")
    if until <= earliest:
        raise PlanError("expires_at", "must be after not_before")
    planned = plan_attempts(earliest, window, [ZoneInfo(z) for z in zones], until, attempts, gap)
    if not planned:
        where = "the candidate's time zone" if len(zones) == 1 else "all of " + ", ".join(zones)
        raise PlanError(
            "window", f"is never open in {where} before expires_at; widen it or give a timezone"
        )
    return Plan(zones[0], source, zones, until, planned)  # type: ignore[arg-type]
