"""The database handle the rest of the service holds: one client, typed collections."""

from __future__ import annotations

from typing import TypeVar

from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from persistence._types import Database, Document
from persistence.api_keys import ApiKeys
from persistence.browser_tokens import BrowserTokens
from persistence.call_log import CallLog
from persistence.calls import Calls
from persistence.dialing import Dialing
from persistence.evaluations import Evaluations
from persistence.indexes import ensure_indexes
from persistence.interviews import Interviews
from persistence.rate_limits import RateCounters
from persistence.templates import Templates
from persistence.turns import Turns
from persistence.webhooks import Webhooks

# Any failure of a database call, for faces that answer it without importing pymongo.
DatabaseError = PyMongoError


class StoreUnavailable(RuntimeError):
    """The database did not answer; the message says why without credentials."""


T = TypeVar("T")


def opened(handle: T | None) -> T:
    """What start-up opened (the store, or a view of it), or StoreUnavailable while the
    database is not open: before start-up has finished or after shutdown."""
    if handle is None:
        raise StoreUnavailable("the database is not open")
    return handle


class Store:
    """Opened once at app start-up, closed at shutdown; every other package goes through it."""

    def __init__(self, client: AsyncMongoClient[Document], db_name: str) -> None:
        self._client = client
        self.db: Database = client[db_name]
        self.prepared = False
        self.calls = Calls(self.db["calls"])
        self.turns = Turns(self.db["turns"])
        self.evaluations = Evaluations(self.db["evaluations"])
        self.templates = Templates(self.db["templates"])
        self.api_keys = ApiKeys(self.db["api_keys"])
        # The recruiter API's.
        self.interviews = Interviews(self.db["interviews"], self.db["interview_codes"])
        self.webhooks = Webhooks(self.db["webhooks"], self.db["webhook_deliveries"])
        self.rate_counters = RateCounters(self.db["rate_limits"])
        self.call_log = CallLog(self.db)
        self.browser_tokens = BrowserTokens(self.db)
        # The outbound dialer's.
        self.dialing = Dialing(
            self.db["interviews"],
            self.db["calls"],
            self.db["dialer_pacing"],
            self.db["outbound_slots"],
            self.db["do_not_call"],
        )

    @classmethod
    def connect(cls, uri: str, db_name: str, *, timeout_ms: int = 5000) -> Store:
        """Create the client; pymongo connects lazily and reconnects on its own."""
        client: AsyncMongoClient[Document] = AsyncMongoClient(
            uri,
            tz_aware=True,
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            # A hung server must not hold a call's writes (or its end) forever.
            socketTimeoutMS=max(10_000, 2 * timeout_ms),
            appname="voice-interview",
        )
        return cls(client, db_name)

    @classmethod
    async def open(
        cls, uri: str, db_name: str, *, retention_days: int | None = None, timeout_ms: int = 5000
    ) -> Store:
        """Connect and prepare in one step, closing the client if the database is not there."""
        store = cls.connect(uri, db_name, timeout_ms=timeout_ms)
        try:
            await store.prepare(retention_days)
        except BaseException:
            await store.close()
            raise
        return store

    async def prepare(self, retention_days: int | None) -> None:
        """Check the server answers and make sure the indexes exist."""
        await self.ping()
        try:
            await ensure_indexes(self.db, retention_days)
        except PyMongoError as exc:
            raise StoreUnavailable(_reason(exc)) from exc
        self.prepared = True

    async def ping(self) -> None:
        """Raise StoreUnavailable with a short reason if the database does not answer."""
        try:
            await self._client.admin.command("ping")
        except PyMongoError as exc:
            raise StoreUnavailable(_reason(exc)) from exc

    async def close(self) -> None:
        await self._client.close()


def _reason(exc: PyMongoError) -> str:
    # Server-selection errors list every host with its failure: the first line is enough,
    # and URIs (which may carry credentials) never appear in pymongo's messages.
    text = str(exc).split(",")[0].split("\n")[0]
    return f"{type(exc).__name__}: {text[:200]}"
