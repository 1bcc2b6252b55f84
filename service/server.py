"""Runs the app in this process under uvicorn (the default) or Hypercorn.

uvicorn on uvloop with httptools and the sans-I/O `websockets` protocol (extended in
`service.ws_protocol`) is the default because the media stream is per-message work: in
the load benchmark it carried the same calls for about a fifth less CPU than Hypercorn,
whose WebSocket framing is pure Python.
Hypercorn stays available: the app is plain ASGI and the test suite runs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Coroutine, Generator
from typing import Any, Literal

import uvicorn
from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config as HypercornConfig
from quart import Quart

from service.ws_protocol import TextFrameProtocol

ServerName = Literal["uvicorn", "hypercorn"]
SERVERS: tuple[ServerName, ...] = ("uvicorn", "hypercorn")
GRACEFUL_S = 5
WS_MAX_SIZE = 1 << 20


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop where it is installed (not on Windows), else the default loop."""
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def run(main: Coroutine[Any, Any, None]) -> None:
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        runner.run(main)


class _Uvicorn(uvicorn.Server):
    """uvicorn's server, with signals left to the caller so shutdown runs our clean-up
    before the process exits (uvicorn re-raises the signal after serving otherwise)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def uvicorn_server(app: Quart, host: str, port: int, log_level: str) -> uvicorn.Server:
    """The production uvicorn set-up; stop it with `should_exit = True`."""
    return _Uvicorn(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            http="httptools",
            ws=TextFrameProtocol,
            lifespan="on",
            log_config=None,  # our JSON handler on the root logger formats uvicorn's lines
            log_level=log_level.lower(),
            timeout_graceful_shutdown=GRACEFUL_S,
            # A Twilio frame is ~330 bytes; anything up to this is read, counted as bad input
            # and survived (bridge.twilio_messages), only larger frames close the stream.
            ws_max_size=WS_MAX_SIZE,
            ws_per_message_deflate=False,  # Twilio does not compress; never negotiate it
            # The service decides itself which proxies it believes (FORWARDED_ALLOW_IPS):
            # uvicorn's own handling would put X-Forwarded-For's address (Twilio's) in the
            # client's place, and the proxy would no longer be recognized.
            proxy_headers=False,
        )
    )


async def serve(app: Quart, server: ServerName, host: str, port: int, log_level: str) -> None:
    """Serve until SIGINT or SIGTERM, then stop gracefully."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if server == "hypercorn":
        config = HypercornConfig()
        config.bind = [f"{host}:{port}"]
        # Hypercorn's own lines go through the same masked JSON handler as ours.
        config.accesslog = logging.getLogger("hypercorn.access")
        config.errorlog = logging.getLogger("hypercorn.error")
        config.loglevel = log_level
        config.graceful_timeout = float(GRACEFUL_S)
        await hypercorn_serve(app, config, shutdown_trigger=stop.wait)
        return
    uv = uvicorn_server(app, host, port, log_level)
    watcher = asyncio.ensure_future(stop.wait())
    serving = asyncio.ensure_future(uv.serve())
    await asyncio.wait({watcher, serving}, return_when=asyncio.FIRST_COMPLETED)
    uv.should_exit = True
    watcher.cancel()
    await serving
