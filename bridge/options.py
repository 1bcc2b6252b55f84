"""How every live call is run: the model endpoint, audio, turn detection and limits.

Built once from the service's settings, which declare every default; the values here
are only those no setting exposes.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from bridge import realtime_events as rt
from bridge.audio import AudioFormat, openai_audio_format
from bridge.realtime_client import RealtimeConnection, RealtimeEndpoint
from bridge.resample import ResamplerMethod
from evaluation.cost import NumberType
from evaluation.instructions import build_instructions
from evaluation.outbound import OutboundCall, tools_for
from evaluation.templates import Template, Voice


@dataclass(frozen=True, slots=True)
class SessionOptions:
    endpoint: RealtimeEndpoint
    audio_format: AudioFormat
    resampler: ResamplerMethod
    voice: Voice | None
    """Overrides the template's voice when set."""
    transcription_model: str
    turn_detection: rt.TurnDetection
    max_call_seconds: int
    cost_alert_usd: Decimal
    number_type: NumberType
    """How Twilio bills the inbound leg."""
    reasoning_effort: rt.ReasoningEffort = "minimal"
    """Sent to models that reason; ignored by the others."""
    model_silence_s: float = 5.0
    """How long the model may say nothing before it is asked whether it is still there."""
    transcript_wait_s: float = 2.0
    """At the end of a call, how long a caller turn's transcript is waited for."""
    reconnect_backoff_s: tuple[float, ...] = (0.25, 0.75, 1.5)
    goodbye_timeout_s: float = 15.0

    def session_config(
        self, template: Template, outbound: OutboundCall | None = None
    ) -> rt.SessionConfig:
        return rt.SessionConfig(
            instructions=build_instructions(
                template, max_call_seconds=self.max_call_seconds, outbound=outbound
            ),
            audio_format=openai_audio_format(self.audio_format),
            voice=self.voice or template.voice,
            tools=tools_for(outbound),
            transcription_model=self.transcription_model,
            language=template.language,
            turn_detection=self.turn_detection,
            reasoning_effort=(self.reasoning_effort if rt.reasons(self.endpoint.model) else None),
        )


async def open_realtime(
    options: SessionOptions, template: Template, outbound: OutboundCall | None = None
) -> RealtimeConnection:
    config = options.session_config(template, outbound)
    return await RealtimeConnection.open(options.endpoint, config)
