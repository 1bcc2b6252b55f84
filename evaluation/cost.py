"""The running cost of one call: model tokens, transcription and Twilio minutes.

The meter is fed each response's usage as it arrives, so a call that ends
abruptly still has an accurate model cost; Twilio's share is set from the call
duration (repeatable; the last value wins). All money is Decimal.

Billing rules encoded here (the token rules are in evaluation/usage.py, where
reported counts become billable ones):

- A response with no usage reported still counts as a response, at no cost.
- Twilio bills whole minutes per call, rounded up (0 s is 0 minutes); Media
  Streams minutes the same way; answering-machine detection once per call.
- Per-minute transcription is prorated by the second: by the seconds each
  transcription reports, or, for streaming models (per_minute_streamed), by the
  seconds of caller audio sent to the model, whatever the transcriptions report.

- A call (or the part of it) run by ConversationRelay bills the text model's tokens
  (text_model_* lines) and ConversationRelay's minutes, rounded up like Twilio's others;
  Media Streams minutes then cover only the part of the call streamed to the Realtime API.

CostBreakdown.to_dict() gives dollars as floats rounded to 6 decimal places
(micro-dollars) so MongoDB can sum and sort them; the Decimal values stay exact
on the objects themselves. The model and Twilio lines are always present; a
"transcription" line (per-minute models) or transcription_text_in/_audio_in/_out
lines (token-billed models) only when a transcription model is set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final, Literal

from evaluation.prices import PriceError, PriceTable, RealtimeRates, TextRates, TranscriptionRates
from evaluation.usage import (
    ResponseUsage,
    TranscriptionSeconds,
    TranscriptionTokens,
    TranscriptionUsage,
)

Direction = Literal["inbound", "outbound"]
NumberType = Literal["local", "toll_free"]

MILLION: Final = Decimal(1_000_000)
_USD_PLACES: Final = 6


def twilio_minutes(duration_s: float) -> int:
    """Billable Twilio minutes: every started minute counts, 0 s counts none."""
    if duration_s <= 0:
        return 0
    return math.ceil(Decimal(str(duration_s)) / 60)


def _usd(amount: Decimal) -> float:
    return float(round(amount, _USD_PLACES))


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
    text_model: str | None = None

    def line(self, name: str) -> CostLine:
        for line in self.lines:
            if line.name == name:
                return line
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "currency": "USD",
            "model": self.model,
            "responses": self.responses,
            "total_usd": _usd(self.total),
            "lines": {line.name: line.to_dict() for line in self.lines},
        }
        if self.text_model is not None:
            out["text_model"] = self.text_model
        return out


@dataclass(frozen=True, slots=True)
class _Telephony:
    minutes: int
    voice_rate: Decimal
    media_streams: bool
    amd: bool
    media_minutes: int | None = None  # None: the whole call


class CallCost:
    """Cost meter for one call; rates are resolved up front, so an unknown model fails early."""

    __slots__ = (
        "_alerted",
        "_model",
        "_phone",
        "_prices",
        "_rates",
        "_relay_s",
        "_responses",
        "_streamed_s",
        "_telephony",
        "_text",
        "_text_usage",
        "_transcription",
        "_transcription_s",
        "_transcription_tokens",
        "_usage",
    )

    def __init__(
        self,
        prices: PriceTable,
        model: str,
        *,
        transcription_model: str | None = None,
        text_model: str | None = None,
        phone: bool = True,
    ) -> None:
        """`phone` false: the call came from a browser, so Twilio bills nothing for it and
        the breakdown has no Twilio lines."""
        self._prices = prices
        self._phone = phone
        self._model = model
        self._rates: RealtimeRates = prices.realtime(model)
        self._transcription: TranscriptionRates | None = (
            prices.transcription(transcription_model) if transcription_model else None
        )
        self._usage = ResponseUsage.ZERO
        self._transcription_tokens = TranscriptionTokens()
        self._transcription_s = Decimal(0)
        self._streamed_s = Decimal(0)
        self._responses = 0
        self._telephony: _Telephony | None = None
        self._alerted: set[Decimal] = set()
        self._text: TextRates | None = None
        self._text_usage = ResponseUsage.ZERO
        self._relay_s = Decimal(0)
        if text_model is not None:
            self.use_text_model(text_model)

    def use_text_model(self, model: str) -> None:
        """Bill a text model from now on (a call handed over to ConversationRelay);
        raises UnknownModelError for an unpriced one, or PriceError without a relay price."""
        self._prices.relay_per_min()
        self._text = self._prices.text(model)

    def add_text_usage(self, usage: ResponseUsage | None) -> None:
        """One text-model response; None for one that reported no usage."""
        if self._text is None:
            raise PriceError("text usage given but no text model was set")
        self._responses += 1
        if usage is not None:
            self._text_usage += usage

    def set_relay(self, seconds: float) -> None:
        """The time the call spent on ConversationRelay (repeatable; the last value wins)."""
        self._relay_s = TranscriptionSeconds.billed(seconds=seconds).seconds

    def add_response_usage(self, usage: ResponseUsage | None) -> None:
        """Add one response's usage; None for a response that reported none."""
        self._responses += 1
        if usage is not None:
            self._usage += usage

    def add_transcription(self, usage: TranscriptionUsage) -> None:
        """Add one transcription's usage, which must be of the kind its model is priced by."""
        rates = self._transcription
        if rates is None:
            raise PriceError("transcription usage given but no transcription_model was set")
        if rates.per_minute_streamed is not None:
            return  # billed by the audio streamed to it (set_audio_streamed)
        if isinstance(usage, TranscriptionSeconds):
            if rates.per_minute is None:
                raise PriceError(f"{rates.model} is priced per token but reported duration usage")
            self._transcription_s += usage.seconds
        else:
            if rates.per_minute is not None:
                raise PriceError(f"{rates.model} is priced per minute but reported token usage")
            self._transcription_tokens += usage

    def set_audio_streamed(self, seconds: float) -> None:
        """The caller audio sent to the model so far (repeatable; the last value wins)."""
        self._streamed_s = TranscriptionSeconds.billed(seconds=seconds).seconds

    def set_telephony(
        self,
        duration_s: float,
        direction: Direction,
        number_type: NumberType = "local",
        media_streams: bool = True,
        amd: bool = False,
        media_streams_s: float | None = None,
    ) -> None:
        """Set Twilio's share from the call duration; outbound calls use one rate for both.
        `media_streams_s`: the part of the call on a media stream, when not all of it."""
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
        media = None if media_streams_s is None else twilio_minutes(media_streams_s)
        self._telephony = _Telephony(twilio_minutes(duration_s), rate, media_streams, amd, media)

    def _lines(self) -> list[CostLine]:
        r, t = self._rates, self._usage
        lines = [
            _line("model_text_in", t.text_in, "tokens", r.text_in),
            _line("model_text_in_cached", t.text_in_cached, "tokens", r.text_in_cached),
            _line("model_text_out", t.text_out, "tokens", r.text_out),
            _line("model_audio_in", t.audio_in, "tokens", r.audio_in),
            _line("model_audio_in_cached", t.audio_in_cached, "tokens", r.audio_in_cached),
            _line("model_audio_out", t.audio_out, "tokens", r.audio_out),
        ]
        tr = self._transcription
        if tr is not None and tr.per_minute_streamed is not None:
            lines.append(
                _line("transcription", self._streamed_s, "seconds", tr.per_minute_streamed)
            )
        elif tr is not None and tr.per_minute is not None:
            lines.append(_line("transcription", self._transcription_s, "seconds", tr.per_minute))
        elif tr is not None:
            n, zero = self._transcription_tokens, Decimal(0)
            lines += [
                _line("transcription_text_in", n.text_in, "tokens", tr.text_in or zero),
                _line("transcription_audio_in", n.audio_in, "tokens", tr.audio_in or zero),
                _line("transcription_out", n.out, "tokens", tr.out or zero),
            ]
        text = self._text
        if text is not None:
            u = self._text_usage
            lines += [
                _line("text_model_in", u.text_in, "tokens", text.text_in),
                _line("text_model_in_cached", u.text_in_cached, "tokens", text.text_in_cached),
                _line("text_model_out", u.text_out + u.audio_out, "tokens", text.text_out),
            ]
        if not self._phone:
            return lines
        twilio = self._prices.twilio
        tel = self._telephony or _Telephony(0, twilio.inbound_local_per_min, False, False)
        media = tel.minutes if tel.media_minutes is None else tel.media_minutes
        lines += [
            _line("twilio_voice", tel.minutes, "minutes", tel.voice_rate),
            _line(
                "twilio_media_streams",
                media if tel.media_streams else 0,
                "minutes",
                twilio.media_streams_per_min,
            ),
            _line("twilio_amd", 1 if tel.amd else 0, "calls", twilio.amd_per_call),
        ]
        if text is not None:
            relay_minutes = twilio_minutes(float(self._relay_s))
            lines.append(
                _line(
                    "twilio_conversation_relay",
                    relay_minutes,
                    "minutes",
                    self._prices.relay_per_min(),
                )
            )
        return lines

    def breakdown(self) -> CostBreakdown:
        lines = self._lines()
        return CostBreakdown(
            model=self._model,
            responses=self._responses,
            lines=tuple(lines),
            total=sum((line.amount for line in lines), Decimal(0)),
            text_model=self._text.model if self._text is not None else None,
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
