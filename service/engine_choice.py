"""Which engine interviews a call: the Realtime API, or ConversationRelay with a text model.

Chosen per call by the voice webhook: INTERVIEW_ENGINE forces one; otherwise realtime,
unless it is switched off or its circuit breaker is open. Every Realtime connection the
service opens passes through `guard`, which is how the breaker learns of failures.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from bridge.realtime_client import RealtimeUnavailable
from evaluation.templates import Template
from persistence.records import Engine
from service.breaker import CircuitBreaker
from service.settings import Settings

T = TypeVar("T")
Opener = Callable[[str, Template], Awaitable[T]]
_STATUS = re.compile(r"HTTP (\d{3})")


@dataclass(frozen=True, slots=True)
class Choice:
    engine: Engine | None
    """None: no engine can take the call."""
    reason: str


def counts_against(exc: RealtimeUnavailable) -> bool:
    """Refusals, server errors and rate limits count; a request the API calls malformed
    (4xx) would fail on every retry and says nothing about the API's health."""
    status = _STATUS.search(str(exc))
    if status is None:
        return True
    code = int(status.group(1))
    return code >= 500 or code in (408, 429)


class EngineChoice:
    def __init__(self, settings: Settings, breaker: CircuitBreaker) -> None:
        self._settings = settings
        self.breaker = breaker

    @property
    def takeover(self) -> bool:
        """Whether a live call whose model is lost for good goes on over the relay."""
        return (
            self._settings.interview_engine == "auto" and self._settings.openai_api_key is not None
        )

    def choose(self) -> Choice:
        s = self._settings
        if s.openai_api_key is None:
            return Choice(None, "OPENAI_API_KEY is not set")
        if s.interview_engine == "relay":
            return Choice("relay", "INTERVIEW_ENGINE=relay")
        if not s.enable_realtime:
            if s.interview_engine == "realtime":
                return Choice(None, "ENABLE_REALTIME is false")
            return Choice("relay", "ENABLE_REALTIME is false")
        if s.interview_engine == "auto" and not self.breaker.allow():
            return Choice("relay", "Realtime API circuit breaker open")
        return Choice("realtime", "Realtime API")

    def guard(self, opener: Opener[T]) -> Opener[T]:
        """`opener`, reporting each connection's success or failure to the breaker."""

        async def guarded(call_sid: str, template: Template) -> T:
            try:
                conn = await opener(call_sid, template)
            except RealtimeUnavailable as exc:
                if counts_against(exc):
                    self.breaker.failed(str(exc))
                raise
            self.breaker.succeeded()
            return conn

        return guarded
