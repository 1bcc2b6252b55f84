"""A worker killed with call writes still unwritten: the next worker to start on the
same DATA_DIR writes them (persistence.journal, adopted by Services.start)."""

from __future__ import annotations

import asyncio
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from persistence import CallRecord, NewCall
from persistence.embedded import free_loopback_port
from persistence.store import Store
from service.services import JOURNAL_DIR, Services
from service.settings import Settings
from tests.support.doomed_worker import HANDED_OVER, TURNS
from tests.support.processes import Output
from tests.support.waiting import RECHECK_S, eventually

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
CALL = "CA" + "9" * 32
T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


async def test_writes_of_a_killed_worker_are_written_by_the_next_one(
    store: Store, mongo_uri: str, db_name: str, tmp_path: Path
) -> None:
    await store.calls.create_or_get(
        NewCall(
            call_sid=CALL,
            direction="inbound",
            from_masked="+*******0123",
            to_masked="+*******0100",
            template_id="default",
            created_at=T0,
        )
    )
    assert await store.calls.claim_stream(CALL, "MZ" + "9" * 32, T0) == "claimed"
    data_dir = tmp_path / "data"
    nowhere = f"mongodb://127.0.0.1:{free_loopback_port()}/?directConnection=true"
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.support.doomed_worker",
        str(data_dir),
        nowhere,
        CALL,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = Output(child.stdout), Output(child.stderr)
    try:
        await out.wait_for(HANDED_OVER)
    finally:
        child.send_signal(signal.SIGKILL)  # no clean stop: what a crash or an OOM kill does
        await child.wait()
        await out.close()
        await err.close()
    (left,) = (data_dir / JOURNAL_DIR).iterdir()
    assert left.stat().st_size > 0
    assert await store.turns.for_call(CALL) == []

    services = Services(Settings(mongodb_uri=mongo_uri, mongodb_db=db_name, data_dir=data_dir))
    await services.start()
    try:

        async def finalized() -> CallRecord | None:
            call = await store.calls.get(CALL)
            return call if call is not None and "ended" in call.timings else None

        call = await eventually(finalized, timeout=20, what="the call finalized", every=RECHECK_S)
        assert services.writer is not None and services.writer.counts.adopted == TURNS + 2
    finally:
        await services.stop()
    assert call is not None and call.completion == "completed"
    assert [t.seq for t in await store.turns.for_call(CALL)] == list(range(TURNS))
    assert call.ended_reason == "stream stopped"
    assert list((data_dir / JOURNAL_DIR).iterdir()) == []
