"""Whether the model owes the caller a reply and has gone quiet on it.

A model can stall on a connection that is otherwise healthy (it still answers pings, so
the link's half-open watchdog never fires): a reply asked for and never created, or
created and never producing a sound. The caller would wait in silence until they gave
up. So once the model has said nothing for `stall_s` while a reply is owed, the reply is
asked for again; if that stalls too, the connection is reopened (and the conversation,
and what the caller said, replayed to the new one).
"""

from __future__ import annotations

from typing import Literal

Remedy = Literal["ask_again", "reopen"]


class ReplyWatch:
    def __init__(self, stall_s: float, now: float) -> None:
        self.stall_s = stall_s
        self._heard_at = now
        self._stalls = 0

    def heard(self, now: float) -> None:
        """Any event from the model."""
        self._heard_at = now

    def progressed(self) -> None:
        """Reply audio arrived: whatever stalled before is over."""
        self._stalls = 0

    def remedy(self, now: float, *, owed: bool) -> Remedy | None:
        if not owed or now - self._heard_at < self.stall_s:
            return None
        self._stalls += 1
        self._heard_at = now  # the remedy gets its own stall_s
        return "ask_again" if self._stalls == 1 else "reopen"
