"""`eventually`, which every wait in the suite goes through: it must wake on the change that
makes its condition true, not on a timer, and say what it was waiting for when it gives up."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.waiting import Changes, eventually


async def test_wakes_on_the_reported_change_and_returns_the_result() -> None:
    changes = Changes()
    seen: list[str] = []
    checks = 0

    def check() -> list[str]:
        nonlocal checks
        checks += 1
        return seen

    async def record() -> None:
        await asyncio.sleep(0)
        seen.append("event")
        changes.notify()

    task = asyncio.ensure_future(record())
    # Its own deadline is a minute away: only the change can end the wait within 5 s.
    waiting = eventually(check, timeout=60, what="the event", on=changes)
    assert await asyncio.wait_for(waiting, 5) == ["event"]
    await task
    assert checks == 2  # once at the start, once after the change: no polling in between


async def test_a_change_during_the_check_is_not_missed() -> None:
    changes = Changes()
    state = {"done": False}

    def check() -> bool:
        if not state["done"]:
            state["done"] = True
            changes.notify()  # changed while the check ran, after it read the state
            return False
        return True

    waiting = eventually(check, timeout=60, what="the change", on=changes)
    assert await asyncio.wait_for(waiting, 5)


async def test_without_a_change_it_gives_up_naming_what_and_the_context() -> None:
    checks = 0

    def never() -> bool:
        nonlocal checks
        checks += 1
        return False

    with pytest.raises(AssertionError) as caught:
        await eventually(
            never, timeout=0.05, what="the goodbye", on=Changes(), context=lambda: "errors=[x]"
        )
    assert "waiting for the goodbye" in str(caught.value)
    assert "errors=[x]" in str(caught.value)
    assert checks == 2  # at the start and at the deadline


async def test_state_nothing_reports_is_asked_for_again_on_the_interval() -> None:
    answers = iter([None, None, "stored"])

    async def read() -> str | None:
        return next(answers)

    assert await eventually(read, timeout=5, what="the document", every=0.001) == "stored"


async def test_it_needs_something_to_wake_it() -> None:
    with pytest.raises(ValueError):
        await eventually(lambda: True, timeout=1, what="anything")
