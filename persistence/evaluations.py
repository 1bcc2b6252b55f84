"""The `evaluations` collection: one document per evaluate_candidate_answer call."""

from __future__ import annotations

from dataclasses import asdict

from pymongo.errors import DuplicateKeyError

from persistence._types import Collection, Document
from persistence.models import Evaluation


def _evaluation(doc: Document) -> Evaluation:
    return Evaluation(
        call_sid=doc["call_sid"],
        question_index=doc.get("question_index"),
        answer_quality=doc["answer_quality"],
        key_points_covered=list(doc.get("key_points_covered", [])),
        next_action=doc["next_action"],
        follow_up_needed=doc["follow_up_needed"],
        created_at=doc["created_at"],
        tool_call_id=doc.get("tool_call_id"),
        notes=doc.get("notes"),
    )


class Evaluations:
    def __init__(self, collection: Collection) -> None:
        self._c = collection

    async def add(self, evaluation: Evaluation) -> bool:
        """Store once: a retried write of the same tool call is recognized by its id."""
        doc = asdict(evaluation)
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
