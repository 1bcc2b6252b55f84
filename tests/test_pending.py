"""The pre-connect registry, with real loopback connections standing in for model sessions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bridge.pending import PendingSessions
from tests.support.waiting import Changes, eventually

Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class Server:
    """Counts the connections it has accepted and those still open, announcing each change."""

    def __init__(self) -> None:
        self.open = 0
        self.accepted = 0
        self.port = 0
        self.changed = Changes()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open += 1
        self.accepted += 1
        self.changed.notify()
        await reader.read()  # until the client closes
        self.open -= 1
        self.changed.notify()
        writer.close()


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    srv = Server()
    tcp = await asyncio.start_server(srv.handle, "127.0.0.1", 0)
    srv.port = tcp.sockets[0].getsockname()[1]
    async with tcp:
        yield srv


async def close(conn: Conn) -> None:
    conn[1].close()
    await conn[1].wait_closed()


async def settle(server: Server, count: int, timeout: float = 2.0) -> None:
    await eventually(
        lambda: server.open == count,
        timeout=timeout,
        what=f"{count} connections open",
        on=server.changed,
        context=lambda: f"{server.open} open",
    )


async def test_take_returns_the_opened_session(server: Server) -> None:
    pending: PendingSessions[Conn] = PendingSessions(close, ttl_s=5)
    assert pending.start("CA1", lambda: asyncio.open_connection("127.0.0.1", server.port))
    assert not pending.start("CA1", lambda: asyncio.open_connection("127.0.0.1", server.port))
    conn = await pending.take("CA1", timeout_s=2)
    assert conn is not None
    await settle(server, 1)
    assert len(pending) == 0 and await pending.take("CA1", timeout_s=0.1) is None
    await close(conn)
    await settle(server, 0)


async def test_unclaimed_sessions_expire_and_close(server: Server) -> None:
    pending: PendingSessions[Conn] = PendingSessions(close, ttl_s=0.2)
    for key in ("CA1", "CA2"):
        pending.start(key, lambda: asyncio.open_connection("127.0.0.1", server.port))
    assert len(pending) == 2  # each holds a call slot on this worker until claimed
    await settle(server, 2)
    await settle(server, 0, timeout=5)  # once the 0.2 s TTL has run out
    assert len(pending) == 0 and pending.expired == 2
    assert await pending.take("CA1", timeout_s=0.1) is None


async def test_failed_or_slow_opens_give_none(server: Server) -> None:
    pending: PendingSessions[Conn] = PendingSessions(close, ttl_s=5)

    failed = asyncio.Event()
    slow_ended = asyncio.Event()
    slow_opened: list[Conn] = []

    async def refused() -> Conn:
        failed.set()
        raise ConnectionRefusedError

    async def slow() -> Conn:
        try:
            await asyncio.sleep(0.3)  # longer than the take below is willing to wait
            conn = await asyncio.open_connection("127.0.0.1", server.port)
            slow_opened.append(conn)
            return conn
        finally:
            slow_ended.set()

    pending.start("bad", refused)
    pending.start("slow", slow)
    await asyncio.wait_for(failed.wait(), 5)
    # A failed pre-connect still counts: its stream is coming and will open its own session.
    assert len(pending) == 2
    assert await pending.take("bad", timeout_s=1) is None
    assert await pending.take("slow", timeout_s=0.05) is None
    # The slow one is cancelled, or closed as soon as it opens: nothing stays open.
    await asyncio.wait_for(slow_ended.wait(), 5)
    if slow_opened:
        await eventually(
            lambda: server.accepted == 1 and server.open == 0,
            timeout=2,
            what="the late session closed",
            on=server.changed,
        )
    else:
        assert server.accepted == 0


async def test_close_all_on_shutdown(server: Server) -> None:
    pending: PendingSessions[Conn] = PendingSessions(close, ttl_s=60)
    pending.start("CA1", lambda: asyncio.open_connection("127.0.0.1", server.port))
    await settle(server, 1)
    await pending.close_all()
    await settle(server, 0)
    assert len(pending) == 0
