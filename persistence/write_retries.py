"""When a failed database write is tried again, and how soon.

An outage (the server unreachable, timed out, stepping down) is waited out however long
it lasts: the write is the same, and it will go in once the database is back. Anything
else is a refusal that retrying is unlikely to mend (a bad document, say), so it gets
`REFUSED_TRIES` and no more, and one bad write cannot hold back the writes behind it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError

REFUSED_TRIES = 5
# Server answers that mean "not now" rather than "never": a primary stepping down or
# shutting down, a node still starting, a host not reached (MongoDB's error codes).
RETRYABLE_CODES = frozenset({6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436})

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Backoff:
    """The pause before the next try: `first_s` doubling per failure, at most `max_s`
    (so a database that is back is found within about `max_s`)."""

    first_s: float = 0.2
    max_s: float = 5.0

    def after(self, failures: int) -> float:
        return min(self.max_s, self.first_s * 2.0 ** min(failures - 1, 30))


BACKOFF = Backoff()


def retryable(exc: Exception) -> bool:
    """Whether a failed write may succeed later unchanged (the database is away)."""
    if isinstance(exc, ConnectionFailure):  # unreachable, timed out, no server selected
        return True
    if isinstance(exc, PyMongoError) and exc.has_error_label("RetryableWriteError"):
        return True
    return isinstance(exc, OperationFailure) and exc.code in RETRYABLE_CODES
