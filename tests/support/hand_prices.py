"""Published rates, written out by hand, to check the service's pricing against."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

M = Decimal(1_000_000)


def realtime_usage_usd(usage: dict[str, Any]) -> Decimal:
    """One gpt-realtime-2.1 response's usage at its rates per million tokens (reasoning is
    billed as text output, and counted in the text tokens)."""
    inp, out = usage["input_token_details"], usage["output_token_details"]
    cached = inp["cached_tokens_details"]
    total: Decimal = (inp["text_tokens"] - cached["text_tokens"]) * Decimal("4") / M
    total += cached["text_tokens"] * Decimal("0.40") / M
    total += (inp["audio_tokens"] - cached["audio_tokens"]) * Decimal("32") / M
    total += cached["audio_tokens"] * Decimal("0.40") / M
    total += out["text_tokens"] * Decimal("24") / M
    total += out["audio_tokens"] * Decimal("64") / M
    return total
