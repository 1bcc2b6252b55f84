"""The load generator's wire: bare WebSocket endpoints with kernel receive timestamps.

The `websockets` library costs tens of microseconds per message; at 100 calls the
generator moves over 10 000 messages a second, and a generator that is itself busy
delays its own reads and inflates the latency it reports. So the generator speaks
RFC 6455 directly on non-blocking sockets: one `recvmsg` per readable event, with the
kernel's receive timestamp (SO_TIMESTAMPNS, CLOCK_REALTIME) attached to every message
read. A latency is then (kernel receive time) - (time just before `send`), which does
not include the generator's own scheduling delay on the receiving side.

Client frames are masked with the all-zero key: allowed by the RFC's framing (the server
unmasks whatever key it is given) and free, since XOR with zero is the identity.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import socket
import struct
import time
from array import array
from collections.abc import Callable

from websockets.speedups import apply_mask

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux; the module lacks the name
SCM_TIMESTAMPNS = SO_TIMESTAMPNS
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
ZERO_MASK = b"\0\0\0\0"
READ_SIZE = 1 << 18

OnMessage = Callable[[bytes, int], None]


def now_ns() -> int:
    """The clock every send stamp uses; kernel receive stamps are on the same clock."""
    return time.time_ns()


class WsConn:
    """One WebSocket over a connected non-blocking socket, after the handshake.

    `on_message(payload, rx_ns)` gets every text or binary message with the kernel's
    receive time of the read that completed it; pings are answered; a close frame or
    EOF calls `on_close` once.
    """

    def __init__(
        self,
        sock: socket.socket,
        *,
        client: bool,
        on_message: OnMessage,
        on_close: Callable[[], None] | None = None,
        initial: bytes = b"",
    ) -> None:
        self.sock = sock
        self.client = client
        self.on_message = on_message
        self.on_close = on_close
        self.closed = False
        self.close_code: int | None = None
        self.close_reason = ""
        # user-space read time minus kernel receive time, per read: the generator's lag
        self.read_lag_ns = array("q")
        self._close_sent = False
        self._in = bytearray(initial)
        self._out = bytearray()
        self._frag = bytearray()
        self._writing = False
        self._loop = asyncio.get_running_loop()
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self._fd = sock.fileno()
        self._loop.add_reader(self._fd, self._readable)
        if self._in:
            self._parse(now_ns())

    # -- reading ------------------------------------------------------------------------

    def _readable(self) -> None:
        try:
            data, anc, _, _ = self.sock.recvmsg(READ_SIZE, 64)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._lost()
            return
        if not data:
            self._lost()
            return
        user = now_ns()
        rx = user
        for level, kind, body in anc:
            if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS and len(body) >= 16:
                sec, nsec = struct.unpack("qq", body[:16])
                rx = sec * 1_000_000_000 + nsec
        self.read_lag_ns.append(user - rx)
        self._in += data
        self._parse(rx)

    def _parse(self, rx: int) -> None:
        buf = self._in
        pos = 0
        n = len(buf)
        while n - pos >= 2:
            b0 = buf[pos]
            b1 = buf[pos + 1]
            length = b1 & 0x7F
            head = 2
            if length == 126:
                if n - pos < 4:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                head = 4
            elif length == 127:
                if n - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                head = 10
            mask = b""
            if b1 & 0x80:
                if n - pos < head + 4:
                    break
                mask = bytes(buf[pos + head : pos + head + 4])
                head += 4
            end = pos + head + length
            if end > n:
                break
            payload = bytes(buf[pos + head : end])
            pos = end
            if mask and mask != ZERO_MASK:
                payload = apply_mask(payload, mask)
            opcode = b0 & 0x0F
            fin = b0 & 0x80
            if opcode in (0, 1, 2):
                if opcode and fin and not self._frag:
                    self.on_message(payload, rx)
                else:
                    self._frag += payload
                    if fin:
                        message = bytes(self._frag)
                        self._frag.clear()
                        self.on_message(message, rx)
            elif opcode == 9:
                self._send_frame(0xA, payload)
            elif opcode == 8:
                self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                self.close_reason = payload[2:].decode(errors="replace")
                if not self._close_sent:
                    self._send_frame(0x8, payload[:2])
                    self._close_sent = True
                del buf[:pos]
                self._lost()
                return
            if self.closed:
                return
        del buf[:pos]

    def _lost(self) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(Exception):
            self._loop.remove_reader(self._fd)
        if self._writing:
            with contextlib.suppress(Exception):
                self._loop.remove_writer(self._fd)
        with contextlib.suppress(OSError):
            self.sock.close()
        if self.on_close is not None:
            self.on_close()

    # -- writing ------------------------------------------------------------------------

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        n = len(payload)
        mbit = 0x80 if self.client else 0
        if n < 126:
            head = bytes((0x80 | opcode, mbit | n))
        elif n < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, mbit | 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, mbit | 127, n)
        if self.client:
            head += ZERO_MASK
        self._write(head + payload)

    def send_text(self, text: bytes) -> int:
        """Send one text message; returns the send time (ns, `now_ns` clock)."""
        at = now_ns()
        self._send_frame(0x1, text)
        return at

    def _write(self, frame: bytes) -> None:
        if self.closed:
            return
        if self._out:
            self._out += frame
            return
        try:
            sent = self.sock.send(frame)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self._lost()
            return
        if sent < len(frame):
            self._out += frame[sent:]
            self._writing = True
            self._loop.add_writer(self._fd, self._writable)

    def _writable(self) -> None:
        try:
            sent = self.sock.send(self._out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._lost()
            return
        del self._out[:sent]
        if not self._out:
            self._writing = False
            self._loop.remove_writer(self._fd)

    def close(self, code: int = 1000) -> None:
        """Send a close frame; the connection ends when the peer answers or drops."""
        if self.closed or self._close_sent:
            return
        self._close_sent = True
        self._send_frame(0x8, code.to_bytes(2, "big"))

    def abort(self) -> None:
        self._lost()


# -- handshakes --------------------------------------------------------------------------


async def _read_head(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> tuple[bytes, bytes]:
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = await loop.sock_recv(sock, 65536)
        if not chunk:
            raise ConnectionError("connection closed during the handshake")
        buf += chunk
        if len(buf) > 65536:
            raise ConnectionError("handshake too large")
    head, rest = buf.split(b"\r\n\r\n", 1)
    return head, rest


def _headers(head: bytes) -> tuple[str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return lines[0], headers


async def ws_connect(
    host: str,
    port: int,
    path: str,
    headers: dict[str, str],
    answered: dict[str, str] | None = None,
) -> tuple[socket.socket, bytes]:
    """Open a WebSocket as a client; returns the socket and any bytes read past the 101.
    The 101's headers are copied into `answered` when given (a load balancer names the
    host it chose there)."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        await loop.sock_connect(sock, (host, port))
        key = base64.b64encode(os.urandom(16)).decode()
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\n{extra}\r\n"
        )
        await loop.sock_sendall(sock, request.encode())
        head, rest = await _read_head(loop, sock)
        status, got = _headers(head)
        if " 101 " not in status + " ":
            raise ConnectionError(f"upgrade refused: {status}")
        if answered is not None:
            answered.update(got)
    except BaseException:
        sock.close()
        raise
    return sock, rest


async def ws_accept(sock: socket.socket) -> tuple[str, dict[str, str], bytes]:
    """Server side of the handshake on an accepted socket: (path, headers, extra bytes)."""
    loop = asyncio.get_running_loop()
    head, rest = await _read_head(loop, sock)
    request, headers = _headers(head)
    parts = request.split(" ")
    path = parts[1] if len(parts) > 1 else "/"
    key = headers.get("sec-websocket-key", "")
    accept = base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest()).decode()
    response = (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept}\r\n\r\n"
    )
    await loop.sock_sendall(sock, response.encode())
    return path, headers, rest


async def http_request(
    host: str,
    port: int,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
    answered: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    """One HTTP/1.1 request on a fresh connection (as Twilio makes each webhook); the
    response's headers are copied into `answered` when given."""

    async def run() -> tuple[int, bytes]:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
            head = (
                f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n"
                f"Content-Length: {len(body)}\r\n{extra}\r\n"
            )
            writer.write(head.encode() + body)
            await writer.drain()
            raw = await reader.read()
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        status_head, _, content = raw.partition(b"\r\n\r\n")
        status_line, got = _headers(status_head)
        if answered is not None:
            answered.update(got)
        code = int(status_line.split(" ")[1]) if " " in status_line else 0
        return code, content

    return await asyncio.wait_for(run(), timeout)
