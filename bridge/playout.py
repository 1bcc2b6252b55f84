"""The model's voice on the caller's line: its audio out with marks, the reply in progress,
and barge-in, which stops the audio exactly where the caller stopped hearing it."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bridge import realtime_events as rt
from bridge.audio import OutboundAudio
from bridge.clock import Clock
from bridge.latency import CallLatency
from bridge.ledger import ConversationLedger
from bridge.model_link import ModelLink
from bridge.playback import PlaybackTracker
from bridge.recorder import CallRecorder
from bridge.twilio_messages import clear_message, mark_message, media_message

log = logging.getLogger(__name__)
Send = Callable[[str], Awaitable[None]]


@dataclass
class Reply:
    """One model response, from response.created to response.done."""

    response_id: str
    first_delta: bool = False
    has_audio: bool = False  # some of it went to the caller
    tool_outputs: list[tuple[str, str]] = field(default_factory=list)
    cancelled: bool = False


class Playout:
    def __init__(
        self,
        *,
        stream_sid: str,
        send: Send,
        outbound: OutboundAudio,
        ledger: ConversationLedger,
        link: ModelLink,
        recorder: CallRecorder,
        clock: Clock,
        call_sid: str,
    ) -> None:
        self.stream_sid = stream_sid
        self._send, self._outbound, self.ledger = send, outbound, ledger
        self._link, self._recorder, self._clock = link, recorder, clock
        self.playback: PlaybackTracker = ledger.playback
        self.latency = CallLatency()
        self.reply: Reply | None = None
        self.interruptions = 0
        self.speech_stopped_at: float | None = None  # the caller finished a turn, unanswered
        self._t0 = clock.now()
        self._audible: str | None = None  # the assistant item the caller may be hearing
        self._extra = {"call_sid": call_sid}

    async def send(self, text: str) -> None:
        try:
            await self._send(text)
        except Exception:
            log.debug("send to Twilio failed; the stream is closing", extra=self._extra)

    async def mark(self, name: str) -> None:
        await self.send(mark_message(self.stream_sid, name))

    def started(self, response_id: str) -> None:
        self.reply = Reply(response_id)

    def finished(self, response_id: str) -> Reply:
        """The reply that ended; one the session never saw start counts as silent."""
        reply = self.reply
        if reply is None or reply.response_id != response_id:
            return Reply(response_id)
        self.reply = None
        return reply

    def playing(self, now: float) -> bool:
        """Audio sent to the caller is still playing."""
        item_id = self._audible
        if item_id is None:
            return False
        return self.playback.played_ms(item_id, now) < self.playback.sent_ms(item_id)

    async def audio(self, event: rt.AudioDelta, now: float) -> None:
        item = self.ledger.item(event.item_id)
        if item is None:
            return
        # Counted even when not played: the transcript covers all the model generated.
        item.audio_ms += self._outbound.duration_ms(event.delta)
        if item.interrupted_at_ms is not None:
            return  # late audio of an interrupted reply must never reach the caller
        reply = self.reply
        if reply is not None and not reply.first_delta:
            reply.first_delta = True
            if self.speech_stopped_at is not None:
                self.latency.model.add((now - self.speech_stopped_at) * 1000)
                item.latency_ms = self.latency.model.samples[-1]
                self.speech_stopped_at = None
        payload = self._outbound.process(event.delta)
        if not payload:
            return
        nbytes = len(payload) * 3 // 4 - payload.count("=")
        name = self.playback.sent(item.item_id, nbytes, now)
        self._audible = item.item_id
        await self.send(media_message(self.stream_sid, payload))
        await self.mark(name)
        if reply is not None and not reply.has_audio:
            reply.has_audio = True
            sent_at = self._clock.now()
            self.latency.bridge.add((sent_at - now) * 1000)
            if self.latency.first_audio_ms is None:
                self.latency.first_audio_ms = (sent_at - self._t0) * 1000
                self._recorder.first_audio(self._clock.wall())

    async def barge_in(self) -> None:
        """The caller started talking: stop our audio where they heard it, and say so."""
        now = self._clock.now()
        item_id = self._audible
        heard = self.playback.played_ms(item_id, now) if item_id else 0
        playing = item_id is not None and heard < self.playback.sent_ms(item_id)
        reply = self.reply
        cutting = reply is not None and not reply.cancelled
        if not playing and not cutting:
            return
        # The item cut off: still playing, or played out while its reply was still coming.
        item = self.ledger.item(item_id) if item_id else None
        cut = item if item is not None and (playing or self._of(item.response_id)) else None
        # All bookkeeping before the first await: deltas handled meanwhile must be dropped.
        if reply is not None and cutting:
            reply.cancelled = True
            self.ledger.drop_unheard(reply.response_id, keep=cut.item_id if cut else None, now=now)
        if cut is not None:
            self.interruptions += 1
            self.ledger.interrupt(cut.item_id, heard)
        self._audible = None
        # The position is taken above, before the clear: Twilio echoes every pending mark.
        self.playback.cleared()
        self._outbound.clear()
        await self.send(clear_message(self.stream_sid))
        if reply is not None and cutting:
            await self._link.cancel(reply.response_id)
        if cut is not None:
            await self._link.truncate(cut.item_id, heard)
            log.info("barge-in: caller heard %d ms of the reply", heard, extra=self._extra)
        for turn in self.ledger.heard(now):
            self._recorder.turn(turn)

    def _of(self, response_id: str) -> bool:
        """Whether `response_id` is the reply in progress."""
        return self.reply is not None and self.reply.response_id == response_id
