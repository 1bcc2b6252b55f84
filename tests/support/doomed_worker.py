"""A worker whose database is unreachable: it starts as the service does, hands over one
call's writes, says so on stdout, and waits to be killed (a worker-restart test kills it).

    python -m tests.support.doomed_worker DATA_DIR MONGODB_URI CALL_SID
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path

from persistence.recorder import CallWriter, StreamRecords
from persistence.records import CallOutcome, Latency, LatencyStats, StreamEnd, Turn
from service.services import Services
from service.settings import Settings

HANDED_OVER = "writes handed over"
T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
TURNS = 3


async def main(data_dir: str, mongodb_uri: str, call_sid: str) -> None:
    settings = Settings(mongodb_uri=mongodb_uri, data_dir=Path(data_dir), mongodb_timeout_ms=200)
    services = Services(settings)
    await services.start()
    assert services.writer is not None and services.store is not None
    call = CallWriter(services.writer, call_sid)
    for seq in range(TURNS):
        call.turn(Turn(call_sid=call_sid, seq=seq, speaker="caller", text=f"t{seq}"))
    call.outcome(
        CallOutcome(
            completion="completed",
            ended_reason="interview ended: completed",
            latency=Latency(model=LatencyStats(n=0), bridge=LatencyStats(n=0)),
            interruptions=0,
            reconnects=0,
        ),
        T0,
    )
    end = StreamEnd(reason="stream stopped", frames_in=10, marks_in=0, bad_input={})
    StreamRecords(services.store.calls, services.writer).stream_ended(call_sid, end, T0)
    print(HANDED_OVER, flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
