"""What the outbound dialer shares between workers: claims on due interviews (leases), the
account's pace of call creations, the outbound calls in progress (slots), each call's
machine-detection verdict and the candidate's confirmation, and the do-not-call list
(hashes of numbers only).

Every write is conditional, so any number of workers on any number of hosts may run the
dialer: an interview is dialed once per attempt, and the limits hold across all of them.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import BulkWriteError, DuplicateKeyError

from persistence._types import Collection, Document
from persistence.api_records import Attempt, InterviewRecord

PACE_ID = "twilio_calls"


def _interview(doc: Document) -> InterviewRecord:
    return InterviewRecord.model_validate({**doc, "id": doc["_id"]})


class Dialing:
    def __init__(
        self,
        interviews: Collection,
        calls: Collection,
        pacing: Collection,
        slots: Collection,
        do_not_call: Collection,
    ) -> None:
        self._interviews = interviews
        self._calls = calls
        self._pacing = pacing
        self._slots = slots
        self._dnc = do_not_call

    # -- claims on due interviews ------------------------------------------------------

    async def claim_due(
        self, owner: str, now: datetime, lease: timedelta
    ) -> InterviewRecord | None:
        """The most overdue scheduled interview no live claim holds, now held by `owner`."""
        doc = await self._interviews.find_one_and_update(
            {
                "status": "scheduled",
                "next_attempt_at": {"$lte": now},
                "$or": [{"dial_lease_until": None}, {"dial_lease_until": {"$lt": now}}],
            },
            {"$set": {"dial_lease_owner": owner, "dial_lease_until": now + lease}},
            sort=[("next_attempt_at", 1), ("_id", 1)],
            return_document=ReturnDocument.AFTER,
        )
        return _interview(doc) if doc is not None else None

    async def renew(self, interview_id: str, owner: str, until: datetime) -> bool:
        result = await self._interviews.update_one(
            {"_id": interview_id, "dial_lease_owner": owner}, {"$set": {"dial_lease_until": until}}
        )
        return result.matched_count == 1

    async def release(
        self, interview_id: str, owner: str, next_at: datetime | None, now: datetime
    ) -> bool:
        """Give the claim back, moving the attempt to `next_at` (None: leave it)."""
        fields: Document = {"dial_lease_owner": None, "dial_lease_until": None, "updated_at": now}
        if next_at is not None:
            fields["next_attempt_at"] = next_at
        result = await self._interviews.update_one(
            {"_id": interview_id, "dial_lease_owner": owner, "status": "scheduled"},
            {"$set": fields},
        )
        return result.modified_count == 1

    async def placed(
        self, interview_id: str, owner: str, attempt: Attempt, slot: int, now: datetime
    ) -> bool:
        """The call was created: the attempt is kept and the interview is in progress."""
        result = await self._interviews.update_one(
            {"_id": interview_id, "dial_lease_owner": owner, "status": "scheduled"},
            {
                "$push": {"attempts": attempt.model_dump()},
                "$set": {
                    "status": "in_progress",
                    "live_call": {"call_sid": attempt.call_sid, "slot": slot},
                    "next_attempt_at": None,
                    "dial_lease_owner": None,
                    "dial_lease_until": None,
                    "updated_at": now,
                },
            },
        )
        return result.modified_count == 1

    async def refused(
        self,
        interview_id: str,
        owner: str,
        attempt: Attempt,
        error: dict[str, Any],
        next_at: datetime | None,
        now: datetime,
    ) -> InterviewRecord | None:
        """Twilio would not create the call: the attempt is kept with Twilio's error, and
        the interview waits for `next_at` (None: it has no attempt left)."""
        fields: Document = {
            "dial_lease_owner": None,
            "dial_lease_until": None,
            "next_attempt_at": next_at,
            "updated_at": now,
        }
        doc = await self._interviews.find_one_and_update(
            {"_id": interview_id, "dial_lease_owner": owner, "status": "scheduled"},
            {"$push": {"attempts": {**attempt.model_dump(), "error": error}}, "$set": fields},
            return_document=ReturnDocument.AFTER,
        )
        return _interview(doc) if doc is not None else None

    async def called_in(
        self, interview_id: str, template_id: str, attempt: Attempt, now: datetime
    ) -> bool:
        """A candidate called in with the interview's code: the call is one of its attempts
        (settled like a dialed one), and uses its template. False while a call is live."""
        result = await self._interviews.update_one(
            {"_id": interview_id, "status": "scheduled", "live_call": None},
            {
                "$push": {"attempts": {**attempt.model_dump(), "direction": "inbound"}},
                "$set": {
                    "status": "in_progress",
                    "live_call": {"call_sid": attempt.call_sid, "slot": None},
                    "next_attempt_at": None,
                    "updated_at": now,
                },
            },
        )
        if result.modified_count != 1:
            return False
        await self._calls.update_one(
            {"call_sid": attempt.call_sid},
            {"$set": {"interview_id": interview_id, "template_id": template_id}},
        )
        return True

    # -- calls in progress -------------------------------------------------------------

    async def live(self, limit: int = 200) -> list[InterviewRecord]:
        """Interviews with a placed call not yet settled."""
        cursor = self._interviews.find({"live_call": {"$ne": None}}).limit(limit)
        return [_interview(doc) async for doc in cursor]

    async def by_live_call(self, call_sid: str) -> InterviewRecord | None:
        doc = await self._interviews.find_one({"live_call.call_sid": call_sid})
        return _interview(doc) if doc is not None else None

    async def settled(
        self,
        interview_id: str,
        call_sid: str,
        index: int,
        outcome: str,
        next_at: datetime | None,
        now: datetime,
    ) -> bool:
        """Record how the attempt ended, once (the first settler wins); an interview still
        in progress is scheduled again at `next_at`, or stays for the caller to close."""
        base = {
            f"attempts.{index}.outcome": outcome,
            f"attempts.{index}.ended_at": now,
            "live_call": None,
            "updated_at": now,
        }
        result = await self._interviews.update_one(
            {"_id": interview_id, "live_call.call_sid": call_sid}, {"$set": base}
        )
        if result.modified_count != 1:
            return False
        if next_at is not None:
            await self._interviews.update_one(
                {"_id": interview_id, "status": "in_progress"},
                {"$set": {"status": "scheduled", "next_attempt_at": next_at, "requested_at": None}},
            )
        return True

    async def ask_again(self, interview_id: str, call_sid: str, index: int, at: datetime) -> None:
        """A live call past its expected end: Twilio is asked about it again at `at`."""
        await self._interviews.update_one(
            {"_id": interview_id, "live_call.call_sid": call_sid},
            {"$set": {f"attempts.{index}.ends_by": at}},
        )

    async def attempt_error(
        self, interview_id: str, call_sid: str, index: int, error: dict[str, Any]
    ) -> None:
        """Why an attempt failed, kept beside its outcome (as a refused creation's is)."""
        await self._interviews.update_one(
            {"_id": interview_id, "live_call.call_sid": call_sid},
            {"$set": {f"attempts.{index}.error": error}},
        )

    async def reschedule(self, interview_id: str, at: datetime, now: datetime) -> bool:
        """The candidate asked for another time: the next attempt is then."""
        result = await self._interviews.update_one(
            {"_id": interview_id, "status": {"$in": ["scheduled", "in_progress"]}},
            {"$set": {"requested_at": at, "updated_at": now}},
        )
        return result.matched_count == 1

    async def opted_out(self, interview_id: str, now: datetime) -> None:
        await self._interviews.update_one(
            {"_id": interview_id}, {"$set": {"opted_out_at": now, "updated_at": now}}
        )

    async def requests(self, interview_id: str) -> tuple[datetime | None, datetime | None]:
        """What the candidate asked on the call: (another time, no more calls)."""
        doc = await self._interviews.find_one(
            {"_id": interview_id}, {"requested_at": 1, "opted_out_at": 1}
        )
        doc = doc or {}
        return doc.get("requested_at"), doc.get("opted_out_at")

    # -- the account's pace ------------------------------------------------------------

    async def pace(self, now_s: float, interval_s: float) -> float:
        """Reserve the next creation time (unix seconds), at least `interval_s` after the
        one before it, whichever worker took that; compare-and-set, retried on a race."""
        while True:
            doc = await self._pacing.find_one({"_id": PACE_ID})
            if doc is None:
                try:
                    await self._pacing.insert_one({"_id": PACE_ID, "next_s": now_s + interval_s})
                except DuplicateKeyError:
                    continue
                return now_s
            start = max(now_s, float(doc["next_s"]))
            result = await self._pacing.update_one(
                {"_id": PACE_ID, "next_s": doc["next_s"]},
                {"$set": {"next_s": start + interval_s}},
            )
            if result.modified_count == 1:
                return start

    # -- simultaneous outbound calls ---------------------------------------------------

    async def ensure_slots(self, count: int) -> None:
        docs = [{"_id": i, "holder": None, "until": None} for i in range(count)]
        # Slots another worker (or a previous start) made stay as they are.
        with contextlib.suppress(BulkWriteError):
            await self._slots.insert_many(docs, ordered=False)

    async def take_slot(
        self, holder: str, count: int, now: datetime, lease: timedelta
    ) -> int | None:
        """One of `count` slots, free or with a lapsed lease; None when all are held."""
        doc = await self._slots.find_one_and_update(
            {
                "_id": {"$lt": count},
                "$or": [{"holder": None}, {"until": {"$lt": now}}],
            },
            {"$set": {"holder": holder, "until": now + lease}},
            sort=[("_id", 1)],
            return_document=ReturnDocument.AFTER,
        )
        return int(doc["_id"]) if doc is not None else None

    async def free_slot(self, holder: str) -> bool:
        result = await self._slots.update_one(
            {"holder": holder}, {"$set": {"holder": None, "until": None}}
        )
        return result.modified_count == 1

    async def slots_held(self, now: datetime) -> int:
        return await self._slots.count_documents({"holder": {"$ne": None}, "until": {"$gte": now}})

    # -- the call's machine-detection verdict ------------------------------------------

    async def record_amd(
        self, call_sid: str, answered_by: str, detection_ms: int | None, now: datetime
    ) -> bool:
        """The verdict and how long it took, stored once on the call."""
        result = await self._calls.update_one(
            {"call_sid": call_sid, "amd": None},
            {
                "$set": {
                    "amd": {"answered_by": answered_by, "detection_ms": detection_ms, "at": now},
                    "updated_at": now,
                }
            },
        )
        return result.modified_count == 1

    async def voicemail_once(self, call_sid: str, now: datetime) -> bool:
        """True for the one caller that leaves the message on this call, and only while
        the candidate has not confirmed who they are (`confirmed`, on the same document,
        so one of the two wins)."""
        result = await self._calls.update_one(
            {
                "call_sid": call_sid,
                "amd": {"$ne": None},
                "amd.voicemail_at": None,
                "confirmed_at": None,
            },
            {"$set": {"amd.voicemail_at": now}},
        )
        return result.modified_count == 1

    async def confirmed(self, interview_id: str, call_sid: str, now: datetime) -> bool:
        """The candidate said who they are and that now suits: stored on the call and its
        attempt, once; false when a voicemail message is already being left."""
        result = await self._calls.update_one(
            {"call_sid": call_sid, "confirmed_at": None, "amd.voicemail_at": None},
            {"$set": {"confirmed_at": now, "updated_at": now}},
        )
        if result.modified_count == 1:
            await self._interviews.update_one(
                {"_id": interview_id, "attempts.call_sid": call_sid},
                {"$set": {"attempts.$.confirmed_at": now}},
            )
            return True
        return await self.confirmed_at(call_sid) is not None

    async def confirmed_at(self, call_sid: str) -> datetime | None:
        doc = await self._calls.find_one({"call_sid": call_sid}, {"confirmed_at": 1})
        found = doc.get("confirmed_at") if doc else None
        return found if isinstance(found, datetime) else None

    async def amd_ignored(self, call_sid: str, why: str) -> None:
        await self._calls.update_one({"call_sid": call_sid}, {"$set": {"amd.ignored": why}})

    async def amd(self, call_sid: str) -> Document | None:
        doc = await self._calls.find_one({"call_sid": call_sid}, {"amd": 1})
        found = doc.get("amd") if doc else None
        return found if isinstance(found, dict) else None

    # -- do not call -------------------------------------------------------------------

    async def add_do_not_call(self, number_hash: str, now: datetime, source: str) -> None:
        await self._dnc.update_one(
            {"_id": number_hash},
            {"$setOnInsert": {"at": now, "source": source}},
            upsert=True,
        )

    async def on_do_not_call(self, number_hash: str) -> bool:
        return await self._dnc.count_documents({"_id": number_hash}, limit=1) == 1

    async def open_for_number(self, phone: str) -> list[str]:
        cursor = self._interviews.find(
            {"candidate.phone": phone, "status": {"$in": ["scheduled", "in_progress"]}}, {"_id": 1}
        )
        return [str(doc["_id"]) async for doc in cursor]
