"""A worker's background loop: started once, woken early when there is work, and stopped
without cutting a database call in half."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any


class BackgroundLoop:
    """The start, wake, pause and stop that the webhook delivery loop and the dialer share;
    the loop's body is theirs."""

    def __init__(self, stop_within_s: float) -> None:
        self._stop_within_s = stop_within_s
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def stopping(self) -> bool:
        return self._stopping.is_set()

    @property
    def running(self) -> bool:
        return self._task is not None

    def wake(self) -> None:
        """There is work: end the current pause now rather than at its end."""
        self._wake.set()

    def start(self, body: Callable[[], Coroutine[Any, Any, None]]) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(body())

    async def pause(self, seconds: float) -> None:
        """Until woken, or `seconds`, whichever comes first."""
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def stop(self) -> None:
        """Let the loop notice it should stop (a database call cancelled halfway can hold
        the client's close); cancel it only if that takes longer than `stop_within_s`."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), self._stop_within_s)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._stopping.clear()
