"""Admission control: how many calls this worker carries, against its cap.

Past a certain number of simultaneous calls a worker does not slow down gracefully:
every call on it degrades at once (audio seconds late, barge-in cut in the wrong place,
webhooks slow; see benchmarks/README.md). So a full worker refuses new calls at the
door, politely, and the calls it already carries stay good.
"""

from __future__ import annotations

from typing import Protocol


class CallCapacity:
    """Counts this worker's live media streams; `limit` 0 means no cap.

    The count is per process on purpose: the cost is CPU of this worker's own core, and
    a call's media stream lives on one worker. Only one event loop touches it, so it
    needs no lock.
    """

    __slots__ = ("_limit", "_live")

    def __init__(self, limit: int) -> None:
        if limit < 0:
            raise ValueError(f"limit must be 0 (no cap) or more, got {limit}")
        self._limit = limit
        self._live = 0

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def live(self) -> int:
        """Media streams open on this worker now."""
        return self._live

    def stream_opened(self) -> None:
        # Counted even over the cap: a stream whose webhook another worker answered is
        # a call already answered, and refusing it would drop the caller mid-call.
        self._live += 1

    def stream_closed(self) -> None:
        # Never below zero, so an unmatched close cannot open room that is not there.
        self._live = max(0, self._live - 1)

    def has_room(self, reserved: int = 0) -> bool:
        """Whether one more call fits.

        `reserved` counts calls already answered here whose stream has not arrived yet
        (pre-connected sessions): they will need their slot within seconds, so they
        count as taken, or a burst of webhooks could overfill the worker.
        """
        if self._limit == 0:
            return True
        return self._live + max(0, reserved) < self._limit

    def __repr__(self) -> str:
        return f"CallCapacity(live={self._live}, limit={self._limit})"


class Connecting(Protocol):
    """Calls answered here whose stream has not arrived yet, by CallSid."""

    def __len__(self) -> int: ...
    def __contains__(self, call_sid: object) -> bool: ...


class Admission:
    """Whether this worker answers one more call: live streams plus calls answered here
    whose stream has not arrived yet (their pre-connected sessions)."""

    __slots__ = ("_connecting", "capacity")

    def __init__(self, capacity: CallCapacity, connecting: Connecting) -> None:
        self.capacity = capacity
        self._connecting = connecting

    def reserved(self, call_sid: str | None = None) -> int:
        """Calls answered here and still connecting. A call already pre-connected (a
        webhook Twilio retried) is not counted against itself: it holds its own slot."""
        count = len(self._connecting)
        if call_sid is not None and call_sid in self._connecting:
            count -= 1
        return count

    def has_room(self, call_sid: str | None = None) -> bool:
        return self.capacity.has_room(self.reserved(call_sid))

    def busy_reason(self, call_sid: str) -> str:
        why = f"busy: {self.capacity.live} calls in progress on this worker"
        if reserved := self.reserved(call_sid):
            why += f", {reserved} more answered and connecting"
        return why

    def stream_opened(self) -> None:
        self.capacity.stream_opened()

    def stream_closed(self) -> None:
        self.capacity.stream_closed()
