"""The interview queue as the ops console shows it, and its one write of its own: dial
now. The queue's states split the stored `scheduled` into never tried and retrying, and
call `in_progress` dialing."""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal, get_args

from persistence._types import Collection, Database, Document
from persistence.api_records import InterviewRecord
from persistence.queries import both, keyset

QueueState = Literal[
    "scheduled", "retrying", "dialing", "completed", "failed", "expired", "canceled", "erased"
]
QUEUE_STATES: Final[tuple[QueueState, ...]] = get_args(QueueState)
MAX_PAGE = 200
_QUERIES: Final[dict[QueueState, Document]] = {
    "scheduled": {"status": "scheduled", "attempts.0": {"$exists": False}},
    "retrying": {"status": "scheduled", "attempts.0": {"$exists": True}},
    "dialing": {"status": "in_progress"},
}


def queue_state(interview: InterviewRecord) -> QueueState:
    if interview.status == "scheduled":
        return "retrying" if interview.attempts else "scheduled"
    if interview.status == "in_progress":
        return "dialing"
    return interview.status


class InterviewQueue:
    def __init__(self, db: Database) -> None:
        self._c: Collection = db["interviews"]

    async def page(
        self, state: QueueState | None, after: tuple[datetime, str] | None, limit: int
    ) -> list[InterviewRecord]:
        """Newest first; one more than `limit` tells the caller another page exists."""
        if not 1 <= limit <= MAX_PAGE + 1:
            raise ValueError(f"limit must be between 1 and {MAX_PAGE + 1}")
        query: Document = {}
        if state is not None:
            query = _QUERIES.get(state, {"status": state})
        cursor = (
            self._c.find(both(query, keyset(after)))
            .sort([("created_at", -1), ("_id", -1)])
            .limit(limit)
        )
        return [InterviewRecord.model_validate({**d, "id": d["_id"]}) async for d in cursor]

    async def dial_now(self, interview_id: str, now: datetime) -> bool:
        """Bring a scheduled interview's next attempt forward to now; false if it is not
        scheduled (any more). The dialer takes it on its next round, still within the
        calling window it checks before every dial."""
        result = await self._c.update_one(
            {"_id": interview_id, "status": "scheduled"},
            {"$set": {"next_attempt_at": now, "updated_at": now}},
        )
        return result.modified_count == 1
