"""The production WebSocket protocol (uvicorn's, with whole text frames taken directly):
a raw TCP client sends frames split, joined, pipelined and malformed, and the app must
see exactly the messages, closes and close codes the RFC and the stock protocol give."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
from quart import Quart
from websockets.client import ClientProtocol
from websockets.frames import Close, Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

from service.server import WS_MAX_SIZE, uvicorn_server
from telephony.socket_line import TEXT_NOW
from tests.support.servers import listening_socket
from tests.support.waiting import Changes, eventually

Message = dict[str, Any]


class Echo:
    """A bare ASGI app: keeps every message, answers text with "echo:" + text, and on
    "send:N" sends N characters; reads only while `reading` is set. A reply that cannot be
    sent (the server has closed) is dropped, so the disconnect is still read."""

    def __init__(self) -> None:
        self.received: list[Message] = []
        self.changes = Changes()
        self.reading = asyncio.Event()
        self.reading.set()

    async def __call__(self, scope: Message, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        while True:
            await self.reading.wait()
            message = await receive()
            self.received.append(message)
            self.changes.notify()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            reply = None
            if text is not None:
                reply = "z" * int(text[5:]) if text.startswith("send:") else "echo:" + text
            with contextlib.suppress(Exception):  # the server may be closing already
                await send({"type": "websocket.send", "text": reply})

    def texts(self) -> list[str]:
        return [m["text"] for m in self.received if m["type"] == "websocket.receive"]

    async def until(self, count: int) -> None:
        await eventually(
            lambda: len(self.received) >= count,
            timeout=10,
            on=self.changes,
            what=f"{count} messages at the app",
        )


class RawClient:
    """A WebSocket client whose bytes on the wire are exactly what the test writes; the
    library's client side reads the server's replies (and refuses a masked one)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.protocol = ClientProtocol(parse_uri("ws://127.0.0.1/media"), max_size=None)
        self.frames: list[Frame] = []

    async def open(self, extra: bytes = b"") -> None:
        self.protocol.send_request(self.protocol.connect())
        await self.write(b"".join(self.protocol.data_to_send()) + extra)
        while not any(isinstance(e, Response) for e in await self._read()):
            pass

    async def write(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def _read(self) -> list[object]:
        data = await asyncio.wait_for(self.reader.read(1 << 16), 10)
        if data:
            self.protocol.receive_data(data)
        else:
            self.protocol.receive_eof()
        events: list[object] = list(self.protocol.events_received())
        self.frames += [e for e in events if isinstance(e, Frame)]
        return events if data else [*events, EOFError()]

    async def frame(self, opcode: Opcode) -> Frame:
        """The next frame of this kind the server sent (others are kept in `frames`)."""
        seen = 0
        while True:
            for frame in self.frames[seen:]:
                if frame.opcode is opcode:
                    self.frames.remove(frame)
                    return frame
            seen = len(self.frames)
            events = await self._read()
            if any(isinstance(e, EOFError) for e in events):
                raise AssertionError(f"the server closed the connection before a {opcode.name}")

    async def close_code(self) -> int:
        return Close.parse((await self.frame(Opcode.CLOSE)).data).code


def wire(frame: Frame, *, mask: bool = True) -> bytes:
    return frame.serialize(mask=mask, extensions=[])


def text(data: str) -> bytes:
    return wire(Frame(Opcode.TEXT, data.encode()))


@pytest.fixture(params=["production", "stock"])
def protocol(request: pytest.FixtureRequest) -> str:
    """Each case also runs on uvicorn's stock protocol, which the production one must
    match message for message."""
    return str(request.param)


@contextlib.asynccontextmanager
async def served(app: Echo, protocol: str) -> AsyncIterator[int]:
    sock = listening_socket()
    port: int = sock.getsockname()[1]
    server = uvicorn_server(cast(Quart, app), "127.0.0.1", port, "WARNING")
    if protocol == "stock":
        server.config.ws = "websockets-sansio"
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield port
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def client(port: int, extra: bytes = b"") -> AsyncIterator[RawClient]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    raw = RawClient(reader, writer)
    try:
        await raw.open(extra)
        yield raw
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def kept(protocol: str, code: int) -> list[str]:
    """What reaches the app of a good frame that came in one read with a bad one: when its
    parser fails (1002, 1009), the stock protocol fails the connection before it hands over
    any of that read's messages."""
    return ["fine"] if protocol == "production" or code == 1007 else []


SAMPLES = ["a", "é" * 100, "x" * 126, "y" * 70_000]  # each length encoding, and UTF-8


@pytest.mark.parametrize("chunk", [1, 7, 331, 1 << 16], ids=lambda n: f"{n}-byte-writes")
async def test_frames_split_or_joined_anyhow_arrive_whole_and_in_order(
    chunk: int, protocol: str
) -> None:
    app = Echo()
    stream = b"".join(text(s) for s in SAMPLES)
    async with served(app, protocol) as port, client(port) as raw:
        for at in range(0, len(stream), chunk):
            if chunk == 1 and at >= 400:  # byte by byte through the first frames' headers
                await raw.write(stream[at:])
                break
            await raw.write(stream[at : at + chunk])
        await app.until(len(SAMPLES))
        assert app.texts() == SAMPLES
        echoes = [bytes((await raw.frame(Opcode.TEXT)).data).decode() for _ in SAMPLES]
        assert echoes == ["echo:" + s for s in SAMPLES]


async def test_frames_sent_before_the_handshake_s_answer_are_dropped_as_before(
    protocol: str,
) -> None:
    """A client must wait for the 101 before it sends (RFC 6455 4.1); the library drops what
    came with the request, and everything after it is still read."""
    app = Echo()
    async with served(app, protocol) as port, client(port, extra=text("early")) as raw:
        await raw.write(text("later"))
        await app.until(1)
        assert app.texts() == ["later"]
        assert (await raw.frame(Opcode.TEXT)).data == b"echo:later"


async def test_a_ping_among_text_frames_is_answered_and_the_text_still_comes(protocol: str) -> None:
    app = Echo()
    async with served(app, protocol) as port, client(port) as raw:
        await raw.write(text("one") + wire(Frame(Opcode.PING, b"are you there")) + text("two"))
        pong = await raw.frame(Opcode.PONG)
        assert pong.data == b"are you there"
        await app.until(2)
        assert app.texts() == ["one", "two"]


async def test_a_fragmented_message_is_one_message_and_direct_frames_resume_after(
    protocol: str,
) -> None:
    app = Echo()
    async with served(app, protocol) as port, client(port) as raw:
        first = wire(Frame(Opcode.TEXT, b"frag", fin=False))
        await raw.write(first + wire(Frame(Opcode.CONT, b"mented")) + text("whole"))
        await app.until(2)
        assert app.texts() == ["fragmented", "whole"]


def _compressed() -> bytes:
    """RSV1 marks permessage-deflate (RFC 7692), which is never negotiated here."""
    frame = bytearray(text("deflated"))
    frame[0] |= 0x40
    return bytes(frame)


BAD_FRAMES = [
    # Refused once the frame is whole.
    (wire(Frame(Opcode.TEXT, b"part", fin=False)) + text("new"), 1002),
    (wire(Frame(Opcode.TEXT, b"\xff\xfe not UTF-8")), 1007),
    (_compressed(), 1002),
    (wire(Frame(Opcode.TEXT, b"bare"), mask=False), 1002),
    # Refused from the header alone: the rest of the frame never comes.
    (wire(Frame(Opcode.TEXT, b"u" * 1000), mask=False)[:12], 1002),
    (bytes((0x83, 0x80 | 126)) + (1000).to_bytes(2, "big") + b"mask", 1002),
    (text("b" * (WS_MAX_SIZE + 1))[:4096], 1009),
]
BAD_FRAME_IDS = [
    "text-inside-a-fragmented-message",
    "invalid-utf-8",
    "compressed",
    "unmasked",
    "unmasked-header-only",
    "reserved-opcode-header-only",
    "over-the-limit-header-only",
]


@pytest.mark.parametrize(("bad", "code"), BAD_FRAMES, ids=BAD_FRAME_IDS)
async def test_a_bad_frame_closes_with_the_rfc_code_and_nothing_after_it_arrives(
    bad: bytes, code: int, protocol: str
) -> None:
    """The close comes as soon as the library can tell (for some, from the header, before
    a payload that never comes)."""
    app = Echo()
    async with served(app, protocol) as port, client(port) as raw:
        await raw.write(text("fine") + bad + text("after"))
        assert await raw.close_code() == code
        await app.until(len(kept(protocol, code)) + 1)
        assert app.texts() == kept(protocol, code)
        assert app.received[-1]["type"] == "websocket.disconnect"


async def test_a_binary_frame_reaches_the_app_as_bytes_in_its_place(protocol: str) -> None:
    app = Echo()
    async with served(app, protocol) as port, client(port) as raw:
        await raw.write(text("one") + wire(Frame(Opcode.BINARY, b"\x00\x01")) + text("two"))
        await app.until(3)
        assert app.received == [
            {"type": "websocket.receive", "text": "one"},
            {"type": "websocket.receive", "bytes": b"\x00\x01"},
            {"type": "websocket.receive", "text": "two"},
        ]


async def test_a_fragment_over_what_the_message_may_still_hold_closes_at_its_header(
    protocol: str,
) -> None:
    """A fragmented message is limited as a whole: a fragment whose header alone takes it
    past the limit is refused (1009) without waiting for the fragment's payload."""
    app = Echo()
    async with served(app, protocol) as port, client(port) as raw:
        await raw.write(wire(Frame(Opcode.TEXT, b"f" * (WS_MAX_SIZE - 10), fin=False)))
        await raw.write(wire(Frame(Opcode.CONT, b"g" * 1000))[:12])
        assert await raw.close_code() == 1009
        await app.until(1)
        assert [(m["type"], m.get("code")) for m in app.received] == [
            ("websocket.disconnect", 1009)
        ]


async def test_an_app_that_stops_reading_loses_nothing(protocol: str) -> None:
    """Reading pauses once messages wait unread and resumes as the app catches up."""
    app = Echo()
    app.reading.clear()
    sent = [f"frame {i}" for i in range(400)]
    async with served(app, protocol) as port, client(port) as raw:
        await raw.write(b"".join(text(s) for s in sent))
        app.reading.set()
        await app.until(len(sent))
        assert app.texts() == sent


async def test_the_client_s_close_reaches_the_app_with_its_code(protocol: str) -> None:
    app = Echo()
    async with served(app, protocol) as port, client(port) as raw:
        await raw.write(text("bye") + wire(Frame(Opcode.CLOSE, Close(4000, "done").serialize())))
        assert await raw.close_code() == 4000  # the server echoes the close
        await app.until(2)
        assert app.received[-1] == {"type": "websocket.disconnect", "code": 4000, "reason": "done"}


@pytest.mark.parametrize("size", [0, 125, 126, 65_535, 65_536, 300_000])
async def test_text_the_app_sends_is_one_unmasked_frame_of_any_length(
    size: int, protocol: str
) -> None:
    app = Echo()
    async with served(app, protocol) as port, client(port) as raw:
        await raw.write(text(f"send:{size}"))
        frame = await raw.frame(Opcode.TEXT)  # the client side refuses a masked frame
        assert (frame.fin, frame.data) == (True, b"z" * size)


class TakesNow(Echo):
    """Registers a function for TEXT_NOW that takes frames starting "now:" and declines
    the rest, as the media stream takes media frames and leaves the other messages."""

    def __init__(self) -> None:
        super().__init__()
        self.taken: list[str] = []
        self.offered = False

    def take(self, frame: str) -> bool:
        if not frame.startswith("now:"):
            return False
        self.taken.append(frame)
        self.changes.notify()
        return True

    async def __call__(self, scope: Message, receive: Any, send: Any) -> None:
        register = scope.get("extensions", {}).get(TEXT_NOW, {}).get("register")
        if register is not None:
            self.offered = True
            register(self.take)
        await super().__call__(scope, receive, send)


async def test_frames_are_taken_as_they_come_only_while_the_app_waits(protocol: str) -> None:
    """A frame the function declines is queued; until the app has read it, later frames
    queue behind it, so the app sees every frame in order either way."""
    app = TakesNow()
    async with served(app, protocol) as port, client(port) as raw:
        await raw.write(text("now:1") + text("later:2") + text("now:3"))
        if protocol == "stock":  # no such extension: everything is a message
            await app.until(3)
            assert (app.offered, app.texts()) == (False, ["now:1", "later:2", "now:3"])
            return
        await app.until(2)
        assert (app.taken, app.texts()) == (["now:1"], ["later:2", "now:3"])
        assert (await raw.frame(Opcode.TEXT)).data == b"echo:later:2"
        assert (await raw.frame(Opcode.TEXT)).data == b"echo:now:3"
        await raw.write(text("now:4"))
        await eventually(lambda: len(app.taken) == 2, timeout=10, on=app.changes, what="now:4")
        assert app.taken == ["now:1", "now:4"]
        assert app.texts() == ["later:2", "now:3"]
