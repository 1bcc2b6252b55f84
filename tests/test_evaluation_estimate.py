"""The cost estimator: its token arithmetic follows the stated assumptions."""

from __future__ import annotations

import json
import math
from decimal import Decimal

import pytest

from evaluation.estimate import EstimateAssumptions, estimate_cost
from evaluation.instructions import build_instructions
from evaluation.prices import PriceTable, UnknownModelError, load_prices
from evaluation.templates import DEFAULT_TEMPLATE
from evaluation.tools import TOOLS

M = Decimal(1_000_000)


@pytest.fixture(scope="module")
def prices() -> PriceTable:
    return load_prices()


def test_one_minute_without_cache_by_hand(prices: PriceTable) -> None:
    a = EstimateAssumptions(seconds_per_response=30, cache_hit_ratio=0)
    e = estimate_cost(
        DEFAULT_TEMPLATE, 1, prices, "gpt-realtime", transcription_model="whisper-1", assumptions=a
    )
    prompt = math.ceil(len(build_instructions(DEFAULT_TEMPLATE)) / 4) + math.ceil(
        len(json.dumps(TOOLS)) / 4
    )
    assert e.prompt_tokens == prompt
    assert e.responses == 2
    b = e.breakdown
    # Response 1 at 30 s: caller 30 s x 50% x 10/s = 150 audio tokens, no assistant audio yet.
    # Response 2 at 60 s: caller 300 + assistant 30 s x 40% x 20/s = 240 -> 540.
    assert b.line("model_audio_in").quantity == 150 + 540
    assert b.line("model_audio_in_cached").quantity == 0
    assert b.line("model_text_in").quantity == prompt + (prompt + 50)
    assert b.line("model_audio_out").quantity == 240 + 240
    assert b.line("model_text_out").quantity == 100
    assert b.line("transcription").quantity == 30  # seconds of caller speech
    assert b.line("twilio_voice").quantity == 1
    expected = (
        ((2 * prompt + 50) * 4 + 690 * 32 + 100 * 16 + 480 * 64) / M
        + Decimal("0.003")
        + Decimal("0.0085")
        + Decimal("0.004")
    )
    assert e.total == expected


def test_the_repeated_prefix_is_cached_at_the_stated_ratio(prices: PriceTable) -> None:
    a = EstimateAssumptions(seconds_per_response=30, cache_hit_ratio=0.8)
    e = estimate_cost(
        DEFAULT_TEMPLATE, 1, prices, "gpt-realtime", transcription_model="whisper-1", assumptions=a
    )
    b = e.breakdown
    # Response 2 repeats response 1's 150 audio tokens: 80% of them hit the cache.
    assert b.line("model_audio_in_cached").quantity == 120
    assert b.line("model_audio_in").quantity == 690 - 120
    assert b.line("model_text_in_cached").quantity == math.floor(e.prompt_tokens * 0.8)


def test_fifteen_minutes_on_both_models(prices: PriceTable) -> None:
    full = estimate_cost(
        DEFAULT_TEMPLATE, 15, prices, "gpt-realtime", transcription_model="whisper-1"
    )
    mini = estimate_cost(
        DEFAULT_TEMPLATE, 15, prices, "gpt-realtime-mini", transcription_model="whisper-1"
    )
    assert full.responses == mini.responses == 60
    assert Decimal("2") < full.total < Decimal("6")
    assert Decimal("0.5") < mini.total < full.total / 2
    assert full.breakdown.line("twilio_voice").quantity == 15
    assert full.per_minute == full.total / 15
    data = json.loads(json.dumps(full.to_dict()))
    assert data["assumptions"]["caller_talk_share"] == 0.5
    assert data["assumptions"]["cache_hit_ratio"] == 0.8
    assert data["cost"]["total_usd"] == float(round(full.total, 6))


def test_context_cap_limits_input_per_response(prices: PriceTable) -> None:
    a = EstimateAssumptions(context_limit_tokens=5_000)
    e = estimate_cost(
        DEFAULT_TEMPLATE, 60, prices, "gpt-realtime", transcription_model=None, assumptions=a
    )
    b = e.breakdown
    audio_in = b.line("model_audio_in").quantity + b.line("model_audio_in_cached").quantity
    assert audio_in <= e.responses * 5_000


def test_token_transcription_and_outbound_options(prices: PriceTable) -> None:
    e = estimate_cost(
        DEFAULT_TEMPLATE,
        2,
        prices,
        "gpt-realtime-mini",
        transcription_model="gpt-4o-mini-transcribe",
        direction="outbound",
        amd=True,
    )
    b = e.breakdown
    assert b.line("transcription_audio_in").quantity == 600  # 60 s of speech x 10/s
    assert b.line("transcription_out").quantity == 180  # 60 s x 3/s
    assert b.line("twilio_voice").amount == Decimal("0.028")
    assert b.line("twilio_amd").amount == Decimal("0.0075")
    assert e.total == Decimal("0.09210474")


def test_the_default_template_figures_are_pinned(prices: PriceTable) -> None:
    full = estimate_cost(
        DEFAULT_TEMPLATE, 15, prices, "gpt-realtime", transcription_model="whisper-1"
    )
    mini = estimate_cost(
        DEFAULT_TEMPLATE, 15, prices, "gpt-realtime-mini", transcription_model="whisper-1"
    )
    assert full.prompt_tokens == mini.prompt_tokens == 934
    assert full.total == Decimal("3.5568036")
    assert mini.total == Decimal("1.28274378")


def test_without_a_transcription_model_there_is_no_transcription_line(
    prices: PriceTable,
) -> None:
    e = estimate_cost(DEFAULT_TEMPLATE, 15, prices, "gpt-realtime", transcription_model=None)
    names = {line.name for line in e.breakdown.lines}
    assert not {n for n in names if n.startswith("transcription")}
    with_whisper = estimate_cost(
        DEFAULT_TEMPLATE, 15, prices, "gpt-realtime", transcription_model="whisper-1"
    )
    # 15 min x 50% caller speech x $0.006 per minute
    assert with_whisper.total - e.total == Decimal("0.045")


def test_the_transcription_model_must_be_given() -> None:
    with pytest.raises(TypeError, match="transcription_model"):
        estimate_cost(DEFAULT_TEMPLATE, 1, load_prices(), "gpt-realtime")  # type: ignore[call-arg]


def test_unknown_model_is_an_error(prices: PriceTable) -> None:
    with pytest.raises(UnknownModelError):
        estimate_cost(DEFAULT_TEMPLATE, 5, prices, "gpt-5-realtime", transcription_model=None)
    with pytest.raises(UnknownModelError):
        estimate_cost(DEFAULT_TEMPLATE, 5, prices, "gpt-realtime", transcription_model="ears-1")
