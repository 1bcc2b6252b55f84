"""Usage values: reported counts become billable ones by the rules in evaluation/usage.py."""

from __future__ import annotations

from decimal import Decimal

import pytest

from evaluation.usage import ResponseUsage, TranscriptionSeconds, TranscriptionTokens

NONE_REPORTED = {
    "input_tokens": 0,
    "output_tokens": 0,
    "text_in": 0,
    "audio_in": 0,
    "cached_text_in": 0,
    "cached_audio_in": 0,
    "text_out": 0,
    "audio_out": 0,
}


def _billed(**reported: int) -> ResponseUsage:
    return ResponseUsage.billed(**(NONE_REPORTED | reported))


def test_a_complete_report_splits_cached_from_uncached() -> None:
    usage = _billed(
        input_tokens=1800,
        output_tokens=260,
        text_in=1050,
        audio_in=750,
        cached_text_in=960,
        cached_audio_in=140,
        text_out=40,
        audio_out=220,
    )
    assert usage == ResponseUsage(
        text_in=90,
        text_in_cached=960,
        audio_in=610,
        audio_in_cached=140,
        text_out=40,
        audio_out=220,
    )


def test_unattributed_tokens_are_audio() -> None:
    assert _billed(input_tokens=100, text_in=30, output_tokens=50, text_out=20) == ResponseUsage(
        text_in=30, audio_in=70, text_out=20, audio_out=30
    )


def test_totals_below_their_details_add_nothing() -> None:
    assert _billed(input_tokens=10, text_in=30, audio_in=5, output_tokens=1, audio_out=9) == (
        ResponseUsage(text_in=30, audio_in=5, audio_out=9)
    )


def test_cached_tokens_are_clamped_to_their_modality() -> None:
    usage = _billed(input_tokens=100, text_in=100, cached_text_in=500, cached_audio_in=50)
    assert usage == ResponseUsage(text_in_cached=100)


def test_negative_counts_are_zero() -> None:
    usage = _billed(
        input_tokens=-1,
        output_tokens=-2,
        text_in=-3,
        audio_in=-4,
        cached_text_in=-5,
        cached_audio_in=-6,
        text_out=-7,
        audio_out=-8,
    )
    assert usage == ResponseUsage.ZERO == ResponseUsage()


def test_usage_adds_up_field_by_field() -> None:
    a = ResponseUsage(1, 2, 3, 4, 5, 6)
    assert a + a == ResponseUsage(2, 4, 6, 8, 10, 12)
    assert a + ResponseUsage.ZERO == a
    t = TranscriptionTokens(text_in=1, audio_in=2, out=3)
    assert t + t == TranscriptionTokens(text_in=2, audio_in=4, out=6)


def test_values_refuse_negative_counts() -> None:
    with pytest.raises(ValueError, match="audio_out must be >= 0"):
        ResponseUsage(audio_out=-1)
    with pytest.raises(ValueError, match="out must be >= 0"):
        TranscriptionTokens(out=-1)
    with pytest.raises(ValueError, match="seconds must be a finite number >= 0"):
        TranscriptionSeconds(Decimal("-0.5"))
    with pytest.raises(ValueError, match="seconds must be a finite number >= 0"):
        TranscriptionSeconds(Decimal("NaN"))


def test_transcription_tokens_bill_unattributed_input_as_audio() -> None:
    usage = TranscriptionTokens.billed(input_tokens=1000, text_in=100, audio_in=0, output_tokens=7)
    assert usage == TranscriptionTokens(text_in=100, audio_in=900, out=7)
    assert (
        TranscriptionTokens.billed(input_tokens=-1, text_in=-1, audio_in=-1, output_tokens=-1)
        == TranscriptionTokens()
    )


@pytest.mark.parametrize(
    ("reported", "seconds"),
    [(45.5, Decimal("45.5")), (0.1, Decimal("0.1")), (30, Decimal(30)), (-2.0, 0), (0, 0)],
)
def test_transcription_seconds_are_exact_and_never_negative(
    reported: float, seconds: Decimal
) -> None:
    assert TranscriptionSeconds.billed(seconds=reported).seconds == seconds
    assert TranscriptionSeconds.billed(seconds=float("nan")).seconds == 0
