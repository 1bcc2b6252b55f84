"""When a failed call write is tried again, and how soon (persistence.write_retries)."""

from __future__ import annotations

import pytest
from pymongo.errors import (
    AutoReconnect,
    DuplicateKeyError,
    NetworkTimeout,
    OperationFailure,
    ServerSelectionTimeoutError,
    WriteError,
)

from persistence.write_retries import BACKOFF, Backoff, retryable


def test_the_pause_doubles_up_to_its_cap_and_stays_there() -> None:
    assert [BACKOFF.after(n) for n in range(1, 8)] == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]
    assert BACKOFF.after(10_000) == 5.0  # an outage of any length: no overflow
    assert Backoff(first_s=1.0, max_s=2.0).after(3) == 2.0


@pytest.mark.parametrize(
    "exc",
    [
        AutoReconnect("connection reset"),
        NetworkTimeout("timed out"),
        ServerSelectionTimeoutError("no servers"),
        OperationFailure("not primary", code=10107),
        OperationFailure("shutting down", code=11600),
        OperationFailure("retry me", code=1, details={"errorLabels": ["RetryableWriteError"]}),
    ],
)
def test_an_outage_is_waited_out(exc: Exception) -> None:
    assert retryable(exc)


@pytest.mark.parametrize(
    "exc",
    [
        WriteError("document failed validation", code=121),
        DuplicateKeyError("duplicate", code=11000),
        OperationFailure("bad value", code=2),
        ValueError("seq must not be negative"),
    ],
)
def test_a_refusal_is_not(exc: Exception) -> None:
    assert not retryable(exc)
