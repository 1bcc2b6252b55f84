"""Stand-ins for everything around a call session, for in-process tests without sockets:
a clock that moves only when told, a model link fed scripted events, a recorder in
memory, Twilio's side of the line, and Twilio's REST control."""

from __future__ import annotations

import asyncio
import base64
import heapq
import itertools
import json
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

from bridge import realtime_events as rt
from bridge.handover import HandOverHook
from bridge.model_link import ModelUnavailable
from bridge.options import SessionOptions
from bridge.realtime_client import RealtimeEndpoint
from bridge.session import CallSession
from bridge.twilio_messages import Mark, Start
from evaluation.cost import CallCost
from evaluation.templates import DEFAULT_TEMPLATE, Template
from persistence.records import CallOutcome, Evaluation, Turn
from tests.support.twilio_peer import check_frame

EPOCH = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
YIELDS = 20  # loop turns that let woken tasks run to their next real wait


async def quiesce() -> None:
    """Let every task that can run do so; the tests' stand-ins never wait on I/O."""
    for _ in range(YIELDS):
        await asyncio.sleep(0)


class ManualClock:
    """Monotonic time that moves only in `advance`; sleepers wake in deadline order."""

    def __init__(self) -> None:
        self.t = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now(self) -> float:
        return self.t

    def wall(self) -> datetime:
        return EPOCH + timedelta(seconds=self.t)

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.t + max(0.0, seconds), next(self._order), future))
        await future

    async def advance(self, seconds: float) -> None:
        """Move time on, waking each sleeper at its own deadline, in order."""
        end = self.t + seconds
        await quiesce()
        while self._sleepers and self._sleepers[0][0] <= end:
            deadline, _, future = heapq.heappop(self._sleepers)
            self.t = max(self.t, deadline)
            if not future.done():
                future.set_result(None)
            await quiesce()
        self.t = end
        await quiesce()


_DROP = object()
_BREAK = object()


class ScriptedLink:
    """The model, as scripted events; records every intention the session sends it."""

    def __init__(self, reconnects: Sequence[bool] = ()) -> None:
        self.commands: list[tuple[Any, ...]] = []
        self.audio: list[str] = []
        self.replayed: list[tuple[list[Turn], str]] = []
        self.refuse_connect = False
        self.greeting_requested = False  # as if the webhook had primed the session
        self.closed = False
        self.up = True  # a connection is open to take caller audio
        self.reconnect_gate: asyncio.Event | None = None  # set: the reconnect may finish
        self._reconnects = list(reconnects)
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._fed = self._handled = 0
        self._progress = asyncio.Event()

    @property
    def close_code(self) -> int | None:
        return 1006

    async def connect(self) -> None:
        if self.refuse_connect:
            raise ModelUnavailable("handshake refused with HTTP 503")

    async def events(self) -> AsyncIterator[rt.ServerEvent]:
        while True:
            item = await self._queue.get()
            if item is _DROP:
                self.up = False
                self._done()
                return
            if item is _BREAK:
                self._done()
                raise RuntimeError("the connection's reader failed")
            yield cast(rt.ServerEvent, item)
            self._done()

    def _done(self) -> None:
        self._handled += 1
        self._progress.set()

    async def feed(self, *events: rt.ServerEvent) -> None:
        """Deliver events and wait until the session has handled each of them."""
        for event in events:
            await self._put(event)

    async def drop(self) -> None:
        """The connection closes under the session."""
        await self._put(_DROP)

    async def break_down(self) -> None:
        """Reading the connection fails with an unexpected error."""
        await self._put(_BREAK)

    async def _put(self, item: object) -> None:
        self._fed += 1
        self._queue.put_nowait(item)
        while self._handled < self._fed:
            self._progress.clear()
            await asyncio.wait_for(self._progress.wait(), 5)
        await quiesce()

    def sent(self, kind: str) -> list[tuple[Any, ...]]:
        return [c for c in self.commands if c[0] == kind]

    async def send_audio(self, b64: str) -> bool:
        return self.send_audio_now(b64)

    def takes_audio_now(self) -> bool:
        return self.up

    def send_audio_now(self, b64: str) -> bool:
        if self.up:
            self.audio.append(b64)
        return self.up

    async def respond(self, instructions: str | None = None) -> None:
        self.commands.append(("respond", instructions))

    async def cancel(self, response_id: str) -> None:
        self.commands.append(("cancel", response_id))

    async def truncate(self, item_id: str, heard_ms: int) -> None:
        self.commands.append(("truncate", item_id, heard_ms))

    async def tool_output(self, call_id: str, output: str) -> None:
        self.commands.append(("tool_output", call_id, json.loads(output)))

    async def note(self, text: str) -> None:
        self.commands.append(("note", text))

    async def caller_said(self, text: str) -> None:
        self.commands.append(("caller_said", text))

    async def reconnect(
        self, history: Sequence[Turn], note: Callable[[], str], stopping: Callable[[], bool]
    ) -> bool:
        if self.reconnect_gate is not None:
            await self.reconnect_gate.wait()
        self.replayed.append((list(history), note()))
        self.up = self._reconnects.pop(0) if self._reconnects else False
        return self.up

    async def abort(self) -> None:
        self.commands.append(("abort",))
        self._queue.put_nowait(_DROP)

    async def close(self) -> None:
        self.closed = True


@dataclass
class MemoryRecorder:
    turns: list[Turn] = field(default_factory=list)
    evaluations: list[Evaluation] = field(default_factory=list)
    running: list[float] = field(default_factory=list)
    first_audio_at: list[datetime] = field(default_factory=list)
    outcomes: list[CallOutcome] = field(default_factory=list)
    closed: bool = False

    def turn(self, turn: Turn) -> None:
        self.turns.append(turn)

    def evaluation(self, evaluation: Evaluation) -> None:
        self.evaluations.append(evaluation)

    def first_audio(self, at: datetime) -> None:
        self.first_audio_at.append(at)

    def running_cost(self, usd: float, at: datetime) -> None:
        self.running.append(usd)

    def outcome(self, outcome: CallOutcome, at: datetime) -> None:
        self.outcomes.append(outcome)

    async def close(self, timeout_s: float) -> bool:
        self.closed = True
        return True

    def transcript(self) -> list[tuple[str, str]]:
        """(speaker, text) in conversation order, as stored."""
        return [(t.speaker, t.text) for t in sorted(self.turns, key=lambda t: t.seq)]


class TwilioLine:
    """Twilio's end of the media stream: every message the session sent, checked as Twilio
    checks it (tests.support.twilio_peer), and parsed."""

    def __init__(self, stream_sid: str) -> None:
        self.stream_sid = stream_sid
        self.messages: list[dict[str, Any]] = []
        self.errors: list[tuple[int, str]] = []
        self.closed = False

    async def send(self, text: str) -> None:
        checked = check_frame(text, self.stream_sid)
        if isinstance(checked, tuple):
            self.errors.append(checked)
        else:
            self.messages.append(checked)

    async def close(self) -> None:
        self.closed = True

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["event"] == kind]

    def audio_bytes(self) -> int:
        return sum(len(base64.b64decode(m["media"]["payload"])) for m in self.events("media"))

    def marks(self) -> list[str]:
        return [m["mark"]["name"] for m in self.events("mark")]


@dataclass
class Control:
    """Twilio's REST API: hang-ups asked for."""

    hang_ups: list[str | None] = field(default_factory=list)
    works: bool = True
    called: asyncio.Event = field(default_factory=asyncio.Event)

    async def hang_up(self, call_sid: str, say: str | None = None) -> bool:
        self.hang_ups.append(say)
        self.called.set()
        return self.works


def options(**overrides: Any) -> SessionOptions:
    values: dict[str, Any] = {
        "endpoint": RealtimeEndpoint("ws://127.0.0.1:9/v1/realtime", "gpt-realtime-2.1", "sk-test"),
        "audio_format": "pcmu",  # passed through: 8 bytes of audio per millisecond both ways
        "resampler": "fir",
        "voice": None,
        "transcription_model": "gpt-4o-mini-transcribe",
        "turn_detection": rt.TurnDetection("semantic_vad", "low", 1000, 0.6),
        "max_call_seconds": 1800,
        "cost_alert_usd": Decimal(5),
        "number_type": "local",
        # Nothing here delivers a transcript at the end of a call: do not wait long for one.
        "transcript_wait_s": 0.01,
        # Tests jump the clock by minutes with the scripted model silent; only the tests of
        # a stalled model shorten this.
        "model_silence_s": 3600.0,
    }
    values.update(overrides)
    return SessionOptions(**values)


def start(call_sid: str = "CA" + "1" * 32) -> Start:
    return Start(
        sequence_number="1",
        stream_sid="MZ" + "2" * 32,
        account_sid="AC" + "3" * 32,
        call_sid=call_sid,
        tracks=("inbound",),
        custom_parameters={},
        encoding="audio/x-mulaw",
        sample_rate=8000,
        channels=1,
    )


@dataclass
class Rig:
    """A session wired to stand-ins, with the scripted model's conversation as helpers."""

    session: CallSession
    link: ScriptedLink
    recorder: MemoryRecorder
    twilio: TwilioLine
    control: Control
    clock: ManualClock
    echoed: set[str] = field(default_factory=set)
    _seq: int = 1  # Twilio's sequenceNumber: the start was 1
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    @classmethod
    async def started(
        cls,
        *,
        template: Template = DEFAULT_TEMPLATE,
        link: ScriptedLink | None = None,
        cost: CallCost | None = None,
        hand_over: HandOverHook | None = None,
        **option_overrides: Any,
    ) -> Rig:
        clock, twilio = ManualClock(), TwilioLine(start().stream_sid)
        link = link or ScriptedLink()
        recorder, control = MemoryRecorder(), Control()
        session = CallSession(
            start=start(),
            send_twilio=twilio.send,
            close_stream=twilio.close,
            link=link,
            recorder=recorder,
            template=template,
            options=options(**option_overrides),
            control=control,
            cost=cost,
            clock=clock,
            hand_over=hand_over,
        )
        await session.on_start(start())
        await quiesce()
        return cls(session, link, recorder, twilio, control, clock)

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids)}"

    async def reply_starts(self, text: str = "") -> tuple[str, str]:
        """The model opens a spoken response; returns (response id, item id)."""
        response_id, item_id = self.new_id("resp"), self.new_id("item")
        await self.link.feed(
            rt.ResponseCreated(response_id),
            rt.OutputItemAdded(response_id, item_id, "message", "assistant"),
        )
        if text:
            await self.link.feed(rt.TranscriptDelta(response_id, item_id, text))
        return response_id, item_id

    async def audio(self, response_id: str, item_id: str, ms: int, chunk_ms: int = 100) -> None:
        """`ms` of the model's audio, in chunks (mu-law: 8 bytes per millisecond)."""
        for _ in range(ms // chunk_ms):
            payload = base64.b64encode(b"\x7f" * (8 * chunk_ms)).decode()
            await self.link.feed(rt.AudioDelta(response_id, item_id, payload))

    async def reply_ends(
        self, response_id: str, item_id: str, text: str, status: str = "completed"
    ) -> None:
        await self.link.feed(
            rt.TranscriptDone(response_id, item_id, text),
            rt.ResponseDone(response_id, status, None),
        )

    async def say(self, text: str, ms: int) -> tuple[str, str]:
        """A whole spoken reply, generated (not yet played)."""
        response_id, item_id = await self.reply_starts()
        await self.audio(response_id, item_id, ms)
        await self.reply_ends(response_id, item_id, text)
        return response_id, item_id

    async def echo_marks(self, upto: int | None = None) -> None:
        """Twilio reports audio played: echoes the marks sent so far (or the first `upto`)."""
        names = [n for n in self.twilio.marks() if n not in self.echoed]
        for name in names[:upto] if upto is not None else names:
            self.echoed.add(name)
            self._seq += 1
            await self.session.on_mark(Mark(str(self._seq), self.twilio_stream_sid, name))
        await quiesce()

    async def play_out(self) -> None:
        """Let everything sent play: time passes and Twilio echoes every mark."""
        await self.clock.advance(self.twilio.audio_bytes() / 8 / 1000)
        await self.echo_marks()

    async def caller_turn(self, text: str) -> str:
        """The caller speaks a turn that is committed and then transcribed."""
        item_id = self.new_id("user")
        await self.link.feed(
            rt.SpeechStarted(item_id, 0),
            rt.SpeechStopped(item_id, 800),
            rt.Committed(item_id, None),
            rt.TranscriptionCompleted(item_id, text, None),
        )
        return item_id

    @property
    def twilio_stream_sid(self) -> str:
        return self.session.stream_sid
