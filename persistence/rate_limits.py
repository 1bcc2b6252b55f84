"""The `rate_limits` collection: requests counted per API key and fixed window, shared
by every worker, each window's counter expiring on its own (a TTL index)."""

from __future__ import annotations

from datetime import datetime, timedelta

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from persistence._types import Collection


class RateCounters:
    def __init__(self, collection: Collection) -> None:
        self._c = collection

    async def hit(self, key_id: str, window_start: datetime, window: timedelta) -> int:
        """Count one request in the window; the count including it."""
        query = {"_id": f"{key_id}:{int(window_start.timestamp())}"}
        update = {"$inc": {"n": 1}, "$setOnInsert": {"expires_at": window_start + 2 * window}}
        try:
            doc = await self._c.find_one_and_update(
                query, update, upsert=True, return_document=ReturnDocument.AFTER
            )
        except DuplicateKeyError:  # two first requests of a window raced; the other inserted
            doc = await self._c.find_one_and_update(
                query, update, return_document=ReturnDocument.AFTER
            )
        assert doc is not None  # upserted
        count: int = doc["n"]
        return count
