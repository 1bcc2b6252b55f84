"""Webhook signatures: `Voice-Interview-Signature: t=<unix>,v1=<hex HMAC-SHA256>` over
"<t>.<raw body>", so a receiver can check both who sent a delivery and when (replays)."""

from __future__ import annotations

import hashlib
import hmac

HEADER = "Voice-Interview-Signature"
TOLERANCE_S = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(
    secret: str, header: str, body: bytes, now: float, tolerance_s: int = TOLERANCE_S
) -> bool:
    """What a receiver does: the signature matches and its time is recent."""
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        fields.setdefault(name, []).append(value)
    try:
        timestamp = int(fields["t"][0])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance_s:
        return False
    expected = signature(secret, timestamp, body).split("v1=", 1)[1]
    return any(hmac.compare_digest(expected, given) for given in fields.get("v1", []))


def next_attempt(
    attempts: int, first_delay_s: float, age_s: float, max_age_s: float, cap_s: float = 3600
) -> float | None:
    """Seconds until delivery is tried again after `attempts` failures, doubling from
    `first_delay_s` up to `cap_s`; None once that would pass `max_age_s` since the event."""
    delay = min(cap_s, first_delay_s * 2.0 ** max(0, attempts - 1))
    if age_s + delay > max_age_s:
        return None
    return delay
