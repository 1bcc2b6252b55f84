"""The `api_keys` collection: recruiter API keys, stored only as hashes."""

from __future__ import annotations

from datetime import datetime

from pymongo.errors import DuplicateKeyError

from persistence._types import Collection, Document
from persistence.records import ApiKey


class DuplicateApiKey(ValueError):
    """The same key hash is already stored."""


def _api_key(doc: Document) -> ApiKey:
    return ApiKey.model_validate(doc)


class ApiKeys:
    def __init__(self, collection: Collection) -> None:
        self._c = collection

    async def add(
        self, key_hash: str, label: str, scopes: list[str], at: datetime, key_id: str = ""
    ) -> ApiKey:
        doc: Document = {
            "key_hash": key_hash,
            "key_id": key_id,
            "label": label,
            "scopes": sorted(set(scopes)),
            "created_at": at,
        }
        try:
            await self._c.insert_one(doc)
        except DuplicateKeyError:
            raise DuplicateApiKey("an API key with this hash already exists") from None
        return _api_key(doc)

    async def find_active(self, key_hash: str) -> ApiKey | None:
        doc = await self._c.find_one({"key_hash": key_hash, "revoked_at": None})
        return _api_key(doc) if doc is not None else None

    async def revoke(self, key_hash: str, at: datetime) -> bool:
        result = await self._c.update_one(
            {"key_hash": key_hash, "revoked_at": None}, {"$set": {"revoked_at": at}}
        )
        return result.modified_count == 1

    async def revoke_id(self, key_id: str, at: datetime) -> bool:
        """Revoke by the key's public id (what `api-key list` shows)."""
        result = await self._c.update_one(
            {"key_id": key_id, "revoked_at": None}, {"$set": {"revoked_at": at}}
        )
        return result.modified_count == 1

    async def list(self) -> list[ApiKey]:
        return [_api_key(doc) async for doc in self._c.find({}).sort("created_at", 1)]
