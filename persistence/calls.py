"""The `calls` collection: one document per call, keyed by Twilio's CallSid.

Every change has a named method, so what can be written on a call, and by whom, is
visible here rather than spread over callers building field dictionaries.
"""

from __future__ import annotations

from datetime import datetime

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from persistence._types import Collection, Document
from persistence.queries import equal, on_channel, within
from persistence.records import (
    STATUS_RANK,
    TERMINAL_STATUSES,
    CallFilter,
    CallOutcome,
    CallPage,
    CallRecord,
    EngineUse,
    Keypress,
    NewCall,
    RelayEnd,
    StatusEvent,
    StreamClaim,
    StreamEnd,
    StreamStatus,
)

MAX_PAGE = 500
MAX_STREAM_EVENTS = 20  # a call has one stream: started, stopped, an error or two


def _record(doc: Document) -> CallRecord:
    return CallRecord.model_validate(doc)


def _query(flt: CallFilter) -> Document:
    query = equal(status=flt.status, direction=flt.direction, template_id=flt.template_id)
    query.update(on_channel(flt.channel))
    return within(query, "created_at", flt.created_from, flt.created_to)


class Calls:
    def __init__(self, collection: Collection) -> None:
        self._c = collection

    async def create_or_get(self, call: NewCall) -> tuple[CallRecord, bool]:
        """Insert the call, or return the existing one; the flag says whether it was new.

        Twilio retries webhooks, and two workers may race: the unique index decides.
        """
        doc: Document = call.model_dump(exclude_none=True)
        doc.update(
            status="created",
            status_rank=-1,
            updated_at=call.created_at,
            status_history=[],
            timings={},
        )
        try:
            await self._c.insert_one(doc)
        except DuplicateKeyError:
            existing = await self.get(call.call_sid)
            if existing is None:  # deleted between the two statements
                raise
            return existing, False
        return _record(doc), True

    async def get(self, call_sid: str) -> CallRecord | None:
        doc = await self._c.find_one({"call_sid": call_sid})
        return _record(doc) if doc is not None else None

    async def record_status(self, call_sid: str, event: StatusEvent) -> CallRecord | None:
        """Append the event to the history and move the status forward, never back.

        Duplicates (same status and sequence number) are recorded once; a late
        `ringing` after `completed` stays in the history but leaves the status alone.
        Returns None when the call is unknown.
        """
        entry = event.model_dump(exclude_none=True)
        await self._c.update_one(
            {
                "call_sid": call_sid,
                "status_history": {
                    "$not": {
                        "$elemMatch": {
                            "status": event.status,
                            "sequence_number": event.sequence_number,
                        }
                    }
                },
            },
            {"$push": {"status_history": entry}, "$set": {"updated_at": event.at}},
        )
        rank = STATUS_RANK.get(event.status, 3)
        update: Document = {"status": event.status, "status_rank": rank}
        if event.duration_s is not None and event.status in TERMINAL_STATUSES:
            update["duration_s"] = event.duration_s
        doc = await self._c.find_one_and_update(
            {"call_sid": call_sid, "status_rank": {"$lt": rank}},
            {"$set": update},
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            doc = await self._c.find_one({"call_sid": call_sid})
        return _record(doc) if doc is not None else None

    async def mark_time(self, call_sid: str, name: str, at: datetime) -> bool:
        """Set a named timing once; the first writer wins, so retries cannot move it."""
        result = await self._c.update_one(
            {"call_sid": call_sid, f"timings.{name}": {"$exists": False}},
            {"$set": {f"timings.{name}": at, "updated_at": at}},
        )
        return result.modified_count == 1

    async def claim_stream(self, call_sid: str, stream_sid: str, at: datetime) -> StreamClaim:
        """Bind the call's one media stream: "claimed", "duplicate" or "unknown".

        Atomic in the database, so a second stream is refused even on another worker.
        """
        return await self._claim(call_sid, "stream", {"sid": stream_sid}, "stream_started", at)

    async def _claim(
        self, call_sid: str, field: str, ids: Document, timing: str, at: datetime
    ) -> StreamClaim:
        key = next(iter(ids))
        result = await self._c.update_one(
            {"call_sid": call_sid, f"{field}.{key}": {"$exists": False}},
            {
                "$set": {
                    field: {**ids, "started_at": at},
                    f"timings.{timing}": at,
                    "updated_at": at,
                }
            },
        )
        if result.modified_count == 1:
            return "claimed"
        exists = await self._c.count_documents({"call_sid": call_sid}, limit=1)
        return "duplicate" if exists else "unknown"

    async def _set(self, call_sid: str, fields: Document, at: datetime) -> bool:
        result = await self._c.update_one(
            {"call_sid": call_sid}, {"$set": {**fields, "updated_at": at}}
        )
        return result.matched_count == 1

    async def _push(self, call_sid: str, field: str, entry: Document) -> bool:
        result = await self._c.update_one({"call_sid": call_sid}, {"$push": {field: entry}})
        return result.matched_count == 1

    async def add_engine(self, call_sid: str, use: EngineUse) -> bool:
        """The engine that runs the call from now on (realtime, relay), and why."""
        return await self._push(call_sid, "engines", use.model_dump())

    async def claim_relay(self, call_sid: str, session_id: str, at: datetime) -> StreamClaim:
        """Bind the call's one ConversationRelay session, atomically across workers."""
        return await self._claim(call_sid, "relay", {"session_id": session_id}, "relay_started", at)

    async def record_relay_end(self, call_sid: str, end: RelayEnd, at: datetime) -> bool:
        return await self._set(
            call_sid,
            {
                "relay.stopped_at": at,
                "relay.end": end.reason,
                "relay.prompts": end.prompts,
                "relay.interrupts": end.interrupts,
                "relay.errors": end.errors,
                "relay.bad_input": end.bad_input,
            },
            at,
        )

    async def add_keypress(
        self, call_sid: str, digit: str, at: datetime, n: int | None = None
    ) -> bool:
        """A keypad digit the caller pressed; false if the call is unknown.

        A numbered keypress is recorded once per number, so a journaled one replayed after
        a crash is not stored twice (times alone cannot tell: a flood of one digit shares
        a millisecond, the precision MongoDB keeps)."""
        entry = Keypress(digit=digit, at=at, n=n).model_dump(exclude_none=True)
        query: Document = {"call_sid": call_sid}
        if n is not None:
            query["dtmf"] = {"$not": {"$elemMatch": {"n": n}}}
        result = await self._c.update_one(query, {"$push": {"dtmf": entry}})
        if result.matched_count == 1:
            return True
        return await self._c.count_documents({"call_sid": call_sid}, limit=1) == 1

    async def add_stream_status(self, call_sid: str, status: StreamStatus) -> bool:
        """One of Twilio's stream status callbacks, stored once however often it is sent
        (a captured callback can be replayed at will), and at most MAX_STREAM_EVENTS of
        them; false if the call is unknown."""
        key = f"{status.stream_sid or '-'}:{status.event}"
        await self._c.update_one(
            {
                "call_sid": call_sid,
                "stream_event_keys": {"$ne": key},
                f"stream_events.{MAX_STREAM_EVENTS - 1}": {"$exists": False},
            },
            {
                "$push": {
                    "stream_events": status.model_dump(exclude_none=True),
                    "stream_event_keys": key,
                }
            },
        )
        return await self._c.count_documents({"call_sid": call_sid}, limit=1) == 1

    async def set_unavailable(self, call_sid: str, reason: str, at: datetime) -> bool:
        """Why the call was answered without an interview (line off, worker full)."""
        return await self._set(call_sid, {"unavailable_reason": reason}, at)

    async def unplayed_greeting(
        self, call_sid: str, response_id: str, usd: float, at: datetime
    ) -> bool:
        """A greeting generated ahead and never played, keyed by its response (so a replayed
        write sets the same value again)."""
        return await self._set(call_sid, {f"unplayed_greetings_usd.{response_id}": usd}, at)

    async def set_running_cost(self, call_sid: str, usd: float, at: datetime) -> bool:
        """The cost so far, while the call lasts, so an interrupted call still has one."""
        return await self._set(call_sid, {"cost.running_usd": usd}, at)

    async def record_stream_end(self, call_sid: str, end: StreamEnd, at: datetime) -> bool:
        return await self._set(
            call_sid,
            {
                "stream.stopped_at": at,
                "stream.end": end.reason,
                "stream.frames_in": end.frames_in,
                "stream.marks_in": end.marks_in,
                "stream.bad_input": end.bad_input,
            },
            at,
        )

    async def record_outcome(self, call_sid: str, outcome: CallOutcome, at: datetime) -> bool:
        """What the interview left: completion, report, cost breakdown, latency, counts.

        A report or cost that could not be computed is left out, not erased: the running
        cost stored during the call stays."""
        fields = {k: v for k, v in outcome.model_dump(mode="json").items() if v is not None}
        if outcome.cost is not None:
            fields["cost"] = outcome.cost.model_dump(mode="json", exclude_none=True)
        return await self._set(call_sid, fields, at)

    async def finalize(self, call_sid: str, reason: str, at: datetime) -> bool:
        """Mark the call ended exactly once across retries and workers; true for the winner."""
        result = await self._c.update_one(
            {"call_sid": call_sid, "timings.ended": {"$exists": False}},
            {"$set": {"timings.ended": at, "ended_reason": reason, "updated_at": at}},
        )
        return result.modified_count == 1

    async def list(
        self, flt: CallFilter | None = None, *, offset: int = 0, limit: int = 50
    ) -> CallPage:
        """Newest first, with the total so pages can show 'n of m'."""
        if offset < 0:
            raise ValueError("offset must not be negative")
        if not 1 <= limit <= MAX_PAGE:
            raise ValueError(f"limit must be between 1 and {MAX_PAGE}")
        query = _query(flt or CallFilter())
        cursor = (
            self._c.find(query).sort([("created_at", -1), ("_id", -1)]).skip(offset).limit(limit)
        )
        items = [_record(doc) async for doc in cursor]
        total = await self._c.count_documents(query)
        return CallPage(items=items, total=total, offset=offset, limit=limit)
