"""The recruiter API's pure parts, in process with fixed times: calling windows across
daylight-saving changes, zones from numbers, cursors, webhook signatures and backoff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from evaluation.recommendation import recommend
from telephony.api import cursors
from telephony.api.phones import PhoneError, to_e164, zones_of
from telephony.api.planning import Window, allowed, next_slot, plan_attempts
from telephony.api.scheduling import Plan, PlanError, make_plan
from telephony.api.signing import next_attempt, signature, verify

NY = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
LA = ZoneInfo("America/Los_Angeles")
WEEKDAYS = Window.parse("09:00", "17:00", ["mon", "tue", "wed", "thu", "fri"])
EVERY_DAY = Window.parse("09:00", "17:00", ["mon", "tue", "wed", "thu", "fri", "sat", "sun"])
FAR = datetime(2027, 12, 31, tzinfo=UTC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# -- windows and daylight saving ------------------------------------------------------


def test_new_york_spring_forward_moves_the_utc_time_an_hour_earlier() -> None:
    # Friday 2026-03-06 after hours; clocks go forward on Sunday 2026-03-08.
    before = next_slot(utc(2026, 3, 6, 23, 0), WEEKDAYS, [NY], FAR)
    assert before == utc(2026, 3, 9, 13, 0)  # Monday 09:00 EDT (UTC-4)
    assert before.astimezone(NY).hour == 9
    week_earlier = next_slot(utc(2026, 2, 27, 23, 0), WEEKDAYS, [NY], FAR)
    assert week_earlier == utc(2026, 3, 2, 14, 0)  # Monday 09:00 EST (UTC-5)


def test_new_york_fall_back_moves_the_utc_time_an_hour_later() -> None:
    # Clocks go back on Sunday 2026-11-01 at 02:00.
    slot = next_slot(utc(2026, 10, 31, 12, 0), EVERY_DAY, [NY], FAR)
    assert slot == utc(2026, 10, 31, 13, 0)  # Saturday 09:00 EDT: now is 08:00 local
    sunday = next_slot(utc(2026, 10, 31, 21, 30), EVERY_DAY, [NY], FAR)
    assert sunday == utc(2026, 11, 1, 14, 0)  # Sunday 09:00 EST
    assert sunday.astimezone(NY).hour == 9


def test_london_changes_in_spring_and_autumn() -> None:
    # 2026-03-29 and 2026-10-25 are London's change days (01:00 UTC).
    spring = next_slot(utc(2026, 3, 28, 17, 0), EVERY_DAY, [LONDON], FAR)
    assert spring == utc(2026, 3, 29, 8, 0)  # 09:00 BST
    autumn = next_slot(utc(2026, 10, 24, 17, 0), EVERY_DAY, [LONDON], FAR)
    assert autumn == utc(2026, 10, 25, 9, 0)  # 09:00 GMT
    # The last allowed minute moves with the clock too: 16:59 local both times.
    assert allowed(utc(2026, 3, 29, 15, 59), EVERY_DAY, [LONDON])
    assert not allowed(utc(2026, 3, 29, 16, 0), EVERY_DAY, [LONDON])
    assert allowed(utc(2026, 10, 25, 16, 59), EVERY_DAY, [LONDON])


def test_an_attempt_planned_across_a_change_keeps_its_local_time() -> None:
    planned = plan_attempts(utc(2026, 3, 6, 14, 0), WEEKDAYS, [NY], FAR, 3, timedelta(hours=24))
    assert [p.astimezone(NY).strftime("%a %H:%M") for p in planned] == [
        "Fri 09:00",
        "Mon 09:00",
        "Tue 09:00",
    ]
    assert planned[1] - planned[0] == timedelta(days=3) - timedelta(hours=1)


def test_inside_the_window_the_earliest_time_itself_is_the_slot() -> None:
    now = utc(2026, 6, 3, 15, 17)  # Wednesday 11:17 in New York
    assert next_slot(now, WEEKDAYS, [NY], FAR) == now


def test_the_window_never_goes_past_eight_to_nine_local() -> None:
    wide = Window.parse("06:00", "23:00", ["mon"])
    assert next_slot(utc(2026, 6, 1, 0, 0), wide, [NY], FAR) == utc(2026, 6, 1, 12, 0)
    assert not allowed(utc(2026, 6, 2, 1, 30), wide, [NY])  # Monday 21:30


def test_several_zones_get_the_window_open_in_all_of_them() -> None:
    # 09:00-17:00 in both New York and Los Angeles: 12:00-17:00 Eastern.
    slot = next_slot(utc(2026, 6, 3, 12, 0), WEEKDAYS, [NY, LA], FAR)
    assert slot == utc(2026, 6, 3, 16, 0)
    assert slot.astimezone(LA).hour == 9 and slot.astimezone(NY).hour == 12
    narrow = Window.parse("09:00", "11:00", ["mon"])
    assert next_slot(utc(2026, 6, 1, 0, 0), narrow, [NY, LA], FAR) is None


def test_no_slot_before_the_deadline() -> None:
    monday_only = Window.parse("09:00", "17:00", ["mon"])
    start = utc(2026, 6, 2, 12, 0)  # a Tuesday
    assert next_slot(start, monday_only, [NY], start + timedelta(days=5)) is None
    assert next_slot(start, monday_only, [NY], start + timedelta(days=7)) is not None


def test_attempts_are_spaced_by_the_gap_and_stop_at_expiry() -> None:
    start = utc(2026, 6, 3, 13, 0)  # Wednesday 09:00 New York
    planned = plan_attempts(start, WEEKDAYS, [NY], FAR, 3, timedelta(hours=3))
    assert [p.astimezone(NY).strftime("%a %H:%M") for p in planned] == [
        "Wed 09:00",
        "Wed 12:00",
        "Wed 15:00",
    ]
    cut = plan_attempts(start, WEEKDAYS, [NY], start + timedelta(hours=4), 3, timedelta(hours=3))
    assert len(cut) == 2


# -- plans from a request --------------------------------------------------------------


def plan(**kw: object) -> Plan:
    args: dict[str, object] = {
        "phone": "+14155552671",
        "timezone": None,
        "window": WEEKDAYS,
        "not_before": None,
        "expires_at": None,
        "attempts": 2,
        "now": utc(2026, 6, 3, 12, 0),
        "gap": timedelta(hours=2),
    } | kw
    return make_plan(**args)  # type: ignore[arg-type]


def test_a_plan_derives_the_zone_from_the_number() -> None:
    p = plan()
    assert p.timezone == "America/Los_Angeles" and p.source == "phone_number"
    assert p.local(p.planned[0]) == "2026-06-03T09:00-07:00"
    given = plan(timezone="Europe/London")
    assert given.source == "given" and given.zones == ["Europe/London"]
    assert given.expires_at == utc(2026, 6, 17, 12, 0)


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"expires_at": utc(2026, 6, 3, 11, 0)}, "expires_at"),
        ({"not_before": utc(2026, 7, 1), "expires_at": utc(2026, 6, 20)}, "expires_at"),
        (
            {
                "window": Window.parse("09:00", "10:00", ["sat"]),
                "attempts": 1,
                "expires_at": utc(2026, 6, 5),
            },
            "window",
        ),
        ({"phone": "+80012345678"}, "candidate.timezone"),
    ],
)
def test_plans_that_cannot_be_made_name_the_field(changes: dict[str, object], path: str) -> None:
    with pytest.raises(PlanError) as caught:
        plan(**changes)
    assert caught.value.path == path


def test_numbers_in_any_common_format_become_e164() -> None:
    assert to_e164("(415) 555-2671") == "+14155552671"
    assert to_e164("+44 20 7946 0018") == "+442079460018"
    assert to_e164("+1.415.555.2671") == "+14155552671"
    for bad in ("hello", "12", "+1 555 0100"):
        with pytest.raises(PhoneError):
            to_e164(bad)


def test_zones_of_numbers() -> None:
    assert zones_of("+14155552671") == ["America/Los_Angeles"]
    assert zones_of("+442079460018") == ["Europe/London"]
    assert len(zones_of("+18005550100")) > 1  # toll-free: anywhere in the plan


# -- cursors, signatures, backoff, recommendations -------------------------------------


def test_cursors_round_trip_and_refuse_garbage() -> None:
    at = datetime(2026, 6, 3, 12, 0, 0, 123000, tzinfo=UTC)
    assert cursors.decode(cursors.encode(at, "iv_abc")) == (at, "iv_abc")
    for bad in ("", "%%%", "bm90IGpzb24", cursors.encode(at, "x")[:-3] + "!!"):
        with pytest.raises(cursors.CursorError):
            cursors.decode(bad)


def test_signatures_verify_only_the_same_body_secret_and_recent_time() -> None:
    body = b'{"id":"evt_1"}'
    header = signature("whsec_a", 1_800_000_000, body)
    assert header.startswith("t=1800000000,v1=") and len(header.split("v1=")[1]) == 64
    assert verify("whsec_a", header, body, now=1_800_000_010)
    assert not verify("whsec_b", header, body, now=1_800_000_010)
    assert not verify("whsec_a", header, body + b" ", now=1_800_000_010)
    assert not verify("whsec_a", header, body, now=1_800_000_000 + 3600)
    assert not verify("whsec_a", "v1=abc", body, now=1_800_000_000)


def test_backoff_doubles_up_to_a_cap_and_gives_up_after_a_day() -> None:
    delays = [next_attempt(n, 30, 0, 86400) for n in range(1, 10)]
    assert delays[:4] == [30, 60, 120, 240]
    assert max(d for d in delays if d is not None) == 3600
    assert next_attempt(20, 30, 86400 - 100, 86400) is None
    assert next_attempt(1, 30, 86400 - 100, 86400) == 30


def test_recommendations_leave_unfinished_interviews_to_a_person() -> None:
    assert recommend(85, "completed") == "advance"
    assert recommend(55, "completed") == "review"
    assert recommend(20, "completed") == "decline"
    assert recommend(95, "candidate_hung_up") == "review"
