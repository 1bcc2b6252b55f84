"""One WebSocket to the OpenAI Realtime API (GA): open, configure, send, receive, close."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.protocol import State

from bridge.realtime_events import (
    ServerError,
    ServerEvent,
    SessionConfig,
    SessionEvent,
    parse_server_event,
    response_create,
    session_mismatch,
)
from bridge.ws_frames import text_frame

log = logging.getLogger(__name__)


class RealtimeUnavailable(ConnectionError):
    """The Realtime API could not be reached or refused us; the message says how."""


@dataclass(frozen=True, slots=True)
class RealtimeEndpoint:
    url: str
    model: str
    api_key: str
    open_timeout_s: float = 10.0

    @property
    def full_url(self) -> str:
        return f"{self.url}?{urlencode({'model': self.model})}"


class RealtimeConnection:
    """A configured Realtime session; `events()` yields typed server events until it closes."""

    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws
        self.last_heard = asyncio.get_running_loop().time()  # when the last frame came
        self.greeting_requested = False  # asked for the greeting before its call's stream
        self._held: deque[ServerEvent] = deque()
        self._holder: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, endpoint: RealtimeEndpoint, config: SessionConfig) -> RealtimeConnection:
        try:
            ws = await connect(
                endpoint.full_url,
                additional_headers={"Authorization": f"Bearer {endpoint.api_key}"},
                open_timeout=endpoint.open_timeout_s,
                max_size=16 * 2**20,
                # Audio is already compressed; per-message deflate would only cost CPU.
                compression=None,
                # A short ping timeout made an overloaded worker kill its own healthy model
                # sessions (events ran seconds late, pongs went unread): keep it generous.
                ping_interval=20,
                ping_timeout=20,
            )
        except InvalidStatus as exc:
            raise RealtimeUnavailable(
                f"handshake refused with HTTP {exc.response.status_code}"
            ) from None
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            raise RealtimeUnavailable(f"cannot connect: {type(exc).__name__}") from None
        conn = cls(ws)
        try:
            await conn.send(config.to_wire())
            await asyncio.wait_for(conn._confirmed(config), endpoint.open_timeout_s)
        except ConnectionClosed:
            raise RealtimeUnavailable("closed while configuring the session") from None
        except TimeoutError:
            await conn.close()
            raise RealtimeUnavailable("the session configuration was never confirmed") from None
        except BaseException:  # refused, or cancelled mid-setup: never leave a socket open
            await conn.close()
            raise
        return conn

    async def _confirmed(self, config: SessionConfig) -> None:
        """Wait for session.updated and check it kept what the call depends on: the audio
        formats (the bridge converts to them) and the voice."""
        async for frame in self._ws:
            try:
                event = parse_server_event(frame)
            except Exception:  # unreadable: wait for the confirmation all the same
                continue
            if isinstance(event, ServerError):
                code = (event.code or event.type or "?")[:60]
                raise RealtimeUnavailable(f"session configuration refused ({code})")
            if isinstance(event, SessionEvent) and event.type == "session.updated":
                problem = session_mismatch(config, event.session)
                if problem is not None:
                    raise RealtimeUnavailable(f"session configuration altered: {problem}")
                return
        raise RealtimeUnavailable("closed while configuring the session")

    async def request_greeting(self) -> None:
        """Ask for the greeting now, before the call's stream exists, and hold what the
        model sends until `events()` is read: the stream then starts with audio ready."""
        await self.send(response_create())
        self.greeting_requested = True
        self._holder = asyncio.ensure_future(self._hold())

    async def _hold(self) -> None:
        async for event in self._read():
            self._held.append(event)

    def held(self) -> list[ServerEvent]:
        """What the model has sent and nobody has read yet."""
        return list(self._held)

    async def send(self, event: dict[str, Any]) -> None:
        await self._ws.send(json.dumps(event))

    async def send_text(self, text: str) -> None:
        await self._ws.send(text)

    def can_send_now(self) -> bool:
        """Whether `send_now` would write: the connection is open, no fragmented message
        is being sent, and the socket's buffer is under its high-water mark."""
        ws = self._ws
        return self.sending and ws.send_in_progress is None and not ws.paused

    def send_now(self, text: str) -> bool:
        """Write a text frame at once, without the library's send path (its context
        manager, state checks, drain and framing: a fifth of the bridge's CPU per audio
        append).
        False, with nothing written, when that cannot be done safely (`can_send_now`);
        `send_text` then waits for the buffer to drain (back-pressure) or raises as the
        connection requires."""
        if not self.can_send_now():
            return False
        self.write_now(text)
        return True

    def write_now(self, text: str) -> None:
        """`send_now` for a caller that has just checked `can_send_now` itself."""
        # The library keeps no state about data frames sent whole, so a frame written past
        # it leaves its protocol as it was; and an uncompressed frame is valid whatever
        # extension was negotiated (RFC 7692 6: only frames with RSV1 set are compressed).
        self._ws.transport.write(text_frame(text.encode(), masked=True))

    async def events(self) -> AsyncIterator[ServerEvent]:
        """Typed events, those held first; ends when the connection closes (cleanly or not)."""
        if self._holder is not None:
            # Reading is cancellation-safe in websockets: no frame is lost by stopping it.
            self._holder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._holder
            self._holder = None
        while self._held:
            yield self._held.popleft()
        async for event in self._read():
            yield event

    async def _read(self) -> AsyncIterator[ServerEvent]:
        loop = asyncio.get_running_loop()
        try:
            async for frame in self._ws:
                self.last_heard = loop.time()
                try:
                    event = parse_server_event(frame)
                except Exception as exc:  # one bad frame must not end the call
                    log.warning("unreadable Realtime event skipped (%s)", type(exc).__name__)
                    continue
                yield event
        except ConnectionClosed:
            return

    async def answers_ping(self, timeout_s: float) -> bool:
        """Whether the other end still answers: a WebSocket ping, and its pong in time."""
        try:
            pong = await self._ws.ping()
            await asyncio.wait_for(pong, timeout_s)
        except (TimeoutError, ConnectionClosed):
            return False
        return True

    def abort(self) -> None:
        """Drop the connection at once: its reader ends, as with any lost connection."""
        self._ws.transport.abort()

    @property
    def sending(self) -> bool:
        """Open for sending: not yet closing."""
        return self._ws.protocol.state is State.OPEN

    @property
    def closed(self) -> bool:
        return self._ws.close_code is not None

    @property
    def close_code(self) -> int | None:
        return self._ws.close_code

    async def close(self) -> None:
        if self._holder is not None:
            self._holder.cancel()
        try:
            await asyncio.wait_for(self._ws.close(), 1.0)
        except TimeoutError:
            self._ws.transport.abort()
