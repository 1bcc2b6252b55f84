"""A live call's records, written to MongoDB in order by one background writer.

Implements the live call's recorder interface (see `bridge.recorder`): the audio path
hands records over without waiting, and a database outage of a few seconds delays them
rather than losing them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from persistence.records import CallOutcome, Evaluation, Turn
from persistence.store import Store

log = logging.getLogger(__name__)
RETRIES = 5
FIRST_BACKOFF_S = 0.2

Write = Callable[[], Awaitable[object]]


class CallWriter:
    def __init__(
        self,
        store: Store,
        call_sid: str,
        *,
        retries: int = RETRIES,
        first_backoff_s: float = FIRST_BACKOFF_S,
        redact: Callable[[str], str] | None = None,
    ) -> None:
        """`redact` rewrites transcript text before it is stored (the live model is not
        affected: it has heard the words already)."""
        self._store = store
        self.call_sid = call_sid
        self._retries = retries
        self._first_backoff_s = first_backoff_s
        self._redact = redact
        self._queue: asyncio.Queue[Write | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def _put(self, write: Write) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())
        self._queue.put_nowait(write)

    async def _run(self) -> None:
        while (write := await self._queue.get()) is not None:
            for attempt in range(self._retries):
                try:
                    await write()
                    break
                except Exception as exc:
                    if attempt == self._retries - 1:
                        log.error(
                            "database write lost after retries (%s)",
                            type(exc).__name__,
                            extra={"call_sid": self.call_sid},
                        )
                    else:
                        await asyncio.sleep(self._first_backoff_s * 2**attempt)

    def turn(self, turn: Turn) -> None:
        if self._redact is not None and turn.text:
            turn = turn.model_copy(update={"text": self._redact(turn.text)})
        self._put(lambda: self._store.turns.append(turn))

    def evaluation(self, evaluation: Evaluation) -> None:
        self._put(lambda: self._store.evaluations.add(evaluation))

    def first_audio(self, at: datetime) -> None:
        self._put(lambda: self._store.calls.mark_time(self.call_sid, "first_audio_out", at))

    def running_cost(self, usd: float, at: datetime) -> None:
        self._put(lambda: self._store.calls.set_running_cost(self.call_sid, usd, at))

    def outcome(self, outcome: CallOutcome, at: datetime) -> None:
        self._put(lambda: self._store.calls.record_outcome(self.call_sid, outcome, at))

    async def close(self, timeout_s: float) -> bool:
        """Write everything handed over, then stop. False if that takes longer than
        `timeout_s`: the writes then go on in the background until done."""
        task = self._task
        if task is None or task.done():
            return True
        self._queue.put_nowait(None)
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout_s)
        except TimeoutError:
            log.error(
                "call records still unwritten at the end of the call",
                extra={"call_sid": self.call_sid},
            )
            return False
        return True
