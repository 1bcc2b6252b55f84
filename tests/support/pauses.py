"""A writer's backoff counted instead of waited out.

The durable writer asks for a pause between tries of a write; this stand-in records each
one and lets the writer go on at once. An outage is then measured in the backoff the
writer has been through (`total`), so a test can hold the database away for "a minute"
of the writer's time in a moment of its own, while every try is still a real one against
a real, unreachable database.
"""

from __future__ import annotations

import asyncio

from tests.support.waiting import Changes


class CountedPauses:
    def __init__(self) -> None:
        self.asked: list[float] = []
        self.changed = Changes()

    @property
    def total(self) -> float:
        """Seconds of backoff the writer has asked for."""
        return sum(self.asked)

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        self.changed.notify()
        await asyncio.sleep(0)  # a turn of the loop, as a real pause would give
