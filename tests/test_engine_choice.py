"""The Realtime API's circuit breaker and the per-call engine choice, in process with a
clock moved by hand."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.realtime_client import RealtimeUnavailable
from evaluation.templates import DEFAULT_TEMPLATE, Template
from service.breaker import CircuitBreaker, State
from service.engine_choice import Choice, EngineChoice, counts_against
from service.settings import Secret, Settings


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def state(b: CircuitBreaker) -> State:
    """The breaker's state now (read through a call: it changes behind mypy's back)."""
    return b.state


def breaker(clock: Clock, failures: int = 3) -> CircuitBreaker:
    return CircuitBreaker(failures=failures, window_s=60, open_s=30, now=clock)


def test_failures_within_the_window_open_it_and_a_probe_closes_it() -> None:
    clock = Clock()
    b = breaker(clock)
    b.failed("refused")
    clock.t += 61  # the first failure has left the window
    b.failed("refused")
    b.failed("refused")
    assert state(b) == "closed" and b.allow()
    b.failed("refused")
    assert state(b) == "open" and not b.allow()
    clock.t += 29.9
    assert not b.allow()
    clock.t += 0.2
    assert state(b) == "half_open"
    assert b.allow()  # the probe
    assert not b.allow()  # only one at a time
    b.succeeded()
    assert state(b) == "closed" and b.allow()


def test_a_failed_probe_opens_it_for_another_full_period() -> None:
    clock = Clock()
    b = breaker(clock, failures=1)
    b.failed("HTTP 503")
    clock.t += 30
    assert b.allow()
    b.failed("HTTP 503")
    assert state(b) == "open"
    clock.t += 29
    assert not b.allow()
    clock.t += 1
    assert b.allow()


@pytest.mark.parametrize(
    ("message", "counts"),
    [
        ("handshake refused with HTTP 503", True),
        ("handshake refused with HTTP 500", True),
        ("handshake refused with HTTP 429", True),
        ("cannot connect: ConnectionRefusedError", True),
        ("the session configuration was never confirmed", True),
        ("handshake refused with HTTP 401", False),
        ("handshake refused with HTTP 400", False),
    ],
)
def test_what_counts_against_the_api(message: str, counts: bool) -> None:
    assert counts_against(RealtimeUnavailable(message)) is counts


def settings(**values: Any) -> Settings:
    base: dict[str, Any] = {"openai_api_key": Secret("sk-x")}
    return Settings(**{**base, **values})


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({}, Choice("realtime", "Realtime API")),
        ({"interview_engine": "relay"}, Choice("relay", "INTERVIEW_ENGINE=relay")),
        ({"enable_realtime": False}, Choice("relay", "ENABLE_REALTIME is false")),
        (
            {"enable_realtime": False, "interview_engine": "realtime"},
            Choice(None, "ENABLE_REALTIME is false"),
        ),
        ({"openai_api_key": None}, Choice(None, "OPENAI_API_KEY is not set")),
    ],
)
def test_the_engine_chosen_for_a_call(values: dict[str, Any], expected: Choice) -> None:
    assert EngineChoice(settings(**values), breaker(Clock())).choose() == expected


def test_an_open_breaker_sends_calls_to_the_relay_unless_realtime_is_forced() -> None:
    clock = Clock()
    open_breaker = breaker(clock, failures=1)
    open_breaker.failed("HTTP 503")
    auto = EngineChoice(settings(), open_breaker)
    assert auto.choose() == Choice("relay", "Realtime API circuit breaker open")
    assert auto.takeover
    forced = EngineChoice(settings(interview_engine="realtime"), open_breaker)
    assert forced.choose().engine == "realtime" and not forced.takeover


async def test_every_realtime_connection_reports_to_the_breaker() -> None:
    clock = Clock()
    b = breaker(clock, failures=2)
    choice = EngineChoice(settings(), b)
    outcomes: list[Exception | None] = [
        RealtimeUnavailable("handshake refused with HTTP 401"),
        RealtimeUnavailable("handshake refused with HTTP 503"),
        None,
        RealtimeUnavailable("cannot connect: OSError"),
        RealtimeUnavailable("handshake refused with HTTP 502"),
    ]

    async def opener(call_sid: str, template: Template) -> str:
        outcome = outcomes.pop(0)
        if outcome is not None:
            raise outcome
        return "connection"

    guarded = choice.guard(opener)
    for _ in range(2):
        with pytest.raises(RealtimeUnavailable):
            await guarded("CA1", DEFAULT_TEMPLATE)
    assert state(b) == "closed"  # the 401 did not count: one failure so far
    assert await guarded("CA1", DEFAULT_TEMPLATE) == "connection"  # a success clears it
    for _ in range(2):
        with pytest.raises(RealtimeUnavailable):
            await guarded("CA1", DEFAULT_TEMPLATE)
    assert state(b) == "open"
