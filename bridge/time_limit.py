"""A call's time limit, for either engine: the model is told to wrap up WRAP_UP_S before
it, asked for the goodbye at it, and the call ends if the goodbye does not finish within
the goodbye timeout. The engines differ only in how a note reaches the model and whether
a reply is under way; the end-of-call machine decides the rest."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

from bridge.clock import Clock
from bridge.ending import Action, EndOfCall
from evaluation.instructions import wrap_up_note
from evaluation.progress import WRAP_UP_S, call_limit_s
from evaluation.templates import Template


class LimitOptions(Protocol):
    """What either engine's options say about the call's length."""

    @property
    def max_call_seconds(self) -> int | None: ...
    @property
    def goodbye_timeout_s(self) -> float: ...


log = logging.getLogger(__name__)


class TimeLimit:
    def __init__(
        self,
        clock: Clock,
        ending: EndOfCall,
        template: Template,
        options: LimitOptions,
        *,
        act: Callable[[Action | None], Awaitable[None]],
        spawn: Callable[[Coroutine[Any, Any, Any]], object],
        log_extra: dict[str, str],
    ) -> None:
        self._clock, self._ending = clock, ending
        # The template's own duration, capped by the service-wide MAX_CALL_SECONDS.
        self.limit_s = call_limit_s(template, options.max_call_seconds)
        self._goodbye_timeout_s = options.goodbye_timeout_s
        self._act, self._spawn, self._extra = act, spawn, log_extra

    async def run(
        self,
        *,
        note: Callable[[str], Awaitable[None]],
        replying: Callable[[], bool],
        elapsed_s: float = 0.0,
    ) -> None:
        """From `elapsed_s` into the call (a call handed over has used some already)."""
        wrap_up_at = max(0.0, self.limit_s - WRAP_UP_S)
        await self._clock.sleep(max(0.0, wrap_up_at - elapsed_s))
        if self._ending.wrap_up():
            await note(wrap_up_note())
        await self._clock.sleep(max(0.0, self.limit_s - max(wrap_up_at, elapsed_s)))
        action = self._ending.time_up(replying=replying())
        if action is not None:
            log.info("call reached its time limit; ending it", extra=self._extra)
            self._spawn(self.goodbye_timer())  # a limit is a limit, goodbye or not
            await self._act(action)

    async def goodbye_timer(self) -> None:
        await self._clock.sleep(self._goodbye_timeout_s)
        if (action := self._ending.goodbye_timed_out()) is not None:
            log.warning("goodbye did not finish in time; ending the call", extra=self._extra)
            await self._act(action)
