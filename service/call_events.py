"""The hook a finished call's records run: its webhook events go into the outbox.

The worker's durable writer calls `after_write` after each call write it applies; the
end of a call's stream or relay session (which the writer applies after the call's
outcome) reads the finished call back and records its events; a stream whose call was
handed over to the relay does not end the call. Idempotent, since writes are retried and
replayed from the journal after a crash.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal

from bridge.clock import utcnow
from persistence.api_records import EventEntry
from persistence.call_writes import CallWrite, RelayEndWrite, StreamEndWrite
from persistence.records import CallRecord
from persistence.store import DatabaseError, Store
from telephony.api.events import call_finished

log = logging.getLogger(__name__)


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

    async def after_write(self, write: CallWrite) -> None:
        """A database error is raised, so the writer retries it with the write; any other
        failure is logged here, as it must never cost the call's own write."""
        if not isinstance(write, StreamEndWrite | RelayEndWrite) or not write.ends_call:
            return
        try:
            await self.call_ended(write.call_sid)
        except DatabaseError:
            raise
        except Exception:
            log.exception(
                "the finished call's webhook events were not recorded",
                extra={"call_sid": write.call_sid},
            )

    async def call_ended(self, call_sid: str) -> None:
        """Reads the finished call back and records its events."""
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
