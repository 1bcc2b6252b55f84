"""The session's line to the model: what it asks of the model, behind a small interface.

The session speaks in intentions (respond, cancel, truncate, add a note); the link turns
them into the engine's wire events, owns the connection, and reopens it with the
conversation replayed when it drops. A scripted link stands in for it in tests, and a
different engine can stand in for it in production.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Protocol

from bridge import realtime_events as rt
from bridge.clock import Clock
from bridge.realtime_client import RealtimeConnection, RealtimeUnavailable
from persistence.records import Turn

log = logging.getLogger(__name__)
SILENCE_S = 5.0
LATE_S = 1.0  # a watchdog check this late means the worker, not the model, is slow
Opener = Callable[[], Awaitable[RealtimeConnection]]


class ModelUnavailable(ConnectionError):
    """The model could not be reached or refused the session; the message says how."""


class ModelLink(Protocol):
    @property
    def close_code(self) -> int | None:
        """Why the last connection closed, for the log."""
        ...

    async def connect(self) -> None:
        """Make sure a session is open; raises ModelUnavailable."""
        ...

    @property
    def greeting_requested(self) -> bool:
        """The open session was asked for the greeting before the call's stream began."""
        ...

    def events(self) -> AsyncIterator[rt.ServerEvent]:
        """The current session's events, until it closes."""
        ...

    async def send_audio(self, b64: str) -> bool:
        """Caller audio; false when there was no open connection to take it."""
        ...

    def takes_audio_now(self) -> bool:
        """Whether `send_audio_now` can write at once, with no wait for the connection."""
        ...

    def send_audio_now(self, b64: str) -> bool:
        """`send_audio` without waiting, for a caller that has just seen `takes_audio_now`
        true (it is not asked again)."""
        ...

    async def respond(self, instructions: str | None = None) -> None: ...
    async def cancel(self, response_id: str) -> None: ...
    async def truncate(self, item_id: str, heard_ms: int) -> None: ...
    async def tool_output(self, call_id: str, output: str) -> None: ...
    async def note(self, text: str) -> None:
        """A system message for the model's eyes only."""
        ...

    async def caller_said(self, text: str) -> None:
        """Something the caller conveyed without speech (a keypad digit)."""
        ...

    async def reconnect(
        self, history: Sequence[Turn], note: Callable[[], str], stopping: Callable[[], bool]
    ) -> bool:
        """Reopen with `history` replayed and `note()` after it, as of the moment it is
        replayed; false if it cannot be done, or `stopping()` says to give up."""
        ...

    async def abort(self) -> None:
        """Drop the current connection: its reader ends, as with any lost connection."""
        ...

    async def close(self) -> None: ...


class RealtimeLink:
    """ModelLink over the OpenAI Realtime API (GA)."""

    def __init__(
        self,
        open_session: Opener,
        clock: Clock,
        backoff_s: Sequence[float],
        connection: RealtimeConnection | None = None,
        log_extra: dict[str, str] | None = None,
        silence_s: float = SILENCE_S,
    ) -> None:
        """`silence_s`: how long the model may say nothing before it is asked (a ping)
        whether it is still there, and how long it then has to answer."""
        self._open = open_session
        self._clock = clock
        self._backoff_s = tuple(backoff_s)
        self._conn = connection
        self._last: RealtimeConnection | None = connection
        self._extra = log_extra or {}
        self._silence_s = silence_s
        self._watch: asyncio.Task[None] | None = None
        self.dead_noticed_after_s: list[float] = []  # silence before each dead connection
        if connection is not None:
            self._watch_over(connection)

    @property
    def close_code(self) -> int | None:
        return self._last.close_code if self._last is not None else None

    @property
    def greeting_requested(self) -> bool:
        return self._conn is not None and self._conn.greeting_requested

    async def connect(self) -> None:
        if self._conn is None:
            try:
                self._conn = self._last = await self._open()
            except RealtimeUnavailable as exc:
                raise ModelUnavailable(str(exc)) from None
            self._watch_over(self._conn)

    def _watch_over(self, conn: RealtimeConnection) -> None:
        if self._watch is not None:
            self._watch.cancel()
        self._watch = asyncio.ensure_future(self._watchdog(conn))

    async def _watchdog(self, conn: RealtimeConnection) -> None:
        """A half-open connection (the model gone without a close) swallows the caller's
        audio and says nothing; the keepalive pings take 20-40 s to see it. So a model
        silent for `silence_s` while the call goes on is pinged, and dropped if it does
        not answer within `silence_s`: the reconnect then replays what it missed.

        An overloaded worker runs everything late, pongs included: a check that itself
        woke late is skipped rather than taken for silence."""
        step = self._silence_s / 2
        while not conn.closed:
            before = self._clock.now()
            await self._clock.sleep(step)
            now = self._clock.now()
            if now - before > step + LATE_S or now - conn.last_heard < self._silence_s:
                continue
            if await conn.answers_ping(self._silence_s) or conn.closed:
                continue
            silent_s = self._clock.now() - conn.last_heard
            log.warning(
                "model connection silent for %.1f s and not answering; reopening it",
                silent_s,
                extra=self._extra,
            )
            self.dead_noticed_after_s.append(silent_s)
            conn.abort()
            return

    async def events(self) -> AsyncIterator[rt.ServerEvent]:
        conn = self._conn
        if conn is not None:
            async for event in conn.events():
                yield event

    async def _send(self, event: dict[str, Any]) -> None:
        conn = self._conn
        if conn is None:
            return
        try:
            await conn.send(event)
        except Exception:
            log.debug("send to the model failed; the reader will reconnect", extra=self._extra)

    async def send_audio(self, b64: str) -> bool:
        conn = self._conn
        if conn is None:
            return False
        message = rt.append_audio(b64)
        try:
            if not conn.send_now(message):
                await conn.send_text(message)  # waits out back-pressure, or raises
        except Exception:  # the connection dropped: the reader notices and reconnects
            return False
        return True

    def takes_audio_now(self) -> bool:
        conn = self._conn
        return conn is not None and conn.can_send_now()

    def send_audio_now(self, b64: str) -> bool:
        conn = self._conn
        if conn is None:
            return False
        try:
            conn.write_now(rt.append_audio(b64))
        except Exception:  # as in send_audio: the reader notices and reconnects
            return False
        return True

    async def respond(self, instructions: str | None = None) -> None:
        await self._send(rt.response_create(instructions))

    async def cancel(self, response_id: str) -> None:
        await self._send(rt.response_cancel(response_id))

    async def truncate(self, item_id: str, heard_ms: int) -> None:
        await self._send(rt.truncate(item_id, heard_ms))

    async def tool_output(self, call_id: str, output: str) -> None:
        await self._send(rt.function_call_output(call_id, output))

    async def note(self, text: str) -> None:
        await self._send(rt.message_item("system", text))

    async def caller_said(self, text: str) -> None:
        await self._send(rt.message_item("user", text))

    async def reconnect(
        self, history: Sequence[Turn], note: Callable[[], str], stopping: Callable[[], bool]
    ) -> bool:
        old, self._conn = self._conn, None
        if old is not None:
            await old.close()
        for attempt, delay in enumerate(self._backoff_s, start=1):
            await self._clock.sleep(delay)
            if stopping():
                return False
            try:
                conn = await self._open()
            except RealtimeUnavailable as exc:
                log.warning("reconnect %d failed: %s", attempt, exc, extra=self._extra)
                continue
            try:
                # From the in-memory turns: the database may be the very thing that is down.
                for turn in history:
                    if turn.text:
                        role = "user" if turn.speaker == "caller" else "assistant"
                        await conn.send(rt.message_item(role, turn.text))
                await conn.send(rt.message_item("system", note()))
            except Exception as exc:
                log.warning(
                    "reconnect %d lost during replay (%s)",
                    attempt,
                    type(exc).__name__,
                    extra=self._extra,
                )
                await conn.close()
                continue
            self._conn = self._last = conn
            self._watch_over(conn)
            return True
        return False

    async def abort(self) -> None:
        if self._conn is not None:
            self._conn.abort()

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        if conn is not None:
            await conn.close()
