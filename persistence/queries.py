"""Pieces of MongoDB filters that every listing builds the same way: fields that must
equal a value when one is given, ranges open at either end, keyset positions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from persistence._types import Document


def equal(**fields: Any) -> Document:
    """`field: value` for every value given (None leaves the field unfiltered)."""
    return {field: value for field, value in fields.items() if value is not None}


def bounds(low: Any, high: Any, *, upper: str = "$lt") -> Document:
    """`{$gte: low, <upper>: high}` with the ends given; {} when neither is."""
    found: Document = {}
    if low is not None:
        found["$gte"] = low
    if high is not None:
        found[upper] = high
    return found


def within(query: Document, field: str, low: Any, high: Any, *, upper: str = "$lt") -> Document:
    """`query` with `field` kept between `low` and `high` where they are given."""
    if range_ := bounds(low, high, upper=upper):
        query[field] = range_
    return query


def keyset(after: tuple[datetime, str] | None) -> Document:
    """Documents after a (created_at, _id) position, newest first."""
    if after is None:
        return {}
    at, last = after
    return {"$or": [{"created_at": {"$lt": at}}, {"created_at": at, "_id": {"$lt": last}}]}


def both(query: Document, more: Document) -> Document:
    return {"$and": [query, more]} if query and more else query or more


def on_channel(channel: str | None) -> Document:
    """Calls that came by `channel` (None: every call). Documents written before calls had a
    channel have no such field and are phone calls, so "phone" is "anything not browser"."""
    if channel is None:
        return {}
    if channel == "phone":
        return {"channel": {"$ne": "browser"}}
    return {"channel": channel}
