"""Every index the service relies on, created idempotently at start-up."""

from __future__ import annotations

from pymongo import ASCENDING, DESCENDING, IndexModel

from persistence._types import Collection, Database

RETENTION_INDEX = "retention_ttl"
# Collections whose documents hold what the candidate said; RETENTION_DAYS expires them.
RETAINED = ("turns", "evaluations")

INDEXES: dict[str, list[IndexModel]] = {
    "calls": [
        IndexModel([("call_sid", ASCENDING)], unique=True, name="call_sid_unique"),
        # The call log: newest first, optionally narrowed by status, direction or template.
        IndexModel([("created_at", DESCENDING), ("_id", DESCENDING)], name="created"),
        IndexModel([("status", ASCENDING), ("created_at", DESCENDING)], name="status_created"),
        IndexModel(
            [("direction", ASCENDING), ("created_at", DESCENDING)], name="direction_created"
        ),
        IndexModel(
            [("template_id", ASCENDING), ("created_at", DESCENDING)], name="template_created"
        ),
        IndexModel([("interview_id", ASCENDING)], name="interview"),
    ],
    "turns": [
        IndexModel([("call_sid", ASCENDING), ("seq", ASCENDING)], unique=True, name="call_seq"),
    ],
    "evaluations": [
        IndexModel([("call_sid", ASCENDING), ("created_at", ASCENDING)], name="call_created"),
    ],
    "templates": [
        IndexModel([("template_id", ASCENDING)], unique=True, name="template_id_unique"),
        IndexModel([("phone_numbers", ASCENDING)], name="phone_numbers"),
    ],
    "api_keys": [
        IndexModel([("key_hash", ASCENDING)], unique=True, name="key_hash_unique"),
        IndexModel([("key_id", ASCENDING)], name="key_id"),
    ],
    "interviews": [
        # The list, newest first, optionally narrowed by status or template.
        IndexModel([("created_at", DESCENDING), ("_id", DESCENDING)], name="created"),
        IndexModel([("status", ASCENDING), ("created_at", DESCENDING)], name="status_created"),
        IndexModel([("template_id", ASCENDING), ("status", ASCENDING)], name="template_status"),
        # The dialer's due attempts, and the expiry sweep.
        IndexModel(
            [("status", ASCENDING), ("next_attempt_at", ASCENDING)], name="status_next_attempt"
        ),
        IndexModel([("status", ASCENDING), ("expires_at", ASCENDING)], name="status_expires"),
        # The dialer's calls in progress, found by their CallSid.
        IndexModel([("live_call.call_sid", ASCENDING)], name="live_call", sparse=True),
    ],
    "webhooks": [
        IndexModel([("events", ASCENDING), ("disabled_at", ASCENDING)], name="events"),
    ],
    "webhook_deliveries": [
        # The delivery loops' claim: due entries in order.
        IndexModel([("status", ASCENDING), ("next_at", ASCENDING)], name="status_next_at"),
        IndexModel(
            [("endpoint_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)],
            name="endpoint_created",
        ),
        IndexModel([("interview_id", ASCENDING)], name="interview"),
    ],
    "rate_limits": [
        IndexModel([("expires_at", ASCENDING)], name="expires", expireAfterSeconds=0),
    ],
    # The ops console's sign-in sessions: an idle one is removed once it has expired.
    "ops_sessions": [
        IndexModel([("expires_at", ASCENDING)], name="expires", expireAfterSeconds=0),
    ],
    # Browser test calls' single-use tokens: kept a day past expiry, then removed.
    "browser_call_tokens": [
        IndexModel([("expires_at", ASCENDING)], name="expires", expireAfterSeconds=86400),
    ],
}


async def _apply_retention(collection: Collection, retention_days: int | None) -> None:
    existing = (await collection.index_information()).get(RETENTION_INDEX)
    if retention_days is None:
        if existing is not None:
            await collection.drop_index(RETENTION_INDEX)
        return
    seconds = retention_days * 86400
    if existing is None:
        await collection.create_index(
            [("created_at", ASCENDING)], name=RETENTION_INDEX, expireAfterSeconds=seconds
        )
    elif existing.get("expireAfterSeconds") != seconds:
        await collection.database.command(
            "collMod",
            collection.name,
            index={"name": RETENTION_INDEX, "expireAfterSeconds": seconds},
        )


async def ensure_indexes(db: Database, retention_days: int | None) -> None:
    """Create what is missing and adjust the retention TTL; safe to run on every start."""
    for name, models in INDEXES.items():
        await db[name].create_indexes(models)
    for name in RETAINED:
        await _apply_retention(db[name], retention_days)
