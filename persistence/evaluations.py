"""The `evaluations` collection: one document per evaluate_candidate_answer call."""

from __future__ import annotations

from pymongo.errors import DuplicateKeyError

from persistence._types import Collection, Document
from persistence.records import Evaluation


def _evaluation(doc: Document) -> Evaluation:
    return Evaluation.model_validate(doc)


class Evaluations:
    def __init__(self, collection: Collection) -> None:
        self._c = collection

    async def add(self, evaluation: Evaluation) -> bool:
        """Store once: a retried write of the same tool call is recognized by its id."""
        doc = evaluation.model_dump()
        if evaluation.tool_call_id is not None:
            doc["_id"] = f"{evaluation.call_sid}:{evaluation.tool_call_id}"
        try:
            await self._c.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    async def for_call(self, call_sid: str) -> list[Evaluation]:
        cursor = self._c.find({"call_sid": call_sid}).sort([("created_at", 1), ("_id", 1)])
        return [_evaluation(doc) async for doc in cursor]
