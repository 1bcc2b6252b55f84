"""The `turns` collection: the transcript, one document per utterance, written as it completes."""

from __future__ import annotations

from datetime import UTC, datetime

from pymongo.errors import DuplicateKeyError

from persistence._types import Collection, Document
from persistence.records import Turn


def _turn(doc: Document) -> Turn:
    return Turn.model_validate(doc)


class Turns:
    def __init__(self, collection: Collection) -> None:
        self._c = collection

    async def append(self, turn: Turn) -> bool:
        """Store a turn; false if that (call, seq) is already stored, so retries are harmless."""
        if turn.seq < 0:
            raise ValueError("seq must not be negative")
        if turn.created_at is None:
            turn = turn.model_copy(update={"created_at": datetime.now(UTC)})
        try:
            await self._c.insert_one(turn.model_dump())
        except DuplicateKeyError:
            return False
        return True

    async def for_call(self, call_sid: str) -> list[Turn]:
        cursor = self._c.find({"call_sid": call_sid}).sort("seq", 1)
        return [_turn(doc) async for doc in cursor]

    async def last_seq(self, call_sid: str) -> int | None:
        doc = await self._c.find_one({"call_sid": call_sid}, sort=[("seq", -1)])
        return None if doc is None else int(doc["seq"])
