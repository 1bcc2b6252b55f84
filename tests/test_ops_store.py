"""The console's reads on a real MongoDB wire server: outcomes, filters and keyset pages
over many calls, sessions and their idle timeout, and the live feed's polling fallback."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from persistence.call_views import OUTCOMES, CallSearch, CallViews, outcome_of
from persistence.console_sessions import ConsoleSession, ConsoleSessions
from persistence.live_feed import LiveEvent, LiveFeed
from persistence.records import Turn
from persistence.store import Store
from telephony.ops import cursors
from tests.support.call_docs import call_doc as make_call_doc

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def call_doc(i: int) -> dict[str, Any]:
    return make_call_doc(i, T0)


def newest_first() -> list[dict[str, Any]]:
    return sorted(
        (call_doc(i) for i in range(130)),
        key=lambda d: (d["created_at"], d["call_sid"]),
        reverse=True,
    )


@pytest.fixture
async def views(store: Store) -> CallViews:
    await store.db["calls"].insert_many([call_doc(i) for i in range(130)])
    return CallViews(store.db)


async def walk(
    views: CallViews, search: CallSearch, size: int, now: datetime | None = None
) -> list[str]:
    """Every page's call_sids, following cursors as the page does."""
    seen: list[str] = []
    after = None
    while True:
        found = await views.page(search, after, size + 1, now)
        seen += [r.call.call_sid for r in found[:size]]
        if len(found) <= size:
            return seen
        last = found[size - 1]
        token = cursors.encode(search.sort, last.sort_value(search.sort), last.call.call_sid)
        after = cursors.decode(token, search.sort)


async def test_keyset_pages_cover_every_call_once_in_each_order(views: CallViews) -> None:
    store_order = [call_doc(i) for i in range(130)]
    for sort, key, reverse in (
        ("newest", lambda d: (d["created_at"], d["call_sid"]), True),
        ("oldest", lambda d: (d["created_at"], d["call_sid"]), False),
        ("duration", lambda d: (d["duration_s"], d["call_sid"]), True),
        ("score", lambda d: (d["report"]["score"], d["call_sid"]), True),
    ):
        search = CallSearch.model_validate({"sort": sort})
        docs = [d for d in store_order if sort != "score" or "report" in d]
        expected = [d["call_sid"] for d in sorted(docs, key=key, reverse=reverse)]
        assert await walk(views, search, 17) == expected, sort


async def test_each_outcome_filter_finds_exactly_its_calls(views: CallViews) -> None:
    everything = [call_doc(i) for i in range(130)]
    for outcome in OUTCOMES:
        found = await walk(views, CallSearch(outcome=outcome), 50)
        expected = {d["call_sid"] for d in everything if outcome_of(d) == outcome}
        assert expected and set(found) == expected, outcome
        rows = [r async for r in views.each(CallSearch(outcome=outcome))]
        assert {r.outcome for r in rows} == {outcome}


async def test_filters_combine(views: CallViews) -> None:
    search = CallSearch(
        direction="inbound",
        template_id="backend",
        min_score=10,
        max_score=90,
        min_cost=0.2,
        min_duration=60,
        created_from=T0 + timedelta(minutes=10),
    )
    found = await walk(views, search, 7)
    expected = [
        d["call_sid"]
        for d in newest_first()
        if d["direction"] == "inbound"
        and d["template_id"] == "backend"
        and "report" in d
        and 10 <= d["report"]["score"] <= 90
        and d["cost"]["total_usd"] >= 0.2
        and d["duration_s"] >= 60
        and d["created_at"] >= T0 + timedelta(minutes=10)
    ]
    assert expected and found == expected
    assert [r.call.call_sid for r in await views.page(CallSearch(last4="0042"), None, 10)] == [
        f"CA{42:032x}"
    ]


def test_cursors_refuse_what_they_did_not_make() -> None:
    token = cursors.encode("score", 41.5, "CA1")
    assert cursors.decode(token, "score") == (41.5, "CA1")
    for bad, sort in ((token, "newest"), ("nonsense", "score"), ("", "score")):
        with pytest.raises(cursors.CursorError):
            cursors.decode(bad, sort)


async def test_a_session_ends_when_idle_or_closed(store: Store) -> None:
    # Sessions expire through a TTL index; one dated in the past could be removed by the
    # database's TTL pass in the middle of the test.
    now = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    sessions = ConsoleSessions(store.db)
    assert await sessions.cookie_secret() == await ConsoleSessions(store.db).cookie_secret()
    idle = timedelta(minutes=30)
    session = ConsoleSession(
        id="s1",
        key_hash="h",
        key_id="k",
        scope="ops",
        csrf="c",
        created_at=now,
        seen_at=now,
        expires_at=now + idle,
    )
    await sessions.open(session)
    touched = await sessions.touch("s1", now + timedelta(minutes=29), idle)
    assert touched is not None and touched.expires_at == now + timedelta(minutes=59)
    assert await sessions.touch("s1", now + timedelta(minutes=60), idle) is None  # idle 31 min
    await sessions.open(session.model_copy(update={"id": "s2"}))
    await sessions.close("s2")
    assert await sessions.touch("s2", now, idle) is None


async def test_the_live_feed_polls_where_change_streams_are_missing(store: Store) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    await store.db["calls"].insert_one(
        {
            **call_doc(1),
            "status": "in-progress",
            "created_at": now,
            "timings": {"stream_started": now},
        }
    )
    sid = call_doc(1)["call_sid"]
    feed = LiveFeed(store.db, change_streams=False, poll_s=0.05)
    events: list[LiveEvent] = []
    arrived = asyncio.Event()

    async def follow() -> None:
        async for event in feed.follow(lambda: datetime.now(UTC)):
            if event is not None:
                events.append(event)
                arrived.set()

    task = asyncio.create_task(follow())
    try:

        async def until(kinds: list[str]) -> None:
            while [e.kind for e in events] != kinds:
                arrived.clear()
                await asyncio.wait_for(arrived.wait(), 10)

        await until(["started"])
        await store.turns.append(Turn(call_sid=sid, seq=0, speaker="assistant", text="Hello"))
        await until(["started", "turn"])
        await store.turns.append(Turn(call_sid=sid, seq=1, speaker="caller", text="Hi"))
        await store.db["calls"].update_one({"call_sid": sid}, {"$set": {"timings.ended": now}})
        await until(["started", "turn", "turn", "ended"])
        assert [e.turn.text for e in events if e.turn is not None] == ["Hello", "Hi"]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


SEARCHES = [
    CallSearch(),
    *(CallSearch(outcome=o) for o in OUTCOMES),
    CallSearch(direction="inbound", template_id="default", min_duration=40, max_duration=120),
    CallSearch(min_score=20, max_score=60, min_cost=0.1, max_cost=0.9),
    CallSearch(last4="0042"),
    CallSearch(engine="realtime"),
    CallSearch(engine="relay"),
    CallSearch(created_from=T0 + timedelta(minutes=20), created_to=T0 + timedelta(minutes=40)),
    CallSearch(sort="score"),
]


async def test_the_filter_read_here_and_the_databases_agree(views: CallViews, store: Store) -> None:
    """`page` filters what it reads itself; the CSV and the other orders ask the database."""
    await store.db["calls"].update_one(
        {"call_sid": call_doc(3)["call_sid"]},
        {
            "$set": {
                "engines": [
                    {"engine": "realtime", "at": T0, "reason": "configured"},
                    {"engine": "relay", "at": T0, "reason": "realtime unavailable"},
                ]
            }
        },
    )
    docs = [d async for d in store.db["calls"].find({})]
    for search in SEARCHES:
        by_database = {d["call_sid"] async for d in store.db["calls"].find(search.query())}
        here = {d["call_sid"] for d in docs if search.matches(d)}
        assert by_database == here, search
        assert here, search
        if len(here) <= 200:
            paged = {r.call.call_sid for r in await views.page(search, None, 201)}
            assert paged == here, search


async def test_rare_matches_are_left_to_the_database(views: CallViews, store: Store) -> None:
    """Past `rare_after` calls read with few matches, the rest is the database's to filter;
    the page is the same either way."""
    search = CallSearch(max_duration=36)  # the seven oldest calls only
    expected = [d["call_sid"] for d in newest_first() if d["duration_s"] <= 36]
    assert len(expected) == 7
    quick = CallViews(store.db, rare_after=20)
    now = T0 + timedelta(minutes=66)  # the first hour read holds most calls, none matching
    for reader in (views, quick):
        first = await reader.page(search, None, 5, now)
        assert [r.call.call_sid for r in first] == expected[:5]
        assert await walk(reader, search, 3, now) == expected
