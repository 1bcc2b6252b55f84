"""Whole calls over real sockets: the service under Hypercorn, a Twilio media-stream peer,
a Twilio REST peer and an OpenAI Realtime peer, all on loopback."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from persistence import CallRecord, Turn
from persistence.write_retries import Sleep
from service.server import ServerName
from service.services import Services
from tests.support.openai import RealtimePeer, Script
from tests.support.telephony_fixtures import AUTH_TOKEN, Service, service, settings_for
from tests.support.twilio_peer import BYTES_PER_MS, FRAME_BYTES, FRAME_S, SILENCE, TwilioPeer, sid
from tests.support.twilio_rest_peer import TwilioRestPeer
from tests.support.waiting import RECHECK_S, Changes, eventually

ACCOUNT = "AC" + "5" * 32
SPEECH = (Path(__file__).parents[1] / "fixtures" / "speech" / "speech_8k.ulaw").read_bytes()
WAIT_S = 15.0  # how long a whole-call step may take before the test fails


@dataclass
class Caller:
    """The caller's side of the line: a steady 20 ms media stream, speech when asked."""

    twilio: TwilioPeer
    _queue: list[bytes] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None
    speaking: asyncio.Event = field(default_factory=asyncio.Event)
    changed: Changes = field(default_factory=Changes)  # a frame left the queue

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        with contextlib.suppress(Exception):
            while True:
                frame = self._queue.pop(0) if self._queue else SILENCE
                if not self._queue:
                    self.speaking.clear()
                self.changed.notify()
                await self.twilio.send_media(frame)
                # A handset sends a frame every 20 ms, in real time: the pacing is the
                # simulation, not a wait.
                next_at += FRAME_S
                await asyncio.sleep(max(0.0, next_at - loop.time()))

    def say(self, audio: bytes = SPEECH) -> None:
        frames = [audio[i : i + FRAME_BYTES] for i in range(0, len(audio), FRAME_BYTES)]
        frames[-1] = frames[-1].ljust(FRAME_BYTES, b"\xff")
        self._queue.extend(frames)
        self.speaking.set()

    async def finish_speaking(self, timeout: float = 10.0) -> None:
        await eventually(
            lambda: not self._queue, timeout=timeout, what="the caller to finish", on=self.changed
        )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


@dataclass
class Env:
    svc: Service
    model: RealtimePeer
    rest: TwilioRestPeer
    calls: dict[str, TwilioPeer] = field(default_factory=dict)

    async def dial_in(self) -> tuple[str, TwilioPeer, Caller]:
        """A candidate calls: webhook, media stream, `connected` + `start`, live audio."""
        call_sid = await self.ring()
        twilio, caller = await self.stream_in(call_sid)
        return call_sid, twilio, caller

    async def ring(self) -> str:
        """The voice webhook only: Twilio has the TwiML, its stream is not open yet."""
        call_sid = await self.svc.incoming_call(sid("CA"), AccountSid=ACCOUNT)
        self.rest.live_calls.add(call_sid)
        return call_sid

    async def stream_in(self, call_sid: str) -> tuple[TwilioPeer, Caller]:
        """Twilio opens the call's media stream: `connected` + `start`, then live audio."""
        twilio = self.svc.peer(call_sid, account_sid=ACCOUNT)
        await twilio.connect()
        self.calls[call_sid] = twilio
        await twilio.begin()
        caller = Caller(twilio)
        caller.start()
        return twilio, caller

    def changes(self) -> list[Changes]:
        """Everything the peers record: the model, Twilio's REST API and every stream."""
        return [self.model.changed, self.rest.changed, *(t.changed for t in self.calls.values())]

    def protocol_errors(self) -> str:
        streams = {sid: t.errors for sid, t in self.calls.items() if t.errors}
        return (
            f"model errors={self.model.errors}, rest errors={self.rest.errors}, "
            f"stream errors={streams}"
        )

    async def wait(self, predicate: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
        """Until `predicate` holds, re-checked whenever a peer records something."""
        await eventually(
            predicate,
            timeout=timeout,
            what=what,
            on=self.changes(),
            context=self.protocol_errors,
        )

    async def wait_played(
        self, twilio: TwilioPeer, responses: int, timeout: float = WAIT_S
    ) -> None:
        """Until `responses` replies have been sent and the handset has played all of them."""

        def done() -> bool:
            if not self.model.connections:
                return False
            conn = self.model.connections[-1]
            if len(conn.events("response.done")) < responses:
                return False
            # The bridge may still be forwarding the last reply's audio when the model says
            # it is done: wait until the handset has been sent every completed reply's audio
            # (to within the resampler's last frame), then until it has played it all.
            owed = sum(
                conn.item_info[item["id"]].audio_ms * BYTES_PER_MS
                for resp in conn.responses
                if resp.status == "completed"
                for item in resp.output
                if item["id"] in conn.item_info and conn.item_info[item["id"]].has_output_audio
            )
            delivered = sum(
                len(base64.b64decode(r.raw["media"]["payload"]))
                for r in twilio.received
                if r.event == "media" and r.at >= conn.opened_at
            )
            return delivered >= owed - FRAME_BYTES and twilio.played_bytes() >= sum(
                len(s.audio) for s in twilio.segments
            )

        await self.wait(done, f"{responses} replies sent and played", timeout)

    async def ended(self, call_sid: str, timeout: float = WAIT_S) -> CallRecord:
        """The call document once the session has written its report."""
        store = self.svc.store

        async def written() -> CallRecord | None:
            record = await store.calls.get(call_sid)
            if record is not None and record.completion and "ended" in record.timings:
                return record
            return None

        record = await eventually(
            written,
            timeout=timeout,
            what=f"call {call_sid}'s report in the database",
            every=RECHECK_S,
            context=self.protocol_errors,
        )
        assert record is not None
        return record

    async def hang_up(
        self, call_sid: str, twilio: TwilioPeer, caller: Caller
    ) -> tuple[CallRecord, list[Turn]]:
        """The caller's side ends the call (Twilio's `stop`); the call as stored afterwards."""
        await twilio.hang_up()
        call = await self.ended(call_sid)
        await caller.stop()
        return call, await self.turns(call_sid)

    async def turns(self, call_sid: str) -> list[Turn]:
        return await self.svc.store.turns.for_call(call_sid)


@contextlib.asynccontextmanager
async def live_env(
    mongo_uri: str,
    db_name: str,
    script: Script,
    *,
    realtime_factor: float = 4.0,
    server: ServerName = "hypercorn",
    deltas_after_cancel: int = 0,
    max_call_seconds: int | None = None,
    write_pause: Sleep | None = None,
    clock: Callable[[], datetime] | None = None,
    **overrides: object,
) -> AsyncIterator[Env]:
    """`write_pause` replaces the wait between tries of a call write (see `CountedPauses`);
    `clock` the wall time interviews are planned and dialed by."""
    model = RealtimePeer(
        script=script, realtime_factor=realtime_factor, deltas_after_cancel=deltas_after_cancel
    )
    rest = TwilioRestPeer(ACCOUNT, AUTH_TOKEN)
    async with model, rest.serving():
        settings = settings_for(
            mongo_uri,
            db_name,
            openai_realtime_url=model.url,
            twilio_account_sid=ACCOUNT,
            twilio_api_url=rest.base,
            max_call_seconds=max_call_seconds,
            **overrides,
        )
        kw: dict[str, Any] = {"write_pause": write_pause} if write_pause is not None else {}
        if clock is not None:
            kw["clock"] = clock
        own = Services(settings, **kw) if kw else None
        if own is not None:
            await own.start()
        async with contextlib.AsyncExitStack() as stack:
            if own is not None:
                stack.push_async_callback(own.stop)
            svc = await stack.enter_async_context(service(settings, own, server=server))
            env = Env(svc, model, rest)

            async def twilio_ends_call(call_sid: str) -> None:
                # What Twilio does when a call is updated to completed: stop the stream.
                twilio = env.calls.get(call_sid)
                if twilio is not None:
                    with contextlib.suppress(Exception):
                        await twilio.send_stop()

            rest.on_end = twilio_ends_call
            yield env
            for twilio in env.calls.values():
                await twilio.close()
