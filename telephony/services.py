"""What the app holds for its lifetime: settings, the store, and the embedded server if any."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from quart import Quart, current_app

from bridge.pending import PendingSessions
from persistence import EmbeddedServer, Store, StoreUnavailable
from telephony.capacity import CallCapacity
from telephony.config import Settings
from telephony.twilio_auth import TwilioVerifier
from telephony.twilio_rest import TwilioCalls

log = logging.getLogger(__name__)
EXTENSION = "voice_interview"
INDEX_RETRY_SECONDS = 5.0


SessionOpener = Callable[[str, str], Awaitable[Any]]
SessionCloser = Callable[[Any], Awaitable[None]]


async def _no_close(_: Any) -> None:
    return None


@dataclass
class Services:
    settings: Settings
    store: Store | None = None
    embedded: EmbeddedServer | None = None
    twilio_verifier: TwilioVerifier | None = None
    twilio_calls: TwilioCalls | None = None
    # Opens a model session for (call_sid, template_id) ahead of the media stream.
    session_opener: SessionOpener | None = None
    pending: PendingSessions[Any] = field(default_factory=lambda: PendingSessions(_no_close))
    # This worker's live media streams against MAX_CALLS_PER_WORKER (set from settings).
    capacity: CallCapacity = field(init=False)
    _background: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.capacity = CallCapacity(self.settings.max_calls_per_worker)
        token = self.settings.twilio_auth_token
        if self.twilio_verifier is None and token is not None:
            self.twilio_verifier = TwilioVerifier(token.reveal())
        sid = self.settings.twilio_account_sid
        if self.twilio_calls is None and token is not None and sid is not None:
            self.twilio_calls = TwilioCalls(sid, token.reveal(), self.settings.twilio_api_url)

    def preconnect(self, call_sid: str, template_id: str) -> None:
        """Start opening the call's model session now; the media stream claims it later."""
        opener = self.session_opener
        if opener is not None:
            self.pending.start(call_sid, lambda: opener(call_sid, template_id))

    def reserved(self, call_sid: str | None = None) -> int:
        """Calls answered here whose media stream has not arrived: pre-connected sessions.

        A call already pre-connected (a webhook Twilio retried) is not counted against
        itself: it holds its own slot.
        """
        count = len(self.pending)
        if call_sid is not None and call_sid in self.pending:
            count -= 1
        return count

    def has_room(self, call_sid: str | None = None) -> bool:
        """Whether this worker takes one more call, pre-connected ones counted as taken."""
        return self.capacity.has_room(self.reserved(call_sid))

    async def start(self) -> None:
        """Open the database; an embedded one must start, an external one may come later."""
        s = self.settings
        uri = s.mongodb_uri
        if uri is None:
            self.embedded = EmbeddedServer(s.data_dir / "db")
            uri = await self.embedded.start()
            log.info(
                "MONGODB_URI is not set: started the embedded database on 127.0.0.1:%d "
                "with data in %s; production should set MONGODB_URI",
                self.embedded.port,
                s.data_dir / "db",
            )
        self.store = Store.connect(uri, s.mongodb_db, timeout_ms=s.mongodb_timeout_ms)
        try:
            await self.store.prepare(s.retention_days)
        except StoreUnavailable as exc:
            if self.embedded is not None:
                raise
            log.error("database unavailable at start-up (%s); retrying in the background", exc)
            self._spawn(self._prepare_until_ready())

    async def _prepare_until_ready(self) -> None:
        assert self.store is not None
        while True:
            await asyncio.sleep(INDEX_RETRY_SECONDS)
            try:
                await self.store.prepare(self.settings.retention_days)
            except StoreUnavailable as exc:
                log.warning("database still unavailable: %s", exc)
            else:
                log.info("database reachable; indexes are in place")
                return

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def stop(self) -> None:
        await self.pending.close_all()
        for task in list(self._background):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.store is not None:
            await self.store.close()
            self.store = None
        if self.embedded is not None:
            await self.embedded.stop()
            self.embedded = None


def services(app: Quart | None = None) -> Services:
    target = app if app is not None else current_app
    svc: Services = target.extensions[EXTENSION]
    return svc


def store() -> Store:
    """The open store; only called by handlers, which run after start-up."""
    s = services().store
    if s is None:
        raise StoreUnavailable("the database is not open")
    return s
