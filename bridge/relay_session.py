"""One interview over ConversationRelay: Twilio hears and speaks, a text model interviews.

The caller's words arrive as text (`prompt`), the model's reply is streamed back token by
token, and what the caller heard of it is known only when they talk over it (`interrupt`)
or the conversation moves on. The interview itself is the realtime call's: the same
ledger, progress, tools, end-of-call machine, meter, report and recorder. A call handed
over from the realtime engine goes on from where that one stopped (`Continued`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from bridge import realtime_events as rt
from bridge import relay_messages as relay
from bridge import responses_events as te
from bridge.clock import Clock, LoopClock
from bridge.ending import Action, CutReply, EndOfCall, HangUp, PlayGoodbye, RequestGoodbye
from bridge.keypad import Keypad
from bridge.latency import CallLatency
from bridge.ledger import ConversationLedger
from bridge.metering import Meter
from bridge.outcome import call_outcome
from bridge.playback import PlaybackTracker
from bridge.recorder import CallRecorder
from bridge.session import FAILURE_MESSAGE, RECORDS_WAIT_S
from bridge.time_limit import TimeLimit
from bridge.tool_calls import CandidateRequests, answer_request, run_tool
from evaluation.cost import CallCost, Direction, NumberType
from evaluation.instructions import MISSED_REPLY, TAKEOVER_NOTE, build_instructions
from evaluation.outbound import OutboundCall, tools_for
from evaluation.progress import InterviewProgress
from evaluation.templates import Template
from evaluation.tools import EvaluateAnswer
from persistence.records import Evaluation, Turn

log = logging.getLogger(__name__)
Send = Callable[[str], Awaitable[None]]
GREETING = "greeting"


@dataclass(frozen=True, slots=True)
class RelayOptions:
    text_model: str
    max_call_seconds: int
    cost_alert_usd: Decimal
    number_type: NumberType
    goodbye_timeout_s: float = 15.0
    speech_chars_per_s: float = 15.0
    """How fast Twilio's voice speaks: no message says when speech has played out, so the
    session waits this long for a goodbye before it ends the session."""


@dataclass
class Continued:
    """What the engine that ran the call before hands over to the relay."""

    history: Sequence[Turn]
    evaluations: Sequence[Evaluation]
    started_at_s: float
    """When the call started, on the session clock."""
    reconnects: int = 0
    interruptions: int = 0
    latency: CallLatency = field(default_factory=CallLatency)
    streamed_s: float = 0.0
    """Caller audio the realtime model was sent (streaming transcription is billed by it)."""
    media_s: float = 0.0
    """How long the call was on its media stream."""


@dataclass
class RelayVoice:
    """The relay's side of the line, as the call's outcome counts it."""

    interruptions: int = 0
    latency: CallLatency = field(default_factory=CallLatency)


@dataclass
class _Reply:
    response_id: str
    task: asyncio.Task[None] | None = None
    items: list[str] = field(default_factory=list)  # assistant messages, in order
    text: dict[str, str] = field(default_factory=dict)
    tool_outputs: list[tuple[te.FunctionCall, str]] = field(default_factory=list)
    cancelled: bool = False
    failed: bool = False
    first_token: bool = False

    @property
    def spoke(self) -> bool:
        return any(self.text.values())


def evaluation_arguments(record: Evaluation) -> EvaluateAnswer:
    """A stored evaluation as the tool call it came from, to replay into progress."""
    return EvaluateAnswer.model_validate(
        {
            "question_index": record.question_index,
            "answer_quality": record.answer_quality,
            "key_points_covered": record.key_points_covered,
            "next_action": record.next_action,
            "follow_up_needed": record.follow_up_needed,
            "notes": record.notes,
        }
    )


class RelaySession:
    """Implements the relay socket's listener for one call."""

    def __init__(
        self,
        *,
        call_sid: str,
        send: Send,
        stream: te.Streamer,
        recorder: CallRecorder,
        template: Template,
        options: RelayOptions,
        cost: CallCost | None,
        greeting: str,
        direction: Direction = "inbound",
        continued: Continued | None = None,
        clock: Clock | None = None,
        outbound: OutboundCall | None = None,
        requests: CandidateRequests | None = None,
    ) -> None:
        """`outbound`: what the model is told of the call's interview (a placed call's
        opening, rules and tools, or a call-in's candidate); `requests` answers a placed
        call's candidate requests, as on the Realtime engine."""
        self.call_sid, self.template, self.options = call_sid, template, options
        self.direction, self.recorder = direction, recorder
        self._send, self._stream = send, stream
        self.clock = clock or LoopClock()
        self._ctx = {"call_sid": call_sid}
        self.continued = continued
        self._relay_t0 = self.clock.now()
        self._t0 = continued.started_at_s if continued else self._relay_t0
        history = continued.history if continued else ()
        first_seq = max((t.seq for t in history), default=-1) + 1
        self.ledger = ConversationLedger(call_sid, PlaybackTracker(), first_seq)
        self.progress = InterviewProgress(template, self._t0, options.max_call_seconds)
        for record in continued.evaluations if continued else ():
            self.progress.apply(evaluation_arguments(record))
        self._requests = requests
        self.context = te.TextContext(
            options.text_model,
            build_instructions(
                template, max_call_seconds=options.max_call_seconds, outbound=outbound
            ),
            tools_for(outbound),
        )
        for turn in history:
            if turn.text:
                self.context.said("user" if turn.speaker == "caller" else "assistant", turn.text)
        self.voice = RelayVoice(
            continued.interruptions if continued else 0,
            continued.latency if continued else CallLatency(),
        )
        self.reconnects = continued.reconnects if continued else 0
        self.ending = EndOfCall()
        self.time_limit = TimeLimit(
            self.clock,
            self.ending,
            template,
            options,
            act=self._act,
            spawn=self._spawn,
            log_extra=self._ctx,
        )
        streamed = continued.streamed_s if continued else 0.0
        self.meter = Meter(
            cost,
            recorder,
            self.clock,
            options.cost_alert_usd,
            call_sid,
            streamed_s=lambda: streamed,
        )
        self.keypad = Keypad(self.clock, self._keyed)
        self._greeting = greeting
        self._reply: _Reply | None = None
        self._replies = 0
        self._unsettled: list[str] = []  # responses spoken, how much was heard not yet known
        self._context_index: dict[str, int] = {}  # assistant item -> its message in context
        self._speaking: tuple[str, str] | None = None  # (item, response) last sent to Twilio
        self._prompt_at: float | None = None  # the caller's last words, unanswered
        self._partial = ""
        self._prompts = 0
        self._failed_replies = 0
        self._goodbye_chars = 0
        self._tasks: set[asyncio.Task[Any]] = set()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _record(self, turns: Iterable[Turn]) -> None:
        for turn in turns:
            self.recorder.turn(turn)

    async def _say(self, text: str) -> None:
        try:
            await self._send(text)
        except Exception:
            log.debug("send to Twilio failed; the relay session is closing", extra=self._ctx)

    # -- the relay socket's listener ----------------------------------------------------

    async def on_setup(self, setup: relay.Setup) -> None:
        """Twilio is saying the welcome greeting: it is the first assistant turn."""
        self._spawn(self._limit_timer())
        self.ledger.assistant_started(GREETING, GREETING)
        self.ledger.transcript_delta(GREETING, self._greeting)
        self._context_index[GREETING] = self.context.said("assistant", self._greeting)
        self._speaking = (GREETING, GREETING)
        self._unsettled.append(GREETING)
        if self.voice.latency.first_audio_ms is None:
            self.voice.latency.first_audio_ms = (self.clock.now() - self._t0) * 1000
            self.recorder.first_audio(self.clock.wall())
        if self.continued is not None:
            await self._respond(TAKEOVER_NOTE)  # the greeting said "let's continue"

    async def on_prompt(self, prompt: relay.Prompt) -> None:
        if not prompt.last:
            self._partial += prompt.text
            return
        text, self._partial = (self._partial + prompt.text).strip(), ""
        self._settle()
        if not text:
            return
        self._prompts += 1
        if (keyed := self.keypad.take()) is not None:  # digits keyed before these words
            self.context.said("user", keyed)
        self._record(self.ledger.caller_transcript(f"prompt-{self._prompts}", text))
        self.context.said("user", text)
        if not self.ending.listening:
            return
        self._prompt_at = self.clock.now()
        # Still answering the last words: answer these instead.
        await self._cut_reply()
        await self._respond()

    async def on_interrupt(self, interrupt: relay.Interrupt) -> None:
        speaking = self._speaking
        item = self.ledger.item(speaking[0]) if speaking is not None else None
        cut: dict[str, str] = {}
        if item is not None and not item.stored:
            self.voice.interruptions += 1
            self.ledger.interrupt(item.item_id, interrupt.heard_ms, interrupt.heard)
            cut[item.item_id] = interrupt.heard
            if item.item_id in self._context_index:
                self.context.cut(self._context_index[item.item_id], interrupt.heard)
            log.info(
                "barge-in: caller heard %d ms of the reply", interrupt.heard_ms, extra=self._ctx
            )
        await self._cut_reply(cut)
        self._settle()

    async def on_dtmf(self, digit: relay.Digit) -> None:
        if self.keypad.pressed(digit.digit):
            self._spawn(self.keypad.flush())

    async def on_end(self, reason: str) -> str | None:
        """The session ended (caller hung up, or we ended it); returns why."""
        self.ending.stream_ended(reason)
        await self._shutdown()
        return self.ending.reason

    async def _keyed(self, text: str) -> None:
        self.context.said("user", text)

    # -- replies --------------------------------------------------------------------------

    def _settle(self) -> None:
        """The caller spoke or talked over us: everything said before is as heard as it gets."""
        now = self.clock.now()
        unsettled, self._unsettled = self._unsettled, []
        for response_id in unsettled:
            self.ledger.spoken(response_id)
            self._record(self.ledger.response_done(response_id, now))

    async def _respond(self, extra: str | None = None) -> None:
        self._replies += 1
        reply = _Reply(f"relay-{self._replies}")
        self._reply = reply
        self.ending.response_created(reply.response_id)
        reply.task = self._spawn(self._run(reply, extra))

    async def _run(self, reply: _Reply, extra: str | None) -> None:
        try:
            await self._stream_reply(reply, extra)
        except asyncio.CancelledError:
            raise
        except te.TextModelUnavailable as exc:
            reply.failed = True
            log.warning("text model unavailable: %s", exc, extra=self._ctx)
        except Exception:
            reply.failed = True
            log.exception("the text model's reply failed", extra=self._ctx)
        if reply.cancelled:
            return
        if reply.spoke:
            await self._say(relay.text_message("", True))
        await self._finished(reply)

    async def _stream_reply(self, reply: _Reply, extra: str | None) -> None:
        async for event in self._stream(self.context.request(extra)):
            now = self.clock.now()
            match event:
                case te.MessageStarted(item_id=item_id):
                    self._message(reply, item_id)
                case te.TextDelta(item_id=item_id, delta=delta) if delta:
                    if item_id not in reply.text:
                        self._message(reply, item_id)
                    self.ledger.transcript_delta(item_id, delta)
                    reply.text[item_id] += delta
                    self._speaking = (item_id, reply.response_id)
                    self._first_token(reply, now)
                    await self._say(relay.text_message(delta, False))
                case te.FunctionCall():
                    await self._tool(reply, event)
                case te.Finished(status=status, usage=usage):
                    self.meter.text_response(usage)
                    if status != "completed":
                        reply.failed = not reply.spoke
                        log.warning("text model response %s", status, extra=self._ctx)
                case te.StreamError(code=code):
                    log.warning("text model stream error %s", code[:60], extra=self._ctx)
                    reply.failed = not reply.spoke

    def _message(self, reply: _Reply, item_id: str) -> None:
        if item_id not in reply.text:
            reply.items.append(item_id)
            reply.text[item_id] = ""
            self.ledger.assistant_started(item_id, reply.response_id)

    def _first_token(self, reply: _Reply, now: float) -> None:
        if reply.first_token:
            return
        reply.first_token = True
        if self._prompt_at is not None:
            self.voice.latency.model.add((now - self._prompt_at) * 1000)
            self._prompt_at = None
        self.voice.latency.bridge.add((self.clock.now() - now) * 1000)

    async def _tool(self, reply: _Reply, call: te.FunctionCall) -> None:
        as_realtime = rt.FunctionCall(
            reply.response_id, call.item_id, call.call_id, call.name, call.arguments
        )
        now, at = self.clock.now(), self.clock.wall()
        result = run_tool(as_realtime, self.progress, call_sid=self.call_sid, now=now, at=at)
        if result.evaluation is not None:
            self.recorder.evaluation(result.evaluation)
        if result.end is not None:
            self.ending.end_requested(result.end)
        output = await answer_request(result, self.call_sid, self._requests)
        reply.tool_outputs.append((call, output))

    def _into_context(self, reply: _Reply, heard: dict[str, str]) -> None:
        """What the model said (as heard, when it was cut) and its tool calls, in order."""
        for item_id in reply.items:
            text = heard.get(item_id, reply.text[item_id])
            if text:
                self._context_index[item_id] = self.context.said("assistant", text)
        for call, output in reply.tool_outputs:
            self.context.tool_call(call)
            self.context.tool_output(call.call_id, output)

    async def _cut_reply(self, heard: dict[str, str] | None = None) -> None:
        """Stop the reply being streamed. `heard`: what the caller heard of items they
        talked over; the rest of what was sent is taken as heard."""
        reply = self._reply
        if reply is None:
            return
        self._reply = None
        reply.cancelled = True
        if reply.task is not None:
            reply.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reply.task
        self._into_context(reply, heard or {})
        self._unsettled.append(reply.response_id)
        await self._after(reply, self.ending.response_done(reply.response_id, spoke=reply.spoke))

    async def _finished(self, reply: _Reply) -> None:
        if self._reply is reply:
            self._reply = None
        self._into_context(reply, {})
        self._unsettled.append(reply.response_id)
        if reply.spoke:
            self._failed_replies = 0
        action = self.ending.response_done(reply.response_id, spoke=reply.spoke)
        if action is None and reply.failed and self.ending.listening:
            await self._reply_failed()
            return
        await self._after(reply, action)

    async def _after(self, reply: _Reply, action: Action | None) -> None:
        if isinstance(action, PlayGoodbye):
            self._goodbye_chars = sum(len(t) for t in reply.text.values())
        if action is not None:
            await self._act(action)
        elif reply.tool_outputs and not reply.cancelled and self.ending.listening:
            await self._respond()

    async def _reply_failed(self) -> None:
        """Nothing was said: ask again once, then for a short apology, then give up."""
        self._failed_replies += 1
        log.warning("text model reply failed, %d in a row", self._failed_replies, extra=self._ctx)
        if self._failed_replies > 2:
            await self._act(self.ending.fail("text model unavailable", FAILURE_MESSAGE))
            return
        await self._respond(None if self._failed_replies == 1 else MISSED_REPLY)

    # -- ending -------------------------------------------------------------------------

    def _speech_s(self, chars: int) -> float:
        return min(self.options.goodbye_timeout_s, chars / self.options.speech_chars_per_s)

    async def _act(self, action: Action | None) -> None:
        match action:
            case RequestGoodbye(prompt=prompt):
                await self._respond(f"{prompt}: {self.template.closing}")
            case PlayGoodbye():
                self._spawn(self._goodbye_heard(self._speech_s(self._goodbye_chars)))
            case CutReply():
                await self._cut_reply()
            case HangUp(say=say):
                self._spawn(self._hang_up(say))

    async def _goodbye_heard(self, after_s: float) -> None:
        await self.clock.sleep(after_s)
        await self._act(self.ending.end_mark_echoed())

    async def _hang_up(self, say: str | None) -> None:
        if say:
            await self._say(relay.text_message(say, True))
            await self.clock.sleep(self._speech_s(len(say)))
        await self._say(relay.end_message())

    async def _limit_timer(self) -> None:
        async def note(text: str) -> None:
            self.context.said("developer", text)

        elapsed_s = self.clock.now() - self._t0
        replying = lambda: self._reply is not None  # noqa: E731
        await self.time_limit.run(note=note, replying=replying, elapsed_s=elapsed_s)

    async def _shutdown(self) -> None:
        reply, self._reply = self._reply, None
        if reply is not None and reply.task is not None:  # the model's stream is closed now
            reply.cancelled = True
            reply.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reply.task
            self._unsettled.append(reply.response_id)  # what was sent is taken as heard
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        now = self.clock.now()
        self._settle()
        self._record(self.ledger.settle(now))
        duration = now - self._t0
        media_s = self.continued.media_s if self.continued else 0.0
        cost = self.meter.final(
            duration,
            self.direction,
            self.options.number_type,
            media_streams_s=media_s,
            relay_s=now - self._relay_t0,
        )
        outcome = call_outcome(
            template=self.template,
            progress=self.progress,
            ending=self.ending,
            playout=self.voice,
            reconnects=self.reconnects,
            duration_s=duration,
            cost=cost,
            call_sid=self.call_sid,
        )
        self.recorder.outcome(outcome, self.clock.wall())
        await self.recorder.close(RECORDS_WAIT_S)
        log.info(
            "relay call ended (%s): %d interruptions, model p50 %s ms",
            outcome.completion,
            self.voice.interruptions,
            outcome.latency.model.p50_ms,
            extra=self._ctx,
        )
