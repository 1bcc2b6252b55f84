"""What the model of a call linked to an interview is told about it (whom it speaks with,
the variables, the candidate's local time), read once per call and kept for every model
session the call opens: a reopened Realtime session, or the relay engine's."""

from __future__ import annotations

from evaluation.outbound import OutboundCall
from telephony.dialer.requests import OutboundRequests

MAX_BRIEFS = 1000


class CallBriefs:
    def __init__(self, outbound: OutboundRequests | None) -> None:
        self._outbound = outbound
        self._briefs: dict[str, OutboundCall] = {}

    def keep(self, call_sid: str, brief: OutboundCall) -> None:
        """A brief made where the call starts (a browser test call's variables)."""
        while len(self._briefs) >= MAX_BRIEFS:
            self._briefs.pop(next(iter(self._briefs)))
        self._briefs[call_sid] = brief

    def brief_for(self, call_sid: str) -> OutboundCall | None:
        """The call's brief once `brief` has read it; None for other calls."""
        return self._briefs.get(call_sid)

    async def brief(self, call_sid: str) -> OutboundCall | None:
        """The brief of a call linked to an interview (placed by the dialer, or called in
        with its code), read once (the dialer's webhooks ask first, so other inbound calls
        never wait on it) and kept for its model sessions; None for others."""
        if self._outbound is None:
            return None
        if call_sid not in self._briefs:
            brief = await self._outbound.brief(call_sid)
            if brief is None:
                return None
            self.keep(call_sid, brief)
        return self._briefs[call_sid]
