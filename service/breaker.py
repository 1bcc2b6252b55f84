"""A circuit breaker on the Realtime API: when it keeps failing, stop sending calls to it.

Each failed connection (refused, a server error, a rate limit) is counted; `failures` of
them within `window_s` open the breaker, and new calls go to the other engine instead of
waiting through reconnects that will fail too. After `open_s` it half-opens: one call is
let through as a probe, and its connection closes the breaker again or reopens it.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from typing import Literal

log = logging.getLogger(__name__)
State = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    def __init__(
        self, *, failures: int, window_s: float, open_s: float, now: Callable[[], float]
    ) -> None:
        self._threshold, self._window_s, self._open_s = failures, window_s, open_s
        self._now = now
        self._failures: deque[float] = deque()
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> State:
        if self._opened_at is None:
            return "closed"
        if self._probing or self._now() - self._opened_at >= self._open_s:
            return "half_open"
        return "open"

    def allow(self) -> bool:
        """Whether a new call may use the API; in half-open, true once (the probe)."""
        state = self.state
        if state == "closed":
            return True
        if state == "half_open" and not self._probing:
            self._probing = True
            log.info("Realtime API circuit half-open: one call probes it")
            return True
        return False

    def failed(self, why: str) -> None:
        now = self._now()
        if self._opened_at is not None:
            if self._probing:  # the probe failed: wait a full period again
                self._probing = False
                self._opened_at = now
                log.warning("Realtime API probe failed (%s); circuit open again", why)
            return
        self._failures.append(now)
        while self._failures and now - self._failures[0] > self._window_s:
            self._failures.popleft()
        if len(self._failures) >= self._threshold:
            self._opened_at = now
            self._failures.clear()
            log.error(
                "Realtime API circuit open after %d failures in %.0f s (last: %s); "
                "new calls use ConversationRelay",
                self._threshold,
                self._window_s,
                why,
            )

    def succeeded(self) -> None:
        if self._opened_at is not None:
            log.info("Realtime API reachable again; circuit closed")
        self._opened_at = None
        self._probing = False
        self._failures.clear()
