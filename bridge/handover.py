"""What a realtime call hands to the relay engine when its model cannot be reopened: the
call goes on over ConversationRelay, and the figures that span both engines (cost, time,
counts) go on with it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bridge.latency import CallLatency
from evaluation.cost import CallCost
from persistence.records import HANDED_OVER

__all__ = ["HANDED_OVER", "HAND_OVER_WAIT_S", "HandOff", "HandOver", "HandOverHook"]

log = logging.getLogger(__name__)

HAND_OVER_WAIT_S = 15.0
"""How long a media stream's end waits for a hand-over under way: Twilio's REST client
gives up after 10 s, and the records are written first."""


@dataclass
class HandOver:
    call_sid: str
    template_id: str
    started_at_s: float
    """When the call started, on the session clock."""
    reconnects: int
    interruptions: int
    latency: CallLatency
    streamed_s: float
    """Caller audio sent to the realtime model."""
    cost: CallCost | None
    flush: Callable[[float], Awaitable[bool]]
    """Writes every record handed over so far (the relay reads the turns back)."""


HandOverHook = Callable[[HandOver], Awaitable[bool]]
"""Tries to move the call to the relay; true once Twilio has taken the redirect."""


class HandOff:
    """One call's move to the relay: tried once its model is lost for good. Twilio may stop
    the stream before it answers the redirect, so the stream's end waits for a move under
    way (`settled`) rather than cancelling it."""

    def __init__(self, hook: HandOverHook | None, log_extra: dict[str, str]) -> None:
        self._hook = hook
        self._extra = log_extra
        self._under_way: asyncio.Future[bool] | None = None
        self.done = False  # the relay has the call: its timers and its end are the relay's

    @property
    def possible(self) -> bool:
        return self._hook is not None

    async def attempt(self, state: HandOver) -> bool:
        """Whether the call went on over the relay engine (which then writes its outcome)."""
        assert self._hook is not None, "check `possible` first"
        self._under_way = asyncio.ensure_future(self._hook(state))
        try:
            self.done = await asyncio.shield(self._under_way)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("handing the call over to the relay failed", extra=self._extra)
        return self.done

    async def settled(self) -> bool:
        """At the stream's end: how a move under way ended, waited for up to
        HAND_OVER_WAIT_S."""
        if self._under_way is not None:
            try:
                self.done = await asyncio.wait_for(
                    asyncio.shield(self._under_way), HAND_OVER_WAIT_S
                )
            except Exception:
                self.done = False
        return self.done
