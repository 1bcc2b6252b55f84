"""The hook a finished call's records run: its webhook events go into the outbox.

Called by each call's writer once the outcome (report, cost) is on the call document;
idempotent, since a write that failed is retried.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from bridge.clock import utcnow
from persistence.api_records import EventEntry
from persistence.records import CallRecord
from persistence.store import Store
from telephony.api.events import call_finished


class CallEvents:
    def __init__(
        self,
        open_store: Callable[[], Store | None],
        cost_alert_usd: Decimal,
        wake: Callable[[], None],
    ) -> None:
        self._open_store = open_store
        self._cost_alert_usd = cost_alert_usd
        self._wake = wake

    async def call_ended(self, call_sid: str) -> None:
        """The writer's hook: reads the finished call back and records its events."""
        store = self._open_store()
        if store is None:
            return
        call = await store.calls.get(call_sid)
        if call is not None:
            await self.finished(store, call)

    async def finished(self, store: Store, call: CallRecord) -> list[EventEntry]:
        """call.completed, call.cost_alert over COST_ALERT_USD, and for an interview's call
        interview.completed or interview.attempt_failed."""
        events = await call_finished(store, call, utcnow(), self._cost_alert_usd)
        self._wake()
        return events
