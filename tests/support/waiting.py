"""Waiting for something to happen, without guessing how long it takes.

Peers record what they see and call `Changes.notify()` whenever a record changes;
`eventually` re-checks its condition exactly then, so a test wakes as soon as the thing it
waits for has happened. State no peer can report (a document in MongoDB, a counter in
another component) is re-checked on a short interval instead: that is the one place a test
polls.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar, overload

T = TypeVar("T")

RECHECK_S = 0.05  # how often state nothing reports (a MongoDB document) is asked for again


class Changes:
    """A notice that something a peer records has changed (a message, a mark, a close)."""

    def __init__(self) -> None:
        self._waiters: set[asyncio.Future[None]] = set()

    def notify(self) -> None:
        waiters, self._waiters = self._waiters, set()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def next(self) -> asyncio.Future[None]:
        """A future resolved by the next `notify()`."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        return waiter

    def forget(self, waiter: asyncio.Future[None]) -> None:
        self._waiters.discard(waiter)


@overload
async def eventually(
    check: Callable[[], Awaitable[T]],
    *,
    timeout: float,
    what: str,
    on: Changes | Iterable[Changes] = (),
    every: float | None = None,
    context: Callable[[], str] | None = None,
) -> T: ...


@overload
async def eventually(
    check: Callable[[], T],
    *,
    timeout: float,
    what: str,
    on: Changes | Iterable[Changes] = (),
    every: float | None = None,
    context: Callable[[], str] | None = None,
) -> T: ...


async def eventually(
    check: Callable[[], object],
    *,
    timeout: float,
    what: str,
    on: Changes | Iterable[Changes] = (),
    every: float | None = None,
    context: Callable[[], str] | None = None,
) -> object:
    """The first truthy result of `check` (a function or a coroutine function).

    `check` runs now and again after every change one of `on` reports, or every `every`
    seconds for state nothing reports. On timeout, an AssertionError naming `what`, with
    `context()` (say, the protocol errors the peers recorded) appended.
    """
    sources = (on,) if isinstance(on, Changes) else tuple(on)
    if not sources and every is None:
        raise ValueError("eventually needs changes to wait on, or an interval to re-check on")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        # Armed before the check, so a change made while it runs is not missed.
        wakes = [source.next() for source in sources]
        try:
            result = check()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                detail = f"; {context()}" if context is not None else ""
                raise AssertionError(f"gave up after {timeout:g} s waiting for {what}{detail}")
            pause = remaining if every is None else min(every, remaining)
            if wakes:
                await asyncio.wait(wakes, timeout=pause, return_when=asyncio.FIRST_COMPLETED)
            else:
                await asyncio.sleep(pause)  # nothing reports this state: ask again shortly
        finally:
            for source, wake in zip(sources, wakes, strict=True):
                source.forget(wake)
                wake.cancel()
