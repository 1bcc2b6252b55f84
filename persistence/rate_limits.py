"""The `rate_limits` collection: requests counted per API key and fixed window, shared
by every worker, each window's counter expiring on its own (a TTL index)."""

from __future__ import annotations

from datetime import datetime, timedelta

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from persistence._types import Collection

_RACE_RETRIES = 10


class RateCounters:
    def __init__(self, collection: Collection) -> None:
        self._c = collection

    async def hit(self, key_id: str, window_start: datetime, window: timedelta) -> int:
        """Count one request in the window; the count including it."""
        query = {"_id": f"{key_id}:{int(window_start.timestamp())}"}
        update = {"$inc": {"n": 1}, "$setOnInsert": {"expires_at": window_start + 2 * window}}
        # Two first requests of a window can race on the insert; the loser retries the
        # upsert, which then finds the winner's document (MongoDB's own advice).
        for _ in range(_RACE_RETRIES):
            try:
                doc = await self._c.find_one_and_update(
                    query, update, upsert=True, return_document=ReturnDocument.AFTER
                )
            except DuplicateKeyError:
                continue
            if doc is not None:
                break
        else:
            raise RuntimeError(f"rate counter {query['_id']} lost {_RACE_RETRIES} races")
        count: int = doc["n"]
        return count
