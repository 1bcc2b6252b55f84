"""The outbound dialer's throughput (issue #13): interviews scheduled and dialed per minute by
one worker against the strict Twilio REST peer with the CPS limit lifted, and the database
operations each attempt costs.

One service on a throwaway embedded SecantusDB; the interviews are scheduled through the
recruiter API in batches, then dialed; every number is busy, so a call settles as soon as
Twilio reports it and the slot is free again. Database operations are counted with
pymongo's command monitoring, by command, between the first creation and the last
attempt settled.

    .venv/bin/python benchmarks/dialer.py               # 500 interviews
    .venv/bin/python benchmarks/dialer.py --count 2000
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient, monitoring

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service.services import Services
from tests.support.api import CONSENT, add_keys
from tests.support.call_harness import ACCOUNT
from tests.support.dialing import FROM_NUMBER, MovableClock, Phones
from tests.support.embedded import discard, start_in_memory
from tests.support.telephony_fixtures import AUTH_TOKEN, Service, service, settings_for
from tests.support.twilio_rest_peer import TwilioRestPeer

START = datetime(2026, 6, 10, 14, 0, tzinfo=UTC)  # 10:00 in New York
BATCH = 1000


class Commands(monitoring.CommandListener):
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.on = False

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.on and event.command_name not in ("hello", "isMaster", "ping", "endSessions"):
            self.counts[event.command_name] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def run(count: int) -> None:
    commands = Commands()
    with tempfile.TemporaryDirectory() as scratch:
        db = await start_in_memory(Path(scratch))
        # The benchmark's own progress polls go through a client made before the listener.
        poll: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(f"mongodb://127.0.0.1:{db.port}")
        monitoring.register(commands)
        rest = TwilioRestPeer(ACCOUNT, AUTH_TOKEN)
        try:
            async with rest.serving():
                settings = settings_for(
                    f"mongodb://127.0.0.1:{db.port}",
                    "bench_dialer",
                    twilio_account_sid=ACCOUNT,
                    twilio_api_url=rest.base,
                    twilio_from_number=FROM_NUMBER,
                    twilio_cps=1000,
                    outbound_max_concurrent=1000,
                    max_calls_per_worker=0,
                    log_level="WARNING",
                )
                clock = MovableClock(START)
                own = Services(settings, clock=clock)
                await own.start(background=False)  # the dialer starts after scheduling
                try:
                    async with service(settings, own) as svc:
                        await measure(svc, own, rest, commands, count, poll)
                finally:
                    await own.stop()
        finally:
            await poll.close()
            await discard(db)


async def measure(
    svc: Service,
    own: Services,
    rest: TwilioRestPeer,
    commands: Commands,
    count: int,
    poll: AsyncMongoClient[dict[str, Any]],
) -> None:
    phones = Phones(svc, rest, {}, default="busy")
    phones.install()
    store = svc.store
    keys = await add_keys(store)
    auth = {"Authorization": f"Bearer {keys['recruiter']}"}
    numbers = [f"+1415555{n:04d}" for n in range(count)]
    t0 = time.perf_counter()
    for first in range(0, count, BATCH):
        items = [
            {
                "candidate": {"name": "Bench", "phone": p, "timezone": "America/New_York"},
                "template_id": "default",
                "consent": CONSENT,
            }
            for p in numbers[first : first + BATCH]
        ]
        response = await svc.http.post(
            "/api/v1/interviews:batch", json={"items": items}, headers=auth, timeout=300
        )
        assert response.status_code == 200, response.text
    scheduled_s = time.perf_counter() - t0

    assert own.dialer is not None
    commands.on = True
    t1 = time.perf_counter()
    own.dialer.start()
    while True:
        settled = await poll["bench_dialer"]["interviews"].count_documents(
            {"attempts.0.outcome": "busy", "live_call": None}
        )
        if settled == count:
            break
        await asyncio.sleep(0.2)
    dialed_s = time.perf_counter() - t1
    commands.on = False
    spent = dict(commands.counts)
    ops = sum(spent.values())
    print(f"interviews: {count}")
    per_min = count / scheduled_s * 60
    print(f"scheduled through the API: {per_min:,.0f} a minute ({scheduled_s:.1f} s)")
    per_min = count / dialed_s * 60
    print(f"dialed and settled by one worker: {per_min:,.0f} a minute ({dialed_s:.1f} s)")
    print(f"calls created at the peer: {len(rest.created)}; refused: {len(rest.refused)}")
    print(f"database operations per attempt: {ops / count:.1f} (API, webhooks and dialer)")
    for name, n in sorted(spent.items(), key=lambda kv: -kv[1]):
        print(f"  {name:>16}: {n / count:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500)
    args = parser.parse_args()
    asyncio.run(run(args.count))


if __name__ == "__main__":
    main()
