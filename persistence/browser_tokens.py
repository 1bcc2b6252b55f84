"""Tokens that let a signed-in console page open one browser test call's socket.

The page is given a random token; only its SHA-256 is stored, with the call it opens and
when it expires. Redeeming is one atomic update, so a token opens at most one socket on
any worker, and a TTL index removes old ones.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from persistence._types import Database
from persistence.records import Record


class BrowserTicket(Record):
    """What a redeemed token opens."""

    call_sid: str
    template_id: str


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class BrowserTokens:
    def __init__(self, db: Database) -> None:
        self._c = db["browser_call_tokens"]

    async def issue(
        self, token: str, ticket: BrowserTicket, now: datetime, expires_at: datetime
    ) -> None:
        await self._c.insert_one(
            {
                "_id": token_hash(token),
                **ticket.model_dump(),
                "created_at": now,
                "expires_at": expires_at,
                "used_at": None,
            }
        )

    async def redeem(self, token: str, now: datetime) -> BrowserTicket | None:
        """The call the token opens, once: None for an unknown, used or expired token."""
        doc = await self._c.find_one_and_update(
            {"_id": token_hash(token), "used_at": None, "expires_at": {"$gt": now}},
            {"$set": {"used_at": now}},
        )
        return BrowserTicket.model_validate(doc) if doc is not None else None
