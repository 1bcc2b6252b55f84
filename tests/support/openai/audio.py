"""Audio the way the API carries it: G.711 tables, PCM16 at 24 kHz, and the voiced tone
the peer speaks with (deterministic, so the caller's VAD and the tests can rely on it)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

TONE_HZ = 220.0
TONE_AMPLITUDE = 8000.0


def _ulaw_table() -> npt.NDArray[np.int16]:
    out = np.zeros(256, dtype=np.int16)
    for byte in range(256):
        u = ~byte & 0xFF
        magnitude = (((u & 0x0F) << 3) + 0x84) << ((u >> 4) & 0x07)
        value = magnitude - 0x84
        out[byte] = -value if u & 0x80 else value
    return out


def _alaw_table() -> npt.NDArray[np.int16]:
    out = np.zeros(256, dtype=np.int16)
    for byte in range(256):
        a = byte ^ 0x55
        exponent, mantissa = (a >> 4) & 0x07, a & 0x0F
        magnitude = (mantissa << 4) + 8
        if exponent:
            magnitude = ((mantissa << 4) + 0x108) << (exponent - 1)
        out[byte] = magnitude if a & 0x80 else -magnitude
    return out


ULAW_DECODE = _ulaw_table()
ALAW_DECODE = _alaw_table()


def ulaw_encode(samples: npt.NDArray[np.int16]) -> bytes:
    """G.711 mu-law, bias 0x84, clip 32635 (the same algorithm as audioop.lin2ulaw)."""
    s = samples.astype(np.int32)
    sign = np.where(s < 0, 0x80, 0x00)
    magnitude = np.minimum(np.abs(s), 32635) + 0x84
    exponent = np.clip(np.floor(np.log2(magnitude)).astype(np.int32) - 7, 0, 7)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return bytes((~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes())


def decode_samples(data: bytes, fmt: str) -> npt.NDArray[np.int16]:
    """int16 samples of audio in a GA format type (audio/pcm, audio/pcmu or audio/pcma)."""
    if fmt == "audio/pcm":
        return np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2").astype(np.int16)
    table = ULAW_DECODE if fmt == "audio/pcmu" else ALAW_DECODE
    return table[np.frombuffer(data, dtype=np.uint8)]


def bytes_per_ms(fmt: str) -> int:
    return 48 if fmt == "audio/pcm" else 8


def voiced_tone(start_sample: int, count: int, rate: int) -> npt.NDArray[np.int16]:
    """A deterministic voiced signal: a 220 Hz harmonic tone with a slow syllable envelope."""
    t = (start_sample + np.arange(count)) / rate
    wave = (
        np.sin(2 * np.pi * TONE_HZ * t)
        + 0.5 * np.sin(2 * np.pi * 2 * TONE_HZ * t)
        + 0.25 * np.sin(2 * np.pi * 3 * TONE_HZ * t)
    ) / 1.3876  # the peak of this harmonic sum
    envelope = 0.75 + 0.25 * np.sin(2 * np.pi * 4.0 * t)
    return (TONE_AMPLITUDE * envelope * wave).astype(np.int16)
