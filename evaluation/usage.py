"""What one response or one transcription consumed, as the cost meter bills it.

These are billing quantities, not OpenAI's usage JSON: the engine link reads
that JSON and builds these through the `billed` constructors, which hold the
rules for partial or inconsistent counts, so the meter only multiplies.

- Counts below 0 are 0.
- Input or output tokens not attributed to text or audio are billed as audio,
  the dearer modality, so the meter errs high rather than low.
- Cached input tokens are a subset of their modality's input: clamped to it,
  billed once at the cached rate, and the rest at the full rate. Cached tokens
  reported without a text/audio split are billed as uncached.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import ClassVar


def _check_counts(counts: Mapping[str, int]) -> None:
    for name, count in counts.items():
        if count < 0:
            raise ValueError(f"{name} must be >= 0, not {count}")


@dataclass(frozen=True, slots=True)
class ResponseUsage:
    """Tokens of one response; text_in and audio_in exclude the cached ones."""

    text_in: int = 0
    text_in_cached: int = 0
    audio_in: int = 0
    audio_in_cached: int = 0
    text_out: int = 0
    audio_out: int = 0

    ZERO: ClassVar[ResponseUsage]

    def __post_init__(self) -> None:
        _check_counts(asdict(self))

    @classmethod
    def billed(
        cls,
        *,
        input_tokens: int,
        output_tokens: int,
        text_in: int,
        audio_in: int,
        cached_text_in: int,
        cached_audio_in: int,
        text_out: int,
        audio_out: int,
    ) -> ResponseUsage:
        """From counts as reported: per-modality input totals include their cached part."""
        text_in, audio_in = max(0, text_in), max(0, audio_in)
        audio_in += max(0, input_tokens - text_in - audio_in)
        cached_text = min(max(0, cached_text_in), text_in)
        cached_audio = min(max(0, cached_audio_in), audio_in)
        text_out, audio_out = max(0, text_out), max(0, audio_out)
        audio_out += max(0, output_tokens - text_out - audio_out)
        return cls(
            text_in=text_in - cached_text,
            text_in_cached=cached_text,
            audio_in=audio_in - cached_audio,
            audio_in_cached=cached_audio,
            text_out=text_out,
            audio_out=audio_out,
        )

    @classmethod
    def billed_text(
        cls, *, input_tokens: int, cached_tokens: int, output_tokens: int
    ) -> ResponseUsage:
        """From a text model's counts (the Responses API's usage), all of them text."""
        return cls.billed(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            text_in=input_tokens,
            audio_in=0,
            cached_text_in=cached_tokens,
            cached_audio_in=0,
            text_out=output_tokens,
            audio_out=0,
        )

    def __add__(self, other: ResponseUsage) -> ResponseUsage:
        return ResponseUsage(
            text_in=self.text_in + other.text_in,
            text_in_cached=self.text_in_cached + other.text_in_cached,
            audio_in=self.audio_in + other.audio_in,
            audio_in_cached=self.audio_in_cached + other.audio_in_cached,
            text_out=self.text_out + other.text_out,
            audio_out=self.audio_out + other.audio_out,
        )


ResponseUsage.ZERO = ResponseUsage()


@dataclass(frozen=True, slots=True)
class TranscriptionSeconds:
    """Audio transcribed by a model priced per minute."""

    seconds: Decimal

    def __post_init__(self) -> None:
        if not self.seconds.is_finite() or self.seconds < 0:
            raise ValueError(f"seconds must be a finite number >= 0, not {self.seconds}")

    @classmethod
    def billed(cls, *, seconds: float) -> TranscriptionSeconds:
        """From seconds as reported: exact by repr, and nothing billed for <= 0 or NaN."""
        if not math.isfinite(seconds) or seconds <= 0:
            return cls(Decimal(0))
        return cls(Decimal(repr(seconds)))


@dataclass(frozen=True, slots=True)
class TranscriptionTokens:
    """Tokens of one transcription by a model priced per token."""

    text_in: int = 0
    audio_in: int = 0
    out: int = 0

    def __post_init__(self) -> None:
        _check_counts(asdict(self))

    @classmethod
    def billed(
        cls, *, input_tokens: int, text_in: int, audio_in: int, output_tokens: int
    ) -> TranscriptionTokens:
        """From counts as reported; input not attributed to text or audio is audio."""
        text_in, audio_in = max(0, text_in), max(0, audio_in)
        audio_in += max(0, input_tokens - text_in - audio_in)
        return cls(text_in=text_in, audio_in=audio_in, out=max(0, output_tokens))

    def __add__(self, other: TranscriptionTokens) -> TranscriptionTokens:
        return TranscriptionTokens(
            text_in=self.text_in + other.text_in,
            audio_in=self.audio_in + other.audio_in,
            out=self.out + other.out,
        )


TranscriptionUsage = TranscriptionSeconds | TranscriptionTokens
