"""What the relay engine costs: its prices in the table, the text model and relay minutes on
the call's bill (alone, or after a realtime part), the estimate, and its settings."""

from __future__ import annotations

from decimal import Decimal

import pytest

from evaluation.cost import CallCost
from evaluation.estimate import estimate_cost, estimate_relay_cost
from evaluation.prices import PriceError, UnknownModelError, load_prices
from evaluation.templates import DEFAULT_TEMPLATE
from evaluation.usage import ResponseUsage
from service.settings import ConfigError, load_settings

M = Decimal(1_000_000)


def test_the_text_model_and_conversation_relay_are_priced() -> None:
    prices = load_prices()
    rates = prices.text("gpt-4.1-mini")
    assert (rates.text_in, rates.text_in_cached, rates.text_out) == (
        Decimal("0.4"),
        Decimal("0.1"),
        Decimal("1.6"),
    )
    assert prices.relay_per_min() == Decimal("0.07")
    assert prices.text("gpt-4.1-mini-2025-04-14").model == "gpt-4.1-mini"  # dated snapshot
    with pytest.raises(UnknownModelError, match="no price for model 'gpt-9'"):
        prices.text("gpt-9")


def test_price_overrides_reach_the_new_sections_and_gaps_are_refused() -> None:
    prices = load_prices(
        overrides={
            "conversation_relay": {"per_minute": "0.08"},
            "text": {"gpt-5-mini": {"text_in": 0.25, "text_in_cached": 0.025, "text_out": 2}},
        }
    )
    assert prices.relay_per_min() == Decimal("0.08")
    assert prices.text("gpt-5-mini").text_in_cached == Decimal("0.025")
    with pytest.raises(PriceError, match=r"text\.gpt-x: no text_in_cached, text_out"):
        load_prices(overrides={"text": {"gpt-x": {"text_in": 1}}})
    with pytest.raises(PriceError, match=r"conversation_relay\.per_minute: must be a number >= 0"):
        load_prices(overrides={"conversation_relay": {"per_minute": -1}})


def test_a_relay_call_bills_text_tokens_once_and_relay_minutes() -> None:
    cost = CallCost(load_prices(), "gpt-realtime-2.1", text_model="gpt-4.1-mini")
    cost.add_text_usage(
        ResponseUsage.billed_text(input_tokens=3000, cached_tokens=2048, output_tokens=60)
    )
    cost.add_text_usage(None)  # a response that reported no usage still counts
    cost.set_telephony(95, "inbound", media_streams=False)
    cost.set_relay(95)
    b = cost.breakdown()
    assert b.responses == 2 and b.text_model == "gpt-4.1-mini"
    expected = (
        952 * Decimal("0.4") / M
        + 2048 * Decimal("0.1") / M
        + 60 * Decimal("1.6") / M
        + 2 * Decimal("0.0085")
        + 2 * Decimal("0.07")
    )
    assert b.total == expected
    assert b.line("twilio_media_streams").quantity == 0
    assert b.to_dict()["text_model"] == "gpt-4.1-mini"


def test_a_call_handed_over_bills_each_engine_for_its_part() -> None:
    cost = CallCost(load_prices(), "gpt-realtime-2.1", transcription_model="gpt-realtime-whisper")
    cost.add_response_usage(ResponseUsage(audio_out=1000))
    cost.set_audio_streamed(30)
    cost.use_text_model("gpt-4.1-mini")
    cost.add_text_usage(
        ResponseUsage.billed_text(input_tokens=100, cached_tokens=0, output_tokens=10)
    )
    cost.set_telephony(150, "outbound", media_streams_s=50)
    cost.set_relay(100)
    b = cost.breakdown()
    assert b.line("model_audio_out").amount == 1000 * Decimal(64) / M
    assert b.line("transcription").quantity == 30
    assert b.line("twilio_voice").quantity == 3
    assert b.line("twilio_media_streams").quantity == 1
    assert b.line("twilio_conversation_relay").quantity == 2
    assert "text_model_in" not in {
        line.name for line in CallCost(load_prices(), "gpt-realtime-2.1").breakdown().lines
    }
    with pytest.raises(PriceError, match="no text model"):
        CallCost(load_prices(), "gpt-realtime-2.1").add_text_usage(None)


def test_the_estimate_covers_both_engines() -> None:
    prices = load_prices()
    relay = estimate_relay_cost(
        DEFAULT_TEMPLATE, 15, prices, "gpt-4.1-mini", realtime_model="gpt-realtime-2.1"
    )
    realtime = estimate_cost(
        DEFAULT_TEMPLATE, 15, prices, "gpt-realtime-2.1", transcription_model="gpt-realtime-whisper"
    )
    assert relay.breakdown.line("twilio_conversation_relay").quantity == 15
    assert relay.breakdown.line("twilio_media_streams").quantity == 0
    assert relay.breakdown.line("model_audio_out").quantity == 0
    assert relay.responses == realtime.responses == 60
    # Each response bills the conversation again: the input grows, and most of it is cached.
    tokens_in = relay.breakdown.line("text_model_in").quantity
    assert relay.breakdown.line("text_model_in_cached").quantity > tokens_in
    # Twilio's relay minutes are most of it; the text model is cheap beside realtime audio.
    assert relay.total < realtime.total
    assert relay.breakdown.line("twilio_conversation_relay").amount > relay.total / 2
    with pytest.raises(UnknownModelError):
        estimate_relay_cost(DEFAULT_TEMPLATE, 5, prices, "gpt-9", realtime_model="gpt-realtime-2.1")


def test_relay_settings_are_validated_with_a_line_each() -> None:
    s = load_settings(
        {
            "INTERVIEW_ENGINE": "Relay",
            "RELAY_TTS_PROVIDER": "google",
            "RELAY_TRANSCRIPTION_PROVIDER": "DEEPGRAM",
            "RELAY_LANGUAGE": "es-MX",
            "RELAY_VOICE": "es-US-Neural2-A",
            "BREAKER_FAILURES": "5",
        },
        None,
    )
    assert (s.interview_engine, s.relay_tts_provider, s.relay_transcription_provider) == (
        "relay",
        "Google",
        "Deepgram",
    )
    assert (s.relay_language, s.relay_voice, s.breaker_failures) == ("es-MX", "es-US-Neural2-A", 5)
    defaults = load_settings({}, None)
    assert (defaults.interview_engine, defaults.openai_text_model) == ("auto", "gpt-4.1-mini")
    assert defaults.openai_responses_url == "https://api.openai.com/v1/responses"
    with pytest.raises(ConfigError) as error:
        load_settings(
            {
                "INTERVIEW_ENGINE": "both",
                "OPENAI_TEXT_MODEL": "gpt-9",
                "OPENAI_RESPONSES_URL": "ftp://x",
                "RELAY_VOICE": "a voice",
                "RELAY_LANGUAGE": "english!",
                "RELAY_TTS_PROVIDER": "polly",
                "RELAY_TRANSCRIPTION_PROVIDER": "whisper",
                "BREAKER_FAILURES": "0",
                "BREAKER_WINDOW_S": "x",
                "BREAKER_OPEN_S": "99999",
            },
            None,
        )
    assert sorted(p.split(":")[0] for p in error.value.problems) == [
        "BREAKER_FAILURES",
        "BREAKER_OPEN_S",
        "BREAKER_WINDOW_S",
        "INTERVIEW_ENGINE",
        "OPENAI_RESPONSES_URL",
        "OPENAI_TEXT_MODEL",
        "RELAY_LANGUAGE",
        "RELAY_TRANSCRIPTION_PROVIDER",
        "RELAY_TTS_PROVIDER",
        "RELAY_VOICE",
    ]
    assert (
        "INTERVIEW_ENGINE: must be one of auto, realtime, relay, got 'both'" in error.value.problems
    )
    unpriced = "OPENAI_TEXT_MODEL: no price for model 'gpt-9'; known: gpt-4.1-mini"
    assert any(p.startswith(unpriced) for p in error.value.problems)
