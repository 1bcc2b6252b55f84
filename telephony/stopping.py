"""Stopping a worker's background loop without cutting a database call in half."""

from __future__ import annotations

import asyncio
import contextlib


async def stop_gently(task: asyncio.Task[None], within_s: float) -> None:
    """Wait for the loop to notice it should stop (a database call cancelled halfway can
    hold the client's close); cancel it only if that takes longer than `within_s`."""
    try:
        await asyncio.wait_for(asyncio.shield(task), within_s)
    except TimeoutError:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
