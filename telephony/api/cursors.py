"""Keyset pagination cursors: the (created_at, id) of the last item on a page, opaque to
clients so the ordering can change without breaking them."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime


class CursorError(ValueError):
    """Not a cursor this service handed out."""


def encode(at: datetime, last_id: str) -> str:
    raw = json.dumps([at.isoformat(), last_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, last_id = json.loads(raw)
        moment = datetime.fromisoformat(at)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise CursorError("is not a cursor from a previous page") from None
    if not isinstance(last_id, str) or moment.tzinfo is None:
        raise CursorError("is not a cursor from a previous page")
    return moment, last_id
