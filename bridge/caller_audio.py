"""The caller's recent audio, kept so that a reopened model session hears what the lost
one never turned into words.

A reconnect replays the conversation as text, but a caller turn whose transcript had not
arrived when the line to the model dropped exists only as audio; so does speech sent
into a connection that had silently died, and everything said while there was none. So
the audio is kept from shortly (`LEAD_MS`) before the model last showed it was alive (any
event), and from the start of every caller turn still without a transcript; the model
reports where each turn starts, in ms of the audio its connection received. A reconnect
sends that audio again, ahead of the live audio.

It is kept as Twilio's 8 kHz mu-law (a sixth of the 24 kHz PCM the model is sent) and
never more than `MAX_MS` of it: the start of a longer untranscribed answer is not
replayed.
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
    mulaw: bytes


class CallerAudio:
    def __init__(self, *, lead_ms: float = LEAD_MS, max_ms: float = MAX_MS) -> None:
        self._lead_ms = lead_ms
        self._max_ms = max_ms
        self._chunks: deque[Chunk] = deque()
        self.total_ms = 0.0  # caller audio received since the call began
        self.sent_ms = 0.0  # caller audio the model was sent, replays included
        self._base_ms = 0.0  # where the current model connection's audio begins
        self._alive_ms = 0.0  # how much had been received when the model last sent an event
        self._open: dict[str, float] = {}  # caller turns without a transcript: item -> start
        self.held = False  # reconnecting: keep the audio, send nothing

    def add(self, mulaw: bytes, ms: float) -> None:
        self._chunks.append(Chunk(self.total_ms, ms, mulaw))
        self.total_ms += ms
        self._trim()

    def alive(self) -> None:
        """The model sent an event: the connection was alive with this much audio sent."""
        self._alive_ms = self.total_ms

    def _keep_from(self) -> float:
        keep_from = self._alive_ms - self._lead_ms
        if self._open:
            keep_from = min(keep_from, min(self._open.values()))
        return max(keep_from, self.total_ms - self._max_ms)

    def _trim(self) -> None:
        # While held, everything is kept for the replay, up to the bound.
        keep_from = self.total_ms - self._max_ms if self.held else self._keep_from()
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
        keep_from, had_open = self._keep_from(), bool(self._open)
        chunks = [c for c in self._chunks if c.start_ms + c.ms > keep_from]
        self._base_ms = chunks[0].start_ms if chunks else self.total_ms
        self._open.clear()  # the new connection reports them again, under new ids
        self._alive_ms = self.total_ms
        return chunks, had_open

    def since(self, chunk: Chunk) -> list[Chunk]:
        """Chunks that arrived after `chunk`."""
        return [c for c in self._chunks if c.start_ms > chunk.start_ms]

    def release(self) -> None:
        self.held = False
        self._trim()
