"""Wires a live call together: the template, the model session, Twilio control and the cost."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from bridge.realtime_client import RealtimeConnection, RealtimeEndpoint
from bridge.realtime_events import TurnDetection
from bridge.session import CallSession, SessionOptions, open_realtime
from bridge.stream import ListenerFactory, Send, StreamListener
from bridge.twilio_messages import Start
from evaluation.cost import CallCost
from evaluation.templates import DEFAULT_TEMPLATE, Template, TemplateError, parse_template
from persistence import Store
from telephony.config import Settings
from telephony.services import Services

log = logging.getLogger(__name__)
PRECONNECT_WAIT_S = 3.0


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
        cost_alert_usd=settings.cost_alert_usd,
        number_type=settings.twilio_number_type,
    )


async def load_template(store: Store, template_id: str) -> Template:
    """The stored template, or the built-in default when it is missing or no longer valid."""
    if template_id != DEFAULT_TEMPLATE.template_id:
        record = await store.templates.get(template_id)
        if record is not None:
            try:
                return parse_template(record.body)
            except TemplateError as exc:
                log.error("template %r is invalid (%s); using the default", template_id, exc)
        else:
            log.warning("template %r not found; using the default", template_id)
    return DEFAULT_TEMPLATE


def install(svc: Services) -> None:
    """Give the app its model sessions: pre-connect on the webhook, a session per stream."""
    if not svc.settings.realtime_enabled:
        return
    options = session_options(svc.settings)

    async def opener(call_sid: str, template_id: str) -> RealtimeConnection:
        assert svc.store is not None
        return await open_realtime(options, await load_template(svc.store, template_id))

    async def close(conn: RealtimeConnection) -> None:
        await conn.close()

    svc.session_opener = opener
    svc.pending.set_closer(close)


def listener_factory(
    svc: Services, store: Store, close_stream: Callable[[], Awaitable[None]]
) -> ListenerFactory | None:
    settings = svc.settings
    if not settings.realtime_enabled:
        return None
    options = session_options(settings)

    async def make(start: Start, send: Send) -> StreamListener | None:
        template_id = start.custom_parameters.get("template_id", DEFAULT_TEMPLATE.template_id)
        template = await load_template(store, template_id)
        # Pre-connected by the webhook on this worker, if it is ready; otherwise a new one.
        conn = await svc.pending.take(start.call_sid, PRECONNECT_WAIT_S)
        call = await store.calls.get(start.call_sid)
        cost = CallCost(
            settings.prices,
            settings.openai_realtime_model,
            transcription_model=settings.transcription_model,
        )
        return CallSession(
            start=start,
            send_twilio=send,
            close_stream=close_stream,
            store=store,
            template=template,
            options=options,
            control=svc.twilio_calls,
            cost=cost,
            connection=conn,
            direction=call.direction if call is not None else "inbound",
        )

    return make
