"""The `interviews` collection: candidates to interview by phone, their planned attempts and
results; and `interview_codes`, the 6-digit codes of the open ones.

The one place a full phone number is stored, because the dialer must dial it; erasure
removes it with everything else that names the candidate.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from persistence._types import Collection, Document
from persistence.api_records import (
    OPEN_STATUSES,
    Attempt,
    InterviewFilter,
    InterviewRecord,
    InterviewResult,
    InterviewStatus,
    NewInterview,
)
from persistence.queries import both, equal, keyset, within

MAX_PAGE = 200


class CodeTaken(ValueError):
    """Another open interview holds this code; draw another."""


def _interview(doc: Document) -> InterviewRecord:
    return InterviewRecord.model_validate({**doc, "id": doc["_id"]})


class Interviews:
    def __init__(self, collection: Collection, codes: Collection) -> None:
        self._c = collection
        self._codes = codes

    async def create(self, new: NewInterview) -> tuple[InterviewRecord, bool]:
        """Store the interview; if its id exists (a retried request), return that one and
        False. Raises CodeTaken when its code belongs to another open interview."""
        try:
            await self._codes.insert_one({"_id": new.code, "interview_id": new.id})
        except DuplicateKeyError:
            existing = await self.get(new.id)
            if existing is not None:
                return existing, False
            raise CodeTaken(new.code) from None
        doc: Document = new.model_dump(exclude={"id"})
        doc.update(
            _id=new.id,
            status="scheduled",
            updated_at=new.created_at,
            next_attempt_at=new.planned[0] if new.planned else None,
            attempts=[],
        )
        try:
            await self._c.insert_one(doc)
        except DuplicateKeyError:
            await self._codes.delete_one({"_id": new.code, "interview_id": new.id})
            existing = await self.get(new.id)
            if existing is None:
                raise
            return existing, False
        return _interview(doc), True

    async def get(self, interview_id: str) -> InterviewRecord | None:
        doc = await self._c.find_one({"_id": interview_id})
        return _interview(doc) if doc is not None else None

    async def by_code(self, code: str) -> InterviewRecord | None:
        """The open interview holding this 6-digit code."""
        held = await self._codes.find_one({"_id": code})
        return await self.get(str(held["interview_id"])) if held is not None else None

    async def page(
        self, flt: InterviewFilter, after: tuple[datetime, str] | None, limit: int
    ) -> list[InterviewRecord]:
        """Newest first; one more than `limit` tells the caller another page exists."""
        if not 1 <= limit <= MAX_PAGE + 1:
            raise ValueError(f"limit must be between 1 and {MAX_PAGE + 1}")
        query = equal(status=flt.status, template_id=flt.template_id)
        within(query, "created_at", flt.created_from, flt.created_to)
        query = both(query, keyset(after))
        cursor = self._c.find(query).sort([("created_at", -1), ("_id", -1)]).limit(limit)
        return [_interview(doc) async for doc in cursor]

    async def _close(
        self,
        interview_id: str,
        status: InterviewStatus,
        at: datetime,
        extra: Document,
        only: tuple[str, ...] = OPEN_STATUSES,
    ) -> InterviewRecord | None:
        """Move an interview in one of `only` to a closed status, freeing its code."""
        doc = await self._c.find_one_and_update(
            {"_id": interview_id, "status": {"$in": list(only)}},
            {"$set": {"status": status, "updated_at": at, "next_attempt_at": None, **extra}},
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            return None
        await self._codes.delete_one({"_id": doc["code"], "interview_id": interview_id})
        return _interview(doc)

    async def cancel(self, interview_id: str, at: datetime) -> InterviewRecord | None:
        """Cancel an interview still scheduled; None if it is not (any more)."""
        return await self._close(interview_id, "canceled", at, {}, only=("scheduled",))

    async def withdraw(self, interview_id: str, at: datetime) -> InterviewRecord | None:
        """Cancel an open interview, even one in progress (the candidate opted out)."""
        return await self._close(interview_id, "canceled", at, {})

    async def reschedule(
        self, interview_id: str, changes: dict[str, Any], planned: list[datetime], at: datetime
    ) -> InterviewRecord | None:
        """New timing for a scheduled interview; None if it is no longer scheduled."""
        doc = await self._c.find_one_and_update(
            {"_id": interview_id, "status": "scheduled"},
            {
                "$set": {
                    **changes,
                    "planned": planned,
                    "next_attempt_at": planned[0] if planned else None,
                    "updated_at": at,
                }
            },
            return_document=ReturnDocument.AFTER,
        )
        return _interview(doc) if doc is not None else None

    async def add_attempt(self, interview_id: str, attempt: Attempt, at: datetime) -> bool:
        """A dial begins (the dialer's write): the interview is in progress."""
        result = await self._c.update_one(
            {"_id": interview_id, "status": {"$in": list(OPEN_STATUSES)}},
            {
                "$push": {"attempts": attempt.model_dump()},
                "$set": {"status": "in_progress", "updated_at": at},
            },
        )
        return result.modified_count == 1

    async def attempt_ended(
        self, interview_id: str, call_sid: str, outcome: str, at: datetime
    ) -> InterviewRecord | None:
        """Record how one attempt ended; the interview as it is then, or None if unknown."""
        doc = await self._c.find_one({"_id": interview_id, "attempts.call_sid": call_sid})
        if doc is None:
            return None
        # By index, guarded by the call: the positional `$` is not in every server's dialect.
        index = next(i for i, a in enumerate(doc["attempts"]) if a.get("call_sid") == call_sid)
        doc = await self._c.find_one_and_update(
            {"_id": interview_id, f"attempts.{index}.call_sid": call_sid},
            {
                "$set": {
                    f"attempts.{index}.ended_at": at,
                    f"attempts.{index}.outcome": outcome,
                    "updated_at": at,
                }
            },
            return_document=ReturnDocument.AFTER,
        )
        return _interview(doc) if doc is not None else None

    async def complete(
        self, interview_id: str, result: InterviewResult, at: datetime
    ) -> InterviewRecord | None:
        """Close with a result; None if it was already closed (so events go out once)."""
        return await self._close(
            interview_id, "completed", at, {"result": result.model_dump(mode="json")}
        )

    async def fail(self, interview_id: str, at: datetime) -> InterviewRecord | None:
        """Every attempt was used without an interview; None if already closed."""
        return await self._close(interview_id, "failed", at, {})

    async def expiring(self, now: datetime, limit: int = 100) -> list[InterviewRecord]:
        """Open interviews whose time is up."""
        cursor = self._c.find(
            {"status": {"$in": list(OPEN_STATUSES)}, "expires_at": {"$lte": now}}
        ).limit(limit)
        return [_interview(doc) async for doc in cursor]

    async def expire(self, interview_id: str, now: datetime) -> InterviewRecord | None:
        """Close it as expired; None if it was closed already (by another worker)."""
        return await self._close(interview_id, "expired", now, {})

    async def template_in_use(self, template_id: str) -> bool:
        """Whether an interview that may still be dialed uses the template."""
        query = {"template_id": template_id, "status": {"$in": list(OPEN_STATUSES)}}
        return await self._c.count_documents(query, limit=1) > 0

    async def erase(self, interview_id: str, at: datetime) -> InterviewRecord | None:
        """Remove what names the candidate; keep the timings, counts and the score."""
        doc = await self._c.find_one({"_id": interview_id})
        if doc is None:
            return None
        result = doc.get("result") or None
        kept_result = (
            {k: result[k] for k in ("call_sid", "score", "recommendation", "completion")}
            if result
            else None
        )
        await self._codes.delete_one({"_id": doc["code"], "interview_id": interview_id})
        updated = await self._c.find_one_and_update(
            {"_id": interview_id},
            {
                "$set": {
                    "status": "erased",
                    "candidate": {"name": None, "phone": None},
                    # A hash of the request would confirm a guessed name or number.
                    "request_hash": "erased",
                    "variables": {},
                    "metadata": {},
                    "consent.source": "erased",
                    "next_attempt_at": None,
                    "result": kept_result,
                    "erased_at": at,
                    "updated_at": at,
                }
            },
            return_document=ReturnDocument.AFTER,
        )
        return _interview(updated) if updated is not None else None
