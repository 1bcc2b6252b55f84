"""The direct write of audio appends to the model's WebSocket: in order with the library's
own sends, refused (so the caller falls back to the waiting send) under back-pressure, on a
closed connection and during a close, over a real WebSocket on loopback."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from bridge import realtime_events as rt
from bridge.clock import LoopClock
from bridge.model_link import RealtimeLink
from bridge.realtime_client import RealtimeConnection
from tests.support.waiting import RECHECK_S, eventually

APPEND = rt.append_audio("A" * 1280)  # 20 ms of 24 kHz PCM16, base64


async def until(predicate: Callable[[], bool], what: str, timeout: float) -> None:
    await eventually(predicate, timeout=timeout, every=RECHECK_S, what=what)


@dataclass
class Model:
    """Keeps every text frame; reads only once `reading` is set."""

    frames: list[str] = field(default_factory=list)
    reading: asyncio.Event = field(default_factory=asyncio.Event)
    sockets: list[ServerConnection] = field(default_factory=list)

    async def handler(self, ws: ServerConnection) -> None:
        self.sockets.append(ws)
        await self.reading.wait()
        with contextlib.suppress(ConnectionClosed):
            async for frame in ws:
                assert isinstance(frame, str)  # a text frame, as the API requires
                self.frames.append(frame)


@contextlib.asynccontextmanager
async def line(model: Model) -> AsyncIterator[RealtimeConnection]:
    async with serve(model.handler, "127.0.0.1", 0, max_queue=1, compression=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        ws = await connect(f"ws://127.0.0.1:{port}", compression=None)
        conn = RealtimeConnection(ws)
        try:
            yield conn
        finally:
            model.reading.set()
            await conn.close()


async def test_direct_writes_arrive_as_text_in_order_with_ordinary_sends() -> None:
    model = Model()
    model.reading.set()
    async with line(model) as conn:
        assert conn.send_now(rt.append_audio("AQ=="))
        await conn.send_text(rt.append_audio("Ag=="))
        assert conn.send_now(rt.append_audio("Aw=="))
        await until(lambda: len(model.frames) == 3, "three appends", 5)
    assert model.frames == [rt.append_audio(b) for b in ("AQ==", "Ag==", "Aw==")]


async def test_a_model_that_stops_reading_turns_direct_writes_into_waiting_ones() -> None:
    model = Model()  # not reading: the socket's buffers fill
    async with line(model) as conn:
        written = 0
        while conn.send_now(APPEND):
            written += 1
            assert written < 200_000, "the write buffer never reached its high-water mark"
        # Past the high-water mark: the append waits for the buffer to drain.
        waiting = asyncio.ensure_future(conn.send_text(APPEND))
        await asyncio.sleep(0.05)  # a moment in which nothing may change
        assert not waiting.done()
        model.reading.set()
        await asyncio.wait_for(waiting, 10)
        await until(lambda: len(model.frames) == written + 1, "every append read", 10)
    assert written > 0
    assert set(model.frames) == {APPEND}


async def test_no_direct_write_on_a_closed_connection_and_the_link_says_so() -> None:
    model = Model()
    model.reading.set()
    async with line(model) as conn:
        await until(lambda: bool(model.sockets), "the model's socket", 5)
        await model.sockets[0].close()
        await until(lambda: conn.closed, "the close seen by the client", 5)
        assert not conn.send_now(APPEND)
        with pytest.raises(ConnectionClosed):
            await conn.send_text(APPEND)

        async def no_reopen() -> RealtimeConnection:
            raise AssertionError("send_audio never reopens")

        link = RealtimeLink(no_reopen, LoopClock(), (), connection=conn)
        try:
            assert await link.send_audio("AQ==") is False
        finally:
            await link.close()


async def test_no_direct_write_once_a_close_has_begun() -> None:
    model = Model()
    model.reading.set()
    async with line(model) as conn:
        closing = asyncio.ensure_future(conn.close())
        await until(lambda: not conn.sending, "the close under way", 5)
        assert not conn.send_now(APPEND)  # closing or closed: the frame would be lost
        await closing
    assert APPEND not in model.frames
