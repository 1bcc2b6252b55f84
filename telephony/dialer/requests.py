"""What an outbound interview's model is told about the call (whom to ask for, the
candidate's local time), and what it does for the candidate: book another time inside
the window, or put the number on the do-not-call list and stop every future call."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from evaluation.outbound import OutboundCall
from evaluation.tools import (
    CandidateRequest,
    ConfirmIdentity,
    OptOut,
    tool_error_output,
    tool_ok_output,
)
from persistence.api_records import InterviewRecord
from persistence.store import Store, opened
from telephony.dialer.hours import next_at
from telephony.dialer.settle import Rules, window, zones
from telephony.privacy import NumberHash

log = logging.getLogger(__name__)


def local_text(at: datetime, zone: str) -> str:
    return at.astimezone(ZoneInfo(zone)).strftime("%A %Y-%m-%d %H:%M")


class OutboundRequests:
    def __init__(
        self,
        open_store: Callable[[], Store | None],
        clock: Callable[[], datetime],
        rules: Rules,
        hash_number: NumberHash,
    ) -> None:
        self._hash_number = hash_number
        self._open_store = open_store
        self._clock = clock
        self._rules = rules

    def _store(self) -> Store:
        return opened(self._open_store())

    async def _interview(
        self, call_sid: str, *, placed_only: bool = True
    ) -> tuple[InterviewRecord, bool] | None:
        """The call's interview, and whether the dialer placed the call (else the candidate
        called in with its code)."""
        store = self._store()
        call = await store.calls.get(call_sid)
        if call is None or call.interview_id is None:
            return None
        placed = call.direction == "outbound"
        if placed_only and not placed:
            return None
        interview = await store.interviews.get(call.interview_id)
        return (interview, placed) if interview is not None else None

    async def brief(self, call_sid: str) -> OutboundCall | None:
        """None for a call linked to no interview."""
        found = await self._interview(call_sid, placed_only=False)
        if found is None:
            return None
        interview, placed = found
        name = interview.candidate.name
        first = name.split()[0] if name and name.split() else None
        return OutboundCall(
            first_name=first,
            local_now=local_text(self._clock(), interview.timezone),
            timezone=interview.timezone,
            variables=tuple(sorted(interview.variables.items())),
            called_in=not placed,
        )

    async def handle(self, call_sid: str, request: CandidateRequest) -> str:
        found = await self._interview(call_sid)
        if found is None:
            return tool_error_output("this is not an outbound interview call")
        interview = found[0]
        ctx = {"call_sid": call_sid}
        if isinstance(request, OptOut):
            return await self._opt_out(interview, ctx)
        if isinstance(request, ConfirmIdentity):
            return await self._confirm(interview, call_sid, ctx)
        zone = ZoneInfo(interview.timezone)
        try:
            wanted = datetime.fromisoformat(request.local_time).replace(tzinfo=zone)
        except ValueError:
            return tool_error_output("local_time is not a date and time")
        now = self._clock()
        at = next_at(
            max(wanted.astimezone(UTC), now),
            window(interview),
            zones(interview),
            interview.expires_at,
            self._rules.hours,
        )
        if at is None:
            return tool_error_output(
                "no calling time is left at or after that time before the interview expires; "
                "ask for an earlier time"
            )
        await self._store().dialing.reschedule(interview.id, at, now)
        log.info("the candidate asked for another time; booked", extra=ctx)
        booked = local_text(at, interview.timezone)
        moved = "" if at == wanted.astimezone(UTC) else " (the nearest time we may call)"
        return tool_ok_output(f"Booked for {booked}{moved}. Confirm this time aloud.")

    async def _confirm(self, interview: InterviewRecord, call_sid: str, ctx: dict[str, str]) -> str:
        """From now on a machine-detection verdict is ignored (AMD mistakes people for
        voicemails); before it, a machine verdict leaves the message and ends the call."""
        if not await self._store().dialing.confirmed(interview.id, call_sid, self._clock()):
            return tool_error_output("this call reached a voicemail and is ending")
        log.info("the candidate confirmed who they are", extra=ctx)
        return tool_ok_output("Confirmed. Ask the first question now.")

    async def _opt_out(self, interview: InterviewRecord, ctx: dict[str, str]) -> str:
        store, now = self._store(), self._clock()
        phone = interview.candidate.phone
        if phone is not None:
            await store.dialing.add_do_not_call(
                self._hash_number(phone), now, "candidate on a call"
            )
            for other in await store.dialing.open_for_number(phone):
                if other != interview.id:
                    await store.interviews.cancel(other, now)
        await store.dialing.opted_out(interview.id, now)
        log.info("the candidate asked not to be called again", extra=ctx)
        return tool_ok_output("Done: they will not be called again. Confirm it and say goodbye.")
