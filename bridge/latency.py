"""Per-turn latency samples and the percentiles stored on the call."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


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

    def summary(self) -> dict[str, Any]:
        if not self.samples:
            return {"n": 0}
        return {
            "n": len(self.samples),
            "p50_ms": percentile(self.samples, 50),
            "p95_ms": percentile(self.samples, 95),
            "max_ms": max(self.samples),
        }
