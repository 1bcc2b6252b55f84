"""The worker's one writer of live-call records: journaled first, then written to MongoDB
in order per call, and retried for as long as the worker lives.

Why: a call cannot wait for the database, and the database may be away for longer than
any fixed number of retries (a failover, a network cut, a restart of the server). So a
write handed over is appended to the worker's journal (`persistence.journal`) at once,
and each call's writes then go out one after another, the next only once the one before
it is in; an outage holds them back, with capped exponential backoff between tries
(0.2 s doubling to 5 s, see `persistence.write_retries`), however long it lasts. A
worker that ends first leaves its journal behind, and the next worker to start on the
same `DATA_DIR` adopts it (`adopt`): its writes join this worker's journal and go out
like any other.

Memory is bounded: at most `MAX_HELD` writes are held in memory across the worker's
calls; past that, a queued write is kept as its place in the journal file (two integers)
and read back when its turn comes. A call's running cost is coalesced: a newer one
replaces the one still queued, as only the latest matters. Should the journal refuse a
write (a full disk), the write is held in memory whatever the bound, with one ERROR:
better than dropping it, though a crash would then lose it.

A write the database refuses (not an outage: a bad document, say) is tried a few times
and then logged as lost, so one bad write cannot hold a call's other writes back forever.

Logs stay quiet while all is well: one WARNING when writes start waiting for the
database, one INFO when they have caught up, ERROR only for a write truly lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from persistence.call_writes import CallWrite, RunningCostWrite
from persistence.journal import Journal, Place, leftovers
from persistence.store import Store
from persistence.write_retries import BACKOFF, REFUSED_TRIES, Backoff, Sleep, retryable

AfterWrite = Callable[[CallWrite], Awaitable[None]]

log = logging.getLogger(__name__)
MAX_HELD = 2000


@dataclass
class WriterCounts:
    """What the writer has done since it started, for tests and health pages."""

    written: int = 0
    failed_tries: int = 0
    lost: int = 0
    coalesced: int = 0
    spilled: int = 0
    adopted: int = 0
    unreadable: int = 0


@dataclass(eq=False, slots=True)
class _Queued:
    n: int
    place: Place | None  # None: the journal could not take it (held in memory only)
    write: CallWrite | None  # None: spilled, read back from the journal in its turn


@dataclass(eq=False)
class _CallQueue:
    items: deque[_Queued] = field(default_factory=deque)
    cost: _Queued | None = None  # the queued running cost, replaced by a newer one
    busy: _Queued | None = None  # being written now
    task: asyncio.Task[None] | None = None
    idle: asyncio.Event = field(default_factory=asyncio.Event)


class DurableWriter:
    """One per worker process; `put` never waits, never raises on a database fault."""

    def __init__(
        self,
        store: Store,
        journal: Journal,
        *,
        backoff: Backoff = BACKOFF,
        max_held: int = MAX_HELD,
        sleep: Sleep = asyncio.sleep,
        after_write: AfterWrite | None = None,
    ) -> None:
        """`sleep` waits out the backoff (tests pass one that counts the pauses).
        `after_write(write)` runs once a write is applied, retried with it (so it must be
        idempotent) and before the journal lets the write go: the webhooks' hook."""
        self._after_write = after_write
        self._store = store
        self.journal = journal
        self._backoff = backoff
        self._max_held = max_held
        self._sleep = sleep
        self._calls: dict[str, _CallQueue] = {}
        self.counts = WriterCounts()
        self.queued = 0  # handed over, not yet written (or lost)
        self.held = 0  # of those, held in memory
        self._down = asyncio.Event()  # the last try failed for want of the database
        self._waiting_since: float | None = None
        self._written_before = 0
        self._spill_said = False
        self._journal_failed = False

    @classmethod
    def open(
        cls,
        store: Store,
        directory: Path,
        *,
        backoff: Backoff = BACKOFF,
        max_held: int = MAX_HELD,
        sleep: Sleep = asyncio.sleep,
        after_write: AfterWrite | None = None,
    ) -> DurableWriter:
        """A writer with a new journal of its own in `directory` (JournalError if it
        cannot be made there)."""
        journal = Journal.create(directory)
        return cls(
            store, journal, backoff=backoff, max_held=max_held, sleep=sleep, after_write=after_write
        )

    @property
    def waiting(self) -> bool:
        """The database is not answering: writes are queued until it does."""
        return self._down.is_set()

    def adopt(self, directory: Path) -> int:
        """Take over the journals that ended workers left in `directory`: their writes
        join this worker's queue (and journal), in order, and the files are removed.
        Needs no database, so an outage does not hold start-up; returns the count.
        A crash between the two leaves the writes in both files: applied twice, which
        every kind of write allows."""
        adopted = 0
        for leftover in leftovers(directory, own=self.journal.path):
            try:
                for write in leftover.writes:
                    self.put(write)
            except BaseException:
                leftover.release()
                raise
            leftover.discard()
            adopted += len(leftover.writes)
            self.counts.adopted += len(leftover.writes)
            if leftover.unreadable:
                self.counts.unreadable += leftover.unreadable
                log.error(
                    "%d unreadable lines in the write journal %s were skipped; "
                    "the writes they held are lost",
                    leftover.unreadable,
                    leftover.path.name,
                )
            if leftover.writes:
                log.info(
                    "%d call writes left by an earlier worker (%s) are being written",
                    len(leftover.writes),
                    leftover.path.name,
                )
        return adopted

    def put(self, write: CallWrite) -> None:
        """Journal the write and queue it behind the call's earlier writes."""
        n, place = self._append(write)
        queue = self._calls.get(write.call_sid)
        if queue is None:
            queue = self._calls[write.call_sid] = _CallQueue()
        if isinstance(write, RunningCostWrite):
            self._coalesce(queue)
        keep = place is None or self.held < self._max_held
        item = _Queued(n, place, write if keep else None)
        if keep:
            self.held += 1
        else:
            self.counts.spilled += 1
            if not self._spill_said:
                self._spill_said = True
                log.warning(
                    "over %d call writes are waiting: further ones are kept in the journal "
                    "only and read back in their turn",
                    self._max_held,
                )
        queue.items.append(item)
        if isinstance(write, RunningCostWrite):
            queue.cost = item
        self.queued += 1
        queue.idle.clear()
        if queue.task is None or queue.task.done():
            queue.task = asyncio.ensure_future(self._run(write.call_sid, queue))

    async def drain(self, call_sid: str, timeout_s: float) -> bool:
        """Until the call's writes are all in, the database is found away, or `timeout_s`
        passes; true only in the first case. The writes go on after a false."""
        queue = self._calls.get(call_sid)
        if queue is None:
            return True
        if self.waiting:
            return False
        idle = asyncio.ensure_future(queue.idle.wait())
        down = asyncio.ensure_future(self._down.wait())
        try:
            await asyncio.wait((idle, down), timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            idle.cancel()
            down.cancel()
        return queue.idle.is_set()

    async def close(self, grace_s: float) -> None:
        """Stop: wait up to `grace_s` for queued writes (unless the database is away),
        then leave what is still queued in the journal for the next start."""
        queues = list(self._calls.values())
        if queues and not self.waiting:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*(q.idle.wait() for q in queues)), grace_s)
        for queue in queues:
            if queue.task is not None:
                queue.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await queue.task
        if self.queued:
            log.warning(
                "%d call writes not yet in the database are kept in %s for the next start",
                self.queued,
                self.journal.path,
            )
        self.journal.close(remove=self.queued == 0)

    def _append(self, write: CallWrite) -> tuple[int, Place | None]:
        try:
            return self.journal.append(write)
        except OSError as exc:
            if not self._journal_failed:
                self._journal_failed = True
                log.error(
                    "the write journal cannot be written (%s); call writes are held in "
                    "memory only and would be lost if this worker stopped",
                    exc.strerror,
                )
            return 0, None

    def _coalesce(self, queue: _CallQueue) -> None:
        old = queue.cost
        if old is not None and old is not queue.busy and old in queue.items:
            queue.items.remove(old)
            self.counts.coalesced += 1
            self._finished(old)
        queue.cost = None

    async def _run(self, call_sid: str, queue: _CallQueue) -> None:
        try:
            while queue.items:
                item = queue.busy = queue.items[0]
                write = item.write if item.write is not None else self._read_back(item)
                if write is not None and await self._write(write):
                    self.counts.written += 1
                queue.items.popleft()
                queue.busy = None
                if queue.cost is item:
                    queue.cost = None
                self._finished(item)
        finally:
            queue.busy = None
            if not queue.items:
                queue.idle.set()
                if self._calls.get(call_sid) is queue:
                    del self._calls[call_sid]

    def _read_back(self, item: _Queued) -> CallWrite | None:
        assert item.place is not None
        try:
            return self.journal.read(item.place)
        except (OSError, ValueError) as exc:
            self.counts.unreadable += 1
            self.counts.lost += 1
            log.error(
                "a journaled call write could not be read back (%s); it is lost",
                type(exc).__name__,
            )
            return None

    async def _write(self, write: CallWrite) -> bool:
        """Try until written (true) or refused `REFUSED_TRIES` times (false, logged)."""
        failures = refusals = 0
        while True:
            try:
                await write.apply(self._store)
                if self._after_write is not None:
                    await self._after_write(write)
            except Exception as exc:
                failures += 1
                self.counts.failed_tries += 1
                if retryable(exc):
                    self._waiting(exc)
                else:
                    refusals += 1
                    if refusals >= REFUSED_TRIES:
                        self.counts.lost += 1
                        log.error(
                            "a %s write was refused by the database (%s) and is lost",
                            write.kind,
                            type(exc).__name__,
                            extra={"call_sid": write.call_sid},
                        )
                        return False
                await self._sleep(self._backoff.after(failures))
            else:
                self._down.clear()
                return True

    def _waiting(self, exc: Exception) -> None:
        self._down.set()
        if self._waiting_since is None:
            self._waiting_since = asyncio.get_running_loop().time()
            self._written_before = self.counts.written
            log.warning(
                "call writes are waiting for the database (%s); %d queued, kept in %s "
                "and retried until written",
                type(exc).__name__,
                self.queued,
                self.journal.path,
            )

    def _finished(self, item: _Queued) -> None:
        self.queued -= 1
        if item.place is not None:
            self.journal.done(item.n)
        if item.write is not None:
            self.held -= 1
        if self.queued:
            return
        if self._waiting_since is not None:
            waited = asyncio.get_running_loop().time() - self._waiting_since
            log.info(
                "call writes caught up with the database after %.1f s: %d written meanwhile",
                waited,
                self.counts.written - self._written_before,
            )
            self._waiting_since = None
        self._spill_said = False
        if self.journal.size > self.journal.compact_bytes:
            self.journal.empty()
