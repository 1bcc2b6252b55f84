"""The caller's recent audio, kept so that a reopened model session hears what the lost
one never turned into words.

A reconnect replays the conversation as text, and the text holds the caller's turns up to
the last one transcribed. Everything the caller said after it exists only as audio: a
turn whose transcript had not arrived when the line to the model dropped, speech the
model's turn detection had not noticed yet, speech sent into a connection that had
silently died, and everything said while there was none. So the audio is kept from the
end of the last transcribed turn (the model reports where each turn starts and ends, in
ms of the audio its connection received), and a reconnect sends it again, ahead of the
live audio. Nothing before that end is sent again, so no tail of a turn already in the
conversation can come back as a new one; and nothing is forgotten because it was
replayed: if the new connection dies too before it has transcribed what it was sent,
the next one is sent the same again.

It is kept as Twilio's 8 kHz mu-law (a sixth of the 24 kHz PCM the model is sent), never
more than `MAX_MS` of it: the start of a longer untranscribed answer is not replayed.
"""

from __future__ import annotations

from collections import deque
from typing import NamedTuple

MAX_MS = 30_000.0


class Chunk(NamedTuple):
    start_ms: float  # since the call's first caller audio
    ms: float
    mulaw: bytes


# Kept as plain tuples, made into Chunks only for a replay: a call keeps up to 1500 of
# them, and the garbage collector stops following an exact tuple of plain values after its
# first pass, where it would walk every object (a NamedTuple's too) on every full
# collection: at 100 calls, three quarters of all it walked, and a 75 ms pause.
_Kept = tuple[float, float, bytes]


class CallerAudio:
    def __init__(self, *, max_ms: float = MAX_MS) -> None:
        self._max_ms = max_ms
        self._chunks: deque[_Kept] = deque()
        self.total_ms = 0.0  # caller audio received since the call began
        self.sent_ms = 0.0  # caller audio the model was sent, replays included
        self._base_ms = 0.0  # where the current model connection's audio begins
        self._settled_ms = 0.0  # where the last turn the conversation holds ended
        self._open: dict[str, float] = {}  # caller turns without a transcript: item -> start
        self._ends: dict[str, float] = {}  # where those turns ended, once reported
        self.held = False  # reconnecting: keep the audio, send nothing

    def add(self, mulaw: bytes, ms: float) -> None:
        self._chunks.append((self.total_ms, ms, mulaw))
        self.total_ms += ms
        self._trim()

    def _keep_from(self) -> float:
        keep_from = self._settled_ms
        if self._open:
            keep_from = min(keep_from, min(self._open.values()))
        return max(keep_from, self.total_ms - self._max_ms)

    def _trim(self) -> None:
        keep_from = self._keep_from()
        chunks = self._chunks
        while chunks and chunks[0][0] + chunks[0][1] <= keep_from:
            chunks.popleft()

    @property
    def kept_ms(self) -> float:
        return sum(ms for _, ms, _ in self._chunks)

    def turn_started(self, item_id: str, audio_start_ms: int) -> None:
        self._open[item_id] = self._base_ms + audio_start_ms

    def turn_ended(self, item_id: str, audio_end_ms: int) -> None:
        self._ends[item_id] = self._base_ms + audio_end_ms

    def turn_settled(self, item_id: str) -> None:
        """Its transcript arrived (or failed): the conversation holds it now."""
        self._open.pop(item_id, None)
        end = self._ends.pop(item_id, None)
        if end is not None:
            self._settled_ms = max(self._settled_ms, end)
        self._trim()

    def hold(self) -> None:
        """The model connection is gone: send nothing until `replay`."""
        self.held = True

    def replay(self) -> tuple[list[Chunk], bool]:
        """What the new connection must hear first, and whether it holds the start of a
        caller turn the conversation lacks. The new connection's audio begins where the
        replay does; the turns it reports are placed from there."""
        keep_from, had_open = self._keep_from(), bool(self._open)
        chunks = [Chunk(*c) for c in self._chunks if c[0] + c[1] > keep_from]
        self._base_ms = chunks[0].start_ms if chunks else self.total_ms
        # The new connection reports these turns again, under new ids; until it does, the
        # audio stays kept from the same place (the settled end), so a second loss loses
        # nothing either.
        self._open.clear()
        self._ends.clear()
        return chunks, had_open

    def since(self, chunk: Chunk) -> list[Chunk]:
        """Chunks that arrived after `chunk`."""
        return [Chunk(*c) for c in self._chunks if c[0] > chunk.start_ms]

    def release(self) -> None:
        self.held = False
