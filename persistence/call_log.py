"""The call log as the recruiter API reads it: filtered, keyset-paged, and erased on request.

Beside `persistence.calls` (which owns the writes of a live call), so the API's reading
and erasing stay in one place.
"""

from __future__ import annotations

from datetime import datetime

from persistence._types import Collection, Database, Document
from persistence.queries import both, equal, on_channel, within
from persistence.records import CallRecord

MAX_PAGE = 200


def call_filter(
    *,
    status: str | None = None,
    outcome: str | None = None,
    direction: str | None = None,
    channel: str | None = None,
    template_id: str | None = None,
    interview_id: str | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    min_score: float | None = None,
    max_score: float | None = None,
) -> Document:
    query = equal(
        status=status,
        completion=outcome,
        direction=direction,
        template_id=template_id,
        interview_id=interview_id,
    )
    query.update(on_channel(channel))
    within(query, "created_at", created_from, created_to)
    return within(query, "report.score", min_score, max_score, upper="$lte")


class CallLog:
    def __init__(self, db: Database) -> None:
        self._calls: Collection = db["calls"]
        self._turns: Collection = db["turns"]
        self._evaluations: Collection = db["evaluations"]

    async def page(
        self, query: Document, after: tuple[datetime, str] | None, limit: int
    ) -> list[CallRecord]:
        """Newest first, after a (created_at, call_sid) position; ask for one more than a
        page to learn whether another follows."""
        if not 1 <= limit <= MAX_PAGE + 1:
            raise ValueError(f"limit must be between 1 and {MAX_PAGE + 1}")
        position: Document = {}
        if after is not None:  # calls are keyed by call_sid
            at, last = after
            position = {
                "$or": [
                    {"created_at": {"$lt": at}},
                    {"created_at": at, "call_sid": {"$lt": last}},
                ]
            }
        cursor = (
            self._calls.find(both(query, position))
            .sort([("created_at", -1), ("call_sid", -1)])
            .limit(limit)
        )
        return [CallRecord.model_validate(doc) async for doc in cursor]

    async def erase(self, call_sids: list[str]) -> None:
        """Erasure: no transcript, no evaluation text, no digit keyed, no masked number;
        durations, costs, latency and scores stay."""
        if not call_sids:
            return
        calls = {"call_sid": {"$in": call_sids}}
        await self._turns.delete_many(calls)
        await self._evaluations.update_many(
            calls,
            {"$set": {"key_points_covered": [], "notes": None, "next_action": "erased"}},
        )
        async for doc in self._calls.find(calls):
            report = doc.get("report")
            fields: Document = {
                "from_masked": "erased",
                "to_masked": "erased",
                "dtmf": [],
                "erased": True,
            }
            if isinstance(report, dict):
                fields["report.summary"] = None
                fields["report.questions"] = [
                    {
                        **{k: q.get(k) for k in ("index", "final_quality", "coverage", "score")},
                        "follow_up_needed": q.get("follow_up_needed", False),
                        "text": q.get("text", ""),
                        "evaluations": [],
                        "key_points_covered": [],
                        "key_points_missing": [],
                        "other_points": [],
                    }
                    for q in report.get("questions", [])
                ]
            await self._calls.update_one({"_id": doc["_id"]}, {"$set": fields})
