"""Call writes through real-time database outages (issue #11, item 7): turns lost and time
to catch up, for outages mid-call and across the hang-up.

Each scenario is one call writing through the service's own recorder objects
(`CallWriter`, `StreamRecords`, one `DurableWriter` with its journal, production backoff
and the default MONGODB_TIMEOUT_MS of 5 s) to a real SecantusDB over a line that is cut
for the whole outage, in real time. The scenarios run side by side, each on its own line.

    .venv/bin/python benchmarks/db_outage.py                  # 60 s and 120 s (~2.5 min)
    .venv/bin/python benchmarks/db_outage.py --outages 30,60
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bridge.session import RECORDS_WAIT_S
from persistence import (
    CallOutcome,
    Evaluation,
    Latency,
    LatencyStats,
    NewCall,
    Speaker,
    StreamEnd,
    Turn,
)
from persistence.durable_writer import DurableWriter
from persistence.recorder import CallWriter, StreamRecords
from persistence.store import Store
from tests.support.embedded import discard, start_in_memory
from tests.support.tcp_proxy import TcpProxy

TURN_EVERY_S = 2.0  # a turn every two seconds: a brisk interview
BEFORE_S = 6.0  # of the call before the line is cut
AFTER_S = 10.0  # of the call after the line is back (mid-call scenarios)
TIMEOUT_MS = 5000  # MONGODB_TIMEOUT_MS's default
POLL_S = 0.05


@dataclass
class Result:
    scenario: str
    outage_s: float
    turns_handed: int = 0
    turns_stored: int = 0
    in_order: bool = False
    evaluations: int = 0
    finalized: bool = False
    hang_up_wait_s: float | None = None
    catch_up_s: float = 0.0
    failed_tries: int = 0
    lost: int = 0


def outcome() -> CallOutcome:
    return CallOutcome(
        completion="completed",
        ended_reason="interview ended: completed",
        latency=Latency(model=LatencyStats(n=0), bridge=LatencyStats(n=0)),
        interruptions=0,
        reconnects=0,
    )


class Call:
    def __init__(self, call_sid: str, writer: DurableWriter, store: Store) -> None:
        self.call_sid = call_sid
        self.recorder = CallWriter(writer, call_sid)
        self.stream = StreamRecords(store.calls, writer)
        self.seq = 0

    def turn(self) -> None:
        speaker: Speaker = "assistant" if self.seq % 2 == 0 else "caller"
        self.recorder.turn(
            Turn(call_sid=self.call_sid, seq=self.seq, speaker=speaker, text=f"turn {self.seq}")
        )
        if speaker == "caller":
            self.recorder.evaluation(
                Evaluation(
                    call_sid=self.call_sid,
                    question_index=self.seq // 2,
                    answer_quality="good",
                    key_points_covered=[],
                    next_action="move_to_next_topic",
                    follow_up_needed=False,
                    created_at=datetime.now(UTC),
                    tool_call_id=f"call_{self.seq}",
                )
            )
        self.recorder.running_cost(0.01 * self.seq, datetime.now(UTC))
        self.seq += 1

    async def talk_for(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.turn()
            await asyncio.sleep(TURN_EVERY_S)

    async def hang_up(self) -> float:
        """The session's end and the stream's: how long the session waited on the writes."""
        started = time.monotonic()
        self.recorder.outcome(outcome(), datetime.now(UTC))
        await self.recorder.close(RECORDS_WAIT_S)  # as the session does
        waited = time.monotonic() - started
        end = StreamEnd(reason="stream stopped", frames_in=0, marks_in=0, bad_input={})
        self.stream.stream_ended(self.call_sid, end, datetime.now(UTC))
        return waited


async def until(check: Callable[[], Awaitable[bool]], timeout: float) -> float:
    """Seconds until `check` is true."""
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > timeout:
            raise TimeoutError
        await asyncio.sleep(POLL_S)
    return time.monotonic() - started


async def scenario(
    name: str, outage_s: float, db_uri: str, host: str, port: int, index: int
) -> Result:
    result = Result(name, outage_s)
    call_sid = f"CA{index:032x}"
    direct = Store.connect(db_uri, "outage_bench")
    await direct.calls.create_or_get(
        NewCall(
            call_sid=call_sid,
            direction="inbound",
            from_masked="+*******0123",
            to_masked="+*******0100",
            template_id="default",
            created_at=datetime.now(UTC),
        )
    )
    await direct.calls.claim_stream(call_sid, f"MZ{index:032x}", datetime.now(UTC))
    async with TcpProxy(host, port) as line:
        store = Store.connect(
            f"mongodb://127.0.0.1:{line.port}/?directConnection=true",
            "outage_bench",
            timeout_ms=TIMEOUT_MS,
        )
        with tempfile.TemporaryDirectory() as journal_dir:
            writer = DurableWriter.open(store, Path(journal_dir))
            call = Call(call_sid, writer, store)
            await call.talk_for(BEFORE_S)
            line.cut()
            if name == "mid-call":
                await call.talk_for(outage_s)
            else:
                call.turn()
                result.hang_up_wait_s = await call.hang_up()
                await asyncio.sleep(outage_s)
            line.restore()

            async def caught_up() -> bool:
                return writer.queued == 0

            if name == "mid-call":
                talking = asyncio.ensure_future(call.talk_for(AFTER_S))
                result.catch_up_s = await until(caught_up, 120)
                await talking
                await call.hang_up()
            else:
                result.catch_up_s = await until(caught_up, 120)

            async def finalized() -> bool:
                record = await direct.calls.get(call_sid)
                return record is not None and "ended" in record.timings

            await until(finalized, 60)
            result.failed_tries = writer.counts.failed_tries
            result.lost = writer.counts.lost
            await writer.close(5.0)
        await store.close()
    turns = await direct.turns.for_call(call_sid)
    cursor = direct.db["turns"].find({"call_sid": call_sid}).sort("_id", 1)
    inserted = [doc["seq"] async for doc in cursor]  # in the order inserted
    record = await direct.calls.get(call_sid)
    result.turns_handed = call.seq
    result.turns_stored = len(turns)
    result.in_order = inserted == list(range(call.seq))
    result.evaluations = len(await direct.evaluations.for_call(call_sid))
    result.finalized = record is not None and record.completion == "completed"
    await direct.close()
    return result


def table(results: list[Result]) -> str:
    rows = [
        "| scenario | outage | turns handed | turns stored | turns lost | in order | evaluations "
        "| outcome + finalized | session wait at hang-up | catch-up after the outage "
        "| failed tries |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        wait = f"{r.hang_up_wait_s:.1f} s" if r.hang_up_wait_s is not None else "-"
        rows.append(
            f"| {r.scenario} | {r.outage_s:g} s | {r.turns_handed} | {r.turns_stored} "
            f"| {r.turns_handed - r.turns_stored} | {'yes' if r.in_order else 'NO'} "
            f"| {r.evaluations} | {'yes' if r.finalized else 'NO'} | {wait} "
            f"| {r.catch_up_s:.1f} s | {r.failed_tries} |"
        )
    return "\n".join(rows)


async def main(outages: list[float]) -> None:
    server = await start_in_memory(Path(tempfile.mkdtemp(prefix="outage-bench-")))
    try:
        runs = [
            scenario(name, seconds, server.uri, "127.0.0.1", server.port, i)
            for i, (name, seconds) in enumerate(
                (name, seconds) for seconds in outages for name in ("mid-call", "hang-up")
            )
        ]
        started = time.monotonic()
        results = await asyncio.gather(*runs)
        print(table(list(results)))
        print(f"\n({time.monotonic() - started:.0f} s; scenarios ran side by side)")
    finally:
        await discard(server)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--outages", default="60,120", help="seconds, comma-separated")
    args = parser.parse_args()
    asyncio.run(main([float(s) for s in args.outages.split(",")]))
