"""Time as a live call sees it: a monotonic clock for durations and timers, and the wall
clock for records. Injected, so the session's logic runs under a scripted clock in tests."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Protocol


def utcnow() -> datetime:
    return datetime.now(UTC)


class Clock(Protocol):
    def now(self) -> float:
        """Monotonic seconds."""
        ...

    async def sleep(self, seconds: float) -> None: ...

    def wall(self) -> datetime:
        """Aware UTC time, for what is stored."""
        ...


class LoopClock:
    """The running event loop's clock."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()

    def now(self) -> float:
        return self._loop.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def wall(self) -> datetime:
        return utcnow()
