"""Runs an ASGI app under a real server (Hypercorn, or uvicorn as production runs it) on
127.0.0.1 for the length of a test."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import socket
from collections.abc import AsyncIterator
from pathlib import Path

from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart

from service.server import ServerName, uvicorn_server

PROCFILE = Path(__file__).resolve().parents[2] / "Procfile"
# Hypercorn's wait for open connections at shutdown. Every test closes its clients before
# the server stops, so this only bounds a connection a test left behind.
GRACEFUL_S = 0.5


def procfile_command(port: int, host: str = "127.0.0.1", procfile: Path = PROCFILE) -> list[str]:
    """The Procfile's web command (uvicorn's arguments), listening on host:port."""
    line = procfile.read_text().split("web:", 1)[1].split("\n", 1)[0]
    args = shlex.split(line.replace("$PORT", str(port)).replace("0.0.0.0", host))
    if args[0] != "uvicorn" or "--loop" not in args:
        raise ValueError(f"the Procfile no longer runs uvicorn with --loop: {line.strip()}")
    return args


def listening_socket(host: str = "127.0.0.1") -> socket.socket:
    """A socket already listening on a port of its own: no other test (or xdist worker) can
    take the port, and connections made before the server accepts wait in the backlog."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((host, 0))
    sock.listen(128)
    return sock


@contextlib.asynccontextmanager
async def running(
    app: Quart, server: ServerName = "hypercorn", host: str = "127.0.0.1"
) -> AsyncIterator[str]:
    """Serve `app` (start-up and shutdown hooks included); yields its base URL."""
    sock = listening_socket(host)
    port: int = sock.getsockname()[1]
    stop = asyncio.Event()
    started = asyncio.Event()

    @app.before_serving
    async def _started() -> None:
        started.set()

    if server == "uvicorn":
        uv = uvicorn_server(app, host, port, "WARNING")
        task = asyncio.create_task(uv.serve(sockets=[sock]))
        fd = None
    else:
        config = Config()
        fd = sock.detach()  # Hypercorn takes the socket over, and closes it when done
        config.bind = [f"fd://{fd}"]
        config.accesslog = None
        config.graceful_timeout = GRACEFUL_S
        task = asyncio.create_task(serve(app, config, shutdown_trigger=stop.wait))
    waiter = asyncio.create_task(started.wait())
    done, _ = await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        waiter.cancel()
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
        sock.close()
        task.result()  # re-raise the start-up failure
        raise RuntimeError(f"{server} stopped during start-up")
    try:
        yield f"http://{host}:{port}"
    finally:
        stop.set()
        if server == "uvicorn":
            uv.should_exit = True
        await task
