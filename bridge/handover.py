"""What a realtime call hands to the relay engine when its model cannot be reopened: the
call goes on over ConversationRelay, and the figures that span both engines (cost, time,
counts) go on with it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bridge.latency import CallLatency
from evaluation.cost import CallCost
from persistence.records import HANDED_OVER

__all__ = ["HANDED_OVER", "HAND_OVER_WAIT_S", "HandOver", "HandOverHook"]

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
