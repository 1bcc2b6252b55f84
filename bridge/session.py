"""One live interview: the coordinator between the caller's media stream and the model.

It forwards the caller's audio and routes each model event to the part that owns it:
the ledger (what was said and heard), playout (the model's voice and barge-in), the
end-of-call machine, the tools, the meter and the recorder. It owns only what ties
them together: the call's timers, reconnects, and the end of the call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any, Protocol

from bridge import realtime_events as rt
from bridge.audio import OutboundAudio
from bridge.caller_line import CallerLine
from bridge.clock import Clock, LoopClock
from bridge.ending import (
    Action,
    CutReply,
    EndOfCall,
    HangUp,
    Phase,
    PlayGoodbye,
    RequestGoodbye,
)
from bridge.handover import HANDED_OVER, HandOff, HandOver, HandOverHook
from bridge.keypad import Keypad
from bridge.ledger import ConversationLedger
from bridge.metering import Meter
from bridge.model_link import ModelLink, ModelUnavailable
from bridge.options import SessionOptions
from bridge.outcome import call_outcome
from bridge.playback import PlaybackTracker
from bridge.playout import Playout
from bridge.recorder import CallRecorder
from bridge.reply_watch import ReplyWatch
from bridge.time_limit import TimeLimit
from bridge.tool_calls import CandidateRequests, answer_request, run_tool
from bridge.twilio_messages import Dtmf, Mark, Media, Start
from evaluation.cost import CallCost, Direction
from evaluation.instructions import MISSED_REPLY, RECONNECT_NOTE
from evaluation.progress import InterviewProgress
from evaluation.templates import Template
from persistence.records import Turn

log = logging.getLogger(__name__)
Send = Callable[[str], Awaitable[None]]
END_MARK = "end-of-call"
FAILED = ("failed", "incomplete")
RECORDS_WAIT_S = 2.0  # the records are journaled: waiting longer only holds the call's end
WATCH_EVERY_S = 1.0
TRANSCRIPT_WAIT_S = 2.0  # a transcript follows its turn by a few hundred ms
FAILURE_MESSAGE = (
    "We are sorry: we are having technical difficulties and have to end this interview. "
    "Someone from our team will contact you to continue. Goodbye."
)


class CallControl(Protocol):
    """Twilio's REST side, as the session needs it."""

    async def hang_up(self, call_sid: str, say: str | None = None) -> bool: ...


class CallSession:
    """Implements the media stream's listener for one call."""

    def __init__(
        self,
        *,
        start: Start,
        send_twilio: Send,
        close_stream: Callable[[], Awaitable[None]],
        link: ModelLink,
        recorder: CallRecorder,
        template: Template,
        options: SessionOptions,
        control: CallControl | None,
        cost: CallCost | None,
        direction: Direction = "inbound",
        clock: Clock | None = None,
        hand_over: HandOverHook | None = None,
        requests: CandidateRequests | None = None,
    ) -> None:
        """`hand_over`: tried when the model is lost for good, before the apology."""
        self.call_sid, self.stream_sid = start.call_sid, start.stream_sid
        self.template, self.options, self.direction = template, options, direction
        self._close_stream, self._control = close_stream, control
        self._requests = requests
        self.link, self.recorder = link, recorder
        self.clock = clock or LoopClock()
        self._ctx = {"call_sid": self.call_sid}
        self.hand_off = HandOff(hand_over, self._ctx)
        self._t0 = self.clock.now()
        self.caller = CallerLine(options.audio_format, options.resampler, link)
        self.ledger = ConversationLedger(self.call_sid, PlaybackTracker())
        self.out = Playout(
            stream_sid=self.stream_sid,
            send=send_twilio,
            outbound=OutboundAudio(options.audio_format, options.resampler),
            ledger=self.ledger,
            link=link,
            recorder=recorder,
            clock=self.clock,
            call_sid=self.call_sid,
        )
        self.ending = EndOfCall()
        self.progress = InterviewProgress(template, self._t0, options.max_call_seconds)
        self.time_limit = TimeLimit(
            self.clock,
            self.ending,
            template,
            options,
            act=self._act,
            spawn=self._spawn,
            log_extra=self._ctx,
        )
        self.meter = Meter(
            cost,
            recorder,
            self.clock,
            options.cost_alert_usd,
            self.call_sid,
            streamed_s=lambda: self.caller.sent_s,
        )
        self.reconnects = 0
        self._last_request: tuple[str | None] = (None,)  # the last response.create's text
        self._requested = False  # a reply was asked for and has not started yet
        self._refused: tuple[str | None] | None = None  # refused while a reply was active
        self.keypad = Keypad(self.clock, link.caller_said)
        self._failed_replies = 0  # responses in a row that ended failed or incomplete, unheard
        # A reply owed and the model silent for twice the silence that has the link ping it.
        self.watch = ReplyWatch(2 * options.model_silence_s, self._t0)
        self._transcribed = asyncio.Event()  # a caller turn's transcript (or failure) came
        self._tasks: set[asyncio.Task[Any]] = set()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _respond(self, instructions: str | None = None) -> None:
        self._last_request = (instructions,)
        self._requested = True
        await self.link.respond(instructions)

    def _record(self, turns: Iterable[Turn]) -> None:
        for turn in turns:
            self.recorder.turn(turn)

    # -- the media stream's listener ----------------------------------------------------

    async def on_start(self, start: Start) -> None:
        self._spawn(self._limit_timer())
        self._spawn(self._watch_replies())
        try:
            await self.link.connect()
        except ModelUnavailable as exc:
            log.error("cannot open the model session: %s", exc, extra=self._ctx)
            self._spawn(self._first_connect_failed())
            return
        self._spawn(self._run_model())
        if self.link.greeting_requested:  # asked for by the webhook, maybe already here
            self._last_request, self._requested = (None,), True
        else:
            await self._respond()  # the interviewer speaks first

    async def on_media(self, media: Media, mulaw: bytes) -> None:
        if self.ending.listening:
            await self.caller.media(mulaw, media.payload)

    def media_now(self, media: Media, mulaw: bytes) -> bool:
        return not self.ending.listening or self.caller.media_now(mulaw, media.payload)

    async def on_mark(self, echoed: Mark) -> None:
        if echoed.name == END_MARK:
            await self._act(self.ending.end_mark_echoed())
            return
        now = self.clock.now()
        if self.ledger.playback.acked(echoed.name, now):
            self._record(self.ledger.heard(now))

    async def on_dtmf(self, dtmf: Dtmf) -> None:
        if self.keypad.pressed(dtmf.digit):
            self._spawn(self.keypad.flush())

    async def on_end(self, reason: str) -> str | None:
        """The stream ended (caller hung up, Twilio stopped, or we hung up); returns why."""
        self.ledger.playback.stop(self.clock.now())
        self.ending.stream_ended(reason)
        await self._shutdown()
        return self.ending.reason

    # -- the model's events -------------------------------------------------------------

    async def _run_model(self) -> None:
        while True:
            try:
                async for event in self.link.events():
                    try:
                        await self._on_event(event)
                    except Exception:
                        log.exception("handling a model event failed", extra=self._ctx)
            except Exception:  # as good as a dropped connection
                log.exception("reading the model's events failed", extra=self._ctx)
            if not self.ending.model_needed:
                return
            code = self.link.close_code
            log.warning("model connection lost (code %s); reconnecting", code, extra=self._ctx)
            if not await self._recover():
                return

    async def _on_event(self, event: rt.ServerEvent) -> None:
        now = self.clock.now()
        self.watch.heard(now)
        match event:
            case rt.AudioDelta():
                self.watch.progressed()
                if self.ending.phase is not Phase.ENDED:  # no one is left to hear it
                    await self.out.audio(event, now)
            case rt.TranscriptDelta():
                self.ledger.transcript_delta(event.item_id, event.delta)
            case rt.SpeechStarted():
                self.caller.audio.turn_started(event.item_id, event.audio_start_ms)
                await self.out.barge_in()
            case rt.SpeechStopped():
                self.caller.audio.turn_ended(event.item_id, event.audio_end_ms)
                self.out.speech_stopped_at = now
            case rt.Committed():
                self.ledger.caller_committed(event.item_id)
            case rt.TranscriptionCompleted():
                self._transcribed.set()
                self.caller.audio.turn_settled(event.item_id)
                self._record(self.ledger.caller_transcript(event.item_id, event.transcript))
                self.meter.transcription(event.usage)
            case rt.ResponseCreated():
                self.out.started(event.response_id)
                self._requested = False
                self.ending.response_created(event.response_id)
            case rt.OutputItemAdded(item_type="message", role="assistant"):
                self.ledger.assistant_started(event.item_id, event.response_id)
            case rt.TranscriptDone():
                self._record(self.ledger.transcript_done(event.item_id, event.transcript, now))
            case rt.FunctionCall():
                await self._on_tool(event)
            case rt.ResponseDone():
                await self._on_response_done(event)
            case rt.ServerError(code="conversation_already_has_active_response"):
                # Asked while a reply was still active: ask again once it is done, unless a
                # reply begun since answers it (the model's own turn detection) and there
                # was nothing particular to say.
                log.debug("response.create refused while a reply was active", extra=self._ctx)
                if self._requested or self._last_request != (None,):
                    self._refused = self._last_request
            case rt.ServerError() if event.ends_session:
                # Expected after 60 minutes: the connection closes next and is reopened.
                log.info("model session expired; it will be reopened", extra=self._ctx)
            case rt.ServerError(code="response_cancel_not_active"):
                # The server's own VAD cancelled first; our cancel was a harmless race.
                log.debug("response already cancelled by the server", extra=self._ctx)
            case rt.ServerError():
                why = f"{event.type}/{event.code}: {event.message[:200]}"
                log.warning("model error %s", why, extra=self._ctx)
            case rt.TranscriptionFailed():
                log.warning("caller transcription failed", extra=self._ctx)
                self._transcribed.set()
                self.caller.audio.turn_settled(event.item_id)
                self._record(self.ledger.caller_unheard(event.item_id))

    async def _on_tool(self, call: rt.FunctionCall) -> None:
        reply = self.out.reply
        at, now = self.clock.wall(), self.clock.now()
        result = run_tool(call, self.progress, call_sid=self.call_sid, now=now, at=at)
        if result.evaluation is not None:
            self.recorder.evaluation(result.evaluation)
        if result.end is not None:
            self.ending.end_requested(result.end)
        output = await answer_request(result, self.call_sid, self._requests)
        if reply is not None and reply.response_id == call.response_id:
            reply.tool_outputs.append((call.call_id, output))
        else:
            await self.link.tool_output(call.call_id, output)
            await self._respond()

    async def _on_response_done(self, done: rt.ResponseDone) -> None:
        reply = self.out.finished(done.response_id)
        self.meter.response(done.usage)
        self._record(self.ledger.response_done(done.response_id, self.clock.now()))
        for call_id, output in reply.tool_outputs:
            await self.link.tool_output(call_id, output)
        action = self.ending.response_done(done.response_id, spoke=reply.has_audio)
        if action is not None:
            await self._act(action)
        elif done.status in FAILED and not reply.has_audio and not reply.cancelled:
            await self._reply_failed(done.status)
        elif reply.tool_outputs and not reply.cancelled and self.ending.listening:
            await self._respond()
        if reply.has_audio:
            self._failed_replies = 0
        if self._refused is not None and self.out.reply is None and not self.ending.hung_up:
            (instructions,), self._refused = self._refused, None
            await self._respond(instructions)

    async def _reply_failed(self, status: str) -> None:
        """The caller would hear silence: ask again once, then for a short apology."""
        self._failed_replies += 1
        log.warning("model response %s, %d in a row", status, self._failed_replies, extra=self._ctx)
        if not self.ending.listening:
            return
        if self._failed_replies > 2:  # asked again, then for an apology: the model cannot
            reason = "model replies keep failing"
            log.error("ending the call: %s", reason, extra=self._ctx)
            await self._act(self.ending.fail(reason, FAILURE_MESSAGE))
            return
        await self._respond(None if self._failed_replies == 1 else MISSED_REPLY)

    async def _watch_replies(self) -> None:
        while True:
            await self.clock.sleep(WATCH_EVERY_S)
            owed = self.ending.listening and (
                self._requested
                or self.out.speech_stopped_at is not None
                or self.out.reply is not None
            )
            remedy = self.watch.remedy(self.clock.now(), owed=owed)
            if remedy is None:
                continue
            log.warning(
                "model silent for %.0f s with a reply owed: %s",
                self.watch.stall_s,
                "asking again" if remedy == "ask_again" else "reopening the connection",
                extra=self._ctx,
            )
            if remedy == "reopen":
                await self.link.abort()  # its reader ends, and the connection is reopened
            elif (reply := self.out.reply) is not None:
                await self.link.cancel(reply.response_id)
                await self._respond(*self._last_request)
            else:
                await self._respond(*self._last_request)

    # -- ending -------------------------------------------------------------------------

    async def _act(self, action: Action | None) -> None:
        match action:
            case RequestGoodbye(prompt=prompt):
                await self._respond(f"{prompt}: {self.template.closing}")
            case PlayGoodbye():
                # Twilio echoes this mark once the goodbye has been heard.
                await self.out.mark(END_MARK)
                self._spawn(self.time_limit.goodbye_timer())
            case CutReply():
                await self.out.barge_in()
            case HangUp(say=say):
                self._spawn(self._hang_up(say))

    async def _limit_timer(self) -> None:
        replying = lambda: self.out.reply is not None  # noqa: E731
        await self.time_limit.run(note=self.link.note, replying=replying)

    async def _hang_up(self, say: str | None) -> None:
        done = False
        if self._control is not None:
            try:
                done = await self._control.hang_up(self.call_sid, say)
            except Exception as exc:
                why = type(exc).__name__
                log.error("hang-up through Twilio failed (%s)", why, extra=self._ctx)
        if not done:
            # With <Connect><Stream> and nothing after it, closing the stream ends the call.
            await self._close_stream()

    # -- the model's connection ---------------------------------------------------------

    async def _first_connect_failed(self) -> None:
        if await self._recover(first=True):
            await self._run_model()

    async def _recover(self, first: bool = False) -> bool:
        """Reopen the model session with the conversation so far; false if it cannot be."""
        dropped_at = self.clock.now()
        self.caller.hold()  # until the new connection has heard what the old one missed
        playing, replying = self.out.playing(dropped_at), self.out.reply is not None
        # The caller notices if a reply was under way, or if they were waiting for one.
        waiting = self._requested or self.out.speech_stopped_at is not None
        audible = first or playing or replying or waiting
        if playing or replying:
            await self.out.barge_in()
        self.out.reply = None
        self._record(self.ledger.settle(self.clock.now()))
        history, ending = self.ledger.history(), self.ending
        note = lambda: self.progress.progress_note(self.clock.now())  # noqa: E731
        if not await self.link.reconnect(history, note, lambda: not ending.model_needed):
            if ending.listening and await self._handed_over():
                return False
            if ending.listening:
                reason = "model unavailable after reconnect attempts"
                log.error("ending the call: %s", reason, extra=self._ctx)
                await self._act(ending.fail(reason, FAILURE_MESSAGE))
            elif ending.model_needed:  # time is up and no model is left to say goodbye
                await self._act(ending.hang_up(say=self.template.closing))
            return False
        self.reconnects += 1
        gap_ms = (self.clock.now() - dropped_at) * 1000
        log.info("model session reopened after %.0f ms", gap_ms, extra=self._ctx)
        if (goodbye := ending.reopened()) is not None:
            self.caller.release()
            await self._act(goodbye)
            return True
        if audible:
            await self.link.note(RECONNECT_NOTE)
        # A caller turn in the replay is answered by the model's own turn detection.
        self.ledger.forget_untranscribed()
        if not await self.caller.replay() and audible:
            await self._respond()
        return True

    async def _await_transcripts(self) -> None:
        """A caller who answers and hangs up at once: the transcript follows the turn."""
        wait_s = self.options.transcript_wait_s
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while self.ledger.untranscribed() and (left := deadline - loop.time()) > 0:
            self._transcribed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._transcribed.wait(), left)

    async def _handed_over(self) -> bool:
        """Whether the call went on over the relay engine (which then writes its outcome)."""
        if not self.hand_off.possible:
            return False
        # A caller turn the lost model committed and never transcribed is kept now, in its
        # place, so the relay (reading the stored turns) continues after it.
        for item_id in self.ledger.untranscribed():
            self._record(self.ledger.caller_unheard(item_id))
        state = HandOver(
            self.call_sid,
            self.template.template_id,
            self._t0,
            self.reconnects,
            self.out.interruptions,
            self.out.latency,
            self.caller.sent_s,
            self.meter.cost,
            self.recorder.close,
        )
        if not await self.hand_off.attempt(state):
            return False
        current = asyncio.current_task()  # the relay owns the call's timers from now on
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        return True

    async def _shutdown(self) -> None:
        """Close the model connection (once any transcript still owed has come), then write
        what the call leaves behind."""
        handed_over = await self.hand_off.settled()
        await self._await_transcripts()
        await self.link.close()
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        now = self.clock.now()
        for item_id in self.ledger.untranscribed():  # kept in their place, text unknown
            self._record(self.ledger.caller_unheard(item_id))
        self._record(self.ledger.settle(now))
        if handed_over:
            self.ending.reason = HANDED_OVER
            await self.recorder.close(RECORDS_WAIT_S)
            return
        duration = now - self._t0
        outcome = call_outcome(
            template=self.template,
            progress=self.progress,
            ending=self.ending,
            playout=self.out,
            reconnects=self.reconnects,
            duration_s=duration,
            cost=self.meter.final(duration, self.direction, self.options.number_type),
            call_sid=self.call_sid,
        )
        self.recorder.outcome(outcome, self.clock.wall())
        await self.recorder.close(RECORDS_WAIT_S)
        log.info(
            "call ended (%s): %d interruptions, %d reconnects, model p50 %s ms, bridge p50 %s ms",
            outcome.completion,
            self.out.interruptions,
            self.reconnects,
            outcome.latency.model.p50_ms,
            outcome.latency.bridge.p50_ms,
            extra=self._ctx,
        )
