"""Calls in progress and what is said in them, as it is stored: MongoDB change streams
where the server has them (replica sets, Atlas, the embedded server), polling otherwise.

A change stream sees every worker's writes, so any worker can show any call. Each follower
opens its stream before it reads the calls in progress, so nothing said in between is
missed; a page may see a turn twice and keys turns by (call, seq).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Literal

from pymongo.errors import OperationFailure

from persistence._types import Database, Document
from persistence.records import TERMINAL_STATUSES, CallRecord, Record, Turn

log = logging.getLogger(__name__)
# Longer than any call may last (MAX_CALL_SECONDS is at most 4 h): an older call whose end
# was never written is not shown as live for ever.
LIVE_FOR = timedelta(hours=4, minutes=10)
STARTED = ("timings.stream_started", "timings.relay_started")
_CHANGES = [
    {
        "$match": {
            "ns.coll": {"$in": ["turns", "calls"]},
            "operationType": {"$in": ["insert", "update"]},
        }
    }
]


class LiveEvent(Record):
    kind: Literal["started", "turn", "ended"]
    call_sid: str
    call: CallRecord | None = None
    turn: Turn | None = None


class LiveFeed:
    def __init__(self, db: Database, *, change_streams: bool = True, poll_s: float = 1.0) -> None:
        self._db = db
        self._calls = db["calls"]
        self._turns = db["turns"]
        self.change_streams = change_streams
        self.poll_s = poll_s

    async def in_progress(self, now: datetime) -> list[CallRecord]:
        """Calls whose audio has started and that have not ended, newest first."""
        query: Document = {
            "status": {"$nin": list(TERMINAL_STATUSES)},
            "created_at": {"$gte": now - LIVE_FOR},
            "timings.ended": {"$exists": False},
            "$or": [{name: {"$exists": True}} for name in STARTED],
        }
        cursor = self._calls.find(query).sort("created_at", -1).limit(100)
        return [CallRecord.model_validate(doc) async for doc in cursor]

    async def _turns_after(self, after: dict[str, int]) -> list[Turn]:
        """Each call's turns after the seq given for it (-1: all), in order."""
        if not after:
            return []
        query = {"$or": [{"call_sid": s, "seq": {"$gt": seq}} for s, seq in after.items()]}
        cursor = self._turns.find(query).sort([("call_sid", 1), ("seq", 1)])
        return [Turn.model_validate(doc) async for doc in cursor]

    async def snapshot(self, now: datetime) -> list[LiveEvent]:
        """Every call in progress with what has been said in it so far."""
        calls = await self.in_progress(now)
        events = [LiveEvent(kind="started", call_sid=c.call_sid, call=c) for c in calls]
        turns = await self._turns_after({c.call_sid: -1 for c in calls})
        return events + [LiveEvent(kind="turn", call_sid=t.call_sid, turn=t) for t in turns]

    async def follow(self, clock: Callable[[], datetime]) -> AsyncIterator[LiveEvent | None]:
        """The snapshot, then each change as it is stored; None whenever a second or so
        passes with nothing new (a chance to keep a connection alive)."""
        if self.change_streams:
            try:
                stream = await self._db.watch(
                    _CHANGES, full_document="updateLookup", max_await_time_ms=1000
                )
            except OperationFailure as exc:
                log.info("no change streams on this database (%s); polling", exc.code)
            else:
                async with stream:
                    for event in await self.snapshot(clock()):
                        yield event
                    while stream.alive:
                        change = await stream.try_next()
                        yield _event(change) if change is not None else None
                return
        async for polled in self._poll(clock):
            yield polled

    async def _poll(self, clock: Callable[[], datetime]) -> AsyncIterator[LiveEvent | None]:
        seen: dict[str, int] = {}
        while True:
            calls = {c.call_sid: c for c in await self.in_progress(clock())}
            for call_sid, call in calls.items():
                if call_sid not in seen:
                    seen[call_sid] = -1
                    yield LiveEvent(kind="started", call_sid=call_sid, call=call)
            for turn in await self._turns_after(seen):
                seen[turn.call_sid] = max(seen[turn.call_sid], turn.seq)
                yield LiveEvent(kind="turn", call_sid=turn.call_sid, turn=turn)
            for call_sid in [s for s in seen if s not in calls]:
                del seen[call_sid]
                yield LiveEvent(kind="ended", call_sid=call_sid)
            yield None
            await asyncio.sleep(self.poll_s)  # the fallback: nothing tells us of a change


def _event(change: Document) -> LiveEvent | None:
    doc = change.get("fullDocument")
    if not isinstance(doc, dict) or "call_sid" not in doc:
        return None
    if change["ns"]["coll"] == "turns":
        if change["operationType"] != "insert":
            return None
        return LiveEvent(kind="turn", call_sid=doc["call_sid"], turn=Turn.model_validate(doc))
    fields = (change.get("updateDescription") or {}).get("updatedFields") or {}
    if "timings.ended" in fields or fields.get("status") in TERMINAL_STATUSES:
        return LiveEvent(kind="ended", call_sid=doc["call_sid"])
    if any(name in fields for name in STARTED):
        call = CallRecord.model_validate(doc)
        return LiveEvent(kind="started", call_sid=call.call_sid, call=call)
    return None
