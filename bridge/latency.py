"""Per-turn latency samples and the percentiles stored on the call."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from persistence.records import Latency, LatencyStats


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile: an observed value, not an interpolation."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


@dataclass
class LatencySeries:
    samples: list[float] = field(default_factory=list)

    def add(self, ms: float) -> None:
        self.samples.append(round(ms, 2))

    def summary(self) -> LatencyStats:
        if not self.samples:
            return LatencyStats(n=0)
        return LatencyStats(
            n=len(self.samples),
            p50_ms=percentile(self.samples, 50),
            p95_ms=percentile(self.samples, 95),
            max_ms=max(self.samples),
        )


@dataclass
class CallLatency:
    model: LatencySeries = field(default_factory=LatencySeries)
    """End of the caller's speech to the model's first audio of the reply."""
    bridge: LatencySeries = field(default_factory=LatencySeries)
    """The model's first audio of a response to its first frame sent to Twilio."""
    first_audio_ms: float | None = None
    """Stream start to the greeting's first frame."""

    def record(self) -> Latency:
        first = round(self.first_audio_ms, 1) if self.first_audio_ms is not None else None
        return Latency(
            model=self.model.summary(), bridge=self.bridge.summary(), first_audio_ms=first
        )
