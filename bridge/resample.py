"""8 <-> 24 kHz resampling of call audio, one stateful resampler per direction per call.

The default is a 90-tap Kaiser polyphase FIR: 24000/8000 is an integer ratio, so it runs
frame by frame with exactly three samples out per sample in and 1.9 ms of delay. libsoxr
is selectable; its stream presets hold back tens of milliseconds and emit in bursts.
Every call's audio passes through here 50 times a second per direction, so state lives
in preallocated numpy buffers and the filters are designed once, at import.
"""

from __future__ import annotations

from typing import Any, Final, Literal

import numpy as np
import soxr
from numpy.typing import NDArray

ResamplerMethod = Literal["fir", "soxr-hq", "soxr-vhq"]
RESAMPLER_METHODS: Final[tuple[ResamplerMethod, ...]] = ("fir", "soxr-hq", "soxr-vhq")
TWILIO_RATE: Final = 8000
OPENAI_RATE: Final = 24000
RATIO: Final = OPENAI_RATE // TWILIO_RATE

_PCM16: Final = np.dtype("<i2")
_SOXR_QUALITY: Final[dict[str, str]] = {"soxr-hq": "HQ", "soxr-vhq": "VHQ"}


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
_UP_BANK: Final = (RATIO * _LOWPASS).reshape(_PHASE_TAPS, RATIO)[::-1]
_DOWN_TAPS: Final = _LOWPASS[::-1]
# Decimating on the last sample of each group of three lets output m use input 3m + 2,
# which is why the downsampler is two input samples quicker than the upsampler.
_FIR_UP_DELAY_MS: Final = (_FIR_TAPS - 1) / 2 / OPENAI_RATE * 1000
_FIR_DOWN_DELAY_MS: Final = ((_FIR_TAPS - 1) / 2 - (RATIO - 1)) / OPENAI_RATE * 1000

# Both filters run as one matrix product per chunk over blocks of outputs. A block's input
# window overlaps the next one's, so numpy copies the windows before the product; blocks
# keep that copy small (one window per block, not one per output, as a plain FIR would
# need), for twice the multiplications, which BLAS does faster than the copy it saves.
_UP_BLOCK: Final = 16  # input samples per block: a 20 ms frame is ten blocks
_DOWN_BLOCK: Final = 32  # output samples per block


def _block_bank(taps: NDArray[Any], block: int, step: int) -> NDArray[Any]:
    """The matrix taking one block's input window to its outputs: output r of the block
    applies `taps` (rows: window offsets, columns: outputs per input step) from offset
    step * r."""
    span, width = taps.shape
    bank = np.zeros((step * (block - 1) + span, block * width), dtype=_WORK)
    for r in range(block):
        bank[step * r : step * r + span, width * r : width * (r + 1)] = taps
    return bank


_UP_MATRIX: Final = _block_bank(_UP_BANK, _UP_BLOCK, 1)
_DOWN_MATRIX: Final = _block_bank(_DOWN_TAPS.reshape(-1, 1), _DOWN_BLOCK, RATIO)


_LOWEST: Final = np.array(-32768, dtype=_WORK)
_HIGHEST: Final = np.array(32767, dtype=_WORK)


def _to_pcm16(y: NDArray[Any]) -> NDArray[Any]:
    # maximum/minimum with 0-d limits cost about half of np.clip on frame-sized arrays.
    np.rint(y, out=y)
    np.maximum(y, _LOWEST, out=y)
    np.minimum(y, _HIGHEST, out=y)
    return y.astype(_PCM16)


def _windows(buf: NDArray[Any], start: int, blocks: int, stride: int, width: int) -> NDArray[Any]:
    """`blocks` overlapping windows of `buf`, `stride` samples apart, as one matrix view."""
    return np.ndarray(
        (blocks, width),
        dtype=_WORK,
        buffer=buf,
        offset=start * _ITEM,
        strides=(stride * _ITEM, _ITEM),
    )


class _FirUp:
    """Polyphase interpolator: each input sample yields three outputs at once, no bursts."""

    __slots__ = ("_buf", "_n", "_windows")

    _HIST: Final = _PHASE_TAPS - 1

    def __init__(self) -> None:
        self._buf: NDArray[Any] = np.zeros(self._HIST, dtype=_WORK)
        self._n = 0
        self._windows: NDArray[Any] = np.zeros((0, _UP_MATRIX.shape[0]), dtype=_WORK)

    def clear(self) -> None:
        self._buf[: self._HIST] = 0

    def run(self, x: NDArray[Any]) -> NDArray[Any]:
        n = x.shape[0]
        if n == 0:
            return np.zeros(0, dtype=_PCM16)
        if n != self._n:
            # Frames are almost always 160 samples, so the window view is rebuilt only rarely.
            # The last block may run past the chunk: its padding stays zero (finite), and
            # the outputs it makes are dropped.
            blocks = -(-n // _UP_BLOCK)
            buf = np.zeros(self._HIST + blocks * _UP_BLOCK, dtype=_WORK)
            buf[: self._HIST] = self._buf[: self._HIST]
            self._buf, self._n = buf, n
            self._windows = _windows(buf, 0, blocks, _UP_BLOCK, _UP_MATRIX.shape[0])
        buf = self._buf
        end = self._HIST + n
        buf[self._HIST : end] = x
        y = np.dot(self._windows, _UP_MATRIX).reshape(-1)[: RATIO * n]
        buf[: self._HIST] = buf[n:end]
        return _to_pcm16(y)


class _FirDown:
    """Polyphase decimator that keeps up to two samples pending so any chunk length works."""

    __slots__ = ("_buf", "_fill")

    _HIST: Final = _FIR_TAPS - 1
    # Room past the samples for the last block's window, which may run beyond them.
    _SLACK: Final = RATIO * _DOWN_BLOCK

    def __init__(self) -> None:
        self._buf: NDArray[Any] = np.zeros(self._HIST + 3 * 480 + self._SLACK, dtype=_WORK)
        self._fill = self._HIST

    def clear(self) -> None:
        self._buf[: self._HIST] = 0
        self._fill = self._HIST

    def run(self, x: NDArray[Any]) -> NDArray[Any]:
        fill = self._fill
        need = fill + x.shape[0]
        if need + self._SLACK > self._buf.shape[0]:
            # Zeros, not np.empty: stale samples past `need` only reach dropped outputs,
            # but a NaN there would reach every output of its block (NaN * 0 is NaN).
            grown = np.zeros(max(need + self._SLACK, 2 * self._buf.shape[0]), dtype=_WORK)
            grown[:fill] = self._buf[:fill]
            self._buf = grown
        buf = self._buf
        buf[fill:need] = x
        count = (need - self._HIST) // RATIO
        if count:
            blocks = -(-count // _DOWN_BLOCK)
            windows = _windows(buf, RATIO - 1, blocks, RATIO * _DOWN_BLOCK, _DOWN_MATRIX.shape[0])
            y = _to_pcm16(np.dot(windows, _DOWN_MATRIX).reshape(-1)[:count])
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
