"""What the app holds for its lifetime, built in one pass from the settings.

`start()` opens the database (the embedded one when MONGODB_URI is unset); everything
else exists from construction on, so handlers never see a half-wired service.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any

from bridge.clock import utcnow
from bridge.options import open_realtime
from bridge.recorder import StreamCalls
from persistence.durable_writer import DurableWriter
from persistence.embedded import EmbeddedServer, running_uri
from persistence.recorder import StreamRecords
from persistence.store import Store, StoreUnavailable
from persistence.write_retries import Sleep
from service.breaker import CircuitBreaker
from service.call_briefs import CallBriefs
from service.call_events import CallEvents
from service.call_sessions import InterviewSessions, ModelOpener, session_options
from service.capacity import Admission, CallCapacity
from service.do_not_call_key import do_not_call_key
from service.engine_choice import EngineChoice
from service.outbound import outbound_dialer, outbound_requests
from service.relay_sessions import RelaySessions
from service.settings import Settings
from service.started_storage import StartedStorage
from service.takeover import Takeover
from telephony.api.context import ApiFace
from telephony.api.delivery import DeliveryLoop
from telephony.api.destinations import Destinations
from telephony.face import TwilioFace
from telephony.ops.context import OpsFace
from telephony.privacy import number_hash
from telephony.twilio_auth import ProxyTrust, TwilioVerifier
from telephony.twilio_rest import TwilioCalls

log = logging.getLogger(__name__)
EXTENSION = "voice_interview"
INDEX_RETRY_SECONDS = 5.0
JOURNAL_DIR = "journal"  # under DATA_DIR: call writes not yet in the database
WRITES_GRACE_S = 5.0  # at shutdown, for writes still going out (the rest stay journaled)


class Services:
    def __init__(
        self,
        settings: Settings,
        *,
        model_opener: ModelOpener | None = None,
        write_pause: Sleep = asyncio.sleep,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        """`model_opener` replaces the Realtime connection (tests give a stand-in);
        `write_pause` waits out the backoff between tries of a call write (tests count
        the pauses instead of waiting through a long outage); `clock` is the wall time
        interviews are planned and dialed by (tests fix the local hour)."""
        self.settings = settings
        self._write_pause = write_pause
        self.store: Store | None = None
        self.writer: DurableWriter | None = None
        self.embedded: EmbeddedServer | None = None
        self._do_not_call_key: bytes | None = None
        token = settings.twilio_auth_token
        sid = settings.twilio_account_sid
        self.twilio_verifier = TwilioVerifier(token.reveal()) if token is not None else None
        self.twilio_calls = (
            TwilioCalls(sid, token.reveal(), settings.twilio_api_url)
            if token is not None and sid is not None
            else None
        )
        # Webhooks: every worker sends the outbox; finished calls add their events to it.
        destinations = Destinations(settings.webhook_allow_networks)
        self.deliveries = DeliveryLoop(
            lambda: self.store,
            utcnow,
            first_retry_s=settings.webhook_retry_ms / 1000,
            destinations=destinations,
        )
        self.call_events = CallEvents(
            lambda: self.store, settings.cost_alert_usd, self.deliveries.wake
        )
        # The second engine (ConversationRelay): every Realtime connection reports to its
        # breaker, and a call whose model is lost for good is handed over to it.
        self.engines = EngineChoice(settings, self._breaker(settings))
        options = session_options(settings)
        # What a placed call's candidate asks (another time, no more calls), and what the
        # model of a call linked to an interview is told about it, on either engine.
        requests = outbound_requests(settings, lambda: self.store, clock, self.number_hash)
        self.briefs = CallBriefs(requests)
        opener = model_opener or (
            # A linked call's session also gets its brief (whom to ask for, the tools).
            lambda sid, template: open_realtime(options, template, self.briefs.brief_for(sid))
        )
        storage = StartedStorage(lambda: self.store, lambda: self.writer)
        self.relays = RelaySessions(
            settings,
            self.engines,
            storage=storage,
            verifier=self.twilio_verifier,
            requests=requests,
            briefs=self.briefs,
        )
        takeover = (
            Takeover(self.relays, self.twilio_calls, settings.public_url)
            if self.twilio_calls is not None and settings.public_url is not None
            else None
        )
        self.interviews = InterviewSessions(
            settings,
            storage=storage,
            control=self.twilio_calls,
            model_opener=self.engines.guard(opener),
            hand_over=takeover,
            outbound=requests,
            briefs=self.briefs,
        )
        # This worker's live media streams against MAX_CALLS_PER_WORKER.
        self.admission = Admission(
            CallCapacity(settings.max_calls_per_worker), self.interviews.pending
        )
        self.twilio_face = TwilioFace(
            public_url=settings.public_url,
            account_sid=settings.twilio_account_sid,
            verifier=self.twilio_verifier,
            admission=self.admission,
            interviews=self.interviews,
            open_store=lambda: self.store,
            proxies=ProxyTrust(settings.forwarded_allow_ips),
            open_stream_calls=self._stream_calls,
            relays=self.relays,
        )
        self.api_face = ApiFace(
            open_store=lambda: self.store,
            rate_limit=settings.api_rate_limit,
            clock=clock,
            retry_gap=timedelta(minutes=settings.interview_retry_minutes),
            wake_deliveries=self.deliveries.wake,
            destinations=destinations,
            number_hash=self.number_hash,
        )
        self.ops_face = OpsFace(
            open_store=lambda: self.store,
            clock=utcnow,
            idle=timedelta(minutes=settings.ops_idle_minutes),
            secure_cookies=(settings.public_url or "").startswith("https://"),
            live_poll_s=settings.ops_live_poll_ms / 1000,
        )
        self.dialer, self.dialer_face = outbound_dialer(
            settings,
            lambda: self.store,
            clock,
            self.admission.has_room,
            self.twilio_calls,
            self.briefs.brief,
            self.number_hash,
        )
        self._background: set[asyncio.Task[None]] = set()

    @staticmethod
    def _breaker(settings: Settings) -> CircuitBreaker:
        return CircuitBreaker(
            failures=settings.breaker_failures,
            window_s=settings.breaker_window_s,
            open_s=settings.breaker_open_s,
            now=time.monotonic,
        )

    async def start(self, *, background: bool = True) -> None:
        """Open the database; an embedded one must start, an external one may come later.

        `background=False` (one-off commands) leaves the webhook delivery loop stopped."""
        s = self.settings
        self._do_not_call_key = do_not_call_key(s)
        uri = s.mongodb_uri
        if uri is None and not background:
            # A one-off command beside a running service shares its embedded database.
            uri = await running_uri(s.data_dir / "db")
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
        # Call writes are journaled under DATA_DIR; those a previous worker left unwritten
        # are adopted now (a local read: no database needed) and go out in the background.
        journal_dir = s.data_dir / JOURNAL_DIR
        self.writer = DurableWriter.open(
            self.store,
            journal_dir,
            sleep=self._write_pause,
            after_write=self.call_events.after_write,
        )
        self.writer.adopt(journal_dir)
        try:
            await self.store.prepare(s.retention_days)
        except StoreUnavailable as exc:
            if self.embedded is not None:
                raise
            log.error("database unavailable at start-up (%s); retrying in the background", exc)
            self._spawn(self._prepare_until_ready())
        if background:
            self.deliveries.start()
            if self.dialer is not None:
                self.dialer.start()

    def number_hash(self, e164: str) -> str:
        """A number's key on the do-not-call list (the key is read at start-up)."""
        assert self._do_not_call_key is not None, "numbers are only hashed after start-up"
        return number_hash(e164, self._do_not_call_key)

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

    def _stream_calls(self) -> StreamCalls | None:
        if self.store is None or self.writer is None:
            return None
        return StreamRecords(self.store.calls, self.writer)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def stop(self) -> None:
        await self.interviews.pending.close_all()
        await self.deliveries.stop()
        await self.relays.close()
        if self.dialer is not None:
            await self.dialer.stop()
        for task in list(self._background):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.writer is not None:
            await self.writer.close(WRITES_GRACE_S)
            self.writer = None
        if self.store is not None:
            await self.store.close()
            self.store = None
        if self.embedded is not None:
            await self.embedded.stop()
            self.embedded = None
