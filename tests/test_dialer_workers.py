"""Two dialer workers on one database, 50 interviews due at once: each is dialed exactly
once, the Twilio peer never receives more than TWILIO_CPS creations in any second, and
never more than OUTBOUND_MAX_CONCURRENT calls are in progress at one moment."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from service.services import Services
from telephony.dialer.pacing import most_at_once, most_in_any_second
from tests.support.api import CONSENT, add_keys
from tests.support.call_harness import ACCOUNT
from tests.support.dialing import FROM_NUMBER, MovableClock, Phones
from tests.support.telephony_fixtures import AUTH_TOKEN, service, settings_for
from tests.support.twilio_rest_peer import TwilioRestPeer
from tests.support.waiting import RECHECK_S, eventually

pytestmark = pytest.mark.slow

START = datetime(2026, 6, 10, 14, 0, tzinfo=UTC)  # 10:00 in New York
CPS = 10
AT_ONCE = 3
COUNT = 50


async def test_two_workers_dial_50_interviews_once_each_within_the_limits(
    mongo_uri: str, db_name: str
) -> None:
    clock = MovableClock(START)
    rest = TwilioRestPeer(ACCOUNT, AUTH_TOKEN)
    async with rest.serving(), contextlib.AsyncExitStack() as stack:
        settings = settings_for(
            mongo_uri,
            db_name,
            twilio_account_sid=ACCOUNT,
            twilio_api_url=rest.base,
            twilio_from_number=FROM_NUMBER,
            twilio_cps=CPS,
            outbound_max_concurrent=AT_ONCE,
        )
        workers = []
        for _ in range(2):
            own = Services(settings, clock=clock)
            await own.start()
            stack.push_async_callback(own.stop)
            workers.append((own, await stack.enter_async_context(service(settings, own))))
        (first, a), (second, _) = workers
        phones = Phones(a, rest, {}, ring_s=0.6)
        phones.install()
        # Half are busy at once, half ring out: the pace binds in one, the cap in the other.
        phones_of = [f"+1415555{3000 + n:04d}" for n in range(COUNT)]
        phones.behaviour = {p: "busy" for p in phones_of[::2]}
        store = a.store
        keys = await add_keys(store)
        items = [
            {
                "candidate": {"name": f"C {n}", "phone": p, "timezone": "America/New_York"},
                "template_id": "default",
                "consent": CONSENT,
            }
            for n, p in enumerate(phones_of)
        ]
        response = await a.http.post(
            "/api/v1/interviews:batch",
            json={"items": items},
            headers={"Authorization": f"Bearer {keys['recruiter']}"},
        )
        assert response.status_code == 200, response.text
        assert [i["status"] for i in response.json()["items"]] == [201] * COUNT

        async def all_settled() -> bool:
            settled = await store.db["interviews"].count_documents(
                {"attempts.0.outcome": {"$in": ["busy", "no-answer"]}, "live_call": None}
            )
            return settled == COUNT

        def progress() -> str:
            ended = sum(1 for line in phones.lines.values() if line.ended_at is not None)
            return f"; {len(rest.created)} created, {ended} ended, errors {phones.errors[:3]}"

        # A bound for a loaded machine, not a measure: the test is about counts.
        await eventually(
            all_settled, timeout=180, what="50 attempts settled", every=RECHECK_S, context=progress
        )

        async def slots_freed() -> bool:  # each is freed just after its attempt settles
            return await store.dialing.slots_held(clock()) == 0

        await eventually(slots_freed, timeout=30, what="every slot freed", every=RECHECK_S)
        docs = [doc async for doc in store.db["interviews"].find({})]

    assert phones.errors == [] and rest.errors == [] and rest.refused == []
    dialed = sorted(c.one("To") for c in rest.created)
    assert dialed == sorted(phones_of)  # each exactly once
    assert first.dialer is not None and second.dialer is not None
    assert first.dialer.placed + second.dialer.placed == COUNT
    assert most_in_any_second([c.at for c in rest.created]) <= CPS
    spans = []
    for line in phones.lines.values():
        assert line.ended_at is not None
        spans.append((line.created.at, line.ended_at))
    assert most_at_once(spans) <= AT_ONCE
    new_york = ZoneInfo("America/New_York")
    for doc in docs:
        assert len(doc["attempts"]) == 1
        for attempt in doc["attempts"]:
            local = attempt["started_at"].astimezone(new_york).time()
            assert time(8) <= local < time(21)
