"""uvicorn's sans-I/O WebSocket protocol, with a direct path for whole text frames.

Twilio sends a call's audio as one small masked text frame every 20 ms and expects the
same back, so per message the stock protocol's generator parser, its frame objects, an
`asyncio.Queue` hop and a pause and resume of the socket's reading (two event-loop
registrations) cost more than the audio itself. Here a whole unfragmented text frame is
unmasked and handed to the app as it arrives, and text the app sends is framed with a
two- or four-byte header. Everything else (the handshake, control frames, fragments,
compressed or oversized frames, a closing connection) goes to the library exactly as
before, whole frame by whole frame, so its parser never sees part of a frame we took.
Reading is paused only once `_BACKLOG` messages wait unread, not after every message.
The app may also take text frames as they arrive (the TEXT_NOW extension in the scope):
while it waits for a message, a frame goes straight to its function, which saves a task
switch per frame; a frame the function declines is queued as usual.

Run it with `uvicorn --ws service.ws_protocol:TextFrameProtocol` (the Procfile does).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, Final

from uvicorn._types import ASGIReceiveEvent, ASGISendEvent
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request
from websockets.protocol import State

from bridge.ws_frames import FIN_TEXT, MASKED, frame_extent, text_frame, unmask
from telephony.socket_line import TEXT_NOW, TextNow

_BACKLOG: Final = 16  # unread messages before reading pauses (back-pressure on the peer)
_MAX_HEAD: Final = 64 * 1024  # an upgrade request larger than this is the library's alone
# Continuation, text, binary, close, ping, pong: any other opcode, like a client frame
# without a mask, is refused by the library from a frame's first two bytes.
_OPCODES: Final = frozenset((0x0, 0x1, 0x2, 0x8, 0x9, 0xA))


class _Inbox:
    """The parts of `asyncio.Queue` the protocol uses, for one reader: a deque and at most
    one waiting future, without the queue's bookkeeping on every message."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: deque[ASGIReceiveEvent] = deque()
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: ASGIReceiveEvent) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def get(self) -> ASGIReceiveEvent:
        while not self._items:
            waiter = asyncio.get_running_loop().create_future()
            self._waiter = waiter
            try:
                await waiter
            finally:
                if self._waiter is waiter:
                    self._waiter = None
        return self._items.popleft()

    def empty(self) -> bool:
        return not self._items

    def idle(self) -> bool:
        """The reader is waiting for a message and none is queued."""
        return self._waiter is not None and not self._items

    def qsize(self) -> int:
        return len(self._items)


class TextFrameProtocol(WebSocketsSansIOProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue: Any = _Inbox()
        self._head = bytearray()  # the upgrade request, to see whether frames followed it
        self._direct: bool | None = None  # None until the handshake is done
        self._partial = bytearray()  # the start of a frame still arriving
        self._text_now: TextNow | None = None

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        if self.handshake_complete:
            return  # refused by the library; there is no app to offer anything to
        self.scope["extensions"][TEXT_NOW] = {"register": self._register_text_now}

    def _register_text_now(self, handler: TextNow | None) -> None:
        self._text_now = handler

    def data_received(self, data: bytes) -> None:
        if self._direct is None:
            self._decide(data)
        if not self._direct:
            super().data_received(data)
        elif self._partial:
            self._partial += data
            self._frames(self._partial)
        else:
            self._frames(data)

    def _decide(self, data: bytes) -> None:
        """Frames are taken directly only when the library's parser is known to be
        between frames: nothing came after the upgrade request before our 101 went out."""
        if self.handshake_complete:
            self._direct = self.initial_response is None and self.conn.state is State.OPEN
        elif self.handshake_initiated:
            self._direct = False  # a client that did not wait for the handshake
        else:
            self._head += data
            end = self._head.find(b"\r\n\r\n")
            if end != -1 and end + 4 < len(self._head):
                self._direct = False  # frames came with the request itself
            elif len(self._head) > _MAX_HEAD:
                self._direct = False
            if end != -1 or self._direct is False:
                self._head = bytearray()

    def _frames(self, buf: bytes | bytearray) -> None:
        pos, size = 0, len(buf)
        while size - pos >= 2:
            first = buf[pos]
            if first & 0x0F not in _OPCODES or not buf[pos + 1] & MASKED:
                self._to_library(buf[pos:])  # refused from its first two bytes (1002), as before
                return
            extent = frame_extent(buf, pos)
            if extent is None:
                break
            start, end = extent
            room = self._room()
            if room is not None and end - start > room:
                self._to_library(buf[pos:])  # refused from its header (1009), as before
                return
            if end > size:
                break
            # Whole, unfragmented, uncompressed text, outside a fragmented message.
            if first == FIN_TEXT and not self.frames and self.conn.state is State.OPEN:
                self._deliver(unmask(buf, start, end))
            else:
                self._to_library(buf[pos:end])
                if not self._direct:
                    self._to_library(buf[end:])
                    return
            pos = end
        # Kept without copying when nothing was taken, so a frame trickling in costs O(n).
        if pos == 0 and isinstance(buf, bytearray):
            self._partial = buf
        else:
            self._partial = bytearray(buf[pos:])

    def _room(self) -> int | None:
        """The most the library lets the next frame hold (as websockets' parser reckons
        it): the message limit, less what a fragmented message already holds."""
        conn = self.conn
        room = conn.max_message_size
        if room is not None and conn.current_size is not None:
            room -= conn.current_size
        if conn.max_fragment_size is not None:
            room = conn.max_fragment_size if room is None else min(room, conn.max_fragment_size)
        return room

    def _to_library(self, data: bytes | bytearray) -> None:
        """Whole frames to the library's parser; once the connection is closing (or the
        parser failed), every later byte goes there too, as in the stock protocol."""
        self._partial = bytearray()
        if data:
            super().data_received(bytes(data))
        if self.conn.state is not State.OPEN or self.conn.parser_exc is not None:
            self._direct = False

    def _deliver(self, payload: bytes) -> None:
        if self.close_sent:
            return  # past the app's close: discarded, as the stock protocol does
        try:
            text = payload.decode()
        except UnicodeDecodeError:
            self.logger.warning("invalid UTF-8 in a WebSocket text frame; closing with 1007")
            self.conn.send_close(1007)
            self.handle_parser_exception()
            self._direct = False
            return
        handler = self._text_now
        if handler is not None and self.queue.idle() and handler(text):
            return  # taken as it came, by the app waiting for it (telephony.socket_line)
        self._queue({"type": "websocket.receive", "text": text})

    def send_receive_event_to_app(self) -> None:
        """A message the library assembled goes the way of a frame read by hand (the stock
        protocol pauses reading after every message)."""
        data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
        self.frames = []
        if self.curr_msg_data_type == "text":
            self._deliver(data)
        elif not self.close_sent:
            self._queue({"type": "websocket.receive", "bytes": data})

    def _queue(self, message: ASGIReceiveEvent) -> None:
        self.queue.put_nowait(message)
        if not self.read_paused and self.queue.qsize() >= _BACKLOG:
            self.read_paused = True
            self.transport.pause_reading()

    async def send(self, message: ASGISendEvent) -> None:
        if (
            message["type"] == "websocket.send"
            and message.get("bytes") is None
            and self.handshake_complete
            and not self.close_sent
            and not self.disconnected
            and self.initial_response is None
            and self.writable.is_set()
            and self.conn.state is State.OPEN
        ):
            text = message.get("text")
            if isinstance(text, str):
                self.transport.write(text_frame(text.encode(), masked=False))
                return
        await super().send(message)
