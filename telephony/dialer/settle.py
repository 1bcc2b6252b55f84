"""How an attempt ended, and what happens next: its outcome on the interview, the redial
(by outcome, inside the window, within `max_attempts` and before expiry), the freed slot,
and the webhook events for calls that never connected (a connected call's come from its
end-of-call hook).

Run when Twilio reports the call's final status, and by the dialer's sweep for calls
whose stream was still being written then; the first to settle wins.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from persistence.api_records import InterviewRecord
from persistence.records import TERMINAL_STATUSES, CallRecord
from persistence.store import Store
from telephony.api.events import emit, entry, interview_data
from telephony.api.phones import zones_of
from telephony.api.planning import Window
from telephony.dialer.hours import Hours, next_at, next_day
from telephony.dialer.redial import (
    DEFAULT_POLICY,
    NOT_CONNECTED,
    RedialPolicy,
    earliest_redial,
    policy_of,
)

log = logging.getLogger(__name__)
DEFAULT_HOURS = Hours()
MACHINE = frozenset({"machine_end_beep", "machine_end_silence", "machine_end_other"})
# A connected call whose end the hook has not recorded by then is settled without it.
HOOK_WAIT = timedelta(minutes=2)


@dataclass(frozen=True, slots=True)
class Rules:
    hours: Hours = DEFAULT_HOURS
    policy: RedialPolicy = DEFAULT_POLICY


def zones(interview: InterviewRecord) -> list[str]:
    if interview.timezone_source == "given" or not interview.candidate.phone:
        return [interview.timezone]
    return zones_of(interview.candidate.phone) or [interview.timezone]


def window(interview: InterviewRecord) -> Window:
    w = interview.window
    return Window.parse(w.start, w.end, w.days)


def classify(call: CallRecord, amd: dict[str, Any] | None, answered: int) -> str:
    if call.status in NOT_CONNECTED or call.stream is None:
        return call.status if call.status in NOT_CONNECTED else "failed"
    if amd is not None and amd.get("voicemail_at") is not None:
        return "voicemail"
    if call.completion == "completed":
        return "completed"
    return "dropped" if answered == 0 else "partial"


def next_attempt(
    interview: InterviewRecord, outcomes: list[str | None], outcome: str, now: datetime, r: Rules
) -> datetime | None:
    if len(interview.attempts) >= interview.max_attempts:
        return None
    policy = policy_of(interview.redial, r.policy)
    earliest = earliest_redial(outcome, outcomes, now, next_day(now, interview.timezone), policy)
    if earliest is None:
        return None
    return next_at(earliest, window(interview), zones(interview), interview.expires_at, r.hours)


async def settle(
    store: Store, interview: InterviewRecord, call_sid: str, now: datetime, rules: Rules
) -> bool:
    """Settle the interview's live call once its end is known; false if not yet (or lost)."""
    call = await store.calls.get(call_sid)
    index = next((i for i, a in enumerate(interview.attempts) if a.call_sid == call_sid), None)
    if call is None or index is None:
        return False
    # A call-in's status callbacks are optional (the number's setting): its end will do.
    ended = call.direction == "inbound" and "ended" in call.timings
    if call.status not in TERMINAL_STATUSES and not ended:
        return False
    attempt = interview.attempts[index]
    waited = now - call.updated_at
    if call.stream is not None and attempt.outcome is None and waited < HOOK_WAIT:
        return False  # the call's own end (report, completion) is still being written
    amd = await store.dialing.amd(call_sid)
    answered = len(await store.evaluations.for_call(call_sid)) if call.stream else 0
    outcome = classify(call, amd, answered)
    outcomes = [a.outcome for a in interview.attempts]
    outcomes[index] = outcome
    redial = None
    requested, opted_out = await store.dialing.requests(interview.id)
    if opted_out is not None:
        outcome = "opted_out"
    elif requested is not None:  # asked on this call, however the call then ended
        outcome, redial = "rescheduled", requested
    elif outcome != "completed":
        redial = next_attempt(interview, outcomes, outcome, now, rules)
    if not await store.dialing.settled(interview.id, call_sid, index, outcome, redial, now):
        return False
    await store.dialing.free_slot(slot_holder(interview.id, index + 1))
    ctx = {"call_sid": call_sid}
    log.info("outbound attempt %d ended: %s", index + 1, outcome, extra=ctx)
    if outcome == "completed":
        return True
    current = await store.interviews.get(interview.id)
    closed = False
    if redial is None and current is not None and current.status == "in_progress":
        close = store.interviews.withdraw if opted_out else store.interviews.fail
        closed = await close(interview.id, now) is not None
    elif redial is not None:
        log.info("outbound redial planned", extra=ctx)
    if call.stream is None or closed:
        current = await store.interviews.get(interview.id) or interview
        data = {
            **interview_data(current),
            "call_sid": call_sid,
            "outcome": outcome,
            "final": redial is None,
            "next_attempt_at": redial.isoformat() if redial else None,
        }
        subject = f"{interview.id}:{call_sid}" + (":closed" if call.stream else "")
        await emit(store, entry("interview.attempt_failed", subject, data, now, interview.id), now)
    return True


def slot_holder(interview_id: str, attempt: int) -> str:
    """Who holds an outbound slot: one attempt of one interview."""
    return f"{interview_id}#{attempt}"
