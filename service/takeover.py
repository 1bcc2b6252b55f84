"""Mid-call takeover: a realtime call whose model cannot be reopened goes on over
ConversationRelay instead of ending with an apology. Twilio is told to run the relay's
TwiML on the live call; the relay session then continues from the stored conversation."""

from __future__ import annotations

import logging
from typing import Protocol

from bridge.clock import LoopClock
from bridge.handover import HandOver
from bridge.session import RECORDS_WAIT_S
from evaluation.instructions import TAKEOVER_GREETING
from service.relay_sessions import RelaySessions

log = logging.getLogger(__name__)
REASON = "realtime model unavailable after reconnect attempts"


class Redirect(Protocol):
    async def redirect(self, call_sid: str, twiml: str) -> bool: ...


class Takeover:
    """The realtime session's hand-over hook."""

    def __init__(self, relays: RelaySessions, control: Redirect, public_url: str) -> None:
        self._relays, self._control, self._public_url = relays, control, public_url

    async def __call__(self, handover: HandOver) -> bool:
        call_sid, extra = handover.call_sid, {"call_sid": handover.call_sid}
        if not self._relays.engines.takeover:
            return False
        # The relay reads the conversation back from the database: write it all first.
        if not await handover.flush(RECORDS_WAIT_S):
            log.warning("records not all written; handing over anyway", extra=extra)
        media_s = LoopClock().now() - handover.started_at_s
        self._relays.expect(handover, media_s)
        twiml = await self._relays.twiml(
            call_sid, handover.template_id, self._public_url, greeting=TAKEOVER_GREETING
        )
        if not await self._control.redirect(call_sid, twiml):
            self._relays.forget(call_sid)
            return False
        log.warning("realtime model lost; call handed over to ConversationRelay", extra=extra)
        try:
            await self._relays.record_engine(call_sid, "relay", REASON)
        except Exception as exc:  # the call goes on; only its engine history lacks a line
            log.error("engine change not recorded (%s)", type(exc).__name__, extra=extra)
        return True
