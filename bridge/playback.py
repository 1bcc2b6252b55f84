"""What the caller has actually heard of each assistant item, from Twilio's mark echoes.

Every outbound media message is followed by a mark. Twilio echoes a mark once the
audio before it has played, so the last echo pins the playback position; between
echoes playback advances at 8 mu-law bytes per ms. Twilio echoes every pending mark
on `clear`, so the position must be taken before the clear is sent.
"""

from __future__ import annotations

from dataclasses import dataclass

BYTES_PER_MS = 8


@dataclass(slots=True)
class _Item:
    sent: int = 0  # mu-law bytes of this item sent to Twilio
    acked: int = 0  # bytes of this item known played at `acked_at`
    acked_at: float | None = None
    first_sent_at: float = 0.0


class PlaybackTracker:
    def __init__(self) -> None:
        self._items: dict[str, _Item] = {}
        self._order: list[str] = []
        self._marks: dict[str, tuple[str, int]] = {}
        self._next_mark = 0
        self._last_ack_at: float | None = None
        self._stopped_at: float | None = None
        self.sent_total = 0

    def stop(self, now: float) -> None:
        """The line to the caller is gone: nothing plays after `now`."""
        if self._stopped_at is None:
            self._stopped_at = now

    def sent(self, item_id: str, nbytes: int, now: float) -> str:
        """Account for audio sent to Twilio; returns the name of the mark to send after it."""
        item = self._items.get(item_id)
        if item is None:
            item = self._items[item_id] = _Item(first_sent_at=now)
            self._order.append(item_id)
        item.sent += nbytes
        self.sent_total += nbytes
        self._next_mark += 1
        name = f"a{self._next_mark}"
        self._marks[name] = (item_id, item.sent)
        return name

    def acked(self, name: str, now: float) -> bool:
        """A mark came back; false for names we no longer track (e.g. echoed by a clear)."""
        entry = self._marks.pop(name, None)
        if entry is None:
            return False
        item_id, offset = entry
        # Marks are echoed in order: anything older is played too.
        number = int(name[1:])
        for older in [n for n in self._marks if int(n[1:]) < number]:
            del self._marks[older]
        item = self._items[item_id]
        item.acked, item.acked_at = offset, now
        self._last_ack_at = now
        return True

    @property
    def pending_marks(self) -> int:
        return len(self._marks)

    def pending_for(self, item_id: str) -> bool:
        return any(owner == item_id for owner, _ in self._marks.values())

    def played_ms(self, item_id: str, now: float) -> int:
        """Milliseconds of `item_id` the caller has heard by `now`, never more than was sent."""
        item = self._items.get(item_id)
        if item is None:
            return 0
        if self._stopped_at is not None:
            now = min(now, self._stopped_at)
        if item.acked_at is not None:
            played = item.acked + (now - item.acked_at) * 1000 * BYTES_PER_MS
        else:
            index = self._order.index(item_id)
            earlier_pending = any(owner in self._order[:index] for owner, _ in self._marks.values())
            if earlier_pending:
                return 0  # the audio before this item is still playing
            start = max(item.first_sent_at, self._last_ack_at or item.first_sent_at)
            played = (now - start) * 1000 * BYTES_PER_MS
        return int(max(0.0, min(float(item.sent), played)) // BYTES_PER_MS)

    def sent_ms(self, item_id: str) -> int:
        item = self._items.get(item_id)
        return 0 if item is None else item.sent // BYTES_PER_MS

    def cleared(self) -> None:
        """After a clear nothing queued will play: forget the marks Twilio is about to echo."""
        self._marks.clear()
