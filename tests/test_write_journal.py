"""The worker's write journal (persistence.journal): what it reads back, whose journals a
worker adopts, and what an unreadable line costs."""

from __future__ import annotations

import fcntl
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from persistence import Turn
from persistence.call_writes import RunningCostWrite, TurnWrite
from persistence.durable_writer import DurableWriter
from persistence.journal import Journal, leftovers, read_lines
from persistence.store import Store

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
CALL = "CA" + "3" * 32


def turn(seq: int) -> TurnWrite:
    return TurnWrite(
        turn=Turn(call_sid=CALL, seq=seq, speaker="caller", text=f"t{seq}", created_at=T0)
    )


def seqs(writes: object) -> list[int]:
    assert isinstance(writes, list)
    return [w.turn.seq for w in writes if isinstance(w, TurnWrite)]


def test_a_journal_reads_back_the_writes_not_marked_done_in_order(tmp_path: Path) -> None:
    journal = Journal.create(tmp_path)
    numbers = [journal.append(turn(seq))[0] for seq in range(4)]
    journal.done(numbers[0])
    journal.done(numbers[2])
    _, place = journal.append(RunningCostWrite(call_sid=CALL, usd=0.5, at=T0))
    assert journal.read(place) == RunningCostWrite(call_sid=CALL, usd=0.5, at=T0)
    journal.close(remove=False)
    writes, unreadable = read_lines(journal.path.read_bytes())
    assert seqs(writes) == [1, 3] and unreadable == 0
    assert writes[-1] == RunningCostWrite(call_sid=CALL, usd=0.5, at=T0)


def test_done_marks_still_buffered_at_close_are_written_out(tmp_path: Path) -> None:
    journal = Journal.create(tmp_path)
    n, _ = journal.append(turn(0))
    journal.done(n)
    journal.close(remove=False)
    assert read_lines(journal.path.read_bytes()) == ([], 0)


def test_a_journal_with_nothing_waiting_is_removed_at_close(tmp_path: Path) -> None:
    journal = Journal.create(tmp_path)
    journal.append(turn(0))
    journal.close(remove=True)
    assert list(tmp_path.iterdir()) == []


def test_an_emptied_journal_starts_again_from_nothing(tmp_path: Path) -> None:
    journal = Journal.create(tmp_path)
    journal.append(turn(0))
    journal.empty()
    _, place = journal.append(turn(1))
    assert place.offset == 0 and journal.size == place.length
    assert journal.read(place) == turn(1)
    journal.close(remove=False)
    assert seqs(read_lines(journal.path.read_bytes())[0]) == [1]


def test_only_journals_whose_lock_is_free_are_taken(tmp_path: Path) -> None:
    live = Journal.create(tmp_path)  # a running worker's, locked
    live.append(turn(0))
    ended = Journal.create(tmp_path)
    ended.append(turn(1))
    ended.close(remove=False)  # its process ended: the lock is gone
    (found,) = leftovers(tmp_path)
    assert found.path == ended.path and seqs(found.writes) == [1]
    # While one worker holds it, no other can take it too.
    fd = os.open(found.path, os.O_RDWR)
    try:
        with pytest.raises(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)
    found.discard()
    assert not ended.path.exists() and live.path.exists()
    assert list(leftovers(tmp_path)) == []
    live.close(remove=True)


async def test_an_unreadable_line_is_skipped_and_counted_and_the_rest_replayed(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ended = Journal.create(tmp_path)
    for seq in range(4):
        ended.append(turn(seq))
    ended.close(remove=False)
    lines = ended.path.read_bytes().splitlines(keepends=True)
    lines[2] = lines[2][: len(lines[2]) // 2] + b"\n"  # turn 2's line, torn
    ended.path.write_bytes(b"".join(lines))

    writer = DurableWriter.open(store, tmp_path)
    try:
        assert writer.adopt(tmp_path) == 3
        assert writer.counts.unreadable == 1
        assert await writer.drain(CALL, 10.0)
    finally:
        await writer.close(5.0)
    assert [t.seq for t in await store.turns.for_call(CALL)] == [0, 1, 3]
    (error,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "1 unreadable lines" in error.getMessage()
    assert list(tmp_path.iterdir()) == []  # adopted, written, and the writer's own removed
