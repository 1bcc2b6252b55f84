"""One Twilio media stream: protocol checks, the stream's record in the call, bad-input counts.

Independent of the web framework: the endpoint feeds frames in and sends what this
hands back. Bad input is counted and logged, never fatal; only an unauthenticated
or duplicate stream is refused.
"""

from __future__ import annotations

import enum
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Protocol

from bridge.audio import AudioPayloadError, b64decode_audio
from bridge.clock import utcnow
from bridge.recorder import StreamCalls
from bridge.twilio_messages import (
    Connected,
    Dtmf,
    Mark,
    Media,
    Start,
    Stop,
    TwilioEvent,
    TwilioMessageError,
    parse,
)
from persistence.records import StreamEnd

log = logging.getLogger(__name__)
Send = Callable[[str], Awaitable[None]]
MAX_KEYPRESSES = 64  # per call: an interview needs a handful


class Outcome(enum.Enum):
    CONTINUE = "continue"
    STOP = "stop"  # Twilio said stop: finish and close normally
    REFUSE = "refuse"  # close with 1008; `refusal` says why


class StreamListener(Protocol):
    """What the live call does with a started stream (the call session)."""

    async def on_start(self, start: Start) -> None: ...
    async def on_media(self, media: Media, mulaw: bytes) -> None: ...
    def media_now(self, media: Media, mulaw: bytes) -> bool:
        """`on_media` done at once if nothing in it has to wait; false, with nothing
        done, if something would (`on_media` is then called for the frame)."""
        ...

    async def on_mark(self, mark: Mark) -> None: ...
    async def on_dtmf(self, dtmf: Dtmf) -> None: ...
    async def on_end(self, reason: str) -> str | None: ...


ListenerFactory = Callable[[Start, Send], Awaitable[StreamListener | None]]


class TwilioStream:
    """Drives one stream from `connected` to `stop` (or a disconnect)."""

    def __init__(
        self,
        calls: StreamCalls,
        send: Send,
        *,
        account_sid: str | None = None,
        listener_factory: ListenerFactory | None = None,
        issued_for: Callable[[str], bool] | None = None,
    ) -> None:
        """`issued_for(call_sid)` says whether the stream's URL was issued to that call."""
        self._calls = calls
        self._issued_for = issued_for
        self._send = send
        self._account_sid = account_sid
        self._listener_factory = listener_factory
        self.listener: StreamListener | None = None
        self.start: Start | None = None
        self.refusal: str | None = None
        self.bad = Counter[str]()
        self.frames_in = 0
        self.marks_in = 0
        self.keypresses = 0
        self._finished = False
        self._claimed = False

    @property
    def call_sid(self) -> str | None:
        return self.start.call_sid if self.start else None

    def _bad(self, kind: str, detail: str) -> None:
        self.bad[kind] += 1
        # The first of each kind is worth a warning; a flood of them is not.
        level = logging.WARNING if self.bad[kind] == 1 else logging.DEBUG
        log.log(level, "bad media-stream input (%s): %s", kind, detail, extra=self._ctx())

    def _ctx(self) -> dict[str, str]:
        return {"call_sid": self.call_sid} if self.call_sid else {}

    async def handle(self, frame: str | bytes) -> Outcome:
        try:
            event = parse(frame)
        except TwilioMessageError as exc:
            self._bad(exc.kind, str(exc))
            return Outcome.CONTINUE
        return await self._dispatch(event)

    def handle_now(self, frame: str) -> bool:
        """A started stream's media frame handled without a wait, when its listener can
        take it at once (the usual case mid-call), saving the task switch per frame;
        false, with nothing done, leaves the frame to `handle` (other messages, input
        that does not parse, a model connection that has to be waited for)."""
        listener = self.listener
        if listener is None:
            return False
        try:
            media = parse(frame)
        except TwilioMessageError:
            return False  # `handle` counts and reports it
        if not isinstance(media, Media):
            return False
        mulaw = self._audio(media)
        if mulaw is None:
            return True  # counted and reported as bad input, as `handle` would
        if not listener.media_now(media, mulaw):
            return False
        self.frames_in += 1
        return True

    async def _dispatch(self, event: TwilioEvent) -> Outcome:
        if isinstance(event, Media):
            return await self._media(event)
        if isinstance(event, Connected):
            if event.protocol != "Call":
                self._bad("unexpected_protocol", event.protocol[:40])
            return Outcome.CONTINUE
        if isinstance(event, Start):
            return await self._start(event)
        if self.start is None:
            self._bad("before_start", f"{type(event).__name__.lower()} before start")
            return Outcome.CONTINUE
        if event.stream_sid != self.start.stream_sid:
            self._bad("wrong_stream", "message for another stream")
            return Outcome.CONTINUE
        if isinstance(event, Mark):
            self.marks_in += 1
            if self.listener:
                await self.listener.on_mark(event)
            return Outcome.CONTINUE
        if isinstance(event, Dtmf):
            self.keypresses += 1
            if self.keypresses > MAX_KEYPRESSES:
                # A stuck key or a flood: the call goes on, the record does not grow.
                self._bad("too_many_keypresses", f"over {MAX_KEYPRESSES} keypad digits")
                return Outcome.CONTINUE
            self._calls.keypress(self.start.call_sid, self.keypresses, event.digit[:1], utcnow())
            if self.listener:
                await self.listener.on_dtmf(event)
            return Outcome.CONTINUE
        # Stop
        assert isinstance(event, Stop)
        await self.finish("stream stopped")
        return Outcome.STOP

    async def _start(self, start: Start) -> Outcome:
        if self.start is not None:
            self._bad("duplicate_start", "second start on one stream")
            return Outcome.CONTINUE
        if self._account_sid is not None and start.account_sid != self._account_sid:
            return self._refuse("stream belongs to another Twilio account")
        expected = start.custom_parameters.get("call_id")
        if expected is not None and expected != start.call_sid:
            return self._refuse("call_id parameter does not match the stream's CallSid")
        if self._issued_for is not None and not self._issued_for(start.call_sid):
            return self._refuse("the stream URL was issued for another call")
        if (start.encoding, start.sample_rate, start.channels) != ("audio/x-mulaw", 8000, 1):
            self._bad("media_format", f"{start.encoding}/{start.sample_rate}/{start.channels}")
        claim = await self._calls.claim_stream(start.call_sid, start.stream_sid, utcnow())
        if claim == "duplicate":
            return self._refuse("a stream for this call already exists", call_sid=start.call_sid)
        if claim == "unknown":
            return self._refuse("no such call (the voice webhook never saw it)")
        self.start = start
        self._claimed = True
        log.info("media stream started", extra=self._ctx())
        if self._listener_factory is not None:
            self.listener = await self._listener_factory(start, self._send)
            if self.listener is not None:
                await self.listener.on_start(start)
        return Outcome.CONTINUE

    def _refuse(self, reason: str, call_sid: str | None = None) -> Outcome:
        self.refusal = reason
        extra = {"call_sid": call_sid} if call_sid else {}
        log.warning("media stream refused: %s", reason, extra=extra)
        return Outcome.REFUSE

    async def _media(self, media: Media) -> Outcome:
        mulaw = self._audio(media)
        if mulaw is not None:
            self.frames_in += 1
            if self.listener is not None:
                await self.listener.on_media(media, mulaw)
        return Outcome.CONTINUE

    def _audio(self, media: Media) -> bytes | None:
        """The frame's audio, or None with the frame counted and reported as bad input."""
        if self.start is None:
            self._bad("before_start", "media before start")
            return None
        if media.stream_sid != self.start.stream_sid:
            self._bad("wrong_stream", "media for another stream")
            return None
        try:
            return b64decode_audio(media.payload)
        except AudioPayloadError:
            self._bad("bad_payload", "payload is not base64")
            return None

    async def finish(self, reason: str) -> None:
        """Hand over the end of the stream and the call's finalization, exactly once."""
        if self._finished:
            return
        self._finished = True
        if not self._claimed or self.start is None:
            if self.bad:
                log.info("unstarted media stream closed; bad input %s", dict(self.bad))
            return
        sid = self.start.call_sid
        if self.listener is not None:
            try:
                reason = await self.listener.on_end(reason) or reason
            except Exception:
                log.exception("call session failed while ending", extra=self._ctx())
        now = utcnow()
        end = StreamEnd(
            reason=reason, frames_in=self.frames_in, marks_in=self.marks_in, bad_input=self.bad
        )
        # Handed over behind the session's own writes: retried until the database has it.
        self._calls.stream_ended(sid, end, now)
        log.info(
            "media stream ended (%s): %d frames in, %d bad",
            reason,
            self.frames_in,
            sum(self.bad.values()),
            extra=self._ctx(),
        )
