"""Builds each live call's session: its template, model session, Twilio control and cost."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from bridge.clock import LoopClock
from bridge.handover import HandOverHook
from bridge.model_link import RealtimeLink
from bridge.options import SessionOptions, open_realtime
from bridge.pending import PendingSessions
from bridge.realtime_client import RealtimeConnection, RealtimeEndpoint
from bridge.realtime_events import TurnDetection
from bridge.session import CallControl, CallSession
from bridge.stream import Send, StreamListener
from bridge.twilio_messages import Start
from evaluation.cost import CallCost, Direction
from evaluation.outbound import OutboundCall
from evaluation.templates import DEFAULT_TEMPLATE, Template
from persistence.durable_writer import DurableWriter
from persistence.recorder import CallWriter
from persistence.records import Channel
from persistence.store import Store
from service.settings import Settings
from telephony.call_templates import load_template
from telephony.dialer.requests import OutboundRequests
from telephony.privacy import redact_text

log = logging.getLogger(__name__)
PRECONNECT_WAIT_S = 3.0
MAX_BRIEFS = 1000

# Opens a model session for (call_sid, template), ahead of the media stream or in it.
ModelOpener = Callable[[str, Template], Awaitable[RealtimeConnection]]


def session_options(settings: Settings) -> SessionOptions:
    key = settings.openai_api_key
    return SessionOptions(
        endpoint=RealtimeEndpoint(
            settings.openai_realtime_url,
            settings.openai_realtime_model,
            key.reveal() if key is not None else "",
        ),
        audio_format=settings.audio_format,
        resampler=settings.resampler,
        voice=settings.openai_voice,
        transcription_model=settings.transcription_model,
        turn_detection=TurnDetection(
            settings.turn_detection,
            settings.vad_eagerness,
            settings.vad_silence_ms,
            settings.vad_threshold,
        ),
        max_call_seconds=settings.max_call_seconds,
        reasoning_effort=settings.reasoning_effort,
        model_silence_s=settings.model_silence_s,
        cost_alert_usd=settings.cost_alert_usd,
        number_type=settings.twilio_number_type,
    )


def unavailable_reason(settings: Settings) -> str | None:
    if settings.openai_api_key is None:
        return "OPENAI_API_KEY is not set"
    if not settings.enable_realtime:
        return "ENABLE_REALTIME is false"
    return None


async def _close(conn: RealtimeConnection) -> None:
    await conn.close()


class InterviewSessions:
    """Implements the Twilio face's `Interviews`: pre-connect on the webhook, then a
    session per media stream."""

    def __init__(
        self,
        settings: Settings,
        *,
        open_store: Callable[[], Store | None],
        open_writer: Callable[[], DurableWriter | None],
        control: CallControl | None,
        model_opener: ModelOpener | None = None,
        hand_over: HandOverHook | None = None,
        outbound: OutboundRequests | None = None,
    ) -> None:
        """`hand_over`: moves a call whose model is lost for good to the relay engine."""
        self._settings = settings
        self._hand_over = hand_over
        self._outbound = outbound
        # Outbound calls' briefs, for their model sessions (and reopened ones).
        self._briefs: dict[str, OutboundCall] = {}
        self._open_store = open_store
        self._open_writer = open_writer
        self._control = control
        self.options = session_options(settings)
        self.unavailable_reason = unavailable_reason(settings)
        self._open_model = model_opener or self._open_realtime
        self.pending: PendingSessions[RealtimeConnection] = PendingSessions(_close)

    async def _open_realtime(self, call_sid: str, template: Template) -> RealtimeConnection:
        return await open_realtime(self.options, template, self.brief_for(call_sid))

    def brief_for(self, call_sid: str) -> OutboundCall | None:
        """The outbound call's brief once `_brief` has read it; None for other calls."""
        return self._briefs.get(call_sid)

    async def brief(self, call_sid: str) -> OutboundCall | None:
        """The outbound call's brief, read once (the dialer's voice webhook asks first, so
        inbound calls never wait on it) and kept for its model sessions; None for others."""
        if self._outbound is None:
            return None
        if call_sid not in self._briefs:
            brief = await self._outbound.brief(call_sid)
            if brief is None:
                return None
            while len(self._briefs) >= MAX_BRIEFS:
                self._briefs.pop(next(iter(self._briefs)))
            self._briefs[call_sid] = brief
        return self._briefs[call_sid]

    def _store(self) -> Store:
        store = self._open_store()
        assert store is not None, "sessions are only opened after start-up"
        return store

    def _writer(self) -> DurableWriter:
        writer = self._open_writer()
        assert writer is not None, "sessions are only opened after start-up"
        return writer

    def preconnect(self, call_sid: str, template_id: str) -> None:
        """Start opening the call's model session now; the media stream claims it later."""
        if self.unavailable_reason is not None:
            return

        async def open_session() -> RealtimeConnection:
            template = await load_template(self._store(), template_id)
            return await self._open_model(call_sid, template)

        self.pending.start(call_sid, open_session)

    async def open(
        self, start: Start, send: Send, close_stream: Callable[[], Awaitable[None]]
    ) -> StreamListener | None:
        if self.unavailable_reason is not None:
            return None
        settings, store = self._settings, self._store()
        template_id = start.custom_parameters.get("template_id", DEFAULT_TEMPLATE.template_id)
        template = await load_template(store, template_id)
        # Pre-connected by the webhook on this worker, if it is ready; otherwise a new one.
        conn = await self.pending.take(start.call_sid, PRECONNECT_WAIT_S)
        direction: Direction = "inbound"
        channel: Channel = "phone"
        try:
            call = await store.calls.get(start.call_sid)
        except Exception as exc:  # only the price of the call depends on it
            log.warning("call record unreadable (%s); priced as inbound", type(exc).__name__)
        else:
            direction = call.direction if call is not None else "inbound"
            channel = call.channel if call is not None else "phone"
        phone = channel == "phone"
        cost = CallCost(
            settings.prices,
            settings.openai_realtime_model,
            transcription_model=settings.transcription_model,
            phone=phone,
        )
        call_sid, clock = start.call_sid, LoopClock()
        outbound = await self.brief(call_sid) if direction == "outbound" else None
        link = RealtimeLink(
            lambda: self._open_model(call_sid, template),
            clock,
            self.options.reconnect_backoff_s,
            connection=conn,
            log_extra={"call_sid": call_sid},
            silence_s=self.options.model_silence_s,
        )
        return CallSession(
            start=start,
            send_twilio=send,
            close_stream=close_stream,
            link=link,
            recorder=CallWriter(
                self._writer(),
                call_sid,
                redact=redact_text if settings.redact_transcripts else None,
            ),
            template=template,
            options=self.options,
            # A browser call has no Twilio call to hang up: closing its socket ends it.
            control=self._control if phone else None,
            cost=cost,
            direction=direction,
            clock=clock,
            hand_over=self._hand_over if phone else None,
            requests=self._outbound if outbound is not None else None,
        )
