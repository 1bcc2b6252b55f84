"""Sends the webhook outbox: every worker runs one loop, which claims due deliveries with
a lease, signs and posts them, and on failure schedules the next try with exponential
backoff for up to 24 hours. It also closes interviews whose time is up.

At least once: a delivery whose worker dies mid-send is sent again after its lease.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

import httpx

from persistence.api_records import Delivery
from persistence.store import Store
from telephony.api.destinations import DestinationRefused, Destinations
from telephony.api.events import expire_due
from telephony.api.signing import HEADER, next_attempt, signature
from telephony.stopping import BackgroundLoop

log = logging.getLogger(__name__)
LEASE = timedelta(seconds=60)
MAX_AGE = timedelta(hours=24)
SEND_TIMEOUT_S = 10.0
IDLE_S = 1.0
EXPIRY_EVERY_S = 30.0
STOP_WAIT_S = SEND_TIMEOUT_S + 5


class DeliveryLoop:
    def __init__(
        self,
        open_store: Callable[[], Store | None],
        clock: Callable[[], datetime],
        *,
        first_retry_s: float,
        idle_s: float = IDLE_S,
        max_age: timedelta = MAX_AGE,
        expiry_every_s: float = EXPIRY_EVERY_S,
        destinations: Destinations | None = None,
    ) -> None:
        """`destinations`: where deliveries may go (public addresses only by default)."""
        self._destinations = destinations or Destinations()
        self._open_store = open_store
        self._clock = clock
        self._first_retry_s = first_retry_s
        self._idle_s = idle_s
        self._max_age = max_age
        self._expiry_every_s = expiry_every_s
        self.owner = f"worker-{secrets.token_hex(4)}"
        self._client: httpx.AsyncClient | None = None
        self._loop = BackgroundLoop(STOP_WAIT_S)

    def wake(self) -> None:
        """New entries are in the outbox: look now rather than at the next tick."""
        self._loop.wake()

    def start(self) -> None:
        if not self._loop.running:
            self._client = httpx.AsyncClient(timeout=SEND_TIMEOUT_S, follow_redirects=False)
            self._loop.start(self._run)

    async def stop(self) -> None:
        """Let the loop finish what it is doing, then close its HTTP client."""
        await self._loop.stop()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_expiry = loop.time()
        while not self._loop.stopping():
            pause = self._idle_s
            try:
                store = self._open_store()
                if store is not None and store.prepared:
                    if loop.time() >= next_expiry:
                        next_expiry = loop.time() + self._expiry_every_s
                        if await expire_due(store, self._clock()):
                            continue  # their events are in the outbox now
                    if await self.send_one(store):
                        continue
                    pause = await self._until_due(store)
            except Exception as exc:
                log.error("webhook delivery loop error (%s); going on", type(exc).__name__)
            if self._loop.stopping():
                break
            await self._loop.pause(pause)

    async def _until_due(self, store: Store) -> float:
        due = await store.webhooks.next_due()
        if due is None:
            return self._idle_s
        wait = (due - self._clock()).total_seconds()
        return min(self._idle_s, max(0.01, wait))

    async def send_one(self, store: Store) -> bool:
        """Claim and send one due delivery; False when none is due."""
        now = self._clock()
        delivery = await store.webhooks.claim(self.owner, now, LEASE)
        if delivery is None:
            return False
        endpoint = await store.webhooks.endpoint_of(delivery)
        if endpoint is None or endpoint.disabled_at is not None:
            await store.webhooks.retry(
                delivery.id, self.owner, None, http_status=None, error="endpoint deleted"
            )
            return True
        body = json.dumps(delivery.payload, separators=(",", ":")).encode()
        sent_at = self._clock()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "voice-interview-webhooks",
            HEADER: signature(endpoint.secret, int(sent_at.timestamp()), body),
            "Voice-Interview-Event": delivery.event,
            "Voice-Interview-Delivery": delivery.id,
        }
        status: int | None = None
        try:
            assert self._client is not None
            target = await self._destinations.target(endpoint.url)
            response = await self._client.post(
                target.url,
                content=body,
                headers={**headers, "Host": target.host},
                extensions={"sni_hostname": target.tls_name} if target.tls_name else {},
            )
            status = response.status_code
            error = "" if 200 <= status < 300 else f"HTTP {status}"
        except DestinationRefused as exc:
            error = f"destination refused: {exc}"
        except httpx.HTTPError as exc:
            error = type(exc).__name__
        done = self._clock()
        if not error:
            await store.webhooks.delivered(delivery.id, self.owner, status or 200, done)
            return True
        await self._retry_later(store, delivery, done, status, error)
        return True

    async def _retry_later(
        self, store: Store, delivery: Delivery, now: datetime, status: int | None, error: str
    ) -> None:
        age = (now - delivery.created_at).total_seconds()
        delay = next_attempt(
            delivery.attempts, self._first_retry_s, age, self._max_age.total_seconds()
        )
        next_at = now + timedelta(seconds=delay) if delay is not None else None
        await store.webhooks.retry(
            delivery.id, self.owner, next_at, http_status=status, error=error
        )
        level = logging.WARNING if next_at is None else logging.INFO
        log.log(
            level,
            "webhook delivery %s failed (%s, attempt %d); %s",
            delivery.id,
            error,
            delivery.attempts,
            "given up" if next_at is None else f"next try in {delay:.1f} s",
        )
