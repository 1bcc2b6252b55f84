"""Candidates' phone numbers: any common way of writing one, to E.164, and the time zones
it may be in."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as number_zones

# Numbers written without a country code are read as this region's.
DEFAULT_REGION = "US"


class PhoneError(ValueError):
    """Not a phone number that can be dialed; the message says why in plain words."""


def to_e164(raw: str, region: str = DEFAULT_REGION) -> str:
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        raise PhoneError("is not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise PhoneError("is not a valid phone number (E.164, e.g. +14155550123)")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def zones_of(e164: str) -> list[str]:
    """The IANA zones the number may be in (sorted); empty when unknown."""
    number = phonenumbers.parse(e164)
    names = number_zones.time_zones_for_number(number)
    return sorted(name for name in set(names) if known_zone(name))


def known_zone(name: str) -> bool:
    if name == number_zones.UNKNOWN_TIMEZONE:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True
