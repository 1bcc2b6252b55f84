"""The call log's page cursors: the sort and the (value, call_sid) of a page's last row,
opaque in the URL so the order can change without breaking bookmarks."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any


class CursorError(ValueError):
    """Not a cursor the console handed out (or one for another order)."""


def encode(sort: str, value: Any, call_sid: str) -> str:
    tagged = {"t": value.isoformat()} if isinstance(value, datetime) else {"n": value}
    raw = json.dumps([sort, tagged, call_sid], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str, sort: str) -> tuple[Any, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        made_for, tagged, call_sid = json.loads(raw)
        if "t" in tagged:
            value: Any = datetime.fromisoformat(tagged["t"])
        else:
            value = tagged["n"]
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError):
        raise CursorError("not a cursor from a previous page") from None
    if made_for != sort or not isinstance(call_sid, str):
        raise CursorError("the cursor belongs to another order")
    if not (isinstance(value, datetime | int | float) and not isinstance(value, bool)):
        raise CursorError("not a cursor from a previous page")
    return value, call_sid
