"""What an N-minute interview is likely to cost, before anyone is called.

The estimate runs a synthetic call through the same CallCost meter real calls
use, so estimate and bill follow one set of billing rules. Assumptions (all in
EstimateAssumptions and returned with the figure):

- The caller speaks 50% of the call and the assistant 40%; the rest is silence,
  which server VAD keeps out of the conversation.
- Caller audio is 10 tokens/s (1 per 100 ms), assistant audio 20 tokens/s
  (1 per 50 ms), both as published for the Realtime API.
- A response is created every 15 s on average (spoken turns and tool calls
  together), each with 50 text output tokens (transcript and tool arguments).
- Every response re-bills the whole conversation so far as input: the
  instructions and tool schemas (characters / 4 tokens) plus all text output so
  far as text, and all caller and assistant audio so far as audio, capped at
  28,000 tokens (the context the model keeps).
- 80% of the part of each input already sent in the previous response is a
  cache hit; new tokens and the first response are never cached.
- Transcription covers the caller's speech (10 audio tokens/s in and 3 text
  tokens/s out when billed by token).
- Twilio: the duration rounded up to whole minutes, Media Streams on.

On ConversationRelay (`estimate_relay_cost`) Twilio hears and speaks: the text model is
given the conversation as text, the caller's and the assistant's speech at 3 text tokens
per second of talk each (about 2.5 words/s), the assistant's as its output; the same
responses, cache hits and tool-call output as above; ConversationRelay's minutes instead of
Media Streams and transcription.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from evaluation.cost import CallCost, CostBreakdown, Direction, NumberType
from evaluation.instructions import build_instructions
from evaluation.prices import PriceTable
from evaluation.templates import Template
from evaluation.tools import TOOLS
from evaluation.usage import ResponseUsage, TranscriptionSeconds, TranscriptionTokens


@dataclass(frozen=True, slots=True)
class EstimateAssumptions:
    caller_talk_share: float = 0.5
    assistant_talk_share: float = 0.4
    caller_audio_tokens_per_s: float = 10.0
    assistant_audio_tokens_per_s: float = 20.0
    seconds_per_response: float = 15.0
    text_out_tokens_per_response: int = 50
    chars_per_token: float = 4.0
    context_limit_tokens: int = 28_000
    cache_hit_ratio: float = 0.8
    transcription_text_tokens_per_s: float = 3.0
    """Also the text of speech on ConversationRelay, for the caller and the assistant."""


@dataclass(frozen=True, slots=True)
class Estimate:
    minutes: float
    model: str
    responses: int
    prompt_tokens: int
    """Instructions plus tool schemas, re-billed as text input by every response."""
    assumptions: EstimateAssumptions
    breakdown: CostBreakdown = field(repr=False)

    @property
    def total(self) -> Decimal:
        return self.breakdown.total

    @property
    def per_minute(self) -> Decimal:
        return self.total / Decimal(str(self.minutes)) if self.minutes else Decimal(0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "minutes": self.minutes,
            "model": self.model,
            "responses": self.responses,
            "prompt_tokens": self.prompt_tokens,
            "assumptions": asdict(self.assumptions),
            "cost": self.breakdown.to_dict(),
        }


def _prompt_tokens(template: Template, a: EstimateAssumptions) -> int:
    """The instructions and tool schemas, as text tokens every response is billed again."""
    instructions = math.ceil(len(build_instructions(template)) / a.chars_per_token)
    return instructions + math.ceil(len(json.dumps(TOOLS)) / a.chars_per_token)


def estimate_cost(
    template: Template,
    minutes: float,
    prices: PriceTable,
    model: str,
    *,
    transcription_model: str | None,
    direction: Direction = "inbound",
    number_type: NumberType = "local",
    amd: bool = False,
    assumptions: EstimateAssumptions | None = None,
) -> Estimate:
    """Estimate one interview of `minutes`; raises UnknownModelError for an unpriced model.

    transcription_model has no default here: the service's settings hold the one
    default, and None leaves transcription out.
    """
    a = assumptions or EstimateAssumptions()
    meter = CallCost(prices, model, transcription_model=transcription_model)
    seconds = max(0.0, minutes * 60)
    fixed_text = _prompt_tokens(template, a)
    responses = max(1, round(seconds / a.seconds_per_response)) if seconds else 0
    step = seconds / responses if responses else 0.0
    caller_rate = a.caller_audio_tokens_per_s * a.caller_talk_share
    assistant_rate = a.assistant_audio_tokens_per_s * a.assistant_talk_share
    prev_text = prev_audio = 0
    for k in range(1, responses + 1):
        text_in = fixed_text + a.text_out_tokens_per_response * (k - 1)
        audio_in = round(caller_rate * step * k + assistant_rate * step * (k - 1))
        audio_in = max(0, min(audio_in, a.context_limit_tokens - text_in))
        cached_text = math.floor(min(text_in, prev_text) * a.cache_hit_ratio)
        cached_audio = math.floor(min(audio_in, prev_audio) * a.cache_hit_ratio)
        audio_out = round(assistant_rate * step)
        meter.add_response_usage(
            ResponseUsage.billed(
                input_tokens=text_in + audio_in,
                output_tokens=a.text_out_tokens_per_response + audio_out,
                text_in=text_in,
                audio_in=audio_in,
                cached_text_in=cached_text,
                cached_audio_in=cached_audio,
                text_out=a.text_out_tokens_per_response,
                audio_out=audio_out,
            )
        )
        prev_text, prev_audio = text_in, audio_in
    if transcription_model is not None:
        speech_s = seconds * a.caller_talk_share
        rates = prices.transcription(transcription_model)
        if rates.per_minute_streamed is not None:
            meter.set_audio_streamed(seconds)  # the caller's line is streamed throughout
        elif rates.per_minute is not None:
            meter.add_transcription(TranscriptionSeconds.billed(seconds=speech_s))
        else:
            meter.add_transcription(
                TranscriptionTokens(
                    audio_in=round(speech_s * a.caller_audio_tokens_per_s),
                    out=round(speech_s * a.transcription_text_tokens_per_s),
                )
            )
    meter.set_telephony(seconds, direction, number_type, media_streams=True, amd=amd)
    return Estimate(
        minutes=minutes,
        model=model,
        responses=responses,
        prompt_tokens=fixed_text,
        assumptions=a,
        breakdown=meter.breakdown(),
    )


def estimate_relay_cost(
    template: Template,
    minutes: float,
    prices: PriceTable,
    text_model: str,
    *,
    realtime_model: str,
    direction: Direction = "inbound",
    number_type: NumberType = "local",
    amd: bool = False,
    assumptions: EstimateAssumptions | None = None,
) -> Estimate:
    """Estimate one interview of `minutes` on ConversationRelay with `text_model`; raises
    UnknownModelError for an unpriced model (the realtime one names the breakdown's
    model lines, which stay at zero)."""
    a = assumptions or EstimateAssumptions()
    meter = CallCost(prices, realtime_model, text_model=text_model)
    seconds = max(0.0, minutes * 60)
    fixed_text = _prompt_tokens(template, a)
    responses = max(1, round(seconds / a.seconds_per_response)) if seconds else 0
    step = seconds / responses if responses else 0.0
    speech = a.transcription_text_tokens_per_s
    caller_rate, assistant_rate = speech * a.caller_talk_share, speech * a.assistant_talk_share
    spoken_out = round(assistant_rate * step)
    prev = 0
    for k in range(1, responses + 1):
        text_in = fixed_text + (a.text_out_tokens_per_response + spoken_out) * (k - 1)
        text_in += round(caller_rate * step * k)
        cached = math.floor(min(text_in, prev) * a.cache_hit_ratio)
        meter.add_text_usage(
            ResponseUsage.billed_text(
                input_tokens=text_in,
                cached_tokens=cached,
                output_tokens=a.text_out_tokens_per_response + spoken_out,
            )
        )
        prev = text_in
    meter.set_telephony(seconds, direction, number_type, media_streams=False, amd=amd)
    meter.set_relay(seconds)
    return Estimate(
        minutes=minutes,
        model=text_model,
        responses=responses,
        prompt_tokens=fixed_text,
        assumptions=a,
        breakdown=meter.breakdown(),
    )
