"""The price table: packaged prices.json, optionally overridden, resolved for one date.

Prices change more often than code, so they live in data. An override file and
an override mapping (same shape as prices.json) are laid over the packaged
table in that order; a layer may give only some fields of a model, which then
replace those fields alone. Each model lists dated entries; the newest entry
effective on the requested date applies (the newest of all when no date is
given). An entry without "effective" applies from any date.

Money is Decimal throughout: JSON numbers are read as Decimal and floats in an
override mapping are taken by their shortest repr, so 0.0085 stays 0.0085.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import date
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

_DATED_SUFFIX = re.compile(r"-\d{4}-\d{2}-\d{2}$")
_SECTIONS: Final = ("realtime", "transcription", "twilio")


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
    """Either per minute of audio, or per 1M tokens (text_in, audio_in, out)."""

    model: str
    per_minute: Decimal | None = None
    text_in: Decimal | None = None
    audio_in: Decimal | None = None
    out: Decimal | None = None


@dataclass(frozen=True, slots=True)
class TwilioRates:
    """USD per minute (rounded up per call), or per call for AMD."""

    inbound_local_per_min: Decimal
    inbound_toll_free_per_min: Decimal
    outbound_per_min: Decimal
    media_streams_per_min: Decimal
    amd_per_call: Decimal


_REALTIME_FIELDS: Final = tuple(f.name for f in fields(RealtimeRates) if f.name != "model")
_TOKEN_TRANSCRIPTION_FIELDS: Final = ("text_in", "audio_in", "out")
_TRANSCRIPTION_FIELDS: Final = ("per_minute", *_TOKEN_TRANSCRIPTION_FIELDS)
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

    def realtime(self, model: str) -> RealtimeRates:
        """Rates for a Realtime model; raises UnknownModelError rather than pricing it at 0."""
        for name in (model, base_model(model)):
            if name in self.realtime_rates:
                return self.realtime_rates[name]
        raise UnknownModelError(model, tuple(self.realtime_rates), self.on)

    def transcription(self, model: str) -> TranscriptionRates:
        for name in (model, base_model(model)):
            if name in self.transcription_rates:
                return self.transcription_rates[name]
        raise UnknownModelError(model, tuple(self.transcription_rates), self.on)


class _Reader:
    """Walks one layer of price data, collecting problems with their paths."""

    def __init__(self, source: str, on: date | None) -> None:
        self.source = source
        self.on = on
        self.problems: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.problems.append(f"{self.source}: {path}: {message}")

    def money(self, path: str, value: Any) -> Decimal | None:
        if isinstance(value, bool):
            value = None
        elif isinstance(value, float):
            value = repr(value)
        try:
            amount = Decimal(value) if isinstance(value, int | str | Decimal) else None
        except InvalidOperation:
            amount = None
        if amount is None or not amount.is_finite() or amount < 0:
            self.add(path, "must be a number >= 0")
            return None
        return amount

    def pick(self, path: str, value: Any, allowed: tuple[str, ...]) -> dict[str, Decimal]:
        """The fields of the entry effective on the date, from a list or a single entry."""
        entries = value if isinstance(value, list) else [value]
        chosen: tuple[date, dict[str, Decimal]] | None = None
        for i, entry in enumerate(entries):
            where = f"{path}[{i}]" if isinstance(value, list) else path
            if not isinstance(entry, Mapping):
                self.add(where, "must be an object of prices")
                continue
            effective = date.min
            raw_date = entry.get("effective")
            if raw_date is not None:
                try:
                    effective = date.fromisoformat(str(raw_date))
                except ValueError:
                    self.add(f"{where}.effective", "must be a date like 2026-01-01")
                    continue
            rates: dict[str, Decimal] = {}
            for key, raw in entry.items():
                if key == "effective":
                    continue
                if key not in allowed:
                    self.add(f"{where}.{key}", f"unknown field (expected: {', '.join(allowed)})")
                    continue
                amount = self.money(f"{where}.{key}", raw)
                if amount is not None:
                    rates[key] = amount
            applies = self.on is None or effective <= self.on
            if applies and (chosen is None or effective >= chosen[0]):
                chosen = (effective, rates)
        return chosen[1] if chosen else {}


def _layer(
    reader: _Reader, data: Any
) -> tuple[dict[str, dict[str, Decimal]], dict[str, dict[str, Decimal]], dict[str, Decimal]]:
    realtime: dict[str, dict[str, Decimal]] = {}
    transcription: dict[str, dict[str, Decimal]] = {}
    twilio: dict[str, Decimal] = {}
    if not isinstance(data, Mapping):
        reader.add("(top)", "must be an object with realtime, transcription and/or twilio")
        return realtime, transcription, twilio
    for key in data:
        if key not in (*_SECTIONS, "about"):
            reader.add(str(key), f"unknown section (expected: {', '.join(_SECTIONS)})")
    for section, allowed, out in (
        ("realtime", _REALTIME_FIELDS, realtime),
        ("transcription", _TRANSCRIPTION_FIELDS, transcription),
    ):
        models = data.get(section, {})
        if not isinstance(models, Mapping):
            reader.add(section, "must be an object keyed by model name")
            continue
        for model, value in models.items():
            out[str(model)] = reader.pick(f"{section}.{model}", value, allowed)
    if "twilio" in data:
        twilio = reader.pick("twilio", data["twilio"], _TWILIO_FIELDS)
    return realtime, transcription, twilio


def _read_json(text: str, source: str) -> Any:
    try:
        return json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as e:
        raise PriceError(f"{source}: not valid JSON ({e.msg}, line {e.lineno})") from None


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
    layers: list[tuple[str, Any]] = [
        (
            "prices.json",
            _read_json(
                resources.files("evaluation").joinpath("prices.json").read_text("utf-8"),
                "prices.json",
            ),
        )
    ]
    if override_file is not None:
        try:
            text = override_file.read_text("utf-8")
        except OSError as e:
            raise PriceError(f"{override_file}: cannot read ({e.strerror})") from None
        layers.append((str(override_file), _read_json(text, str(override_file))))
    if overrides is not None:
        layers.append(("overrides", overrides))

    problems: list[str] = []
    realtime: dict[str, dict[str, Decimal]] = {}
    transcription: dict[str, dict[str, Decimal]] = {}
    twilio: dict[str, Decimal] = {}
    for source, data in layers:
        reader = _Reader(source, on)
        layer_realtime, layer_transcription, layer_twilio = _layer(reader, data)
        problems += reader.problems
        for model, rates in layer_realtime.items():
            realtime.setdefault(model, {}).update(rates)
        for model, rates in layer_transcription.items():
            transcription.setdefault(model, {}).update(rates)
        twilio.update(layer_twilio)

    when = f" on {on.isoformat()}" if on else ""
    realtime_rates: dict[str, RealtimeRates] = {}
    for model, rates in realtime.items():
        missing = [f for f in _REALTIME_FIELDS if f not in rates]
        if not rates:
            continue
        if missing:
            problems.append(f"realtime.{model}: no {', '.join(missing)}{when}")
        else:
            realtime_rates[model] = RealtimeRates(model=model, **rates)
    transcription_rates: dict[str, TranscriptionRates] = {}
    for model, rates in transcription.items():
        tokens = [f for f in _TOKEN_TRANSCRIPTION_FIELDS if f in rates]
        if not rates:
            continue
        if "per_minute" in rates and tokens:
            problems.append(f"transcription.{model}: give per_minute or token prices, not both")
        elif "per_minute" not in rates and len(tokens) != len(_TOKEN_TRANSCRIPTION_FIELDS):
            problems.append(
                f"transcription.{model}: needs per_minute, or all of "
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
    )
