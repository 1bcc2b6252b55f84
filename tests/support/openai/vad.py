"""The server's turn detection: an energy VAD driven by the audio position, not the wall
clock, so where a turn starts and ends depends only on the audio a test sends."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from tests.support.openai.audio import bytes_per_ms, decode_samples
from tests.support.openai.protocol import SEMANTIC_SILENCE_MS, Json, new_id

VAD_FRAME_MS = 10
VAD_START_FRAMES = 6  # 60 ms of speech before speech_started
VAD_RMS_AT_HALF = 330.0  # about -40 dBFS on int16, the RMS threshold at threshold=0.5


@dataclass(frozen=True)
class SpeechStarted:
    audio_start_ms: int
    item_id: str


@dataclass(frozen=True)
class SpeechStopped:
    audio_end_ms: int
    item_id: str
    audio_ms: float  # the turn to commit, from its (padded) start to where silence began


def threshold(td: Json) -> float:
    value = float(td.get("threshold", 0.5)) if td.get("type") == "server_vad" else 0.5
    return VAD_RMS_AT_HALF * 10 ** ((value - 0.5) * 2)


def silence_ms(td: Json) -> int:
    if td.get("type") == "semantic_vad":
        return SEMANTIC_SILENCE_MS[str(td.get("eagerness", "auto"))]
    return int(td.get("silence_duration_ms", 500))


class TurnDetector:
    """The input buffer's position and the VAD's state, in ms of audio since the connection
    opened."""

    def __init__(self) -> None:
        self.buffer_start_ms = 0.0
        self.speech_item_id: str | None = None
        self._pending = b""
        self._pos_ms = 0.0
        self._loud_run = 0
        self._loud_start_ms = 0.0
        self._quiet_run = 0
        self._quiet_start_ms = 0.0
        self._in_speech = False
        self._speech_start_ms = 0.0

    def reset(self, at_ms: float) -> None:
        """Forget any turn in progress; detection resumes at `at_ms` of audio."""
        self._pending = b""
        self._pos_ms = at_ms
        self._loud_run = 0
        self._quiet_run = 0
        self._in_speech = False
        self.speech_item_id = None

    def feed(self, data: bytes, fmt: str, td: Json) -> Iterator[SpeechStarted | SpeechStopped]:
        """What appending `data` detects, frame by frame; the caller acts on each before the
        next frame is looked at."""
        frame_bytes = bytes_per_ms(fmt) * VAD_FRAME_MS
        buf = self._pending + data
        whole = len(buf) // frame_bytes * frame_bytes
        self._pending = buf[whole:]
        if not whole:
            return
        samples = decode_samples(buf[:whole], fmt).astype(np.float64)
        per_frame = samples.reshape(whole // frame_bytes, -1)
        rms = np.sqrt(np.mean(per_frame**2, axis=1))
        level = threshold(td)
        for value in rms:
            event = self._frame(bool(value > level), td)
            if event is not None:
                yield event
            self._pos_ms += VAD_FRAME_MS

    def _frame(self, loud: bool, td: Json) -> SpeechStarted | SpeechStopped | None:
        pos = self._pos_ms
        if not self._in_speech:
            if not loud:
                self._loud_run = 0
                return None
            if self._loud_run == 0:
                self._loud_start_ms = pos
            self._loud_run += 1
            if self._loud_run < VAD_START_FRAMES:
                return None
            padding = int(td.get("prefix_padding_ms", 300)) if td["type"] == "server_vad" else 300
            self._in_speech = True
            self._quiet_run = 0
            self._speech_start_ms = max(self.buffer_start_ms, self._loud_start_ms - padding)
            self.speech_item_id = new_id("item")
            return SpeechStarted(int(self._speech_start_ms), self.speech_item_id)
        if loud:
            self._quiet_run = 0
            return None
        if self._quiet_run == 0:
            self._quiet_start_ms = pos
        self._quiet_run += 1
        if self._quiet_run * VAD_FRAME_MS < silence_ms(td):
            return None
        self._in_speech = False
        self._loud_run = 0
        item_id = self.speech_item_id or new_id("item")
        self.speech_item_id = None
        end_ms = self._quiet_start_ms
        self.buffer_start_ms = pos + VAD_FRAME_MS
        return SpeechStopped(int(end_ms), item_id, end_ms - self._speech_start_ms)
