"""One accepted Realtime WebSocket: the session and the conversation on it, every event
exchanged (logged for the tests to read), and the dispatch of each client event to the
module that handles it."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import secrets
import time
import traceback
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, Literal

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from tests.support.openai import input_audio, items, responses, session
from tests.support.openai.billing import Segment
from tests.support.openai.protocol import CLIENT_EVENTS, Json, default_session, new_id
from tests.support.openai.records import Gone, ItemInfo, PeerResponse
from tests.support.openai.vad import TurnDetector

if TYPE_CHECKING:
    from tests.support.openai.server import RealtimePeer

Handler = Callable[["PeerConnection", Json, str | None], Awaitable[None]]
HANDLERS: dict[str, Handler] = {
    "session.update": session.update,
    "input_audio_buffer.append": input_audio.append,
    "input_audio_buffer.commit": input_audio.commit,
    "input_audio_buffer.clear": input_audio.clear,
    "output_audio_buffer.clear": input_audio.clear_output,
    "conversation.item.create": items.create,
    "conversation.item.retrieve": items.retrieve,
    "conversation.item.truncate": items.truncate,
    "conversation.item.delete": items.delete,
    "response.create": responses.create,
    "response.cancel": responses.cancel,
}
assert set(HANDLERS) == set(CLIENT_EVENTS)


class PeerConnection:
    """One accepted WebSocket: the session, the conversation and everything exchanged.

    Every change to what it records is announced on the peer's `changed`, so tests wait
    for the event they expect rather than for a guessed time.
    """

    def __init__(self, peer: RealtimePeer, ws: ServerConnection, index: int) -> None:
        self.peer = peer
        self.ws = ws
        self.index = index
        self.model = peer.model
        self.opened_at = time.monotonic()
        self.received: list[Json] = []
        self.received_at: list[float] = []
        self.sent: list[Json] = []
        self.sent_at: list[float] = []
        self.items: list[Json] = []
        self.item_info: dict[str, ItemInfo] = {}
        self.input_audio_ms = 0.0
        self.frames_handled = 0  # client frames whose handling has finished
        self.closed = False
        self.frozen = False  # half-open: nothing read, nothing sent, no pongs, no close
        self.frozen_at: float | None = None
        self.truncations: list[tuple[str, int, float]] = []
        self.usages: list[Json] = []
        self.responses: list[PeerResponse] = []
        self.call_ids: set[str] = set()
        self.output_audio: dict[str, bytearray] = {}
        self.transcripts: dict[str, str] = {}
        self.session: Json = default_session(self.model)
        self.conversation_id = new_id("conv")
        self.active: PeerResponse | None = None
        self.floor = asyncio.Lock()  # held while output is sent, so a cancel cuts it cleanly
        self.audio_output_started = False
        self.last_segments: list[Segment] | None = None  # the last response's billed input
        self.tokens_used = 0
        self.vad = TurnDetector()
        self._event_ids = itertools.count(1)
        self._event_prefix = secrets.token_hex(6)
        self._tasks: set[asyncio.Task[None]] = set()
        self._format_mismatch: set[str] = set()

    # -- effective settings -------------------------------------------------------------------

    @property
    def reasons(self) -> bool:
        """gpt-realtime-2 and later are reasoning models."""
        return self.model.startswith("gpt-realtime-2")

    @property
    def input_format(self) -> str:
        return str(self.session["audio"]["input"]["format"]["type"])

    @property
    def turn_detection(self) -> Json | None:
        td: Json | None = self.session["audio"]["input"]["turn_detection"]
        return td

    def _expected_format(self) -> str:
        return "audio/pcm" if self.peer.audio_format == "pcm16" else "audio/pcmu"

    def check_call_format(self, direction: str, fmt: Json) -> None:
        """Record (once per direction) a format the API accepts but this call cannot carry."""
        if fmt["type"] != self._expected_format() and direction not in self._format_mismatch:
            self._format_mismatch.add(direction)
            self.error(
                f"audio.{direction}.format is {fmt['type']} but this call carries "
                f"{self._expected_format()}"
            )

    # -- recording ----------------------------------------------------------------------------

    def error(self, message: str) -> None:
        self.peer.errors.append(f"conn{self.index}: {message}")
        self.peer.changed.notify()

    def note(self, message: str) -> None:
        self.peer.notes.append(f"conn{self.index}: {message}")
        self.peer.changed.notify()

    def events(self, kind: str) -> list[Json]:
        """Server events of one type sent on this connection, as logged."""
        return [e for e in self.sent if e["type"] == kind]

    def client_events(self, kind: str) -> list[Json]:
        return [e for e in self.received if e.get("type") == kind]

    def item(self, item_id: str) -> Json | None:
        return next((i for i in self.items if i["id"] == item_id), None)

    # -- sending ------------------------------------------------------------------------------

    async def send(self, event: Json) -> None:
        if self.closed or self.frozen:
            raise Gone
        if self.peer.drop_before == event["type"]:
            # The connection dies just as this event would have been sent.
            self.peer.drop_before = None
            self.closed = True
            self.ws.transport.abort()
            self.peer.changed.notify()
            raise Gone
        event = {"event_id": f"event_{self._event_prefix}{next(self._event_ids):05d}", **event}
        text = json.dumps(event)
        if event["type"] == "response.output_audio.delta":
            logged = {k: v for k, v in event.items() if k != "delta"}
            logged["delta_bytes"] = len(base64.b64decode(event["delta"]))
        else:
            logged = json.loads(text)
        try:
            await self.ws.send(text)
        except ConnectionClosed:
            self.closed = True
            raise Gone from None
        self.sent.append(logged)
        self.sent_at.append(time.monotonic())
        self.peer.changed.notify()

    async def send_error(
        self,
        code: str,
        message: str,
        param: str | None = None,
        event_id: str | None = None,
        *,
        record: Literal["error", "note", "none"] = "error",
        kind: str = "invalid_request_error",
    ) -> None:
        if record == "error":
            self.error(f"{code}: {message}")
        elif record == "note":
            self.note(f"{code}: {message}")
        await self.send(
            {
                "type": "error",
                "error": {
                    "type": kind,
                    "code": code,
                    "message": message,
                    "param": param,
                    "event_id": event_id,
                },
            }
        )

    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- lifecycle ----------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            await self.send({"type": "session.created", "session": self.session})
            async for frame in self.ws:
                try:
                    await self._on_frame(frame)
                finally:
                    self.frames_handled += 1
                    self.peer.changed.notify()  # whatever the handler changed
        except (ConnectionClosed, Gone):
            pass
        except Exception as exc:
            self.error(f"peer internal error: {exc!r}\n{traceback.format_exc()}")
        finally:
            self.closed = True
            self.peer.changed.notify()
            await self.stop_tasks()

    async def stop_tasks(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def freeze(self) -> None:
        """The connection goes half-open: the socket stays up, but nothing more is read
        (so pings go unanswered) or sent."""
        self.frozen = True
        self.frozen_at = time.monotonic()
        self.ws.transport.pause_reading()
        self.peer.changed.notify()

    async def expire(self) -> None:
        """What the API does at 60 minutes: a session_expired error, then the socket closes."""
        with contextlib.suppress(Gone):
            await self.send_error(
                "session_expired",
                "Your session hit the maximum duration of 60 minutes.",
                record="none",
            )
        await self.ws.close(1000)

    # -- dispatch -----------------------------------------------------------------------------

    def _receive(self, logged: Json) -> None:
        self.received.append(logged)
        self.received_at.append(time.monotonic())
        self.peer.changed.notify()

    async def _on_frame(self, frame: str | bytes) -> None:
        if isinstance(frame, bytes):
            self._receive({"type": None, "binary_bytes": len(frame)})
            await self.send_error("invalid_json", "Binary frames are not supported.")
            return
        try:
            event = json.loads(frame)
        except ValueError:
            self._receive({"type": None, "text": frame[:200]})
            await self.send_error("invalid_json", "The event is not valid JSON.")
            return
        if not isinstance(event, dict):
            self._receive({"type": None, "json": event})
            await self.send_error("invalid_json", "The event must be a JSON object.")
            return
        logged = dict(event)
        if event.get("type") == "input_audio_buffer.append" and isinstance(event.get("audio"), str):
            del logged["audio"]
            logged["audio_bytes"] = len(event["audio"]) * 3 // 4
        self._receive(logged)

        event_id = event.get("event_id")
        if event_id is not None and not isinstance(event_id, str):
            await self.send_error("invalid_type", "event_id must be a string.", "event_id")
            return
        kind = event.get("type")
        if kind not in CLIENT_EVENTS:
            await self.send_error(
                "invalid_value",
                f"Invalid value: {kind!r}. Supported values are: "
                + ", ".join(repr(k) for k in CLIENT_EVENTS)
                + ".",
                "type",
                event_id,
            )
            return
        required, optional = CLIENT_EVENTS[kind]
        unknown = sorted(set(event) - required - optional - {"type", "event_id"})
        if unknown:
            await self.send_error(
                "unknown_parameter", f"Unknown parameter: '{unknown[0]}'.", unknown[0], event_id
            )
            return
        missing = sorted(required - set(event))
        if missing:
            await self.send_error(
                "missing_required_parameter",
                f"Missing required parameter: '{missing[0]}'.",
                missing[0],
                event_id,
            )
            return
        await HANDLERS[kind](self, event, event_id)
