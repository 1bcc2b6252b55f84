"""Runs an ASGI app under a real Hypercorn on 127.0.0.1 for the length of a test."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart

from persistence.embedded import free_loopback_port


@contextlib.asynccontextmanager
async def running(app: Quart) -> AsyncIterator[str]:
    """Serve `app` (start-up and shutdown hooks included); yields its base URL."""
    port = free_loopback_port()
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    config.graceful_timeout = 2.0
    stop = asyncio.Event()
    started = asyncio.Event()

    @app.before_serving
    async def _started() -> None:
        started.set()

    task = asyncio.create_task(serve(app, config, shutdown_trigger=stop.wait))
    waiter = asyncio.create_task(started.wait())
    done, _ = await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        waiter.cancel()
        task.result()  # re-raise the start-up failure
    # The socket is bound right after start-up; wait until it accepts.
    for _ in range(200):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.01)
            continue
        writer.close()
        await writer.wait_closed()
        break
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop.set()
        await task
