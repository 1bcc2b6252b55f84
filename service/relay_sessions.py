"""The ConversationRelay engine as the Twilio face sees it: which engine a call gets, the
relay TwiML, and a relay session per socket, continuing a call handed over from the
realtime engine when there is one. A call linked to an interview gets the same brief
(and a placed call the same outbound tools) as on the realtime engine."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import httpx

from bridge.clock import LoopClock, utcnow
from bridge.handover import HandOver
from bridge.relay_messages import Setup
from bridge.relay_session import Continued, RelayOptions, RelaySession
from bridge.relay_stream import RelayListener
from bridge.stream import Send
from bridge.tool_calls import CandidateRequests
from evaluation.cost import CallCost, Direction
from evaluation.instructions import TAKEOVER_GREETING
from evaluation.outbound import OutboundCall, outbound_greeting
from evaluation.templates import DEFAULT_TEMPLATE, Template
from persistence.recorder import CallWriter
from persistence.records import EngineUse
from persistence.relay_records import RelayRecords
from service.call_briefs import CallBriefs
from service.engine_choice import EngineChoice
from service.responses_http import ResponsesClient, ResponsesEndpoint
from service.settings import Settings
from service.started_storage import StartedStorage
from telephony.call_templates import load_template
from telephony.privacy import redact_text
from telephony.relay_twiml import RelayVoiceSettings, relay_twiml
from telephony.twilio_auth import TwilioVerifier, websocket_base

log = logging.getLogger(__name__)
HANDOVER_TTL_S = 60.0  # Twilio opens the relay socket within seconds of the redirect


def welcome(template: Template, brief: OutboundCall | None) -> str:
    """What Twilio says first: a placed call's opening, or the template's greeting."""
    return (
        outbound_greeting(template, brief)
        if brief is not None and brief.placed
        else (template.greeting)
    )


@dataclass
class _Waiting:
    handover: HandOver
    media_s: float
    until: float


class RelaySessions:
    """Implements the Twilio face's `Relays`."""

    def __init__(
        self,
        settings: Settings,
        engines: EngineChoice,
        *,
        storage: StartedStorage,
        verifier: TwilioVerifier | None,
        requests: CandidateRequests | None = None,
        briefs: CallBriefs | None = None,
    ) -> None:
        """`briefs` tells the model of a call linked to an interview about it; `requests`
        answers a placed call's candidate requests (the outbound tools)."""
        self._requests = requests
        self._briefs = briefs
        self._settings = settings
        self._storage = storage
        self.engines = engines
        self._verifier = verifier
        self._http: httpx.AsyncClient | None = None
        self._handovers: dict[str, _Waiting] = {}
        key = settings.openai_api_key
        self._endpoint = ResponsesEndpoint(
            settings.openai_responses_url, key.reveal() if key is not None else ""
        )
        self.options = RelayOptions(
            text_model=settings.openai_text_model,
            max_call_seconds=settings.max_call_seconds,
            cost_alert_usd=settings.cost_alert_usd,
            number_type=settings.twilio_number_type,
        )
        self.voice = RelayVoiceSettings(
            settings.relay_language,
            settings.relay_voice,
            settings.relay_tts_provider,
            settings.relay_transcription_provider,
        )

    def records(self) -> RelayRecords:
        return RelayRecords(self._storage.store().calls, self._storage.writer())

    def choose(self) -> tuple[str | None, str]:
        choice = self.engines.choose()
        return choice.engine, choice.reason

    async def twiml(
        self, call_sid: str, template_id: str, base: str, greeting: str | None = None
    ) -> str:
        assert self._verifier is not None, "relay TwiML is only given to signed requests"
        template = await load_template(self._storage.store(), template_id)
        brief = self._briefs.brief_for(call_sid) if self._briefs is not None else None
        return relay_twiml(
            socket_base=websocket_base(base),
            token=self._verifier.relay_token(call_sid),
            greeting=greeting or welcome(template, brief),
            language=template.language,
            settings=self.voice,
            parameters={"call_id": call_sid, "template_id": template_id},
        )

    async def record_engine(self, call_sid: str, engine: str, reason: str) -> None:
        use = EngineUse(engine=engine, at=utcnow(), reason=reason)  # type: ignore[arg-type]
        await self._storage.store().calls.add_engine(call_sid, use)

    def expect(self, handover: HandOver, media_s: float) -> None:
        """A call is being redirected here: its relay session continues from `handover`."""
        now = time.monotonic()
        for sid in [s for s, w in self._handovers.items() if w.until < now]:
            del self._handovers[sid]
        self._handovers[handover.call_sid] = _Waiting(handover, media_s, now + HANDOVER_TTL_S)

    def forget(self, call_sid: str) -> None:
        self._handovers.pop(call_sid, None)

    def _client(self) -> ResponsesClient:
        if self._http is None:
            self._http = httpx.AsyncClient()
        return ResponsesClient(self._endpoint, self._http)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def open(self, setup: Setup, send: Send) -> RelayListener | None:
        settings, store, call_sid = self._settings, self._storage.store(), setup.call_sid
        waiting = self._handovers.pop(call_sid, None)
        call = await store.calls.get(call_sid)
        template_id = setup.custom_parameters.get("template_id") or (
            call.template_id if call is not None else DEFAULT_TEMPLATE.template_id
        )
        template = await load_template(store, template_id)
        direction: Direction = call.direction if call is not None else "inbound"
        linked = call is not None and (call.interview_id is not None or direction == "outbound")
        brief = await self._briefs.brief(call_sid) if self._briefs is not None and linked else None
        clock = LoopClock()
        history = await store.turns.for_call(call_sid)
        evaluations = await store.evaluations.for_call(call_sid)
        cost = CallCost(
            settings.prices, settings.openai_realtime_model, text_model=settings.openai_text_model
        )
        continued: Continued | None = None
        if waiting is not None:  # handed over by a realtime session on this worker
            handover = waiting.handover
            continued = Continued(
                history=history,
                evaluations=evaluations,
                started_at_s=handover.started_at_s,
                reconnects=handover.reconnects,
                interruptions=handover.interruptions,
                latency=handover.latency,
                streamed_s=handover.streamed_s,
                media_s=waiting.media_s,
            )
            if handover.cost is not None:
                cost = handover.cost
                cost.use_text_model(settings.openai_text_model)
        elif history and call is not None:
            # Handed over by a realtime session on another worker: the conversation and the
            # call's clock come from the database; that worker's cost meter does not.
            started = call.timings.get("stream_started", call.created_at)
            elapsed_s = max(0.0, (utcnow() - started).total_seconds())
            continued = Continued(history, evaluations, started_at_s=clock.now() - elapsed_s)
            log.warning(
                "continuing a call handed over by another worker; its cost covers the relay only",
                extra={"call_sid": call_sid},
            )
        return RelaySession(
            call_sid=call_sid,
            send=send,
            stream=self._client().stream,
            recorder=CallWriter(
                self._storage.writer(),
                call_sid,
                redact=redact_text if settings.redact_transcripts else None,
            ),
            template=template,
            options=self.options,
            cost=cost,
            greeting=TAKEOVER_GREETING if continued is not None else welcome(template, brief),
            direction=direction,
            continued=continued,
            clock=clock,
            outbound=brief,
            requests=self._requests if brief is not None and brief.placed else None,
        )
