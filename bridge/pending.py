"""Sessions opened ahead of time, between the voice webhook and the media stream.

The webhook starts connecting to the model before Twilio even opens the stream, so
the interviewer is ready at once. A stream that never arrives (or lands on another
worker) must leak nothing: every entry expires and its connection is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass
class _Entry(Generic[T]):
    task: asyncio.Task[T]
    expiry: asyncio.TimerHandle


class PendingSessions(Generic[T]):
    """Keyed by CallSid; `close` is how an unclaimed session is shut down."""

    def __init__(self, close: Callable[[T], Awaitable[None]], ttl_s: float = 30.0) -> None:
        self._close = close
        self.ttl_s = ttl_s
        self._entries: dict[str, _Entry[T]] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self.expired = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def start(self, key: str, open_session: Callable[[], Awaitable[T]]) -> bool:
        """Begin opening a session in the background; false if one is already pending."""
        if key in self._entries:
            return False
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(open_session())
        task.add_done_callback(_swallow)
        self._entries[key] = _Entry(task, loop.call_later(self.ttl_s, self._expire, key))
        return True

    async def take(self, key: str, timeout_s: float) -> T | None:
        """Claim the session for `key`, waiting for it to finish opening; None if unusable."""
        entry = self._entries.pop(key, None)
        if entry is None:
            return None
        entry.expiry.cancel()
        try:
            return await asyncio.wait_for(asyncio.shield(entry.task), timeout_s)
        except TimeoutError:
            log.warning("pre-connected session not ready in %.1f s; opening a new one", timeout_s)
            self._discard(entry.task)
        except Exception as exc:
            log.warning("pre-connect failed (%s); opening a new one", type(exc).__name__)
        return None

    def _expire(self, key: str, why: str | None = None) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self.expired += 1
            log.info(
                "pre-connected session closed unused: %s",
                why or f"expired after {self.ttl_s:.0f} s",
            )
            self._discard(entry.task)

    def _discard(self, task: asyncio.Task[T]) -> None:
        closer = asyncio.ensure_future(self._close_when_done(task))
        self._closing.add(closer)
        closer.add_done_callback(self._closing.discard)

    async def _close_when_done(self, task: asyncio.Task[T]) -> None:
        if not task.done():
            task.cancel()
        try:
            session = await task
        except BaseException:
            return
        try:
            await self._close(session)
        except Exception:
            log.exception("closing an unused pre-connected session failed")

    async def close_all(self) -> None:
        """Shut down: expire every entry now and wait for their connections to close."""
        for key in list(self._entries):
            entry = self._entries[key]
            entry.expiry.cancel()
            self._expire(key, "shutting down")
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)


def _swallow(task: asyncio.Task[T]) -> None:
    # Failures surface through take(); this only keeps asyncio from warning about them.
    with contextlib.suppress(BaseException):
        task.exception()
