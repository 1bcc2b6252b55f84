"""The running cost of one call: Realtime tokens, transcription and Twilio minutes.

The meter is fed each response.done usage as it arrives, so a call that ends
abruptly still has an accurate model cost; Twilio's share is set from the call
duration (repeatable; the last value wins). All money is Decimal.

Billing rules encoded here:

- Cached input tokens are a subset of input tokens: per modality, (tokens -
  cached) are billed at the input rate and cached at the cached rate.
- Usage may be partial (a cancelled response): missing details count as 0.
  Input or output tokens not attributed to text or audio are billed as audio,
  the dearer modality, and cached tokens without a text/audio split are billed
  as uncached, so the meter errs high rather than low.
- Twilio bills whole minutes per call, rounded up (0 s is 0 minutes); Media
  Streams minutes the same way; answering-machine detection once per call.
- Per-minute transcription is prorated by the second.

CostBreakdown.to_dict() gives dollars as floats rounded to 6 decimal places
(micro-dollars) so MongoDB can sum and sort them; the Decimal values stay exact
on the objects themselves. The model and Twilio lines are always present; a
"transcription" line (per-minute models) or transcription_text_in/_audio_in/_out
lines (token-billed models) only when a transcription model is set.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final, Literal

from evaluation.prices import PriceError, PriceTable, RealtimeRates, TranscriptionRates

Direction = Literal["inbound", "outbound"]
NumberType = Literal["local", "toll_free"]

MILLION: Final = Decimal(1_000_000)
_USD_PLACES: Final = 6

_TOKEN_LINES: Final = (
    "model_text_in",
    "model_text_in_cached",
    "model_text_out",
    "model_audio_in",
    "model_audio_in_cached",
    "model_audio_out",
)
_TRANSCRIPTION_TOKEN_LINES: Final = (
    "transcription_text_in",
    "transcription_audio_in",
    "transcription_out",
)


def twilio_minutes(duration_s: float) -> int:
    """Billable Twilio minutes: every started minute counts, 0 s counts none."""
    if duration_s <= 0:
        return 0
    return math.ceil(Decimal(str(duration_s)) / 60)


def _usd(amount: Decimal) -> float:
    return float(round(amount, _USD_PLACES))


def _count(data: Mapping[str, Any], key: str) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return 0
    return value


def _details(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    return value if isinstance(value, Mapping) else {}


@dataclass(frozen=True, slots=True)
class CostLine:
    name: str
    quantity: Decimal
    unit: str
    """tokens, minutes, seconds or calls."""
    rate: Decimal
    per: str
    """What the rate is per: "1M tokens", "minute" or "call"."""
    amount: Decimal

    def to_dict(self) -> dict[str, Any]:
        quantity = (
            int(self.quantity)
            if self.quantity == self.quantity.to_integral()
            else float(self.quantity)
        )
        return {
            "quantity": quantity,
            "unit": self.unit,
            "rate_usd": float(self.rate),
            "per": self.per,
            "usd": _usd(self.amount),
        }


_PER: Final = {"tokens": "1M tokens", "seconds": "minute", "minutes": "minute", "calls": "call"}
_SCALE: Final = {"tokens": MILLION, "seconds": Decimal(60)}


def _line(name: str, quantity: int | Decimal, unit: str, rate: Decimal) -> CostLine:
    amount = quantity * rate / _SCALE.get(unit, Decimal(1))
    return CostLine(name, Decimal(quantity), unit, rate, _PER[unit], amount)


@dataclass(frozen=True, slots=True)
class CostBreakdown:
    model: str
    responses: int
    lines: tuple[CostLine, ...]
    total: Decimal

    def line(self, name: str) -> CostLine:
        for line in self.lines:
            if line.name == name:
                return line
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "currency": "USD",
            "model": self.model,
            "responses": self.responses,
            "total_usd": _usd(self.total),
            "lines": {line.name: line.to_dict() for line in self.lines},
        }


@dataclass(frozen=True, slots=True)
class _Telephony:
    minutes: int
    voice_rate: Decimal
    media_streams: bool
    amd: bool


class CallCost:
    """Cost meter for one call; rates are resolved up front, so an unknown model fails early."""

    __slots__ = (
        "_alerted",
        "_model",
        "_prices",
        "_rates",
        "_responses",
        "_telephony",
        "_tokens",
        "_transcription",
        "_transcription_s",
        "_transcription_tokens",
    )

    def __init__(
        self, prices: PriceTable, model: str, *, transcription_model: str | None = None
    ) -> None:
        self._prices = prices
        self._model = model
        self._rates: RealtimeRates = prices.realtime(model)
        self._transcription: TranscriptionRates | None = (
            prices.transcription(transcription_model) if transcription_model else None
        )
        self._tokens = dict.fromkeys(_TOKEN_LINES, 0)
        self._transcription_tokens = dict.fromkeys(_TRANSCRIPTION_TOKEN_LINES, 0)
        self._transcription_s = Decimal(0)
        self._responses = 0
        self._telephony: _Telephony | None = None
        self._alerted: set[Decimal] = set()

    def add_response_usage(self, usage: Mapping[str, Any] | None) -> None:
        """Add the usage of one response.done, complete or partial."""
        self._responses += 1
        if not isinstance(usage, Mapping):
            return
        inp = _details(usage, "input_token_details")
        cached = _details(inp, "cached_tokens_details")
        out = _details(usage, "output_token_details")
        text_in, audio_in = _count(inp, "text_tokens"), _count(inp, "audio_tokens")
        audio_in += max(0, _count(usage, "input_tokens") - text_in - audio_in)
        cached_text = min(_count(cached, "text_tokens"), text_in)
        cached_audio = min(_count(cached, "audio_tokens"), audio_in)
        text_out, audio_out = _count(out, "text_tokens"), _count(out, "audio_tokens")
        audio_out += max(0, _count(usage, "output_tokens") - text_out - audio_out)
        t = self._tokens
        t["model_text_in"] += text_in - cached_text
        t["model_text_in_cached"] += cached_text
        t["model_audio_in"] += audio_in - cached_audio
        t["model_audio_in_cached"] += cached_audio
        t["model_text_out"] += text_out
        t["model_audio_out"] += audio_out

    def add_transcription(self, usage: Mapping[str, Any]) -> None:
        """Add the usage of one input_audio_transcription.completed event."""
        rates = self._transcription
        if rates is None:
            raise PriceError("transcription usage given but no transcription_model was set")
        is_duration = usage.get("type") == "duration" or (
            "type" not in usage and "seconds" in usage
        )
        if is_duration:
            if rates.per_minute is None:
                raise PriceError(f"{rates.model} is priced per token but reported duration usage")
            seconds = usage.get("seconds")
            if isinstance(seconds, int | float) and not isinstance(seconds, bool) and seconds > 0:
                self._transcription_s += Decimal(str(seconds))
            return
        if rates.per_minute is not None:
            raise PriceError(f"{rates.model} is priced per minute but reported token usage")
        inp = _details(usage, "input_token_details")
        text_in, audio_in = _count(inp, "text_tokens"), _count(inp, "audio_tokens")
        audio_in += max(0, _count(usage, "input_tokens") - text_in - audio_in)
        self._transcription_tokens["transcription_text_in"] += text_in
        self._transcription_tokens["transcription_audio_in"] += audio_in
        self._transcription_tokens["transcription_out"] += _count(usage, "output_tokens")

    def set_telephony(
        self,
        duration_s: float,
        direction: Direction,
        number_type: NumberType = "local",
        media_streams: bool = True,
        amd: bool = False,
    ) -> None:
        """Set Twilio's share from the call duration; outbound calls use one rate for both."""
        twilio = self._prices.twilio
        if direction == "outbound":
            rate = twilio.outbound_per_min
        elif direction != "inbound":
            raise ValueError(f"direction must be inbound or outbound, not {direction!r}")
        elif number_type == "local":
            rate = twilio.inbound_local_per_min
        elif number_type == "toll_free":
            rate = twilio.inbound_toll_free_per_min
        else:
            raise ValueError(f"number_type must be local or toll_free, not {number_type!r}")
        self._telephony = _Telephony(twilio_minutes(duration_s), rate, media_streams, amd)

    def _lines(self) -> list[CostLine]:
        r, t = self._rates, self._tokens
        lines = [
            _line("model_text_in", t["model_text_in"], "tokens", r.text_in),
            _line("model_text_in_cached", t["model_text_in_cached"], "tokens", r.text_in_cached),
            _line("model_text_out", t["model_text_out"], "tokens", r.text_out),
            _line("model_audio_in", t["model_audio_in"], "tokens", r.audio_in),
            _line("model_audio_in_cached", t["model_audio_in_cached"], "tokens", r.audio_in_cached),
            _line("model_audio_out", t["model_audio_out"], "tokens", r.audio_out),
        ]
        tr = self._transcription
        if tr is not None and tr.per_minute is not None:
            lines.append(_line("transcription", self._transcription_s, "seconds", tr.per_minute))
        elif tr is not None:
            rates = (tr.text_in, tr.audio_in, tr.out)
            for name, rate in zip(_TRANSCRIPTION_TOKEN_LINES, rates, strict=True):
                n = self._transcription_tokens[name]
                lines.append(_line(name, n, "tokens", rate or Decimal(0)))
        twilio = self._prices.twilio
        tel = self._telephony or _Telephony(0, twilio.inbound_local_per_min, False, False)
        lines += [
            _line("twilio_voice", tel.minutes, "minutes", tel.voice_rate),
            _line(
                "twilio_media_streams",
                tel.minutes if tel.media_streams else 0,
                "minutes",
                twilio.media_streams_per_min,
            ),
            _line("twilio_amd", 1 if tel.amd else 0, "calls", twilio.amd_per_call),
        ]
        return lines

    def breakdown(self) -> CostBreakdown:
        lines = self._lines()
        return CostBreakdown(
            model=self._model,
            responses=self._responses,
            lines=tuple(lines),
            total=sum((line.amount for line in lines), Decimal(0)),
        )

    @property
    def running_total(self) -> Decimal:
        return self.breakdown().total

    def crossed_alert(self, threshold: Decimal) -> bool:
        """True the first time the running total is above threshold, False ever after."""
        if threshold in self._alerted or self.running_total <= threshold:
            return False
        self._alerted.add(threshold)
        return True
