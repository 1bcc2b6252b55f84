"""The filter pieces every listing shares."""

from __future__ import annotations

from datetime import UTC, datetime

from persistence.queries import both, bounds, equal, keyset, within

AT = datetime(2026, 11, 30, tzinfo=UTC)


def test_only_given_values_filter() -> None:
    assert equal(status="completed", direction=None) == {"status": "completed"}
    assert equal(status=None) == {}


def test_ranges_open_at_either_end() -> None:
    assert bounds(None, None) == {}
    assert bounds(1, None) == {"$gte": 1}
    assert bounds(None, 5, upper="$lte") == {"$lte": 5}
    assert within({}, "created_at", AT, AT) == {"created_at": {"$gte": AT, "$lt": AT}}
    assert within({"a": 1}, "score", None, None) == {"a": 1}


def test_keyset_and_conjunction() -> None:
    assert keyset(None) == {}
    position = keyset((AT, "id9"))
    assert position == {
        "$or": [{"created_at": {"$lt": AT}}, {"created_at": AT, "_id": {"$lt": "id9"}}]
    }
    assert both({"a": 1}, {}) == {"a": 1} and both({}, position) == position
    assert both({"a": 1}, position) == {"$and": [{"a": 1}, position]}
