"""One ConversationRelay WebSocket: protocol checks, the session's record in the call,
bad-input counts. Independent of the web framework, like the media stream's driver: the
endpoint feeds frames in. Bad input is counted and logged, never fatal; only a session
for another account or call, or a second one for a call, is refused."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol

from bridge.clock import utcnow
from bridge.relay_messages import (
    Digit,
    Interrupt,
    Prompt,
    RelayError,
    RelayMessageError,
    Setup,
    parse,
)
from bridge.stream import MAX_KEYPRESSES, Outcome
from persistence.records import RelayEnd, StreamClaim

log = logging.getLogger(__name__)
Send = Callable[[str], Awaitable[None]]
MAX_ERRORS_KEPT = 20


class RelayListener(Protocol):
    """What the live call does with a relay session (the relay session)."""

    async def on_setup(self, setup: Setup) -> None: ...
    async def on_prompt(self, prompt: Prompt) -> None: ...
    async def on_interrupt(self, interrupt: Interrupt) -> None: ...
    async def on_dtmf(self, digit: Digit) -> None: ...
    async def on_end(self, reason: str) -> str | None: ...


class RelayCalls(Protocol):
    """The call document as a relay session needs it."""

    async def claim_relay(self, call_sid: str, session_id: str, at: datetime) -> StreamClaim:
        """Bind the call's one relay session, atomically across workers (asked at once)."""
        ...

    def keypress(self, call_sid: str, n: int, digit: str, at: datetime) -> None:
        """The session's `n`-th keypress (from 1), handed over in order with the call's
        other writes."""
        ...

    def relay_ended(self, call_sid: str, end: RelayEnd, at: datetime) -> None:
        """Record the session's summary and finalize the call once, after its other
        writes; handed over, retried until written."""
        ...


RelayListenerFactory = Callable[[Setup, Send], Awaitable[RelayListener | None]]


class RelayStream:
    """Drives one relay socket from `setup` to its close."""

    def __init__(
        self,
        calls: RelayCalls,
        send: Send,
        *,
        account_sid: str | None,
        listener_factory: RelayListenerFactory,
        issued_for: Callable[[str], bool],
    ) -> None:
        self._calls, self._send = calls, send
        self._account_sid = account_sid
        self._factory = listener_factory
        self._issued_for = issued_for
        self.setup: Setup | None = None
        self.listener: RelayListener | None = None
        self.refusal: str | None = None
        self.bad = Counter[str]()
        self.errors: list[str] = []
        self.prompts = self.interrupts = self.keypresses = 0
        self._finished = False

    @property
    def call_sid(self) -> str | None:
        return self.setup.call_sid if self.setup else None

    def _ctx(self) -> dict[str, str]:
        return {"call_sid": self.call_sid} if self.call_sid else {}

    def _bad(self, kind: str, detail: str) -> None:
        self.bad[kind] += 1
        level = logging.WARNING if self.bad[kind] == 1 else logging.DEBUG
        log.log(level, "bad relay input (%s): %s", kind, detail, extra=self._ctx())

    def _refuse(self, reason: str) -> Outcome:
        self.refusal = reason
        log.warning("relay session refused: %s", reason, extra=self._ctx())
        return Outcome.REFUSE

    async def handle(self, frame: str | bytes) -> Outcome:
        try:
            event = parse(frame)
        except RelayMessageError as exc:
            self._bad(exc.kind, str(exc))
            return Outcome.CONTINUE
        if isinstance(event, Setup):
            return await self._start(event)
        if self.setup is None:
            self._bad("before_setup", f"{type(event).__name__.lower()} before setup")
            return Outcome.CONTINUE
        listener = self.listener
        match event:
            case Prompt():
                self.prompts += event.last
                if listener is not None:
                    await listener.on_prompt(event)
            case Interrupt():
                self.interrupts += 1
                if listener is not None:
                    await listener.on_interrupt(event)
            case Digit():
                self.keypresses += 1
                if self.keypresses > MAX_KEYPRESSES:
                    self._bad("too_many_keypresses", f"over {MAX_KEYPRESSES} keypad digits")
                    return Outcome.CONTINUE
                self._calls.keypress(self.setup.call_sid, self.keypresses, event.digit, utcnow())
                if listener is not None:
                    await listener.on_dtmf(event)
            case RelayError(description=description):
                # Twilio says what it refused or failed at, and may quote what we sent (the
                # interview's words): kept on the call, and out of logs above DEBUG.
                log.warning("ConversationRelay reported an error", extra=self._ctx())
                log.debug("ConversationRelay error: %s", description[:200], extra=self._ctx())
                if len(self.errors) < MAX_ERRORS_KEPT:
                    self.errors.append(description[:200])
        return Outcome.CONTINUE

    async def _start(self, setup: Setup) -> Outcome:
        if self.setup is not None:
            self._bad("duplicate_setup", "second setup on one session")
            return Outcome.CONTINUE
        if self._account_sid is not None and setup.account_sid != self._account_sid:
            return self._refuse("session belongs to another Twilio account")
        if not self._issued_for(setup.call_sid):
            return self._refuse("the relay URL was issued for another call")
        claim = await self._calls.claim_relay(setup.call_sid, setup.session_id, utcnow())
        if claim == "duplicate":
            return self._refuse("a relay session for this call already exists")
        if claim == "unknown":
            return self._refuse("no such call (the voice webhook never saw it)")
        self.setup = setup
        log.info("relay session started", extra=self._ctx())
        self.listener = await self._factory(setup, self._send)
        if self.listener is not None:
            await self.listener.on_setup(setup)
        return Outcome.CONTINUE

    async def finish(self, reason: str) -> None:
        """Hand over the end of the session and the call's finalization, exactly once."""
        if self._finished or self.setup is None:
            return
        self._finished = True
        sid = self.setup.call_sid
        if self.listener is not None:
            try:
                reason = await self.listener.on_end(reason) or reason
            except Exception:
                log.exception("relay session failed while ending", extra=self._ctx())
        now = utcnow()
        end = RelayEnd(
            reason=reason,
            prompts=self.prompts,
            interrupts=self.interrupts,
            errors=self.errors,
            bad_input=dict(self.bad),
        )
        # Handed over behind the session's own writes: retried until the database has it.
        self._calls.relay_ended(sid, end, now)
        log.info(
            "relay session ended (%s): %d prompts, %d bad",
            reason,
            self.prompts,
            sum(self.bad.values()),
            extra=self._ctx(),
        )
