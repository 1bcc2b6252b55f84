"""Attempts whose status callbacks never came. Past the time the call must have ended
(ring, time limit and a grace: the slot's lease), Twilio's REST API is asked for the call
and the attempt is settled by the status it reports; when Twilio cannot be asked, as
failed with the reason, so the redial policy applies. A call Twilio still reports live is
asked about again later."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from persistence import NewCall
from persistence.api_records import InterviewRecord
from persistence.records import TERMINAL_STATUSES, StatusEvent
from persistence.store import Store
from telephony.dialer.placing import Refused, Reported
from telephony.dialer.settle import Rules, settle
from telephony.privacy import mask_phone, mask_phones_in

log = logging.getLogger(__name__)
ASK_AGAIN = timedelta(minutes=5)


async def settle_lost(
    store: Store,
    interview: InterviewRecord,
    index: int,
    reported: Reported | Refused,
    from_number: str,
    now: datetime,
    rules: Rules,
) -> bool:
    """Settle attempt `index` by what Twilio reported; false when it is still live (or
    another worker settled it first)."""
    attempt = interview.attempts[index]
    assert attempt.call_sid is not None
    call_sid = attempt.call_sid
    ctx = {"call_sid": call_sid}
    if isinstance(reported, Reported) and reported.status not in TERMINAL_STATUSES:
        log.warning("no final status callback; Twilio reports %s", reported.status, extra=ctx)
        await store.dialing.ask_again(interview.id, call_sid, index, now + ASK_AGAIN)
        return False
    call = await store.calls.get(call_sid)
    if call is None:  # not one callback came: the call is recorded now, linked
        await store.calls.create_or_get(
            NewCall(
                call_sid=call_sid,
                direction="outbound",
                from_masked=mask_phone(from_number),
                to_masked=mask_phone(interview.candidate.phone or ""),
                template_id=interview.template_id,
                created_at=attempt.started_at or now,
                interview_id=interview.id,
            )
        )
    if isinstance(reported, Reported):
        status, duration = reported.status, reported.duration_s
        log.warning("no final status callback; settled by Twilio's %s", status, extra=ctx)
    else:
        status, duration = "failed", None
        why = mask_phones_in(f"{reported.code or ''} {reported.message}".strip())
        error = {
            "code": reported.code,
            "message": f"No status callbacks came and Twilio could not be asked: {why}",
            "http_status": reported.status,
        }
        await store.dialing.attempt_error(interview.id, call_sid, index, error)
        log.warning("no final status callback, and Twilio could not be asked", extra=ctx)
    event = StatusEvent(status=status, at=now, source="dialer", duration_s=duration)
    await store.calls.record_status(call_sid, event)
    return await settle(store, interview, call_sid, now, rules)
