"""Twilio's side of a bidirectional media stream, for driving whole calls in tests.

It sends exactly what Twilio sends (string-typed sequenceNumber, chunk and timestamp;
`connected` first, then `start` with every field, then 20 ms media frames), signs its
upgrade with the SDK's algorithm, and plays the server's audio back in real time at
8 mu-law bytes per ms: marks are echoed only once the audio queued before them has
played, and every pending mark is echoed at once on `clear`. Anything Twilio would
reject (binary frames, unknown events or fields, bad base64, a wrong streamSid) is
recorded in `errors`, with Twilio's error code, so tests can assert there were none.
Every change to what it records, and every 20 ms frame its handset plays, is announced on
`changed`, so tests wait for what they expect with `eventually`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from twilio.request_validator import RequestValidator
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.support.waiting import Changes

BYTES_PER_MS = 8
FRAME_BYTES = 160  # 20 ms of 8 kHz mu-law
FRAME_S = 0.020
PLAYED_OUT_S = 0.002  # past the last byte's due time, so float rounding cannot cut it off
SILENCE = b"\xff" * FRAME_BYTES
ALLOWED_KEYS = {
    "media": ({"event", "streamSid", "media"}, {"payload"}),
    "mark": ({"event", "streamSid", "mark"}, {"name"}),
    "clear": ({"event", "streamSid"}, set()),
}


def check_frame(frame: str | bytes, stream_sid: str) -> dict[str, Any] | tuple[int, str]:
    """A frame sent to Twilio, parsed, or (Twilio's error code, why) for one it refuses."""
    if isinstance(frame, bytes):
        return 31950, "binary frame"
    try:
        msg = json.loads(frame)
    except ValueError:
        return 31924, "frame is not JSON"
    if not isinstance(msg, dict):
        return 31924, "frame is not an object"
    event = msg.get("event")
    if event not in ALLOWED_KEYS:
        return 31924, f"unknown event {event!r}"
    top, inner = ALLOWED_KEYS[event]
    if set(msg) != top:
        return 31924, f"{event}: keys {sorted(msg)} != {sorted(top)}"
    if msg["streamSid"] != stream_sid:
        return 31924, f"{event}: wrong streamSid"
    if inner:
        body = msg[event]
        if not isinstance(body, dict) or set(body) != inner:
            return 31924, f"{event}: body must have exactly {sorted(inner)}"
    return msg


def sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def sign(auth_token: str, url: str, params: dict[str, str] | None = None) -> str:
    signature: str = RequestValidator(auth_token).compute_signature(url, params or {})
    return signature


def signed_headers(auth_token: str, url: str, signature: str | None) -> dict[str, str]:
    """The upgrade's X-Twilio-Signature: over `url` with no parameters, unless overridden
    (an empty override sends none)."""
    if signature is None:
        signature = sign(auth_token, url)
    return {"X-Twilio-Signature": signature} if signature else {}


@dataclass
class Segment:
    """A piece of server audio and when the emulated handset plays it."""

    start: float
    audio: bytes

    def played_at(self, t: float) -> int:
        return max(0, min(len(self.audio), int((t - self.start) * 1000 * BYTES_PER_MS)))


@dataclass
class Received:
    at: float
    event: str
    raw: dict[str, Any]


@dataclass
class PendingMark:
    name: str
    due: float
    handle: asyncio.TimerHandle | None = None


@dataclass
class TwilioPeer:
    ws_url: str  # where to connect (loopback)
    signed_url: str  # the public wss:// URL Twilio signs
    auth_token: str
    call_sid: str = field(default_factory=lambda: sid("CA"))
    account_sid: str = field(default_factory=lambda: sid("AC"))
    stream_sid: str = field(default_factory=lambda: sid("MZ"))
    custom_parameters: dict[str, str] = field(default_factory=dict)
    signature: str | None = None  # override (None: sign correctly)

    errors: list[str] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    echoed_marks: list[tuple[float, str]] = field(default_factory=list)
    clears: list[float] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str = ""

    def __post_init__(self) -> None:
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._seq = 0
        self._chunk = 0
        self._t0 = 0.0
        self._queued_until = 0.0
        self._pending: list[PendingMark] = []
        self._echo_tasks: set[asyncio.Task[None]] = set()
        self._clock: asyncio.TimerHandle | None = None
        self.closed = asyncio.Event()
        self.changed = Changes()

    # -- connection -------------------------------------------------------------------

    async def connect(self) -> None:
        headers = signed_headers(self.auth_token, self.signed_url, self.signature)
        self._ws = await connect(self.ws_url, additional_headers=headers, max_size=2**20)
        self._reader = asyncio.create_task(self._read())

    async def __aenter__(self) -> TwilioPeer:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Hang up without a stop message (the caller's line dropped)."""
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        for mark in self._pending:
            if mark.handle:
                mark.handle.cancel()
        if self._clock is not None:
            self._clock.cancel()
            self._clock = None

    async def wait_closed(self, timeout: float = 5.0) -> None:
        await asyncio.wait_for(self.closed.wait(), timeout)

    # -- what Twilio sends ------------------------------------------------------------

    async def send_raw(self, frame: str | bytes) -> None:
        assert self._ws is not None
        await self._ws.send(frame)

    def _next_seq(self) -> str:
        self._seq += 1
        return str(self._seq)

    async def send_connected(self) -> None:
        await self.send_raw(
            json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        )

    async def send_start(self) -> None:
        self._t0 = time.monotonic()
        await self.send_raw(
            json.dumps(
                {
                    "event": "start",
                    "sequenceNumber": self._next_seq(),
                    "start": {
                        "accountSid": self.account_sid,
                        "streamSid": self.stream_sid,
                        "callSid": self.call_sid,
                        "tracks": ["inbound"],
                        "mediaFormat": {
                            "encoding": "audio/x-mulaw",
                            "sampleRate": 8000,
                            "channels": 1,
                        },
                        "customParameters": self.custom_parameters,
                    },
                    "streamSid": self.stream_sid,
                }
            )
        )

    async def begin(self) -> None:
        await self.send_connected()
        await self.send_start()

    async def send_media(self, mulaw: bytes = SILENCE) -> None:
        self._chunk += 1
        timestamp = int((time.monotonic() - self._t0) * 1000)
        await self.send_raw(
            json.dumps(
                {
                    "event": "media",
                    "sequenceNumber": self._next_seq(),
                    "media": {
                        "track": "inbound",
                        "chunk": str(self._chunk),
                        "timestamp": str(timestamp),
                        "payload": base64.b64encode(mulaw).decode(),
                    },
                    "streamSid": self.stream_sid,
                }
            )
        )

    async def stream_audio(self, mulaw: bytes | Iterable[bytes]) -> None:
        """Send caller audio in 20 ms frames, paced in real time as Twilio does."""
        frames: Iterable[bytes]
        if isinstance(mulaw, bytes):
            frames = (mulaw[i : i + FRAME_BYTES] for i in range(0, len(mulaw), FRAME_BYTES))
        else:
            frames = mulaw
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        for frame in frames:
            await self.send_media(frame)
            next_at += FRAME_S
            await asyncio.sleep(max(0.0, next_at - loop.time()))

    async def send_silence(self, seconds: float) -> None:
        await self.stream_audio(SILENCE * round(seconds * 50))

    async def send_dtmf(self, digit: str) -> None:
        await self.send_raw(
            json.dumps(
                {
                    "event": "dtmf",
                    "streamSid": self.stream_sid,
                    "sequenceNumber": self._next_seq(),
                    "dtmf": {"track": "inbound_track", "digit": digit},
                }
            )
        )

    async def send_stop(self) -> None:
        await self.send_raw(
            json.dumps(
                {
                    "event": "stop",
                    "sequenceNumber": self._next_seq(),
                    "streamSid": self.stream_sid,
                    "stop": {"accountSid": self.account_sid, "callSid": self.call_sid},
                }
            )
        )

    async def hang_up(self) -> None:
        """The caller hangs up: Twilio sends `stop` and closes the socket straight after,
        without waiting for the service's own close. Marks for audio already played are
        echoed first, as Twilio sends them when playback reaches them, whatever the
        peer's own timers (late on a loaded machine) say."""
        now = time.monotonic()
        played = [mark for mark in self._pending if mark.due <= now]
        if played:
            self._fire(played[-1])
        await asyncio.gather(*list(self._echo_tasks), return_exceptions=True)
        await self.send_stop()
        assert self._ws is not None
        self._ws.transport.abort()

    async def _echo_mark(self, name: str) -> None:
        self.echoed_marks.append((time.monotonic(), name))
        with contextlib.suppress(ConnectionClosed):
            await self.send_raw(
                json.dumps(
                    {
                        "event": "mark",
                        "sequenceNumber": self._next_seq(),
                        "streamSid": self.stream_sid,
                        "mark": {"name": name},
                    }
                )
            )
        self.changed.notify()  # after the echo is on its way, so a waiter sees it arrive

    # -- what the server sends --------------------------------------------------------

    async def _read(self) -> None:
        assert self._ws is not None
        try:
            async for frame in self._ws:
                self._on_frame(frame)
        except ConnectionClosed:
            pass
        finally:
            if self._ws.close_code is not None:
                self.close_code = self._ws.close_code
                self.close_reason = self._ws.close_reason or ""
            self.closed.set()
            self.changed.notify()

    def _error(self, code: int, detail: str) -> None:
        self.errors.append(f"{code}: {detail}")

    def _on_frame(self, frame: str | bytes) -> None:
        try:
            self._check_and_play(frame)
        finally:
            self.changed.notify()

    def _check_and_play(self, frame: str | bytes) -> None:
        now = time.monotonic()
        checked = check_frame(frame, self.stream_sid)
        if isinstance(checked, tuple):
            self._error(*checked)
            return
        msg, event = checked, checked["event"]
        self.received.append(Received(now, event, msg))
        if event == "media":
            self._on_media(now, msg["media"]["payload"])
        elif event == "mark":
            self._on_mark(now, msg["mark"]["name"])
        else:
            self._on_clear(now)

    def _on_media(self, now: float, payload: object) -> None:
        if not isinstance(payload, str):
            self._error(31924, "media payload must be a string")
            return
        try:
            audio = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            self._error(31924, "media payload is not base64")
            return
        start = max(now, self._queued_until)
        self.segments.append(Segment(start, audio))
        self._queued_until = start + len(audio) / (BYTES_PER_MS * 1000)
        if self._clock is None:
            self._clock = asyncio.get_running_loop().call_later(FRAME_S, self._tick)

    def _tick(self) -> None:
        """The handset's playback clock: one tick per 20 ms frame played, and one just past
        the end, so a test waiting on what has been heard wakes as it is heard."""
        self._clock = None
        self.changed.notify()
        left = self._queued_until + PLAYED_OUT_S - time.monotonic()
        if left > 0:
            self._clock = asyncio.get_running_loop().call_later(min(FRAME_S, left), self._tick)

    def _on_mark(self, now: float, name: object) -> None:
        if not isinstance(name, str):
            self._error(31924, "mark name must be a string")
            return
        due = max(now, self._queued_until)
        mark = PendingMark(name, due)
        loop = asyncio.get_running_loop()
        mark.handle = loop.call_at(loop.time() + (due - now), lambda: self._fire(mark))
        self._pending.append(mark)

    def _fire(self, mark: PendingMark) -> None:
        # Timers due at the same instant may fire in any order; Twilio echoes marks in
        # the order they were sent, so release every mark up to this one, in order.
        if mark not in self._pending:
            return
        index = self._pending.index(mark)
        released, self._pending = self._pending[: index + 1], self._pending[index + 1 :]
        for done in released:
            if done.handle:
                done.handle.cancel()
            self._spawn_echo(done.name)

    def _spawn_echo(self, name: str) -> None:
        # Tasks start in creation order, so echoes leave in the order marks came due.
        task = asyncio.ensure_future(self._echo_mark(name))
        self._echo_tasks.add(task)
        task.add_done_callback(self._echo_tasks.discard)

    def _on_clear(self, now: float) -> None:
        self.clears.append(now)
        # Cut every segment to what has played; nothing queued plays any more.
        self.segments = [
            Segment(s.start, s.audio[: s.played_at(now)]) for s in self.segments if s.start < now
        ]
        self._queued_until = now
        pending, self._pending = self._pending, []
        for mark in pending:
            if mark.handle:
                mark.handle.cancel()
            self._spawn_echo(mark.name)

    # -- what the caller heard --------------------------------------------------------

    def played_bytes(self, at: float | None = None) -> int:
        t = time.monotonic() if at is None else at
        return sum(s.played_at(t) for s in self.segments)

    def played_ms(self, at: float | None = None) -> float:
        return self.played_bytes(at) / BYTES_PER_MS

    def heard(self) -> bytes:
        now = time.monotonic()
        return b"".join(s.audio[: s.played_at(now)] for s in self.segments)

    def events(self, kind: str) -> list[Received]:
        return [r for r in self.received if r.event == kind]
