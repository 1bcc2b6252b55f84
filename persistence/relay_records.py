"""The call document as a ConversationRelay session writes it (bridge.relay_stream's
`RelayCalls`): the claim asks the database at once, as its answer decides whether this
worker serves the session; keypresses and the end are durable writes, queued behind the
relay session's own, so the call is finalized after its outcome."""

from __future__ import annotations

from datetime import datetime

from persistence.call_writes import KeypressWrite, RelayEndWrite
from persistence.calls import Calls
from persistence.durable_writer import DurableWriter
from persistence.records import RelayEnd, StreamClaim

RELAY_KEYPRESSES_FROM = 10_000
"""Relay keypresses are numbered after this, apart from the media stream's (1, 2, ...),
so a call handed over keeps both sets, each stored once."""


class RelayRecords:
    def __init__(self, calls: Calls, writer: DurableWriter) -> None:
        self._calls = calls
        self._writer = writer

    async def claim_relay(self, call_sid: str, session_id: str, at: datetime) -> StreamClaim:
        return await self._calls.claim_relay(call_sid, session_id, at)

    def keypress(self, call_sid: str, n: int, digit: str, at: datetime) -> None:
        n = RELAY_KEYPRESSES_FROM + n
        self._writer.put(KeypressWrite(call_sid=call_sid, n=n, digit=digit, at=at))

    def relay_ended(self, call_sid: str, end: RelayEnd, at: datetime) -> None:
        self._writer.put(RelayEndWrite(call_sid=call_sid, end=end, at=at))
