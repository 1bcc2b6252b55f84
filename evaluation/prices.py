"""The price table: packaged prices.json, optionally overridden, resolved for one date.

Prices change more often than code, so they live in data. An override file and
an override mapping (same shape as prices.json) are laid over the packaged
table in that order; a layer may give only some fields of a model, which then
replace those fields alone. Each model lists dated entries (or gives one entry
alone); the newest entry effective on the requested date applies (the newest of
all when no date is given). An entry without "effective" applies from any date.

Money is Decimal throughout: JSON numbers are read as Decimal and floats in an
override mapping are taken by their shortest repr, so 0.0085 stays 0.0085.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Final, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import PydanticCustomError

from evaluation.problems import FieldProblem, error_message, field_path

_DATED_SUFFIX = re.compile(r"-\d{4}-\d{2}-\d{2}$")


class PriceError(ValueError):
    """The price data is malformed, or has no price for what was asked."""


class UnknownModelError(PriceError):
    """No price is known for this model: billing it as free would hide real cost."""

    def __init__(self, model: str, known: tuple[str, ...], on: date | None = None) -> None:
        self.model = model
        when = f" on {on.isoformat()}" if on else ""
        super().__init__(f"no price for model {model!r}{when}; known: {', '.join(known) or 'none'}")


@dataclass(frozen=True, slots=True)
class RealtimeRates:
    """USD per 1M tokens for one Realtime model."""

    model: str
    text_in: Decimal
    text_in_cached: Decimal
    text_out: Decimal
    audio_in: Decimal
    audio_in_cached: Decimal
    audio_out: Decimal


@dataclass(frozen=True, slots=True)
class TranscriptionRates:
    """Per minute of audio transcribed (as each transcription reports), per minute of
    audio streamed to it (streaming models hear the whole call), or per 1M tokens
    (text_in, audio_in, out)."""

    model: str
    per_minute: Decimal | None = None
    per_minute_streamed: Decimal | None = None
    text_in: Decimal | None = None
    audio_in: Decimal | None = None
    out: Decimal | None = None


@dataclass(frozen=True, slots=True)
class TextRates:
    """USD per 1M tokens for one text model (the ConversationRelay engine's)."""

    model: str
    text_in: Decimal
    text_in_cached: Decimal
    text_out: Decimal


@dataclass(frozen=True, slots=True)
class TwilioRates:
    """USD per minute (rounded up per call), or per call for AMD."""

    inbound_local_per_min: Decimal
    inbound_toll_free_per_min: Decimal
    outbound_per_min: Decimal
    media_streams_per_min: Decimal
    amd_per_call: Decimal


_REALTIME_FIELDS: Final = tuple(f.name for f in fields(RealtimeRates) if f.name != "model")
_TEXT_FIELDS: Final = tuple(f.name for f in fields(TextRates) if f.name != "model")
_TOKEN_TRANSCRIPTION_FIELDS: Final = ("text_in", "audio_in", "out")
_TWILIO_FIELDS: Final = tuple(f.name for f in fields(TwilioRates))


def base_model(model: str) -> str:
    """gpt-realtime-2025-08-28 -> gpt-realtime: dated snapshots share their family's price."""
    return _DATED_SUFFIX.sub("", model)


@dataclass(frozen=True, slots=True)
class PriceTable:
    realtime_rates: Mapping[str, RealtimeRates]
    transcription_rates: Mapping[str, TranscriptionRates]
    twilio: TwilioRates
    on: date | None = None
    shutdowns: Mapping[str, date] = field(default_factory=lambda: MappingProxyType({}))
    """Models whose shutdown the provider has announced, and the day."""
    text_rates: Mapping[str, TextRates] = field(default_factory=lambda: MappingProxyType({}))
    conversation_relay_per_min: Decimal | None = None
    """Twilio's ConversationRelay charge per minute (rounded up per call); None: unknown."""

    def shutdown(self, model: str) -> date | None:
        """When `model` (or its family, for a dated snapshot) is announced to stop working."""
        for name in (model, base_model(model)):
            if name in self.shutdowns:
                return self.shutdowns[name]
        return None

    def realtime(self, model: str) -> RealtimeRates:
        """Rates for a Realtime model; raises UnknownModelError rather than pricing it at 0."""
        for name in (model, base_model(model)):
            if name in self.realtime_rates:
                return self.realtime_rates[name]
        raise UnknownModelError(model, tuple(self.realtime_rates), self.on)

    def text(self, model: str) -> TextRates:
        """Rates for a text model; raises UnknownModelError rather than pricing it at 0."""
        for name in (model, base_model(model)):
            if name in self.text_rates:
                return self.text_rates[name]
        raise UnknownModelError(model, tuple(self.text_rates), self.on)

    def relay_per_min(self) -> Decimal:
        if self.conversation_relay_per_min is None:
            raise PriceError(f"no ConversationRelay price{f' on {self.on}' if self.on else ''}")
        return self.conversation_relay_per_min

    def transcription(self, model: str) -> TranscriptionRates:
        for name in (model, base_model(model)):
            if name in self.transcription_rates:
                return self.transcription_rates[name]
        raise UnknownModelError(model, tuple(self.transcription_rates), self.on)


def _money(value: Any) -> Decimal:
    if isinstance(value, float):
        value = repr(value)
    try:
        amount = (
            Decimal(value)
            if isinstance(value, int | str | Decimal) and not isinstance(value, bool)
            else None
        )
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite() or amount < 0:
        raise PydanticCustomError("money", "must be a number >= 0")
    return amount


def _effective(value: Any) -> date | None:
    if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise PydanticCustomError("date", "must be a date like 2026-01-01")


# A layer replaces only the fields it gives, so "not given" (None by default) must stay
# apart from a given null, which is refused like any other non-number.
Money = Annotated[Decimal | None, PlainValidator(_money)]


class _Entry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    effective: Annotated[date | None, PlainValidator(_effective)] = None

    def rates(self) -> dict[str, Decimal]:
        given: dict[str, Decimal] = self.model_dump(exclude_unset=True, exclude={"effective"})
        return given


class _RealtimeEntry(_Entry):
    text_in: Money = None
    text_in_cached: Money = None
    text_out: Money = None
    audio_in: Money = None
    audio_in_cached: Money = None
    audio_out: Money = None


class _TextEntry(_Entry):
    text_in: Money = None
    text_in_cached: Money = None
    text_out: Money = None


class _RelayEntry(_Entry):
    per_minute: Money = None


class _TranscriptionEntry(_Entry):
    per_minute: Money = None
    per_minute_streamed: Money = None
    text_in: Money = None
    audio_in: Money = None
    out: Money = None


class _TwilioEntry(_Entry):
    inbound_local_per_min: Money = None
    inbound_toll_free_per_min: Money = None
    outbound_per_min: Money = None
    media_streams_per_min: Money = None
    amd_per_call: Money = None


class _Layer(BaseModel):
    """The sections of one layer. Each model's entries are checked on their own
    (below), so a mistake in one model still lets the gaps in the others show."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    about: object = None
    notes: object = None
    realtime: dict[str, object] = Field(default_factory=dict)
    transcription: dict[str, object] = Field(default_factory=dict)
    twilio: object = None
    shutdowns: dict[str, date] = Field(default_factory=dict)
    text: dict[str, object] = Field(default_factory=dict)
    conversation_relay: object = None


def _listed(value: Any) -> Any:
    return value if isinstance(value, list | tuple) else [value]


_REALTIME: Final = TypeAdapter(tuple[_RealtimeEntry, ...])
_TRANSCRIPTION: Final = TypeAdapter(tuple[_TranscriptionEntry, ...])
_TWILIO: Final = TypeAdapter(tuple[_TwilioEntry, ...])
_TEXT: Final = TypeAdapter(tuple[_TextEntry, ...])
_RELAY: Final = TypeAdapter(tuple[_RelayEntry, ...])
_Rates = dict[str, Decimal]
_E = TypeVar("_E", bound=_Entry)


class _Reader:
    """Reads one layer, collecting every problem as "source: path: message"."""

    def __init__(self, source: str, on: date | None) -> None:
        self.source = source
        self.on = on
        self.problems: list[str] = []

    def _report(self, exc: ValidationError, where: Sequence[str], data: Any) -> None:
        for error in exc.errors():
            loc = error["loc"]
            if where and not isinstance(data, list | tuple):
                loc = loc[1:]  # one entry given alone: its path has no [0]
            problem = FieldProblem(field_path((*where, *loc)), error_message(error))
            self.problems.append(f"{self.source}: {problem}")

    def layer(self, data: Any) -> _Layer | None:
        try:
            return _Layer.model_validate(data)
        except ValidationError as e:
            self._report(e, (), data)
            if not isinstance(data, Mapping):
                return None
            # The sections that are right still count, so their own gaps are reported too.
            bad = {error["loc"][0] for error in e.errors() if error["loc"]}
            return _Layer.model_validate({k: v for k, v in data.items() if k not in bad})

    def rates(self, adapter: TypeAdapter[tuple[_E, ...]], data: Any, *where: str) -> _Rates:
        """The fields of the entry effective on the date (the later of equal dates)."""
        try:
            entries = adapter.validate_python(_listed(data))
        except ValidationError as e:
            self._report(e, where, data)
            return {}
        chosen: tuple[date, _Rates] | None = None
        for entry in entries:
            effective = entry.effective or date.min
            applies = self.on is None or effective <= self.on
            if applies and (chosen is None or effective >= chosen[0]):
                chosen = (effective, entry.rates())
        return chosen[1] if chosen else {}


def _read_json(text: str, source: str) -> Any:
    try:
        return json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as e:
        raise PriceError(f"{source}: not valid JSON ({e.msg}, line {e.lineno})") from None


def _layers(
    override_file: Path | None, overrides: Mapping[str, Any] | None
) -> list[tuple[str, Any]]:
    packaged = resources.files("evaluation").joinpath("prices.json").read_text("utf-8")
    layers: list[tuple[str, Any]] = [("prices.json", _read_json(packaged, "prices.json"))]
    if override_file is not None:
        try:
            text = override_file.read_text("utf-8")
        except OSError as e:
            raise PriceError(f"{override_file}: cannot read ({e.strerror})") from None
        layers.append((str(override_file), _read_json(text, str(override_file))))
    if overrides is not None:
        layers.append(("overrides", overrides))
    return layers


_R = TypeVar("_R", RealtimeRates, TextRates)


def _complete(
    section: dict[str, _Rates],
    name: str,
    kind: type[_R],
    required: tuple[str, ...],
    problems: list[str],
    when: str,
) -> dict[str, _R]:
    """Each model with all its fields for the date; a model given only some is a problem."""
    complete: dict[str, _R] = {}
    for model, rates in section.items():
        missing = [f for f in required if f not in rates]
        if not rates:
            continue
        if missing:
            problems.append(f"{name}.{model}: no {', '.join(missing)}{when}")
        else:
            complete[model] = kind(model=model, **rates)
    return complete


def load_prices(
    override_file: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    on: date | None = None,
) -> PriceTable:
    """The packaged table with the override file, then the override mapping, laid over it.

    Raises PriceError listing every problem, including a model or Twilio left with
    only some of its fields for the date asked. A model with no entry for that
    date is left out, so asking for it raises UnknownModelError.
    """
    problems: list[str] = []
    realtime: dict[str, _Rates] = {}
    transcription: dict[str, _Rates] = {}
    twilio: _Rates = {}
    text: dict[str, _Rates] = {}
    relay: _Rates = {}
    shutdowns: dict[str, date] = {}
    for source, data in _layers(override_file, overrides):
        reader = _Reader(source, on)
        layer = reader.layer(data)
        if layer is not None:
            shutdowns.update(layer.shutdowns)
            for model, value in layer.realtime.items():
                rates = reader.rates(_REALTIME, value, "realtime", model)
                realtime.setdefault(model, {}).update(rates)
            for model, value in layer.transcription.items():
                rates = reader.rates(_TRANSCRIPTION, value, "transcription", model)
                transcription.setdefault(model, {}).update(rates)
            if "twilio" in layer.model_fields_set:
                twilio.update(reader.rates(_TWILIO, layer.twilio, "twilio"))
            for model, value in layer.text.items():
                text.setdefault(model, {}).update(reader.rates(_TEXT, value, "text", model))
            if "conversation_relay" in layer.model_fields_set:
                relay.update(reader.rates(_RELAY, layer.conversation_relay, "conversation_relay"))
        problems += reader.problems

    when = f" on {on.isoformat()}" if on else ""
    realtime_rates = _complete(
        realtime, "realtime", RealtimeRates, _REALTIME_FIELDS, problems, when
    )
    text_rates = _complete(text, "text", TextRates, _TEXT_FIELDS, problems, when)
    transcription_rates: dict[str, TranscriptionRates] = {}
    for model, rates in transcription.items():
        tokens = [f for f in _TOKEN_TRANSCRIPTION_FIELDS if f in rates]
        minutes = [f for f in ("per_minute", "per_minute_streamed") if f in rates]
        if not rates:
            continue
        if len(minutes) + bool(tokens) > 1:
            problems.append(
                f"transcription.{model}: give one of per_minute, per_minute_streamed "
                "or token prices"
            )
        elif not minutes and len(tokens) != len(_TOKEN_TRANSCRIPTION_FIELDS):
            problems.append(
                f"transcription.{model}: needs per_minute, per_minute_streamed, or all of "
                f"{', '.join(_TOKEN_TRANSCRIPTION_FIELDS)}{when}"
            )
        else:
            transcription_rates[model] = TranscriptionRates(model=model, **rates)
    missing_twilio = [f for f in _TWILIO_FIELDS if f not in twilio]
    if missing_twilio:
        problems.append(f"twilio: no {', '.join(missing_twilio)}{when}")
    if problems:
        raise PriceError("\n".join(problems))
    return PriceTable(
        realtime_rates=MappingProxyType(realtime_rates),
        transcription_rates=MappingProxyType(transcription_rates),
        twilio=TwilioRates(**twilio),
        on=on,
        shutdowns=MappingProxyType(shutdowns),
        text_rates=MappingProxyType(text_rates),
        conversation_relay_per_min=relay.get("per_minute"),
    )
