"""Ops console page loads with 100,000 calls in the database (issue #14): the call log's
first page, a filtered page, a later page, and one call's page, each timed end to end over
HTTP against the production server set-up (uvicorn, the app, the embedded SecantusDB on
disk, as `./dev serve` runs it).

    .venv/bin/python benchmarks/ops_pages.py                 # 100,000 calls, 30 loads each
    .venv/bin/python benchmarks/ops_pages.py --calls 20000 --loads 10
    .venv/bin/python benchmarks/ops_pages.py --data var/bench   # keep the database, reuse it

Figures: median and p95 of the wall time per page, including the session check that every
page makes.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from persistence.embedded import EmbeddedServer
from persistence.records import Evaluation, Speaker, Turn
from service.app import create_app, services
from service.settings import Settings
from telephony.api.auth import new_key
from tests.support.call_docs import call_doc
from tests.support.servers import running

BATCH = 1000


async def fill(settings: Settings, calls: int) -> str:
    """The calls, and one of them with a 30-turn transcript and its evaluations (kept from
    an earlier run when the database already has them)."""
    app = create_app(settings)
    async with running(app):
        store = services(app).store
        assert store is not None
        t0 = datetime.now(UTC) - timedelta(days=90)
        every = timedelta(days=90) / (calls // 2 + 1)
        if await store.db["calls"].count_documents({}) == calls:
            print(f"{calls:,} calls already stored")
            last = await store.db["turns"].find_one({})
            assert last is not None
            return str(last["call_sid"])
        started = time.perf_counter()
        for first in range(0, calls, BATCH):
            docs = [call_doc(i, t0, every=every) for i in range(first, min(calls, first + BATCH))]
            await store.db["calls"].insert_many(docs)
        sid = str(call_doc(calls - 7, t0, every=every)["call_sid"])  # a completed one
        for seq in range(30):
            speaker: Speaker = "assistant" if seq % 2 == 0 else "caller"
            turn = Turn(call_sid=sid, seq=seq, speaker=speaker, text=f"Turn {seq} " * 12)
            await store.turns.append(turn)
            if speaker == "caller":
                await store.evaluations.add(
                    Evaluation(
                        call_sid=sid,
                        question_index=seq // 8,
                        answer_quality="good",
                        key_points_covered=["measure first"],
                        next_action="move_to_next_topic",
                        follow_up_needed=False,
                        created_at=datetime.now(UTC),
                    )
                )
        print(f"{calls:,} calls stored in {time.perf_counter() - started:.0f} s")
        return sid


async def signed_in(http: httpx.AsyncClient, key: str) -> None:
    page = await http.get("/ops/sign-in")
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    response = await http.post("/ops/sign-in", data={"api_key": key, "csrf_token": token})
    assert response.status_code == 303, response.text


async def timed(http: httpx.AsyncClient, path: str, loads: int) -> list[float]:
    for _ in range(3):  # warm-up: the first loads fill caches on both sides
        assert (await http.get(path)).status_code == 200
    times = []
    for _ in range(loads):
        started = time.perf_counter()
        response = await http.get(path)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
    return times


async def main(calls: int, loads: int, data: Path | None) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        tmp = data or Path(scratch)
        db = EmbeddedServer(tmp / "db")
        uri = await db.start()
        try:
            settings = Settings(
                mongodb_uri=uri, mongodb_db="bench", data_dir=tmp, mongodb_timeout_ms=60_000
            )
            sid = await fill(settings, calls)
            app = create_app(settings)
            async with (
                running(app, "uvicorn") as base,
                httpx.AsyncClient(base_url=base, timeout=120) as http,
            ):
                store = services(app).store
                assert store is not None
                key, key_id, key_hash = new_key()
                await store.api_keys.add(key_hash, "bench", ["ops"], datetime.now(UTC), key_id)
                await signed_in(http, key)
                first = await http.get("/ops/calls")
                cursor = first.text.split('href="?cursor=', 1)[1].split('"', 1)[0]
                pages = {
                    "call log, first page": "/ops/calls",
                    "call log, page 2": f"/ops/calls?cursor={cursor}",
                    "filtered: completed, backend, score 50-100": (
                        "/ops/calls?outcome=completed&template=backend&min_score=50"
                    ),
                    "filtered: busy, inbound": "/ops/calls?outcome=busy&direction=inbound",
                    "filtered: number ends in 4242": "/ops/calls?last4=4242",
                    "sorted by score": "/ops/calls?sort=score",
                    "call detail (30 turns)": f"/ops/calls/{sid}",
                    "dashboard, 14 days": "/ops/",
                }
                print(f"{'page':<45} {'median ms':>10} {'p95 ms':>8}")
                for name, path in pages.items():
                    # Pages that read every call are timed a few times only.
                    few = "4242" in path or "sort=" in path or path == "/ops/"
                    times = sorted(await timed(http, path, 3 if few else loads))
                    p95 = times[min(len(times) - 1, round(0.95 * len(times)))]
                    print(f"{name:<45} {statistics.median(times):>10.1f} {p95:>8.1f}")
        finally:
            await db.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--loads", type=int, default=30)
    parser.add_argument("--data", type=Path, help="keep the database here and reuse it")
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.loads, args.data))
