"""Webhook endpoints (`webhooks`) and the durable outbox of their deliveries
(`webhook_deliveries`).

An event is written once per subscribed endpoint, under an id made from the event and
the endpoint, so writing it again (a retried hook) changes nothing. Any worker's delivery
loop claims due entries with a lease, so two workers do not send the same one at once, and
an entry whose worker died is taken up again when its lease runs out.
"""

from __future__ import annotations

import builtins
from datetime import datetime, timedelta

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from persistence._types import Collection, Document
from persistence.api_records import Delivery, EventEntry, WebhookEndpoint
from persistence.queries import both, keyset


def _endpoint(doc: Document) -> WebhookEndpoint:
    return WebhookEndpoint.model_validate({**doc, "id": doc["_id"]})


def _delivery(doc: Document) -> Delivery:
    return Delivery.model_validate({**doc, "id": doc["_id"]})


class Webhooks:
    def __init__(self, endpoints: Collection, deliveries: Collection) -> None:
        self._e = endpoints
        self._d = deliveries

    async def add(self, endpoint: WebhookEndpoint) -> WebhookEndpoint:
        doc: Document = endpoint.model_dump(exclude={"id"})
        doc["_id"] = endpoint.id
        await self._e.insert_one(doc)
        return endpoint

    async def get(self, endpoint_id: str) -> WebhookEndpoint | None:
        doc = await self._e.find_one({"_id": endpoint_id, "disabled_at": None})
        return _endpoint(doc) if doc is not None else None

    async def list(self) -> list[WebhookEndpoint]:
        cursor = self._e.find({"disabled_at": None}).sort([("created_at", 1), ("_id", 1)])
        return [_endpoint(doc) async for doc in cursor]

    async def disable(self, endpoint_id: str, at: datetime) -> bool:
        """Stop sending to it; what it was sent stays visible, pending entries are dropped."""
        result = await self._e.update_one(
            {"_id": endpoint_id, "disabled_at": None}, {"$set": {"disabled_at": at}}
        )
        if result.modified_count == 1:
            await self._d.update_many(
                {"endpoint_id": endpoint_id, "status": {"$in": ["pending", "sending"]}},
                {"$set": {"status": "failed", "last_error": "endpoint deleted"}},
            )
        return result.modified_count == 1

    async def enqueue(self, entry: EventEntry, at: datetime) -> int:
        """One delivery per active endpoint subscribed to the event; how many were new."""
        added = 0
        async for endpoint in self._e.find({"disabled_at": None, "events": entry.event}):
            doc: Document = {
                "_id": f"{entry.event_id}:{endpoint['_id']}",
                "endpoint_id": endpoint["_id"],
                "event_id": entry.event_id,
                "event": entry.event,
                "payload": entry.payload,
                "interview_id": entry.interview_id,
                "status": "pending",
                "created_at": at,
                "next_at": at,
                "attempts": 0,
            }
            try:
                await self._d.insert_one(doc)
            except DuplicateKeyError:
                continue
            added += 1
        return added

    async def endpoint_of(self, delivery: Delivery) -> WebhookEndpoint | None:
        doc = await self._e.find_one({"_id": delivery.endpoint_id})
        return _endpoint(doc) if doc is not None else None

    async def claim(self, owner: str, now: datetime, lease: timedelta) -> Delivery | None:
        """Take the most overdue entry, or one whose sender's lease ran out."""
        doc = await self._d.find_one_and_update(
            {
                "next_at": {"$lte": now},
                "$or": [
                    {"status": "pending"},
                    {"status": "sending", "lease_until": {"$lt": now}},
                ],
            },
            {
                "$set": {"status": "sending", "lease_owner": owner, "lease_until": now + lease},
                "$inc": {"attempts": 1},
            },
            sort=[("next_at", 1), ("_id", 1)],
            return_document=ReturnDocument.AFTER,
        )
        return _delivery(doc) if doc is not None else None

    async def next_due(self) -> datetime | None:
        """When the earliest waiting entry is due, so an idle loop knows how long to wait."""
        doc = await self._d.find_one(
            {"status": {"$in": ["pending", "sending"]}}, sort=[("next_at", 1)]
        )
        if doc is None:
            return None
        due: datetime = doc["lease_until"] if doc["status"] == "sending" else doc["next_at"]
        return due

    async def delivered(self, delivery_id: str, owner: str, http_status: int, at: datetime) -> bool:
        return await self._settle(
            delivery_id,
            owner,
            {"status": "delivered", "delivered_at": at, "last_status": http_status},
        )

    async def retry(
        self,
        delivery_id: str,
        owner: str,
        next_at: datetime | None,
        *,
        http_status: int | None,
        error: str,
    ) -> bool:
        """Try again at `next_at`, or give up (None): the entry is then `failed`."""
        fields: Document = {"last_status": http_status, "last_error": error}
        if next_at is None:
            fields["status"] = "failed"
        else:
            fields.update(status="pending", next_at=next_at)
        return await self._settle(delivery_id, owner, fields)

    async def _settle(self, delivery_id: str, owner: str, fields: Document) -> bool:
        result = await self._d.update_one(
            {"_id": delivery_id, "status": "sending", "lease_owner": owner},
            {"$set": {**fields, "lease_owner": None, "lease_until": None}},
        )
        return result.modified_count == 1

    async def deliveries(
        self, endpoint_id: str, after: tuple[datetime, str] | None, limit: int
    ) -> builtins.list[Delivery]:
        """Newest first, keyset-paged like the other lists."""
        query = both({"endpoint_id": endpoint_id}, keyset(after))
        cursor = self._d.find(query).sort([("created_at", -1), ("_id", -1)]).limit(limit)
        return [_delivery(doc) async for doc in cursor]

    async def forget_interview(self, interview_id: str) -> int:
        """Erasure: the recruiter's metadata leaves the stored payloads of the interview."""
        result = await self._d.update_many(
            {"interview_id": interview_id}, {"$set": {"payload.data.metadata": {}}}
        )
        return result.modified_count
