"""What the recruiter API needs from the rest of the service, installed on the app by the
composition root (which the API never imports)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from quart import Quart, current_app

from persistence.store import Store, opened
from telephony.api.destinations import Destinations
from telephony.privacy import NumberHash

EXTENSION = "recruiter_api"


@dataclass(frozen=True, slots=True)
class ApiFace:
    open_store: Callable[[], Store | None]
    """The database once start-up has opened it."""
    rate_limit: int
    """Requests per key per minute (API_RATE_LIMIT)."""
    clock: Callable[[], datetime]
    retry_gap: timedelta
    """Least time between two planned attempts of one interview."""
    wake_deliveries: Callable[[], None]
    """Tells this worker's delivery loop that the outbox has new entries."""
    destinations: Destinations
    """Where webhooks may be delivered (WEBHOOK_ALLOW_NETWORKS)."""
    number_hash: NumberHash
    """A number's key on the do-not-call list (keyed by DO_NOT_CALL_KEY)."""

    def now(self) -> datetime:
        """The time, to the millisecond MongoDB keeps, so a stored time reads back equal."""
        at = self.clock()
        return at.replace(microsecond=at.microsecond // 1000 * 1000)

    def store(self) -> Store:
        return opened(self.open_store())


def install(app: Quart, face: ApiFace) -> None:
    app.extensions[EXTENSION] = face


def api() -> ApiFace:
    found: ApiFace = current_app.extensions[EXTENSION]
    return found
