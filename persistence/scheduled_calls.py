"""The `scheduled_calls` collection: outbound calls waiting for a dialer.

Dialers on any number of workers claim due calls atomically with a lease, so a
call is dialed once, and a dialer that dies mid-claim releases it when the lease ends.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import ReturnDocument

from persistence._types import Collection, Document
from persistence.records import ScheduledCall, ScheduledStatus


def _scheduled(doc: Document) -> ScheduledCall:
    return ScheduledCall.model_validate({**doc, "id": str(doc["_id"])})


def _oid(scheduled_id: str) -> ObjectId | None:
    try:
        return ObjectId(scheduled_id)
    except (InvalidId, TypeError):
        return None


class ScheduledCalls:
    def __init__(self, collection: Collection) -> None:
        self._c = collection

    async def add(
        self, to_number: str, template_id: str, run_at: datetime, at: datetime
    ) -> ScheduledCall:
        doc: Document = {
            "to_number": to_number,
            "template_id": template_id,
            "run_at": run_at,
            "status": "pending",
            "created_at": at,
            "attempts": 0,
        }
        result = await self._c.insert_one(doc)
        doc["_id"] = result.inserted_id
        return _scheduled(doc)

    async def get(self, scheduled_id: str) -> ScheduledCall | None:
        oid = _oid(scheduled_id)
        if oid is None:
            return None
        doc = await self._c.find_one({"_id": oid})
        return _scheduled(doc) if doc is not None else None

    async def claim_due(self, owner: str, now: datetime, lease: timedelta) -> ScheduledCall | None:
        """Atomically take the oldest due call, or one whose previous claim's lease ran out."""
        doc = await self._c.find_one_and_update(
            {
                "run_at": {"$lte": now},
                "$or": [
                    {"status": "pending"},
                    {"status": "claimed", "lease_until": {"$lt": now}},
                ],
            },
            {
                "$set": {"status": "claimed", "lease_owner": owner, "lease_until": now + lease},
                "$inc": {"attempts": 1},
            },
            sort=[("run_at", 1), ("_id", 1)],
            return_document=ReturnDocument.AFTER,
        )
        return _scheduled(doc) if doc is not None else None

    async def settle(
        self,
        scheduled_id: str,
        owner: str,
        status: ScheduledStatus,
        *,
        call_sid: str | None = None,
        error: str | None = None,
    ) -> bool:
        """Record the outcome of a claim; false if the claim was lost to another dialer."""
        oid = _oid(scheduled_id)
        if oid is None:
            return False
        update: Document = {"status": status, "lease_until": None}
        if call_sid is not None:
            update["call_sid"] = call_sid
        if error is not None:
            update["last_error"] = error
        result = await self._c.update_one(
            {"_id": oid, "status": "claimed", "lease_owner": owner}, {"$set": update}
        )
        return result.modified_count == 1

    async def cancel(self, scheduled_id: str) -> bool:
        """Cancel a call that has not been claimed yet."""
        oid = _oid(scheduled_id)
        if oid is None:
            return False
        result = await self._c.update_one(
            {"_id": oid, "status": "pending"}, {"$set": {"status": "canceled"}}
        )
        return result.modified_count == 1

    async def list(
        self, status: ScheduledStatus | None = None, limit: int = 100
    ) -> list[ScheduledCall]:
        query: Document = {} if status is None else {"status": status}
        cursor = self._c.find(query).sort([("run_at", 1), ("_id", 1)]).limit(limit)
        return [_scheduled(doc) async for doc in cursor]
