"""The ops console's sign-in sessions (`ops_sessions`) and the secret that signs their
cookies (`ops_secrets`).

A session lives in MongoDB so that sign-out ends it on every worker at once and an idle
one expires by itself (a TTL index on `expires_at`); the cookie only carries a random
token, signed with a secret every worker reads from here.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from pymongo import ReturnDocument

from persistence._types import Database
from persistence.records import Record

COOKIE_SECRET_ID = "cookie-signing"


class ConsoleSession(Record):
    id: str
    """The SHA-256 of the cookie's token: a database read gives nobody a usable cookie."""
    key_hash: str
    key_id: str
    scope: str
    csrf: str
    created_at: datetime
    seen_at: datetime
    expires_at: datetime


class ConsoleSessions:
    def __init__(self, db: Database) -> None:
        self._c = db["ops_sessions"]
        self._secrets = db["ops_secrets"]

    async def cookie_secret(self) -> str:
        """The signing secret, made once by whichever worker asks first."""
        doc = await self._secrets.find_one_and_update(
            {"_id": COOKIE_SECRET_ID},
            {"$setOnInsert": {"value": secrets.token_urlsafe(48)}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        assert doc is not None
        value: str = doc["value"]
        return value

    async def open(self, session: ConsoleSession) -> None:
        doc = session.model_dump(exclude={"id"})
        await self._c.insert_one({"_id": session.id, **doc})

    async def touch(self, session_id: str, now: datetime, idle: timedelta) -> ConsoleSession | None:
        """The session, its idle clock restarted; None once it has been idle too long or
        was closed."""
        doc = await self._c.find_one_and_update(
            {"_id": session_id, "expires_at": {"$gt": now}},
            {"$set": {"seen_at": now, "expires_at": now + idle}},
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            return None
        return ConsoleSession.model_validate({**doc, "id": doc["_id"]})

    async def close(self, session_id: str) -> None:
        await self._c.delete_one({"_id": session_id})
