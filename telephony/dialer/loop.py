"""The dialer every worker runs: claims due interviews with a lease, checks the local hours,
the do-not-call list and the limits shared by all workers (a slot among
OUTBOUND_MAX_CONCURRENT, a creation time under TWILIO_CPS, and this worker's own room),
places the call, and records the attempt; and it settles attempts whose end is known.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from evaluation.progress import call_limit_s
from persistence.api_records import Attempt, InterviewRecord
from persistence.records import TERMINAL_STATUSES
from persistence.store import DatabaseError, Store
from telephony.api.events import emit, entry, interview_data
from telephony.call_templates import load_template
from telephony.dialer.hours import DialNow, Expired, MoveTo, decide
from telephony.dialer.lost import settle_lost
from telephony.dialer.pacing import interval_s, late_s
from telephony.dialer.placing import RING_TIMEOUT_S, CallCreator, OutboundRequest, Placed
from telephony.dialer.settle import (
    Rules,
    next_attempt,
    settle,
    slot_holder,
    window,
    zones,
)
from telephony.privacy import NumberHash, mask_phones_in
from telephony.stopping import BackgroundLoop

log = logging.getLogger(__name__)
LEASE = timedelta(seconds=30)
SECOND = timedelta(seconds=1)
IDLE_S = 0.5
STOP_WAIT_S = 15.0
GOODBYE_S = 120  # past the interview's own limit: the opening and the goodbye


@dataclass(frozen=True, slots=True)
class DialerConfig:
    from_number: str
    public_url: str
    cps: int
    max_concurrent: int
    max_call_seconds: int
    rules: Rules
    hash_number: NumberHash


class DialerLoop:
    def __init__(
        self,
        open_store: Callable[[], Store | None],
        creator: CallCreator,
        config: DialerConfig,
        *,
        clock: Callable[[], datetime],
        has_room: Callable[[], bool],
        idle_s: float = IDLE_S,
    ) -> None:
        self._open_store = open_store
        self._creator = creator
        self.config = config
        self._clock = clock
        self._has_room = has_room
        self._idle_s = idle_s
        self.owner = f"dialer-{secrets.token_hex(4)}"
        self._loop = BackgroundLoop(STOP_WAIT_S)
        self.placed = 0  # calls this worker created, for benchmarks and tests

    def now(self) -> datetime:
        at = self._clock()
        return at.replace(microsecond=at.microsecond // 1000 * 1000)

    def wake(self) -> None:
        self._loop.wake()

    def start(self) -> None:
        self._loop.start(self._run)

    async def stop(self) -> None:
        await self._loop.stop()
        await self._creator.close()

    async def _run(self) -> None:
        prepared = False
        while not self._loop.stopping():
            store = self._open_store()
            try:
                if store is not None:
                    if not prepared:
                        await store.dialing.ensure_slots(self.config.max_concurrent)
                        prepared = True
                    await self.sweep(store)
                    while not self._loop.stopping() and await self.dial_one(store):
                        pass
            except DatabaseError as exc:
                log.warning("dialer: database unavailable (%s)", type(exc).__name__)
            except Exception:
                log.exception("dialer tick failed")
            await self._loop.pause(self._idle_s)

    async def sweep(self, store: Store) -> int:
        """Settle placed calls whose end is known (Twilio's final status may have come
        before the call's own end was written)."""
        done = 0
        for interview in await store.dialing.live():
            last = interview.attempts[-1] if interview.attempts else None
            if last is None or last.call_sid is None:
                continue
            if await settle(store, interview, last.call_sid, self.now(), self.config.rules):
                done += 1
            elif last.ends_by is not None and self.now() >= last.ends_by:
                done += await self._ask_twilio(store, interview)
        return done

    async def _ask_twilio(self, store: Store, interview: InterviewRecord) -> bool:
        """The last attempt's callbacks never came: settle it by what Twilio says."""
        index = len(interview.attempts) - 1
        call_sid = interview.attempts[index].call_sid
        assert call_sid is not None
        call = await store.calls.get(call_sid)
        if call is not None and call.status in TERMINAL_STATUSES:
            return False  # its end is known; `settle` waits for the call's own end
        reported = await self._creator.fetch(call_sid)
        return await settle_lost(
            store,
            interview,
            index,
            reported,
            self.config.from_number,
            self.now(),
            self.config.rules,
        )

    async def dial_one(self, store: Store) -> bool:
        """Claim one due interview and act on it; false when nothing (more) can be done."""
        now = self.now()
        interview = await store.dialing.claim_due(self.owner, now, LEASE)
        if interview is None:
            return False
        rules = self.config.rules
        decision = decide(
            now, window(interview), zones(interview), interview.expires_at, rules.hours
        )
        if isinstance(decision, Expired) or len(interview.attempts) >= interview.max_attempts:
            await self._close(store, interview, now, expired=isinstance(decision, Expired))
            return True
        if isinstance(decision, MoveTo):
            await store.dialing.release(interview.id, self.owner, decision.at, now)
            return True
        assert isinstance(decision, DialNow)
        phone = interview.candidate.phone
        if phone is None or await store.dialing.on_do_not_call(self.config.hash_number(phone)):
            await store.interviews.cancel(interview.id, now)
            log.info("interview not dialed: the number asked not to be called")
            return True
        if not self._has_room():
            await store.dialing.release(interview.id, self.owner, None, now)
            return False
        number = len(interview.attempts) + 1
        holder = slot_holder(interview.id, number)
        template = await load_template(store, interview.template_id)
        time_limit = call_limit_s(template, self.config.max_call_seconds) + GOODBYE_S
        slot_lease = timedelta(seconds=RING_TIMEOUT_S + time_limit + 300)
        slot = await store.dialing.take_slot(holder, self.config.max_concurrent, now, slot_lease)
        if slot is None:
            await store.dialing.release(interview.id, self.owner, None, now)
            return False
        try:
            ends_by = now + slot_lease
            return await self._place(store, interview, number, slot, time_limit, ends_by)
        except BaseException:
            await store.dialing.free_slot(holder)
            await store.dialing.release(interview.id, self.owner, None, self.now())
            raise

    async def _place(
        self,
        store: Store,
        interview: InterviewRecord,
        number: int,
        slot: int,
        time_limit: int,
        ends_by: datetime,
    ) -> bool:
        assert interview.candidate.phone is not None
        request = OutboundRequest(
            to=interview.candidate.phone,
            from_=self.config.from_number,
            interview_id=interview.id,
            time_limit_s=time_limit,
        )
        await self._creator.prepare()
        # Everything but the request itself happens before the paced moment, so that the
        # creation leaves when its moment comes and not a database round trip later; a
        # worker that wakes too late (a busy event loop) takes the next moment instead.
        cps = self.config.cps
        while True:
            start_s = await store.dialing.pace(time.time(), interval_s(cps))
            wait_s = max(0.0, start_s - time.time())
            until = self.now() + LEASE + wait_s * SECOND
            await store.dialing.renew(interview.id, self.owner, until)
            await asyncio.sleep(max(0.0, start_s - time.time()))
            if time.time() - start_s <= late_s(cps):
                break
            log.debug("woke past the paced moment; taking the next one")
        result = await self._creator.create(request, self.config.public_url)
        now = self.now()
        planned = interview.next_attempt_at or now
        if isinstance(result, Placed):
            self.placed += 1
            attempt = Attempt(
                number=number,
                planned_at=planned,
                call_sid=result.call_sid,
                started_at=now,
                ends_by=ends_by,
            )
            if not await store.dialing.placed(interview.id, self.owner, attempt, slot, now):
                log.error(
                    "dialer lost its claim while placing a call",
                    extra={"call_sid": result.call_sid},
                )
            return True
        await store.dialing.free_slot(slot_holder(interview.id, number))
        message = mask_phones_in(result.message)
        log.warning("Twilio refused an outbound call: %s %s", result.code, message)
        attempt = Attempt(
            number=number, planned_at=planned, started_at=now, ended_at=now, outcome="failed"
        )
        outcomes = [a.outcome for a in interview.attempts] + ["failed"]
        counted = interview.model_copy(update={"attempts": [*interview.attempts, attempt]})
        redial = next_attempt(counted, outcomes, "failed", now, self.config.rules)
        error = {"code": result.code, "message": message, "http_status": result.status}
        after = await store.dialing.refused(interview.id, self.owner, attempt, error, redial, now)
        if after is None:
            return True
        if redial is None:
            after = await store.interviews.fail(interview.id, now) or after
        data = {
            **interview_data(after),
            "outcome": "failed",
            "error": error,
            "final": redial is None,
            "next_attempt_at": redial.isoformat() if redial else None,
        }
        subject = f"{interview.id}:attempt-{number}"
        await emit(store, entry("interview.attempt_failed", subject, data, now, interview.id), now)
        return True

    async def _close(
        self, store: Store, interview: InterviewRecord, now: datetime, *, expired: bool
    ) -> None:
        if expired:
            data = {**interview_data(interview), "status": "expired"}
            await emit(
                store, entry("interview.expired", interview.id, data, now, interview.id), now
            )
            await store.interviews.expire(interview.id, now)
        else:
            await store.interviews.fail(interview.id, now)
