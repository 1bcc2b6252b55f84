"""The dialer's pure rules, with fixed instants: local hours across DST changes and zones
far from UTC, redial by outcome, pacing arithmetic, and the Calls.json parameters."""

from __future__ import annotations

import hashlib
import itertools
import random
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from persistence.api_records import RedialRecord
from service.do_not_call_key import KEY_FILE, do_not_call_key
from service.settings import ConfigError, Secret, Settings, load_settings
from telephony.api.planning import Window
from telephony.dialer.codes import code_from
from telephony.dialer.hours import DialNow, Expired, Hours, MoveTo, decide, next_at, next_day
from telephony.dialer.pacing import interval_s, late_s, most_at_once, most_in_any_second
from telephony.dialer.placing import OutboundRequest, form
from telephony.dialer.redial import (
    NEXT_DAY,
    RedialPolicy,
    earliest_redial,
    policy_of,
    redial_after,
)
from telephony.privacy import number_hash

ALL_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS = ALL_DAYS[:5]
WIDE = Window.parse("00:00", "23:59", ALL_DAYS)
FAR = datetime(2027, 12, 31, tzinfo=UTC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def moved_to(decision: object) -> datetime:
    assert isinstance(decision, MoveTo), decision
    return decision.at


def test_an_evening_on_friday_moves_to_monday_morning_after_the_spring_forward() -> None:
    window = Window.parse("09:00", "17:00", WEEKDAYS)
    # Friday 2026-03-06 18:00 EST; clocks go forward on Sunday 03-08.
    at = moved_to(decide(utc(2026, 3, 6, 23), window, ["America/New_York"], FAR, Hours()))
    assert at == utc(2026, 3, 9, 13)  # 09:00 EDT (UTC-4), no longer 14:00 UTC
    assert at.astimezone(ZoneInfo("America/New_York")).hour == 9


def test_the_spring_forward_night_waits_for_eight_local() -> None:
    # 01:30 EST on 2026-03-08; 02:00-03:00 does not exist that night.
    at = moved_to(decide(utc(2026, 3, 8, 6, 30), WIDE, ["America/New_York"], FAR, Hours()))
    assert at == utc(2026, 3, 8, 12)  # 08:00 EDT


def test_the_fall_back_night_waits_for_eight_local() -> None:
    # 23:00 EDT on 2026-10-31; clocks go back at 02:00 on 11-01.
    at = moved_to(decide(utc(2026, 11, 1, 3), WIDE, ["America/New_York"], FAR, Hours()))
    assert at == utc(2026, 11, 1, 13)  # 08:00 EST (UTC-5)


def test_london_on_the_day_summer_time_starts() -> None:
    # 07:00 BST on 2026-03-29 (UTC+1 from 01:00 UTC).
    at = moved_to(decide(utc(2026, 3, 29, 6), WIDE, ["Europe/London"], FAR, Hours()))
    assert at == utc(2026, 3, 29, 7)
    assert isinstance(decide(utc(2026, 3, 29, 7), WIDE, ["Europe/London"], FAR, Hours()), DialNow)


def test_zones_far_from_utc() -> None:
    # Auckland (UTC+13 in summer): 01:00 on 12-01 local is 12:00 UTC on 11-30.
    at = moved_to(decide(utc(2026, 11, 30, 12), WIDE, ["Pacific/Auckland"], FAR, Hours()))
    assert at == utc(2026, 11, 30, 19)
    # Kolkata (UTC+5:30): 07:30 local waits half an hour.
    at = moved_to(decide(utc(2026, 6, 10, 2), WIDE, ["Asia/Kolkata"], FAR, Hours()))
    assert at == utc(2026, 6, 10, 2, 30)


def test_calling_hours_narrow_the_window_and_never_widen_it() -> None:
    narrow = Hours(time(10, 0), time(12, 0))
    # 09:00 in Chicago (UTC-5 in June).
    at = moved_to(decide(utc(2026, 6, 10, 14), WIDE, ["America/Chicago"], FAR, narrow))
    assert at == utc(2026, 6, 10, 15)
    # A window asking for 06:00-23:00 still only dials 08:00-21:00.
    early = Window.parse("06:00", "23:00", ALL_DAYS)
    at = moved_to(decide(utc(2026, 6, 10, 11), early, ["America/Chicago"], FAR, Hours()))
    assert at == utc(2026, 6, 10, 13)
    # 21:30 local: tomorrow at 08:00.
    at = moved_to(decide(utc(2026, 6, 11, 2, 30), early, ["America/Chicago"], FAR, Hours()))
    assert at == utc(2026, 6, 11, 13)


def test_an_interview_with_no_window_left_before_it_expires_is_expired() -> None:
    window = Window.parse("09:00", "17:00", WEEKDAYS)
    expires = utc(2026, 3, 9, 12)  # Monday 08:00 EDT, before the window opens
    assert isinstance(
        decide(utc(2026, 3, 6, 23), window, ["America/New_York"], expires, Hours()), Expired
    )


def test_a_number_in_several_zones_is_dialed_only_when_all_allow_it() -> None:
    zones = ["America/New_York", "America/Los_Angeles"]
    # 08:30 in New York is 05:30 in Los Angeles: wait for 08:00 there (11:00 in New York).
    at = moved_to(decide(utc(2026, 6, 10, 12, 30), WIDE, zones, FAR, Hours()))
    assert at == utc(2026, 6, 10, 15)


@pytest.mark.parametrize(
    "zone",
    [
        "America/New_York",
        "Europe/London",
        "Pacific/Auckland",
        "Asia/Kolkata",
        "Australia/Lord_Howe",
        "Pacific/Kiritimati",
        "America/St_Johns",
    ],
)
def test_no_dial_time_is_ever_outside_eight_to_nine_local(zone: str) -> None:
    rng = random.Random(zone)
    start = utc(2026, 1, 1)
    for _ in range(400):
        now = start + timedelta(minutes=rng.randrange(0, 366 * 24 * 60))
        decision = decide(now, WIDE, [zone], FAR, Hours())
        at = now if isinstance(decision, DialNow) else moved_to(decision)
        local = at.astimezone(ZoneInfo(zone)).time()
        assert time(8, 0) <= local < time(21, 0), (now, at, local)
        assert at >= now


def test_next_day_starts_at_local_midnight_across_a_clock_change() -> None:
    # A voicemail at 20:00 EST on Saturday 2026-03-07: the next day starts at 00:00 EST.
    midnight = next_day(utc(2026, 3, 8, 1), "America/New_York")
    assert midnight == utc(2026, 3, 8, 5)
    window = Window.parse("09:00", "17:00", ALL_DAYS)
    assert next_at(midnight, window, ["America/New_York"], FAR, Hours()) == utc(2026, 3, 8, 13)


def test_no_answer_and_busy_share_30_60_120_minutes() -> None:
    assert redial_after("no-answer", ["no-answer"]) == timedelta(minutes=30)
    assert redial_after("busy", ["no-answer", "busy"]) == timedelta(minutes=60)
    assert redial_after("no-answer", ["busy", "no-answer", "no-answer"]) == timedelta(minutes=120)
    assert redial_after("no-answer", ["no-answer"] * 4) is None


def test_failed_dropped_and_voicemail_are_retried_once() -> None:
    assert redial_after("failed", ["failed"]) == timedelta(minutes=10)
    assert redial_after("failed", ["failed", "failed"]) is None
    assert redial_after("dropped", ["no-answer", "dropped"]) == timedelta(minutes=10)
    assert redial_after("dropped", ["dropped", "dropped"]) is None
    assert redial_after("voicemail", ["voicemail"]) == NEXT_DAY
    assert redial_after("voicemail", ["voicemail", "voicemail"]) is None


def test_canceled_partial_and_completed_are_never_redialed() -> None:
    for outcome in ("canceled", "partial", "completed"):
        assert redial_after(outcome, [outcome]) is None


def test_a_policy_can_change_the_schedule() -> None:
    policy = RedialPolicy(no_answer_min=(5,), voicemails=2)
    assert redial_after("no-answer", ["no-answer"], policy) == timedelta(minutes=5)
    assert redial_after("no-answer", ["no-answer"] * 2, policy) is None
    assert redial_after("voicemail", ["voicemail"] * 2, policy) == NEXT_DAY


def test_busy_can_have_its_own_schedule_and_voicemail_none() -> None:
    shared = RedialPolicy()
    # By default busy and no-answer share one count: a busy after a no-answer is the 2nd.
    assert redial_after("busy", ["no-answer", "busy"], shared) == timedelta(minutes=60)
    own = RedialPolicy(no_answer_min=(30, 60), busy_min=(2,))
    assert redial_after("busy", ["no-answer", "busy"], own) == timedelta(minutes=2)
    assert redial_after("busy", ["busy", "busy"], own) is None
    assert redial_after("no-answer", ["busy", "no-answer"], own) == timedelta(minutes=30)
    never = policy_of(
        RedialRecord(
            no_answer_min=[], busy_min=None, failed_min=[1], dropped_min=[], voicemail="never"
        )
    )
    assert redial_after("voicemail", ["voicemail"], never) is None
    assert redial_after("no-answer", ["no-answer"], never) is None
    assert redial_after("dropped", ["dropped"], never) is None
    assert redial_after("failed", ["failed"], never) == timedelta(minutes=1)
    assert policy_of(None) == RedialPolicy()


def test_earliest_redial_times() -> None:
    ended, tomorrow = utc(2026, 6, 10, 15), utc(2026, 6, 11, 4)
    assert earliest_redial("no-answer", ["no-answer"], ended, tomorrow) == utc(2026, 6, 10, 15, 30)
    assert earliest_redial("voicemail", ["voicemail"], ended, tomorrow) == tomorrow
    assert earliest_redial("canceled", ["canceled"], ended, tomorrow) is None


def test_pacing_spaces_creations_a_little_more_than_one_over_cps() -> None:
    assert interval_s(1) == pytest.approx(1.1)
    assert interval_s(10) == pytest.approx(0.11)
    with pytest.raises(ValueError):
        interval_s(0)
    spaced = [i * interval_s(5) for i in range(50)]
    assert most_in_any_second(spaced) == 5
    # Creations that leave as late as they may, or on time, in any mix: still never more
    # than CPS in a second.
    for cps in (1, 2, 5, 10):
        rng = random.Random(cps)
        sent = [i * interval_s(cps) + rng.choice((0.0, late_s(cps))) for i in range(200)]
        assert most_in_any_second(sent) == cps
        assert min(b - a for a, b in itertools.pairwise(sent)) > 1 / cps
    assert most_in_any_second([0.0, 0.5, 0.999, 1.0, 1.5]) == 3
    assert most_in_any_second([]) == 0


def test_most_at_once_counts_overlapping_calls() -> None:
    assert most_at_once([(0, 2), (1, 3), (2, 4)]) == 2
    assert most_at_once([(0, 10), (1, 2), (1.5, 3)]) == 3
    assert most_at_once([]) == 0


def test_calls_json_parameters() -> None:
    request = OutboundRequest(
        to="+14155552671", from_="+14155550100", interview_id="iv_" + "a" * 24, time_limit_s=1020
    )
    params = form(request, "https://voice.example.test")
    single = {k: v for k, v in params if k != "StatusCallbackEvent"}
    query = "?interview=iv_" + "a" * 24
    assert single == {
        "To": "+14155552671",
        "From": "+14155550100",
        "Url": "https://voice.example.test/twilio/outbound/voice" + query,
        "Method": "POST",
        "StatusCallback": "https://voice.example.test/twilio/outbound/status" + query,
        "StatusCallbackMethod": "POST",
        "Timeout": "25",
        "Record": "false",
        "TimeLimit": "1020",
        "MachineDetection": "DetectMessageEnd",
        "AsyncAmd": "true",
        "AsyncAmdStatusCallback": "https://voice.example.test/twilio/amd" + query,
        "AsyncAmdStatusCallbackMethod": "POST",
    }
    events = [v for k, v in params if k == "StatusCallbackEvent"]
    assert events == ["initiated", "ringing", "answered", "completed"]


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("CALLING_HOURS", "07:00-20:00", "must lie within 08:00-21:00"),
        ("CALLING_HOURS", "20:00-09:00", "with the start before the end"),
        ("CALLING_HOURS", "9-5", "must be local hours such as 09:00-18:00"),
        ("TWILIO_FROM_NUMBER", "4155550100", "must be a Twilio number in E.164 form"),
        ("TWILIO_CPS", "0", "must be between 1 and 1000"),
        ("OUTBOUND_MAX_CONCURRENT", "lots", "must be a whole number"),
        ("DO_NOT_CALL_KEY", "too-short", "must be at least 32 characters without whitespace"),
        ("DO_NOT_CALL_KEY", "x" * 20 + " " + "y" * 20, "must be at least 32 characters"),
    ],
)
def test_dialer_settings_are_checked(variable: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({variable: value}, None)
    (line,) = caught.value.problems
    assert line.startswith(variable) and message in line, line


def test_dialer_settings_parse() -> None:
    settings = load_settings(
        {
            "CALLING_HOURS": "09:30-18:00",
            "TWILIO_FROM_NUMBER": "+14155550100",
            "TWILIO_CPS": "5",
            "OUTBOUND_MAX_CONCURRENT": "20",
        },
        None,
    )
    assert settings.calling_hours == ("09:30", "18:00")
    assert Hours.parse(settings.calling_hours) == Hours(time(9, 30), time(18, 0))
    assert (settings.twilio_from_number, settings.twilio_cps) == ("+14155550100", 5)
    assert settings.outbound_max_concurrent == 20


@pytest.mark.parametrize(
    ("digits", "speech", "code"),
    [
        ("123456", "", "123456"),
        ("", "1 2 3 4 5 6.", "123456"),
        ("", "one two three, four five six", "123456"),
        ("", "Oh four one five, five five.", "041555"),
        ("12", "zero nine eight seven six five", "098765"),
        ("", "my code is 123", None),
        ("1234567", "", None),
        ("", "", None),
    ],
)
def test_the_code_is_read_from_keys_or_speech(digits: str, speech: str, code: str | None) -> None:
    assert code_from(digits, speech) == code


def test_the_do_not_call_hash_is_keyed() -> None:
    number = "+14155552671"
    key_a, key_b = b"a" * 32, b"b" * 32
    hashed = number_hash(number, key_a)
    unkeyed = {
        hashlib.sha256(number.encode()).hexdigest(),
        hashlib.sha256(f"do-not-call:{number}".encode()).hexdigest(),
    }
    assert hashed not in unkeyed and number not in hashed
    assert hashed == number_hash(number, key_a)  # stable, so the list can be looked up
    assert number_hash(number, key_b) != hashed
    assert number_hash("+14155552672", key_a) != hashed


def test_the_do_not_call_key_is_made_once_in_data_dir_unless_set(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var")
    made = do_not_call_key(settings)
    assert len(made) >= 32 and do_not_call_key(settings) == made  # kept, not remade
    kept = tmp_path / "var" / KEY_FILE
    assert kept.stat().st_mode & 0o077 == 0  # readable by its owner only
    assert do_not_call_key(Settings(data_dir=tmp_path / "other")) != made
    given = "k" * 40
    assert do_not_call_key(Settings(data_dir=tmp_path / "var", do_not_call_key=Secret(given))) == (
        given.encode()
    )
    kept.write_text("short\n")
    with pytest.raises(ConfigError) as caught:
        do_not_call_key(settings)
    (line,) = caught.value.problems
    assert KEY_FILE in line and "DO_NOT_CALL_KEY" in line and "short" not in line
