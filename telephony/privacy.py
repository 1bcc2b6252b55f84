"""Masking of phone numbers, so logs and stored call documents never hold a full one."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable

# E.164 with optional separators, bare runs of 10-15 digits, "(415) 555-0100", national
# numbers as speech-to-text writes them ("415-555-0123", "415 555 0123") and those
# dialed with a trunk 0 ("020 7946 0958", 7-15 digits in two or three groups).
# The look-arounds keep identifiers such as CallSids (CA + hex) untouched.
_PHONE = re.compile(
    r"(?<![\w+])(?:"
    r"\+\d(?:[ .\-()]{0,2}\d){6,14}"
    r"|\d{10,15}"
    r"|\(\d{3}\)\s?\d{3}-\d{4}"
    r"|\d{3}[ .\-]\d{3}[ .\-]\d{4}"
    r"|0\d{1,4}[ .\-]\d{3,4}(?:[ .\-]\d{3,4})?"
    r")(?![\w.]?\d)"
)


def mask_phone(number: str) -> str:
    """Keep a leading '+' and the last four digits; every other digit becomes '*'."""
    digits = [c for c in number if c.isdigit()]
    if len(digits) <= 4:
        return "*" * len(digits)
    kept = "".join(digits[-4:])
    prefix = "+" if number.lstrip().startswith("+") else ""
    return f"{prefix}{'*' * (len(digits) - 4)}{kept}"


# "+" URL-encoded, as in a query string an access log line quotes.
_ENCODED = re.compile(r"%2[Bb](\d{7,15})(?!\d)")


def mask_phones_in(text: str) -> str:
    """Mask every phone number found inside free text, URL-encoded ones too."""
    text = _ENCODED.sub(lambda m: "%2B" + mask_phone(m.group(1)), text)
    return _PHONE.sub(lambda m: mask_phone(m.group(0)), text)


_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def redact_text(text: str) -> str:
    """A transcript as stored with REDACT_TRANSCRIPTS: phone numbers masked (last four kept)
    and e-mail addresses replaced. Numbers spoken as words are beyond a pattern's reach."""
    return mask_phones_in(_EMAIL.sub("[e-mail]", text))


# The do-not-call list's key for a number (an HMAC under the service's key).
NumberHash = Callable[[str], str]


def number_hash(e164: str, key: bytes) -> str:
    """The do-not-call list's key: an HMAC-SHA256 of the E.164 number under a secret, so
    the list never holds the number and a copy of the database alone cannot test a number
    against it (the number space is small enough to enumerate an unkeyed hash)."""
    return hmac.new(key, f"do-not-call:{e164}".encode(), hashlib.sha256).hexdigest()
