"""The call cost meter: dollars computed by hand for realistic usage sequences."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from evaluation.cost import CallCost, twilio_minutes
from evaluation.prices import PriceError, PriceTable, UnknownModelError, load_prices
from evaluation.usage import ResponseUsage, TranscriptionSeconds, TranscriptionTokens

M = Decimal(1_000_000)

# Three responses on gpt-realtime; the third was cancelled by barge-in and
# reports partial usage: no cached split and no output details.
FIRST = ResponseUsage.billed(
    input_tokens=1200,
    output_tokens=180,
    text_in=1000,
    audio_in=200,
    cached_text_in=0,
    cached_audio_in=0,
    text_out=30,
    audio_out=150,
)
SECOND = ResponseUsage.billed(
    input_tokens=1800,
    output_tokens=260,
    text_in=1050,
    audio_in=750,
    cached_text_in=960,
    cached_audio_in=140,
    text_out=40,
    audio_out=220,
)
CANCELLED = ResponseUsage.billed(
    input_tokens=500,
    output_tokens=0,
    text_in=100,
    audio_in=400,
    cached_text_in=0,
    cached_audio_in=0,
    text_out=0,
    audio_out=0,
)


def _tokens(*, input_tokens: int = 0, output_tokens: int = 0, **details: int) -> ResponseUsage:
    """Usage as OpenAI reports a partial response: any detail not given is 0."""
    counts = dict.fromkeys(
        ("text_in", "audio_in", "cached_text_in", "cached_audio_in", "text_out", "audio_out"), 0
    )
    return ResponseUsage.billed(
        input_tokens=input_tokens, output_tokens=output_tokens, **(counts | details)
    )


@pytest.fixture(scope="module")
def prices() -> PriceTable:
    return load_prices()


def test_cached_tokens_are_a_subset_billed_once(prices: PriceTable) -> None:
    meter = CallCost(prices, "gpt-realtime")
    meter.add_response_usage(FIRST)
    # 1000 text in x $4 + 200 audio in x $32 + 30 text out x $16 + 150 audio out x $64
    assert meter.running_total == Decimal("0.02048")
    meter.add_response_usage(SECOND)
    # text in: 1050 - 960 cached = 90 x $4; 960 cached x $0.40
    # audio in: 750 - 140 cached = 610 x $32; 140 cached x $0.40
    second = (
        90 * 4 + 960 * Decimal("0.4") + 610 * 32 + 140 * Decimal("0.4") + 40 * 16 + 220 * 64
    ) / M
    assert second == Decimal("0.03504")
    assert meter.running_total == Decimal("0.05552")
    meter.add_response_usage(CANCELLED)
    # 100 text in x $4 + 400 audio in x $32, no output
    assert meter.running_total == Decimal("0.05552") + Decimal("0.0132")

    b = meter.breakdown()
    assert b.responses == 3
    assert b.line("model_text_in").quantity == 1000 + 90 + 100
    assert b.line("model_text_in_cached").quantity == 960
    assert b.line("model_audio_in").quantity == 200 + 610 + 400
    assert b.line("model_audio_in_cached").quantity == 140
    assert b.line("model_text_out").quantity == 70
    assert b.line("model_audio_out").quantity == 370
    assert b.line("model_audio_in").amount == Decimal("0.03872")
    # An abrupt end: no telephony set, the total is the model cost alone.
    assert b.total == Decimal("0.06872")
    assert b.line("twilio_voice").amount == 0


def test_the_same_sequence_on_the_mini_model(prices: PriceTable) -> None:
    meter = CallCost(prices, "gpt-realtime-mini-2025-10-06")
    for usage in (FIRST, SECOND, CANCELLED):
        meter.add_response_usage(usage)
    expected = (
        1190 * Decimal("0.60")
        + 960 * Decimal("0.06")
        + 1210 * 10
        + 140 * Decimal("0.30")
        + 70 * Decimal("2.40")
        + 370 * 20
    ) / M
    assert expected == Decimal("0.0204816")
    assert meter.running_total == Decimal("0.0204816")


def test_tokens_without_a_split_are_billed_as_audio(prices: PriceTable) -> None:
    meter = CallCost(prices, "gpt-realtime")
    meter.add_response_usage(_tokens(input_tokens=100, output_tokens=50))
    assert meter.running_total == Decimal("0.0064")  # 100 x $32 + 50 x $64
    meter = CallCost(prices, "gpt-realtime")
    # 800 cached reported without a text/audio split: the engine link passes no cached split.
    meter.add_response_usage(_tokens(input_tokens=1000, text_in=1000))
    assert meter.running_total == Decimal("0.004")  # all at $4


def test_cached_tokens_are_clamped_to_their_modality(prices: PriceTable) -> None:
    meter = CallCost(prices, "gpt-realtime")
    meter.add_response_usage(
        _tokens(input_tokens=100, text_in=100, cached_text_in=500, cached_audio_in=50)
    )
    b = meter.breakdown()
    assert b.line("model_text_in").quantity == 0
    assert b.line("model_text_in_cached").quantity == 100
    assert b.line("model_audio_in_cached").quantity == 0
    assert meter.running_total == Decimal("0.00004")  # 100 x $0.40


def test_missing_or_malformed_usage_costs_nothing_but_counts(prices: PriceTable) -> None:
    meter = CallCost(prices, "gpt-realtime")
    meter.add_response_usage(None)
    meter.add_response_usage(_tokens(output_tokens=-5, text_in=-3, cached_text_in=-1))
    meter.add_response_usage(ResponseUsage.ZERO)
    assert meter.running_total == 0
    assert meter.breakdown().responses == 3


@pytest.mark.parametrize(("seconds", "minutes"), [(0, 0), (59, 1), (60, 1), (61, 2), (120.0, 2)])
def test_twilio_minutes_round_up_per_call(seconds: float, minutes: int) -> None:
    assert twilio_minutes(seconds) == minutes


@pytest.mark.parametrize(
    ("seconds", "voice", "streams"),
    [
        (59, Decimal("0.0085"), Decimal("0.004")),
        (60, Decimal("0.0085"), Decimal("0.004")),
        (61, Decimal("0.0170"), Decimal("0.008")),
    ],
)
def test_inbound_local_telephony_at_minute_edges(
    prices: PriceTable, seconds: int, voice: Decimal, streams: Decimal
) -> None:
    meter = CallCost(prices, "gpt-realtime")
    meter.set_telephony(seconds, "inbound")
    b = meter.breakdown()
    assert b.line("twilio_voice").amount == voice
    assert b.line("twilio_media_streams").amount == streams
    assert b.total == voice + streams


def test_outbound_with_amd_and_toll_free_without_streams(prices: PriceTable) -> None:
    meter = CallCost(prices, "gpt-realtime")
    meter.set_telephony(61, "outbound", amd=True)
    assert meter.running_total == Decimal("0.0435")  # 2 x 0.014 + 2 x 0.004 + 0.0075
    meter.set_telephony(600, "inbound", "toll_free", media_streams=False)
    assert meter.running_total == Decimal("0.22")  # the last call wins: 10 x 0.022
    with pytest.raises(ValueError, match="direction must be inbound or outbound"):
        meter.set_telephony(1, "sideways")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="number_type must be local or toll_free"):
        meter.set_telephony(1, "inbound", "mobile")  # type: ignore[arg-type]


def test_per_minute_transcription_is_prorated(prices: PriceTable) -> None:
    meter = CallCost(prices, "gpt-realtime", transcription_model="whisper-1")
    meter.add_transcription(TranscriptionSeconds.billed(seconds=30))
    meter.add_transcription(TranscriptionSeconds(Decimal("45.5")))
    assert meter.running_total == Decimal("0.00755")  # 75.5 s / 60 x $0.006
    with pytest.raises(PriceError, match="priced per minute but reported token usage"):
        meter.add_transcription(TranscriptionTokens(audio_in=5, out=1))


def test_streaming_transcription_is_billed_by_the_audio_streamed(prices: PriceTable) -> None:
    meter = CallCost(prices, "gpt-realtime-2.1", transcription_model="gpt-realtime-whisper")
    meter.set_audio_streamed(90)
    # What each transcription reports is already in the audio streamed: not billed twice.
    meter.add_transcription(TranscriptionSeconds.billed(seconds=12))
    meter.add_transcription(TranscriptionTokens(audio_in=50, out=10))
    line = meter.breakdown().line("transcription")
    assert (line.quantity, line.unit) == (Decimal(90), "seconds")
    assert meter.running_total == Decimal("0.0255")  # 90 s / 60 x $0.017
    meter.set_audio_streamed(120.5)  # the latest figure wins
    assert meter.running_total == Decimal("120.5") * Decimal("0.017") / 60
    meter.set_audio_streamed(float("nan"))
    assert meter.running_total == 0


def test_token_transcription(prices: PriceTable) -> None:
    meter = CallCost(prices, "gpt-realtime", transcription_model="gpt-4o-mini-transcribe")
    meter.add_transcription(
        TranscriptionTokens.billed(input_tokens=1000, text_in=100, audio_in=900, output_tokens=200)
    )
    assert meter.running_total == Decimal("0.00225")  # 1000 x $1.25 + 200 x $5
    # 300 input tokens without a split are billed as audio.
    meter.add_transcription(
        TranscriptionTokens.billed(input_tokens=300, text_in=0, audio_in=0, output_tokens=0)
    )
    b = meter.breakdown()
    assert b.line("transcription_text_in").quantity == 100
    assert b.line("transcription_audio_in").quantity == 1200
    assert b.line("transcription_out").quantity == 200
    assert meter.running_total == Decimal("0.002625")  # + 300 x $1.25
    with pytest.raises(PriceError, match="priced per token but reported duration usage"):
        meter.add_transcription(TranscriptionSeconds(Decimal(3)))
    no_model = CallCost(prices, "gpt-realtime")
    with pytest.raises(PriceError, match="no transcription_model"):
        no_model.add_transcription(TranscriptionSeconds(Decimal(3)))


def test_a_full_call_adds_up(prices: PriceTable) -> None:
    meter = CallCost(prices, "gpt-realtime-2025-08-28", transcription_model="whisper-1")
    for usage in (FIRST, SECOND, CANCELLED):
        meter.add_response_usage(usage)
    meter.add_transcription(TranscriptionSeconds(Decimal(60)))
    meter.set_telephony(125, "inbound")
    # model 0.06872 + whisper 0.006 + 3 min x (0.0085 + 0.004)
    assert meter.running_total == Decimal("0.06872") + Decimal("0.006") + Decimal("0.0375")
    data = json.loads(json.dumps(meter.breakdown().to_dict()))
    assert data["total_usd"] == 0.11222
    assert data["model"] == "gpt-realtime-2025-08-28"
    assert data["lines"]["model_audio_out"] == {
        "quantity": 370,
        "unit": "tokens",
        "rate_usd": 64.0,
        "per": "1M tokens",
        "usd": 0.02368,
    }
    assert data["lines"]["twilio_voice"]["quantity"] == 3
    assert data["lines"]["transcription"]["usd"] == 0.006
    assert set(data["lines"]) == {
        "model_text_in",
        "model_text_in_cached",
        "model_text_out",
        "model_audio_in",
        "model_audio_in_cached",
        "model_audio_out",
        "transcription",
        "twilio_voice",
        "twilio_media_streams",
        "twilio_amd",
    }


def test_to_dict_rounds_dollars_to_six_places(prices: PriceTable) -> None:
    meter = CallCost(prices, "gpt-realtime")
    meter.add_response_usage(ResponseUsage(text_in=1))
    assert meter.running_total == Decimal("0.000004")
    meter.add_response_usage(ResponseUsage(text_in_cached=1))
    assert meter.running_total == Decimal("0.0000044")
    assert meter.breakdown().to_dict()["total_usd"] == 0.000004


def test_override_prices_are_used() -> None:
    meter = CallCost(
        load_prices(overrides={"realtime": {"gpt-realtime": {"audio_out": 100}}}), "gpt-realtime"
    )
    meter.add_response_usage(ResponseUsage(audio_out=1000))
    assert meter.running_total == Decimal("0.1")


def test_unknown_model_fails_at_construction(prices: PriceTable) -> None:
    with pytest.raises(UnknownModelError, match="gpt-4o-realtime-preview"):
        CallCost(prices, "gpt-4o-realtime-preview")
    with pytest.raises(UnknownModelError, match="nova-transcribe"):
        CallCost(prices, "gpt-realtime", transcription_model="nova-transcribe")


def test_crossed_alert_fires_exactly_once_per_threshold(prices: PriceTable) -> None:
    meter = CallCost(prices, "gpt-realtime")
    threshold = Decimal("0.03")
    assert not meter.crossed_alert(threshold)
    meter.add_response_usage(FIRST)  # 0.02048
    assert not meter.crossed_alert(threshold)
    meter.add_response_usage(SECOND)  # 0.05552
    assert meter.crossed_alert(threshold)
    assert not meter.crossed_alert(threshold)
    meter.add_response_usage(CANCELLED)
    assert not meter.crossed_alert(threshold)
    assert meter.crossed_alert(Decimal("0.06"))
    assert not meter.crossed_alert(Decimal("1"))
