"""Runs an ASGI app under a real server (Hypercorn, or uvicorn as production runs it) on
127.0.0.1 for the length of a test."""

from __future__ import annotations

import asyncio
import contextlib
import shlex
from collections.abc import AsyncIterator
from pathlib import Path

from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart

from persistence.embedded import free_loopback_port
from service.server import ServerName, uvicorn_server

PROCFILE = Path(__file__).resolve().parent.parent / "Procfile"


def procfile_command(port: int, host: str = "127.0.0.1") -> list[str]:
    """The Procfile's web command (uvicorn's arguments), listening on host:port."""
    line = PROCFILE.read_text().split("web:", 1)[1].split("\n", 1)[0]
    args = shlex.split(line.replace("$PORT", str(port)).replace("0.0.0.0", host))
    if args[0] != "uvicorn" or "--loop" not in args:
        raise ValueError(f"the Procfile no longer runs uvicorn with --loop: {line.strip()}")
    return args


@contextlib.asynccontextmanager
async def running(app: Quart, server: ServerName = "hypercorn") -> AsyncIterator[str]:
    """Serve `app` (start-up and shutdown hooks included); yields its base URL."""
    port = free_loopback_port()
    stop = asyncio.Event()
    started = asyncio.Event()

    @app.before_serving
    async def _started() -> None:
        started.set()

    if server == "uvicorn":
        uv = uvicorn_server(app, "127.0.0.1", port, "WARNING")
        task = asyncio.create_task(uv.serve())
    else:
        config = Config()
        config.bind = [f"127.0.0.1:{port}"]
        config.accesslog = None
        config.graceful_timeout = 2.0
        task = asyncio.create_task(serve(app, config, shutdown_trigger=stop.wait))
    waiter = asyncio.create_task(started.wait())
    done, _ = await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        waiter.cancel()
        task.result()  # re-raise the start-up failure
        raise RuntimeError(f"{server} stopped during start-up")
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
        if server == "uvicorn":
            uv.should_exit = True
        await task
