"""Keypad digits, told to the model as one entry per burst: a candidate keying in a number
sends one item, not one per digit (and a stuck key cannot flood the conversation)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bridge.clock import Clock

PAUSE_S = 0.5  # digits keyed closer together than this are one entry


class Keypad:
    def __init__(self, clock: Clock, tell: Callable[[str], Awaitable[None]]) -> None:
        self._clock, self._tell = clock, tell
        self._digits: list[str] = []  # keyed in, not yet told
        self._last_at = 0.0

    def pressed(self, digit: str) -> bool:
        """Note a digit; true when it starts a burst (then run `flush` in the background)."""
        self._digits.append(digit[:1])
        self._last_at = self._clock.now()
        return len(self._digits) == 1

    async def flush(self) -> None:
        """Once no digit has come for PAUSE_S, tell the burst."""
        while (wait := self._last_at + PAUSE_S - self._clock.now()) > 0:
            await self._clock.sleep(wait)
        if (burst := self.take()) is not None:
            await self._tell(burst)

    def take(self) -> str | None:
        """The burst keyed in so far, as told, now (the caller spoke after it); None if none."""
        digits, self._digits = self._digits, []
        if not digits:
            return None
        keys = f"key {digits[0]}" if len(digits) == 1 else f"keys {' '.join(digits)}"
        return f"[pressed keypad {keys}]"
