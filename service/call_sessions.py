"""Builds each live call's session: its template, model session, Twilio control and cost."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bridge.clock import LoopClock, utcnow
from bridge.handover import HandOverHook
from bridge.model_link import RealtimeLink
from bridge.options import SessionOptions, open_realtime
from bridge.pending import PendingSessions
from bridge.realtime_client import RealtimeConnection, RealtimeEndpoint
from bridge.realtime_events import ResponseDone, TurnDetection
from bridge.session import CallControl, CallSession
from bridge.stream import Send, StreamListener
from bridge.twilio_messages import Start
from evaluation.cost import CallCost, Direction
from evaluation.outbound import OutboundCall
from evaluation.templates import DEFAULT_TEMPLATE, Template
from persistence.call_writes import UnplayedGreetingWrite
from persistence.recorder import CallWriter
from persistence.records import Channel
from service.call_briefs import CallBriefs
from service.settings import Settings
from service.started_storage import StartedStorage
from telephony.call_templates import load_template
from telephony.dialer.requests import OutboundRequests
from telephony.privacy import redact_text

log = logging.getLogger(__name__)
PRECONNECT_WAIT_S = 3.0

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


@dataclass(frozen=True, slots=True)
class Primed:
    """A model session opened by the voice webhook, its greeting already asked for, and
    what the stream would otherwise read from the database before its first frame."""

    call_sid: str
    conn: RealtimeConnection
    template: Template
    direction: Direction
    channel: Channel


class InterviewSessions:
    """Implements the Twilio face's `Interviews`: pre-connect on the webhook, then a
    session per media stream."""

    def __init__(
        self,
        settings: Settings,
        *,
        storage: StartedStorage,
        control: CallControl | None,
        model_opener: ModelOpener | None = None,
        hand_over: HandOverHook | None = None,
        outbound: OutboundRequests | None = None,
        briefs: CallBriefs | None = None,
    ) -> None:
        """`hand_over`: moves a call whose model is lost for good to the relay engine;
        `outbound` answers a placed call's requests, `briefs` tells linked calls' models
        about their interview."""
        self._settings = settings
        self._hand_over = hand_over
        self._outbound = outbound
        self.briefs = briefs or CallBriefs(outbound)
        self._storage = storage
        self._control = control
        self.options = session_options(settings)
        self.unavailable_reason = unavailable_reason(settings)
        self._open_model = model_opener or self._open_realtime
        self.pending: PendingSessions[Primed] = PendingSessions(self._unused)

    async def _open_realtime(self, call_sid: str, template: Template) -> RealtimeConnection:
        return await open_realtime(self.options, template, self.briefs.brief_for(call_sid))

    def preconnect(
        self,
        call_sid: str,
        template_id: str,
        direction: Direction = "inbound",
        channel: Channel = "phone",
        brief: OutboundCall | None = None,
    ) -> None:
        """Start opening the call's model session now and ask it for the greeting; the
        media stream claims both later, and its first frame need not wait for the model."""
        if self.unavailable_reason is not None:
            return
        if brief is not None:
            self.briefs.keep(call_sid, brief)

        async def open_session() -> Primed:
            template = await load_template(self._storage.store(), template_id)
            conn = await self._open_model(call_sid, template)
            try:
                await conn.request_greeting()
            except BaseException:
                await conn.close()
                raise
            return Primed(call_sid, conn, template, direction, channel)

        self.pending.start(call_sid, open_session)

    async def _unused(self, primed: Primed) -> None:
        """A primed session whose stream never came to this worker: its greeting was
        generated and billed all the same, so its cost goes on the call."""
        await primed.conn.close()
        done = [e for e in primed.conn.held() if isinstance(e, ResponseDone)]
        writer = self._storage.writer_if_open()
        if not done or writer is None:
            return
        try:
            cost = CallCost(self._settings.prices, self._settings.openai_realtime_model)
            for event in done:
                cost.add_response_usage(event.usage)
            usd = float(cost.running_total)
        except Exception as exc:  # pricing must never fail a close
            log.warning("unplayed greeting not priced (%s)", type(exc).__name__)
            return
        writer.put(
            UnplayedGreetingWrite(
                call_sid=primed.call_sid, response_id=done[0].response_id, usd=usd, at=utcnow()
            )
        )

    async def _read_call(self, start: Start) -> tuple[Template, Direction, Channel, bool]:
        """The template, the direction, the channel, and whether the call is linked to an
        interview."""
        store = self._storage.store()
        template_id = start.custom_parameters.get("template_id", DEFAULT_TEMPLATE.template_id)
        template = await load_template(store, template_id)
        try:
            call = await store.calls.get(start.call_sid)
        except Exception as exc:  # only the price of the call and its brief depend on it
            log.warning("call record unreadable (%s); priced as inbound", type(exc).__name__)
            return template, "inbound", "phone", False
        if call is None:
            return template, "inbound", "phone", False
        return template, call.direction, call.channel, call.interview_id is not None

    async def open(
        self, start: Start, send: Send, close_stream: Callable[[], Awaitable[None]]
    ) -> StreamListener | None:
        if self.unavailable_reason is not None:
            return None
        settings = self._settings
        call_sid, clock = start.call_sid, LoopClock()
        # Primed by the webhook on this worker, if it is ready: nothing to read before the
        # first frame (a linked call's brief was read before it was primed). Otherwise a new
        # session, and the template, direction, channel and link to an interview are read.
        primed = await self.pending.take(call_sid, PRECONNECT_WAIT_S)
        if primed is not None:
            conn, template, direction = primed.conn, primed.template, primed.direction
            channel = primed.channel
            outbound = self.briefs.brief_for(call_sid)
        else:
            conn = None
            template, direction, channel, linked = await self._read_call(start)
            # Placed by the dialer, or called in with an interview's code: its brief.
            outbound = (
                await self.briefs.brief(call_sid) if direction == "outbound" or linked else None
            )
        phone = channel == "phone"
        cost = CallCost(
            settings.prices,
            settings.openai_realtime_model,
            transcription_model=settings.transcription_model,
            phone=phone,
        )
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
                self._storage.writer(),
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
            requests=self._outbound if outbound is not None and outbound.placed else None,
        )
