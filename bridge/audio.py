"""Call audio: G.711 mu-law at 8 kHz on the Twilio side, PCM16 at 24 kHz on the OpenAI side.

Every function here sits on the per-frame hot path (50 frames a second per direction per call),
so state is kept in preallocated numpy buffers and the filters are designed once at import.
"""

from __future__ import annotations

import base64
import sys
import warnings
from typing import Any, Final, Literal

import numpy as np
import soxr
from numpy.typing import NDArray

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

__all__ = [
    "AUDIO_FORMATS",
    "OPENAI_RATE",
    "RESAMPLER_METHODS",
    "TWILIO_RATE",
    "AudioFormat",
    "AudioPayloadError",
    "Downsampler",
    "InboundAudio",
    "OutboundAudio",
    "ResamplerMethod",
    "Upsampler",
    "openai_audio_format",
    "pcm16_to_ulaw",
    "ulaw_to_pcm16",
]

AudioFormat = Literal["pcm16", "pcmu"]
ResamplerMethod = Literal["fir", "soxr-hq", "soxr-vhq"]

AUDIO_FORMATS: Final[tuple[AudioFormat, ...]] = ("pcm16", "pcmu")
RESAMPLER_METHODS: Final[tuple[ResamplerMethod, ...]] = ("fir", "soxr-hq", "soxr-vhq")
TWILIO_RATE: Final = 8000
OPENAI_RATE: Final = 24000
RATIO: Final = OPENAI_RATE // TWILIO_RATE

_PCM16: Final = np.dtype("<i2")
_BIG_ENDIAN: Final = sys.byteorder == "big"
_SOXR_QUALITY: Final[dict[str, str]] = {"soxr-hq": "HQ", "soxr-vhq": "VHQ"}


class AudioPayloadError(ValueError):
    """A media payload or audio delta that cannot be decoded; the frame must be dropped."""


def _b64decode(payload: str) -> bytes:
    try:
        return base64.b64decode(payload, validate=True)
    except ValueError as exc:
        raise AudioPayloadError(f"audio payload is not valid base64: {exc}") from None


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# --- G.711 mu-law ----------------------------------------------------------------------------


def _build_ulaw_encoder() -> NDArray[np.uint8]:
    """Classic G.711 encoder (bias 0x84, clip 32635) for every int16, indexed by its uint16 bits.

    audioop's encoder truncates to 14 bits before biasing, which rounds 381 negative inputs
    into the neighbouring code; the table keeps the reference behaviour bit for bit.
    """
    bits = np.arange(65536, dtype=np.int64)
    value = np.where(bits >= 32768, bits - 65536, bits)
    sign = np.where(value < 0, 0x80, 0)
    magnitude = np.minimum(np.abs(value), 32635) + 0x84
    exponent = np.frexp((magnitude >> 7).astype(np.float64))[1].astype(np.int64) - 1
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    code: NDArray[np.uint8] = (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8)
    return code


_ULAW_ENCODE: Final = _build_ulaw_encoder()


def ulaw_to_pcm16(data: bytes) -> bytes:
    """Decode 8-bit mu-law to PCM16 little-endian; audioop's decoder is the reference table."""
    pcm = audioop.ulaw2lin(data, 2)
    return audioop.byteswap(pcm, 2) if _BIG_ENDIAN else pcm


def pcm16_to_ulaw(data: bytes) -> bytes:
    """Encode PCM16 little-endian to mu-law; a trailing odd byte has no sample and is ignored."""
    usable = len(data) & ~1
    return _ULAW_ENCODE.take(np.frombuffer(data, dtype="<u2", count=usable // 2)).tobytes()


# --- filter design -----------------------------------------------------------------------------

_FIR_TAPS: Final = 90
_FIR_BETA: Final = 7.8
_FIR_CUTOFF_HZ: Final = 3925.0


def _design_lowpass(taps: int, beta: float, cutoff_hz: float, rate_hz: float) -> NDArray[Any]:
    """Kaiser-windowed sinc: linear phase, so the delay is exactly (taps - 1) / 2 samples.

    90 taps with the cut-off just below 4 kHz keeps 0-3400 Hz within 0.08 dB and puts 4600 Hz
    and above (every image and alias of the 300-3400 Hz band) at least 78 dB down.
    """
    n = np.arange(taps) - (taps - 1) / 2
    fc = cutoff_hz / rate_hz
    h: NDArray[Any] = 2 * fc * np.sinc(2 * fc * n) * np.kaiser(taps, beta)
    normalised: NDArray[Any] = h / h.sum()
    return normalised


_LOWPASS: Final = _design_lowpass(_FIR_TAPS, _FIR_BETA, _FIR_CUTOFF_HZ, OPENAI_RATE)
_WORK: Final = np.dtype(np.float32)
_ITEM: Final = _WORK.itemsize
_PHASE_TAPS: Final = _FIR_TAPS // RATIO
# Row i multiplies the input sample i places into the window; column p makes output 3k + p.
_UP_BANK: Final = np.ascontiguousarray(
    (RATIO * _LOWPASS).reshape(_PHASE_TAPS, RATIO)[::-1], dtype=_WORK
)
_DOWN_TAPS: Final = np.ascontiguousarray(_LOWPASS[::-1], dtype=_WORK)
# Decimating on the last sample of each group of three lets output m use input 3m + 2,
# which is why the downsampler is two input samples quicker than the upsampler.
_FIR_UP_DELAY_MS: Final = (_FIR_TAPS - 1) / 2 / OPENAI_RATE * 1000
_FIR_DOWN_DELAY_MS: Final = ((_FIR_TAPS - 1) / 2 - (RATIO - 1)) / OPENAI_RATE * 1000


_LOWEST: Final = np.array(-32768, dtype=_WORK)
_HIGHEST: Final = np.array(32767, dtype=_WORK)


def _to_pcm16(y: NDArray[Any]) -> NDArray[Any]:
    # maximum/minimum with 0-d limits cost about half of np.clip on frame-sized arrays.
    np.rint(y, out=y)
    np.maximum(y, _LOWEST, out=y)
    np.minimum(y, _HIGHEST, out=y)
    return y.astype(_PCM16)


class _FirUp:
    """Polyphase interpolator: each input sample yields three outputs at once, no bursts."""

    __slots__ = ("_buf", "_n", "_windows")

    _HIST: Final = _PHASE_TAPS - 1

    def __init__(self) -> None:
        self._buf: NDArray[Any] = np.zeros(self._HIST, dtype=_WORK)
        self._n = 0
        self._windows: NDArray[Any] = np.zeros((0, _PHASE_TAPS), dtype=_WORK)

    def clear(self) -> None:
        self._buf[: self._HIST] = 0

    def run(self, x: NDArray[Any]) -> NDArray[Any]:
        n = x.shape[0]
        if n == 0:
            return np.zeros(0, dtype=_PCM16)
        if n != self._n:
            # Frames are almost always 160 samples, so the window view is rebuilt only rarely.
            buf = np.empty(self._HIST + n, dtype=_WORK)
            buf[: self._HIST] = self._buf[: self._HIST]
            self._buf, self._n = buf, n
            self._windows = np.ndarray(
                (n, _PHASE_TAPS), dtype=_WORK, buffer=buf, strides=(_ITEM, _ITEM)
            )
        buf = self._buf
        buf[self._HIST :] = x
        y = np.dot(self._windows, _UP_BANK).reshape(-1)
        buf[: self._HIST] = buf[n:]
        return _to_pcm16(y)


class _FirDown:
    """Polyphase decimator that keeps up to two samples pending so any chunk length works."""

    __slots__ = ("_buf", "_fill")

    _HIST: Final = _FIR_TAPS - 1

    def __init__(self) -> None:
        self._buf: NDArray[Any] = np.zeros(self._HIST + 3 * 480, dtype=_WORK)
        self._fill = self._HIST

    def clear(self) -> None:
        self._buf[: self._HIST] = 0
        self._fill = self._HIST

    def run(self, x: NDArray[Any]) -> NDArray[Any]:
        fill = self._fill
        need = fill + x.shape[0]
        if need > self._buf.shape[0]:
            grown = np.empty(max(need, 2 * self._buf.shape[0]), dtype=_WORK)
            grown[:fill] = self._buf[:fill]
            self._buf = grown
        buf = self._buf
        buf[fill:need] = x
        count = (need - self._HIST) // RATIO
        if count:
            windows = np.ndarray(
                (count, _FIR_TAPS),
                dtype=_WORK,
                buffer=buf,
                offset=(RATIO - 1) * _ITEM,
                strides=(RATIO * _ITEM, _ITEM),
            )
            y = _to_pcm16(np.dot(windows, _DOWN_TAPS))
        else:
            y = np.zeros(0, dtype=_PCM16)
        used = RATIO * count
        self._fill = need - used
        buf[: self._fill] = buf[used:need]
        return y


class _Soxr:
    """libsoxr stream: better stop band, but it holds audio back and emits it in bursts."""

    __slots__ = ("_args", "_stream")

    def __init__(self, in_rate: int, out_rate: int, quality: str) -> None:
        self._args = (in_rate, out_rate, quality)
        self._stream = self._open()

    def _open(self) -> Any:
        in_rate, out_rate, quality = self._args
        return soxr.ResampleStream(in_rate, out_rate, 1, dtype="int16", quality=quality)

    def clear(self) -> None:
        # ResampleStream.clear() keeps the int16 dither sequence running, so output after it
        # differs from a fresh stream; barge-in is rare enough to afford a new one (~0.1 ms).
        self._stream = self._open()

    def run(self, x: NDArray[Any]) -> NDArray[Any]:
        if x.shape[0] == 0:
            return np.zeros(0, dtype=_PCM16)
        y: NDArray[Any] = self._stream.resample_chunk(x.astype(np.int16, copy=False))
        return y.astype(_PCM16, copy=False)


_SOXR_DELAY_MS: dict[tuple[str, int, int], float] = {}


def _soxr_delay_ms(quality: str, in_rate: int, out_rate: int) -> float:
    """Mean audio held back over 20 ms frames; soxr trims its filter delay, so this is latency.

    Measured on first use rather than hard-coded because it differs between libsoxr builds.
    """
    key = (quality, in_rate, out_rate)
    if key not in _SOXR_DELAY_MS:
        stream = _Soxr(in_rate, out_rate, quality)
        frame = in_rate // 50
        noise = np.random.default_rng(0).integers(-3000, 3000, frame * 100, dtype=np.int16)
        emitted = 0
        held: list[int] = []
        for start in range(0, noise.shape[0], frame):
            emitted += stream.run(noise[start : start + frame]).shape[0]
            held.append((start + frame) * out_rate // in_rate - emitted)
        _SOXR_DELAY_MS[key] = float(np.mean(held[25:])) / out_rate * 1000
    return _SOXR_DELAY_MS[key]


def _check_method(method: str) -> None:
    if method not in RESAMPLER_METHODS:
        raise ValueError(
            f"unknown resampler method {method!r}; expected one of {', '.join(RESAMPLER_METHODS)}"
        )


class _Resampler:
    __slots__ = ("_engine", "_odd", "delay_ms", "method")

    _IN_RATE: int
    _OUT_RATE: int

    def __init__(self, method: str = "fir") -> None:
        _check_method(method)
        self.method = method
        self._odd = b""
        self._engine: _FirUp | _FirDown | _Soxr
        if method == "fir":
            self._engine, self.delay_ms = self._fir()
        else:
            quality = _SOXR_QUALITY[method]
            self._engine = _Soxr(self._IN_RATE, self._OUT_RATE, quality)
            self.delay_ms = _soxr_delay_ms(quality, self._IN_RATE, self._OUT_RATE)

    def _fir(self) -> tuple[_FirUp | _FirDown, float]:
        raise NotImplementedError

    def clear(self) -> None:
        """Forget buffered audio, e.g. on barge-in, so stale speech is never played later."""
        self._engine.clear()
        self._odd = b""

    def _samples(self, pcm16: bytes) -> NDArray[Any]:
        # A PCM16 chunk may end mid-sample; the odd byte waits for the next chunk.
        if self._odd:
            pcm16 = self._odd + pcm16
            self._odd = b""
        if len(pcm16) & 1:
            self._odd = pcm16[-1:]
            pcm16 = pcm16[:-1]
        return np.frombuffer(pcm16, dtype=_PCM16)

    def process_array(self, pcm16: bytes) -> NDArray[Any]:
        """Like process() but returns the int16 array, saving a copy when more work follows."""
        return self._engine.run(self._samples(pcm16))

    def process(self, pcm16: bytes) -> bytes:
        """Resample one chunk of PCM16 little-endian mono, carrying state to the next chunk."""
        return self._engine.run(self._samples(pcm16)).tobytes()


class Upsampler(_Resampler):
    """8 kHz to 24 kHz, one per call; with "fir" every chunk of n samples gives exactly 3n."""

    __slots__ = ()

    _IN_RATE = TWILIO_RATE
    _OUT_RATE = OPENAI_RATE

    def _fir(self) -> tuple[_FirUp | _FirDown, float]:
        return _FirUp(), _FIR_UP_DELAY_MS


class Downsampler(_Resampler):
    """24 kHz to 8 kHz, one per call; with "fir" a stream of n samples gives exactly n // 3."""

    __slots__ = ()

    _IN_RATE = OPENAI_RATE
    _OUT_RATE = TWILIO_RATE

    def _fir(self) -> tuple[_FirUp | _FirDown, float]:
        return _FirDown(), _FIR_DOWN_DELAY_MS


# --- message payloads --------------------------------------------------------------------------


def _check_format(audio_format: str) -> None:
    if audio_format not in AUDIO_FORMATS:
        raise ValueError(
            f"unknown audio format {audio_format!r}; expected one of {', '.join(AUDIO_FORMATS)}"
        )


def openai_audio_format(audio_format: str) -> dict[str, str | int]:
    """The Realtime session `audio.input.format` / `audio.output.format` for each mode."""
    _check_format(audio_format)
    if audio_format == "pcmu":
        return {"type": "audio/pcmu"}
    return {"type": "audio/pcm", "rate": OPENAI_RATE}


class InboundAudio:
    """Caller audio: Twilio media payload to an input_audio_buffer.append payload."""

    __slots__ = ("_passthrough", "_resampler", "audio_format")

    def __init__(self, audio_format: str = "pcm16", method: str = "fir") -> None:
        _check_format(audio_format)
        self.audio_format = audio_format
        self._passthrough = audio_format == "pcmu"
        self._resampler = Upsampler(method)

    @property
    def delay_ms(self) -> float:
        return 0.0 if self._passthrough else self._resampler.delay_ms

    def clear(self) -> None:
        self._resampler.clear()

    def process(self, payload: str) -> str:
        """Base64 mu-law 8 kHz in; base64 PCM16 24 kHz out (unchanged in pcmu mode)."""
        return self.process_decoded(_b64decode(payload), payload)

    def process_decoded(self, ulaw: bytes, payload: str) -> str:
        """As `process`, for a caller that already decoded (and so validated) the payload."""
        if self._passthrough:
            return payload
        if not ulaw:
            return ""
        return _b64encode(self._resampler.process(ulaw_to_pcm16(ulaw)))


class OutboundAudio:
    """Model audio: response.output_audio.delta payload to a Twilio media payload.

    Returns "" when a delta is too short to complete an 8 kHz sample; send nothing then.
    """

    __slots__ = ("_model_bytes_per_ms", "_passthrough", "_resampler", "audio_format")

    def __init__(self, audio_format: str = "pcm16", method: str = "fir") -> None:
        _check_format(audio_format)
        self.audio_format = audio_format
        self._passthrough = audio_format == "pcmu"
        self._resampler = Downsampler(method)
        # mu-law: 8 bytes per ms; PCM16 at 24 kHz: 48.
        self._model_bytes_per_ms = TWILIO_RATE // 1000 if self._passthrough else OPENAI_RATE // 500

    def duration_ms(self, delta: str) -> float:
        """How much audio a base64 delta from the model holds."""
        return len(delta) * 3 / 4 / self._model_bytes_per_ms

    @property
    def delay_ms(self) -> float:
        return 0.0 if self._passthrough else self._resampler.delay_ms

    def clear(self) -> None:
        """Drop filter history and any half sample so a barge-in starts from silence."""
        self._resampler.clear()

    def process(self, delta: str) -> str:
        """Base64 PCM16 24 kHz in; base64 mu-law 8 kHz out (unchanged in pcmu mode)."""
        pcm = _b64decode(delta)
        if self._passthrough:
            return delta
        samples = self._resampler.process_array(pcm)
        if samples.shape[0] == 0:
            return ""
        return _b64encode(_ULAW_ENCODE.take(samples.view("<u2")).tobytes())
