"""The caller's recent audio, kept so that a reopened model session hears what the lost
one never turned into words.

A reconnect replays the conversation as text, but a caller turn whose transcript had not
arrived when the line to the model dropped exists only as audio; so does speech the
model's turn detection had not yet noticed, and everything said while there was no
connection. The model reports where each caller turn starts (in ms of the audio its
connection received); a turn stays open until its transcript, or its failure, arrives.
On a reconnect, everything from the earliest open turn (or, with none, the last
`LEAD_MS`) is sent again, ahead of the live audio.

Memory stays bounded: without an open turn only `LEAD_MS` is kept, and never more than
`MAX_MS` (the start of a longer answer is not replayed).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

LEAD_MS = 1000.0  # turn detection reports speech a few hundred ms after it begins
MAX_MS = 30_000.0


@dataclass(frozen=True, slots=True)
class Chunk:
    start_ms: float  # since the call's first caller audio
    ms: float
    b64: str


class CallerAudio:
    def __init__(self, *, lead_ms: float = LEAD_MS, max_ms: float = MAX_MS) -> None:
        self._lead_ms = lead_ms
        self._max_ms = max_ms
        self._chunks: deque[Chunk] = deque()
        self.total_ms = 0.0  # caller audio received since the call began
        self.sent_ms = 0.0  # caller audio the model was sent, replays included
        self._base_ms = 0.0  # where the current model connection's audio begins
        self._open: dict[str, float] = {}  # caller turns without a transcript: item -> start
        self.held = False  # reconnecting: keep the audio, send nothing

    def add(self, b64: str, ms: float) -> None:
        self._chunks.append(Chunk(self.total_ms, ms, b64))
        self.total_ms += ms
        if not self.held:
            self._trim()

    def _trim(self) -> None:
        keep_from = self.total_ms - self._lead_ms
        if self._open:
            keep_from = min(keep_from, min(self._open.values()))
        keep_from = max(keep_from, self.total_ms - self._max_ms)
        chunks = self._chunks
        while chunks and chunks[0].start_ms + chunks[0].ms <= keep_from:
            chunks.popleft()

    @property
    def kept_ms(self) -> float:
        return sum(chunk.ms for chunk in self._chunks)

    def turn_started(self, item_id: str, audio_start_ms: int) -> None:
        self._open[item_id] = self._base_ms + audio_start_ms

    def turn_settled(self, item_id: str) -> None:
        """Its transcript arrived (or failed): the conversation holds it now."""
        self._open.pop(item_id, None)

    def hold(self) -> None:
        """The model connection is gone: keep everything until `replay`."""
        self.held = True

    def replay(self) -> tuple[list[Chunk], bool]:
        """What the new connection must hear first, and whether it holds a caller turn the
        conversation lacks. The new connection's audio begins where the replay does."""
        keep_from = self.total_ms - self._lead_ms
        had_open = bool(self._open)
        if had_open:
            keep_from = min(keep_from, min(self._open.values()))
        chunks = [c for c in self._chunks if c.start_ms + c.ms > keep_from]
        self._base_ms = chunks[0].start_ms if chunks else self.total_ms
        self._open.clear()  # the new connection reports them again, under new ids
        return chunks, had_open

    def since(self, chunk: Chunk) -> list[Chunk]:
        """Chunks that arrived after `chunk`."""
        return [c for c in self._chunks if c.start_ms > chunk.start_ms]

    def release(self) -> None:
        self.held = False
        self._trim()
