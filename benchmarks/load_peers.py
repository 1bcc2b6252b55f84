"""The load generator's peers: Twilio callers and an OpenAI Realtime stand-in, both light.

They speak exactly the wire formats the service expects (the tests' strict peers define
them; see tests/support/twilio_peer.py and tests/support/openai/) but do no checking and no
signal processing, so that one generator core can drive 100 calls.

Correlating frames across the bridge. The service resamples audio both ways, so bytes
change on the way through; what survives a linear-phase low-pass filter is a constant
level. Every 20 ms caller frame is two constant halves: the first half's level names the
call, the second half's names the frame (its number modulo 255). The model side reads
one sample of each half out of the PCM16 append, so it knows which call a connection
belongs to and which frame each append carries. Model deltas are built the same way (the
response number, then the delta number within it), and the caller reads them back out of
the mu-law media. A dropped or reordered frame shows up as a marker out of sequence.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
import socket
import time
from array import array
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from load_wire import WsConn, now_ns, ws_accept, ws_connect

from bridge.g711 import ulaw_to_pcm16
from tests.support.telephony_fixtures import AUTH_TOKEN, PUBLIC
from tests.support.twilio_peer import sid, sign

ACCOUNT = "AC" + "5" * 32
FRAME_S = 0.020
MARK_MOD = 255  # distinct mu-law levels
APPEND_PREFIX = b'{"type":"input_audio_buffer.append","audio":"'
_A = len(APPEND_PREFIX)
MEDIA_PREFIX = b'{"event":"media"'
PAYLOAD_KEY = b'"payload":"'

# -- level markers -----------------------------------------------------------------------

_PCM = np.frombuffer(ulaw_to_pcm16(bytes(range(256))), dtype="<i2").tolist()
LEVELS: list[int] = sorted(set(_PCM))
assert len(LEVELS) == MARK_MOD
LEVEL_CODE: list[int] = [
    0xFF if level == 0 else _PCM.index(level) for level in LEVELS
]  # marker -> mu-law byte
CODE_MARK: list[int] = [LEVELS.index(v) for v in _PCM]  # mu-law byte -> marker


def level_mark(sample: int) -> int:
    """The marker whose level is nearest to a PCM16 sample."""
    i = bisect_left(LEVELS, sample)
    if i == 0:
        return 0
    if i == MARK_MOD:
        return MARK_MOD - 1
    return i if LEVELS[i] - sample < sample - LEVELS[i - 1] else i - 1


def caller_frame(call: int, frame: int) -> str:
    """Base64 of 160 mu-law bytes: 10 ms at the call's level, 10 ms at the frame's."""
    half_a = bytes((LEVEL_CODE[call],)) * 80
    half_b = bytes((LEVEL_CODE[frame % MARK_MOD],)) * 80
    return base64.b64encode(half_a + half_b).decode()


def append_marks(message: bytes) -> tuple[int, int]:
    """(call, frame marker) from an input_audio_buffer.append of one 20 ms frame.

    PCM16 (AUDIO_FORMAT=pcm16): the 480 samples at 24 kHz lag the input by the filter's
    1.9 ms; sample 165 sits in the middle of the first half, sample 479 at the end of the
    second, both clear of the edges. Mu-law (pcmu): the frame is passed through unchanged.
    """
    if len(message) < _A + 1280:  # 160 mu-law bytes: 216 base64 characters
        first = base64.b64decode(message[_A + 52 : _A + 56])[1]  # byte 40
        last = base64.b64decode(message[_A + 212 : _A + 216])[0]  # byte 159
        return CODE_MARK[first], CODE_MARK[last]
    head = base64.b64decode(message[_A + 440 : _A + 444])  # bytes 330..332
    tail = base64.b64decode(message[_A + 1276 : _A + 1280])  # bytes 957..959
    a = int.from_bytes(head[0:2], "little", signed=True)
    b = int.from_bytes(tail[1:3], "little", signed=True)
    return level_mark(a), level_mark(b)


def model_delta(ms: int, response: int, delta: int, pcmu: bool = False) -> str:
    """Base64 PCM16 24 kHz (or mu-law 8 kHz): half at the response's level, half at the delta's."""
    if pcmu:
        n = ms * 8
        codes = bytes((LEVEL_CODE[response % MARK_MOD],)) * (n // 2)
        codes += bytes((LEVEL_CODE[delta % MARK_MOD],)) * (n - n // 2)
        return base64.b64encode(codes).decode()
    n = ms * 24
    pcm = np.empty(n, dtype="<i2")
    pcm[: n // 2] = LEVELS[response % MARK_MOD]
    pcm[n // 2 :] = LEVELS[delta % MARK_MOD]
    return base64.b64encode(pcm.tobytes()).decode()


def media_marks(payload: bytes) -> tuple[int, int, int]:
    """(response marker, delta marker, mu-law bytes) from a Twilio media payload."""
    size = len(payload)
    pad = 2 if payload.endswith(b"==") else 1 if payload.endswith(b"=") else 0
    n = size * 3 // 4 - pad
    j = n // 4
    g = j // 3
    first = base64.b64decode(payload[4 * g : 4 * g + 4])[j % 3]
    g = (n - 1) // 3
    last = base64.b64decode(payload[4 * g : 4 * g + 4])[(n - 1) % 3]
    return CODE_MARK[first], CODE_MARK[last], n


# -- Twilio's side -----------------------------------------------------------------------


@dataclass
class _Segment:
    start: float
    nbytes: int
    response: int

    def played(self, t: float) -> int:
        return max(0, min(self.nbytes, int((t - self.start) * 8000)))


class Caller:
    """One phone line: a media stream sending 20 ms frames, playing and echoing marks."""

    def __init__(self, index: int, call_sid: str, host: str, port: int, path: str) -> None:
        self.index = index
        self.call_sid = call_sid
        self.path = path  # from the voice webhook's <Stream url>
        self.stream_sid = sid("MZ")
        self.host = host
        self.port = port
        self.ws: WsConn | None = None
        self.local_port = 0
        self.answered: dict[str, str] = {}  # the 101's headers
        self.started_ns = 0  # when `start` was sent
        self._frames = [caller_frame(index, k) for k in range(MARK_MOD)]
        self.sent_ns = array("q")  # frame k's send time
        self.send_late_ms = array("f")  # how far behind its 20 ms schedule each frame left
        self.media_rx = array("q")  # kernel receive time of each media message
        self.media_tag = array("i")  # response * 256 + delta marker
        self.media_bytes = 0
        self.marks_in = 0
        self.marks_echoed = 0
        self.clears: list[tuple[int, float]] = []  # (response marker, ms played at the clear)
        self.closed = asyncio.Event()
        self.stopped = False
        self._seq = 0
        self._timer: asyncio.TimerHandle | None = None
        self._next = 0.0
        self._segments: list[_Segment] = []
        self._queued_until = 0.0
        self._pending: list[tuple[str, asyncio.TimerHandle]] = []
        self._loop = asyncio.get_running_loop()

    async def connect(self) -> None:
        signed_url = PUBLIC.replace("https://", "wss://") + self.path
        headers = {"X-Twilio-Signature": sign(AUTH_TOKEN, signed_url)}
        sock, rest = await ws_connect(self.host, self.port, self.path, headers, self.answered)
        self.local_port = sock.getsockname()[1]
        self.ws = WsConn(
            sock, client=True, on_message=self._on_message, on_close=self.closed.set, initial=rest
        )
        self._send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        self.started_ns = now_ns()
        self._send(
            {
                "event": "start",
                "sequenceNumber": self._next_seq(),
                "start": {
                    "accountSid": ACCOUNT,
                    "streamSid": self.stream_sid,
                    "callSid": self.call_sid,
                    "tracks": ["inbound"],
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                    "customParameters": {"call_id": self.call_sid, "template_id": "default"},
                },
                "streamSid": self.stream_sid,
            }
        )
        self._next = self._loop.time()
        self._tick()

    def _next_seq(self) -> str:
        self._seq += 1
        return str(self._seq)

    def _send(self, msg: dict[str, Any]) -> None:
        assert self.ws is not None
        self.ws.send_text(json.dumps(msg).encode())

    def _tick(self) -> None:
        ws = self.ws
        if self.stopped or ws is None or ws.closed:
            return
        k = len(self.sent_ns)
        self._seq += 1
        message = (
            '{"event":"media","sequenceNumber":"' + str(self._seq)
            + '","media":{"track":"inbound","chunk":"' + str(k + 1)
            + '","timestamp":"' + str(20 * k)
            + '","payload":"' + self._frames[k % MARK_MOD]
            + '"},"streamSid":"' + self.stream_sid + '"}'
        )  # fmt: skip
        self.sent_ns.append(ws.send_text(message.encode()))
        self.send_late_ms.append((self._loop.time() - self._next) * 1000)
        self._next += FRAME_S
        self._timer = self._loop.call_at(self._next, self._tick)

    def _on_message(self, message: bytes, rx: int) -> None:
        if message.startswith(MEDIA_PREFIX):
            start = message.find(PAYLOAD_KEY) + len(PAYLOAD_KEY)
            response, delta, nbytes = media_marks(message[start:-3])
            self.media_rx.append(rx)
            self.media_tag.append(response * 256 + delta)
            self.media_bytes += nbytes
            now = self._loop.time()
            begin = max(now, self._queued_until)
            self._segments.append(_Segment(begin, nbytes, response))
            if len(self._segments) > 64:
                del self._segments[:32]
            self._queued_until = begin + nbytes / 8000
            return
        msg = json.loads(message)
        event = msg.get("event")
        if event == "mark":
            self.marks_in += 1
            name = str(msg["mark"]["name"])
            due = max(self._loop.time(), self._queued_until)
            handle = self._loop.call_at(due, self._fire, name)
            self._pending.append((name, handle))
        elif event == "clear":
            self._on_clear()

    def _fire(self, name: str) -> None:
        # Marks due at the same instant may fire in any order; Twilio echoes them in order.
        for i, (pending, _) in enumerate(self._pending):
            if pending == name:
                released, self._pending = self._pending[: i + 1], self._pending[i + 1 :]
                for done, handle in released:
                    handle.cancel()
                    self._echo(done)
                return

    def _echo(self, name: str) -> None:
        if self.ws is None or self.ws.closed:
            return
        self.marks_echoed += 1
        self._send(
            {
                "event": "mark",
                "sequenceNumber": self._next_seq(),
                "streamSid": self.stream_sid,
                "mark": {"name": name},
            }
        )

    def _on_clear(self) -> None:
        now = self._loop.time()
        if self._segments:
            current = self._segments[-1].response
            played = sum(s.played(now) for s in self._segments if s.response == current)
            self.clears.append((current, played / 8))
        self._segments = []
        self._queued_until = now
        pending, self._pending = self._pending, []
        for name, handle in pending:
            handle.cancel()
            self._echo(name)

    def heard_greeting(self) -> bool:
        return len(self.media_rx) > 0

    async def stop(self, timeout: float = 20.0) -> bool:
        """Twilio's `stop` (the caller hung up); true once the service closed the socket."""
        self.stopped = True
        if self._timer is not None:
            self._timer.cancel()
        for _, handle in self._pending:
            handle.cancel()
        if self.ws is None or self.ws.closed:
            return self.closed.is_set()
        self._send(
            {
                "event": "stop",
                "sequenceNumber": self._next_seq(),
                "streamSid": self.stream_sid,
                "stop": {"accountSid": ACCOUNT, "callSid": self.call_sid},
            }
        )
        try:
            await asyncio.wait_for(self.closed.wait(), timeout)
        except TimeoutError:
            self.ws.abort()
            return False
        return True


# -- OpenAI's side -----------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """What every call does once it is up."""

    greeting_ms: int = 4000
    first_audio_ms: int = 0  # the model's time from response.create to its first audio
    reply_ms: int = 4000
    caller_turn_s: float = 2.0
    model_speed: float = 2.0  # audio leaves the model at this multiple of real time
    chunks_ms: tuple[int, ...] = (40, 120, 200, 80, 160, 60, 100, 180)  # the tests' pattern
    barge_every: int = 2  # every n-th reply is interrupted by the caller (0: never)
    barge_at: float = 0.4  # of the reply's playing time


USAGE = {
    "total_tokens": 1400,
    "input_tokens": 1200,
    "output_tokens": 200,
    "input_token_details": {
        "text_tokens": 900,
        "audio_tokens": 300,
        "image_tokens": 0,
        "cached_tokens": 768,
        "cached_tokens_details": {"text_tokens": 768, "audio_tokens": 0, "image_tokens": 0},
    },
    "output_token_details": {"text_tokens": 40, "audio_tokens": 160},
}
TRANSCRIPTION_USAGE = {
    "type": "tokens",
    "total_tokens": 60,
    "input_tokens": 50,
    "output_tokens": 10,
    "input_token_details": {"text_tokens": 0, "audio_tokens": 50},
}


@dataclass
class Reply:
    index: int
    response_id: str
    item_id: str
    barge: bool
    cancelled: bool = False
    audio_ms: int = 0
    barge_task: asyncio.Task[str] | None = None


def _id(prefix: str) -> str:
    return prefix + "_" + secrets.token_hex(8)


class ModelConn:
    """One Realtime session as the service sees it."""

    def __init__(self, peer: ModelPeer, sock: socket.socket, rest: bytes) -> None:
        self.peer = peer
        self.remote_port = sock.getpeername()[1]
        self.opened_at = time.monotonic()
        self.closed_at: float | None = None
        self.call: int | None = None
        self.wrong_call = 0
        self.append_rx = array("q")
        self.append_mark = array("B")
        self.sent_ns = array("q")  # each audio delta's send time
        self.sent_tag = array("i")  # response * 256 + delta marker
        self.replies: list[Reply] = []
        self.truncates: dict[str, int] = {}
        self.session_updates = 0
        self.response_creates = 0
        self.pcmu = False  # the session asked for G.711 mu-law audio
        self._active: Reply | None = None
        self._heard_by = 0.0
        self._events = 0
        self._driver: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.ws = WsConn(
            sock, client=False, on_message=self._on_message, on_close=self._on_close, initial=rest
        )
        self._send({"type": "session.created", "session": {"type": "realtime"}})

    @property
    def used(self) -> bool:
        return len(self.append_rx) > 0

    def _on_close(self) -> None:
        self.closed_at = time.monotonic()
        for task in list(self._tasks):
            task.cancel()

    def _send(self, event: dict[str, Any]) -> int:
        self._events += 1
        event["event_id"] = f"event_{self._events}"
        return self.ws.send_text(json.dumps(event).encode())

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_message(self, message: bytes, rx: int) -> None:
        if message.startswith(APPEND_PREFIX):
            call, mark = append_marks(message)
            if self.call is None:
                self.call = call
            elif call != self.call:
                self.wrong_call += 1
            self.append_rx.append(rx)
            self.append_mark.append(mark)
            return
        event = json.loads(message)
        kind = event.get("type")
        if kind == "session.update":
            self.session_updates += 1
            session = event.get("session", {})
            fmt = session.get("audio", {}).get("output", {}).get("format", {})
            self.pcmu = fmt.get("type") == "audio/pcmu"
            self._send({"type": "session.updated", "session": event.get("session", {})})
        elif kind == "response.create":
            self.response_creates += 1
            if self._driver is None:
                self._driver = asyncio.ensure_future(self._drive())
                self._tasks.add(self._driver)
            elif self._active is None:
                self._spawn(self._respond(self.peer.scenario.reply_ms, barge=False))
        elif kind == "response.cancel":
            if self._active is not None:
                self._active.cancelled = True
        elif kind == "conversation.item.truncate":
            self.truncates[str(event.get("item_id"))] = int(event.get("audio_end_ms", -1))
            self._send({"type": "conversation.item.truncated", "item_id": event.get("item_id")})

    async def _drive(self) -> None:
        """Greet, then forever: the caller speaks a while, the model replies."""
        s = self.peer.scenario
        reply = await self._respond(s.greeting_ms, barge=False)
        turns = 0
        while not self.ws.closed:
            if reply.barge_task is not None:
                # The caller already started talking over the reply.
                item = await reply.barge_task
            else:
                await asyncio.sleep(max(0.0, self._heard_by - time.monotonic()))
                item = self._speech_started()
            await asyncio.sleep(s.caller_turn_s)
            self._send(
                {"type": "input_audio_buffer.speech_stopped", "item_id": item, "audio_end_ms": 0}
            )
            self._send(
                {"type": "input_audio_buffer.committed", "item_id": item, "previous_item_id": None}
            )
            self._send(
                {
                    "type": "conversation.item.input_audio_transcription.completed",
                    "item_id": item,
                    "content_index": 0,
                    "transcript": "I have worked on that for three years.",
                    "usage": TRANSCRIPTION_USAGE,
                }
            )
            turns += 1
            reply = await self._respond(
                s.reply_ms, barge=s.barge_every > 0 and turns % s.barge_every == 0
            )

    def _speech_started(self) -> str:
        item = _id("item")
        self._send(
            {"type": "input_audio_buffer.speech_started", "item_id": item, "audio_start_ms": 0}
        )
        return item

    async def _barge(self, at: float) -> str:
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        return self._speech_started()

    async def _respond(self, audio_ms: int, *, barge: bool) -> Reply:
        s = self.peer.scenario
        reply = Reply(len(self.replies), _id("resp"), _id("item"), barge)
        self.replies.append(reply)
        self._active = reply
        rid, iid = reply.response_id, reply.item_id
        ids: dict[str, Any] = {"response_id": rid, "item_id": iid, "output_index": 0}
        self._send(
            {
                "type": "response.created",
                "response": {"id": rid, "object": "realtime.response", "status": "in_progress"},
            }
        )
        self._send(
            {
                "type": "response.output_item.added",
                "response_id": rid,
                "output_index": 0,
                "item": {"id": iid, "type": "message", "role": "assistant", "content": []},
            }
        )
        self._send(
            {
                "type": "response.content_part.added",
                **ids,
                "content_index": 0,
                "part": {"type": "audio", "transcript": ""},
            }
        )
        if s.first_audio_ms:
            await asyncio.sleep(s.first_audio_ms / 1000)
        started = time.monotonic()
        if barge:
            reply.barge_task = asyncio.ensure_future(
                self._barge(started + s.barge_at * audio_ms / 1000)
            )
        produced = 0
        n = 0
        words: list[str] = []
        while produced < audio_ms and not reply.cancelled and not self.ws.closed:
            ms = min(s.chunks_ms[n % len(s.chunks_ms)], audio_ms - produced)
            delta = model_delta(ms, reply.index, n, self.pcmu)
            message = (
                '{"type":"response.output_audio.delta","event_id":"ev_'
                + f'{reply.index}_{n}","response_id":"{rid}","item_id":"{iid}",'
                + '"output_index":0,"content_index":0,"delta":"' + delta + '"}'
            )  # fmt: skip
            self.sent_ns.append(self.ws.send_text(message.encode()))
            self.sent_tag.append((reply.index % MARK_MOD) * 256 + n % MARK_MOD)
            words.append("word")
            self._send(
                {
                    "type": "response.output_audio_transcript.delta",
                    **ids,
                    "content_index": 0,
                    "delta": "word ",
                }
            )
            produced += ms
            n += 1
            due = started + produced / 1000 / s.model_speed
            await asyncio.sleep(max(0.0, due - time.monotonic()))
        reply.audio_ms = produced
        text = " ".join(words)
        status = "cancelled" if reply.cancelled else "completed"
        self._send({"type": "response.output_audio.done", **ids, "content_index": 0})
        self._send(
            {
                "type": "response.output_audio_transcript.done",
                **ids,
                "content_index": 0,
                "transcript": text,
            }
        )
        self._send(
            {
                "type": "response.content_part.done",
                **ids,
                "content_index": 0,
                "part": {"type": "audio", "transcript": text},
            }
        )
        self._send(
            {
                "type": "response.output_item.done",
                "response_id": rid,
                "output_index": 0,
                "item": {"id": iid, "type": "message", "role": "assistant", "status": status},
            }
        )
        self._send(
            {
                "type": "response.done",
                "response": {
                    "id": rid,
                    "object": "realtime.response",
                    "status": status,
                    "output": [],
                    "usage": USAGE,
                },
            }
        )
        self._active = None
        # The caller started hearing it about when it started; let it finish playing.
        self._heard_by = started + produced / 1000 + 0.3
        return reply


@dataclass
class ModelPeer:
    """A loopback stand-in for wss://api.openai.com/v1/realtime (any path, any key)."""

    scenario: Scenario = field(default_factory=Scenario)
    conns: list[ModelConn] = field(default_factory=list)
    port: int = 0
    on_connection: Callable[[ModelConn], None] | None = None
    host: str = "127.0.0.1"  # where it listens

    def __post_init__(self) -> None:
        self._listener: socket.socket | None = None
        self._acceptor: asyncio.Task[None] | None = None
        self._handshakes: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}/v1/realtime"

    async def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        sock.listen(1024)
        sock.setblocking(False)
        self._listener = sock
        self.port = sock.getsockname()[1]
        self._acceptor = asyncio.ensure_future(self._accept())

    async def _accept(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._listener is not None
        while True:
            sock, _ = await loop.sock_accept(self._listener)
            task = asyncio.ensure_future(self._handshake(sock))
            self._handshakes.add(task)
            task.add_done_callback(self._handshakes.discard)

    async def _handshake(self, sock: socket.socket) -> None:
        try:
            _, _, rest = await ws_accept(sock)
        except (OSError, ConnectionError):
            sock.close()
            return
        conn = ModelConn(self, sock, rest)
        self.conns.append(conn)
        if self.on_connection is not None:
            self.on_connection(conn)

    async def close(self) -> None:
        if self._acceptor is not None:
            self._acceptor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._acceptor
        if self._listener is not None:
            self._listener.close()
        for conn in self.conns:
            for task in list(conn._tasks):
                task.cancel()
            conn.ws.abort()
