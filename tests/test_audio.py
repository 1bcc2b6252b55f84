"""Audio path: G.711 against the reference coder, resampler quality, streaming, message payloads."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from bridge.audio import (
    AUDIO_FORMATS,
    AudioPayloadError,
    InboundAudio,
    OutboundAudio,
    openai_audio_format,
)
from bridge.g711 import pcm16_to_ulaw, ulaw_to_pcm16
from bridge.resample import _LOWPASS, RESAMPLER_METHODS, Downsampler, Upsampler

SPEECH = Path(__file__).parent / "fixtures" / "speech"
FRAME_8K = 160
FRAME_24K = 480
Floats = NDArray[np.float64]


# --- helpers -----------------------------------------------------------------------------------


def pcm(values: Iterable[float] | NDArray[Any]) -> bytes:
    return np.asarray(values).astype("<i2").tobytes()


def samples(data: bytes) -> Floats:
    return np.frombuffer(data, dtype="<i2").astype(np.float64)


def tone(freq: float, rate: int, count: int, amplitude: float, phase: float = 0.0) -> bytes:
    t = np.arange(count) / rate
    return pcm(np.round(amplitude * np.sin(2 * np.pi * freq * t + phase)))


def noise(count: int, seed: int = 1, amplitude: float = 6000.0) -> bytes:
    return pcm(np.clip(np.random.default_rng(seed).normal(0, amplitude, count), -32768, 32767))


def chunked(process: Callable[[bytes], bytes], data: bytes, sizes: Iterable[int]) -> bytes:
    out = []
    start = 0
    for size in sizes:
        out.append(process(data[start : start + size]))
        start += size
    assert start >= len(data)
    return b"".join(out)


def frames(data: bytes, size: int) -> list[int]:
    return [size] * -(-len(data) // size)


def best_lag(reference: Floats, delayed: Floats, max_lag: int) -> int:
    span = len(reference) - max_lag
    scores = [float(np.dot(reference[:span], delayed[lag : lag + span])) for lag in range(max_lag)]
    return int(np.argmax(scores))


def snr_db(reference: Floats, actual: Floats) -> float:
    error = max(float(np.sum((reference - actual) ** 2)), 1e-9)
    return float(10 * np.log10(np.sum(reference**2) / error))


def tone_phase(y: Floats, freq: float, rate: int, skip: int) -> complex:
    """Complex amplitude of one tone, from a Hann-weighted steady stretch of the output."""
    n = np.arange(skip, len(y))
    window = np.hanning(len(n))
    return complex(np.sum(window * y[skip:] * np.exp(-2j * np.pi * freq * n / rate)))


def measured_delay_ms(process: Callable[[bytes], bytes], in_rate: int, out_rate: int) -> float:
    """Group delay from the slope of output phase over 300-3400 Hz tones."""
    freqs = np.arange(300, 3401, 100, dtype=np.float64)
    phases = []
    for f in freqs:
        y = samples(process(tone(f, in_rate, in_rate // 2, 16000)))
        phases.append(np.angle(tone_phase(y, f, out_rate, out_rate // 10)))
    slope = np.polyfit(2 * np.pi * freqs, np.unwrap(np.array(phases)), 1)[0]
    return float(-slope * 1000)


def reference_ulaw_encode(sample: int) -> int:
    """Classic G.711 mu-law encoder (bias 0x84, clip 32635)."""
    exp_lut = [0, 0, 1, 1, 2, 2, 2, 2] + [3] * 8 + [4] * 16 + [5] * 32 + [6] * 64 + [7] * 128
    sign = 0x80 if sample < 0 else 0
    magnitude = min(-sample if sample < 0 else sample, 32635) + 0x84
    exponent = exp_lut[(magnitude >> 7) & 0xFF]
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def reference_ulaw_decode(code: int) -> int:
    code = ~code & 0xFF
    magnitude = (((code & 0x0F) << 3) + 0x84) << ((code & 0x70) >> 4)
    return 0x84 - magnitude if code & 0x80 else magnitude - 0x84


def read_speech(name: str) -> bytes:
    return (SPEECH / name).read_bytes()


# --- G.711 mu-law --------------------------------------------------------------------------------


def test_encode_matches_reference_for_every_pcm16_value() -> None:
    values = range(-32768, 32768)
    expected = bytes(reference_ulaw_encode(v) for v in values)
    assert pcm16_to_ulaw(pcm(values)) == expected


def test_decode_matches_reference_for_every_code() -> None:
    expected = pcm([reference_ulaw_decode(c) for c in range(256)])
    decoded = ulaw_to_pcm16(bytes(range(256)))
    assert decoded == expected
    assert samples(decoded).min() == -32124
    assert samples(decoded).max() == 32124


def test_silence_and_code_round_trip() -> None:
    assert pcm16_to_ulaw(pcm([0])) == b"\xff"
    codes = bytes(range(256))
    back = pcm16_to_ulaw(ulaw_to_pcm16(codes))
    # 0x7F is "negative zero"; every other code survives decode + encode unchanged.
    assert back == codes.replace(b"\x7f", b"\xff")


def test_codec_empty_and_odd_input() -> None:
    assert ulaw_to_pcm16(b"") == b""
    assert pcm16_to_ulaw(b"") == b""
    assert pcm16_to_ulaw(pcm([1000, -1000]) + b"\x07") == pcm16_to_ulaw(pcm([1000, -1000]))
    assert pcm16_to_ulaw(b"\x07") == b""


def test_speech_decode_matches_sox() -> None:
    ulaw = read_speech("speech_8k.ulaw")
    assert len(ulaw) > 8000
    assert ulaw_to_pcm16(ulaw) == read_speech("speech_8k_sox.s16")


# --- resampler framing and streaming -------------------------------------------------------------


@pytest.mark.parametrize("count", [0, 1, 2, 3, 7, 159, 160, 161, 480, 1000])
def test_fir_upsampler_gives_exactly_three_per_input_sample(count: int) -> None:
    up = Upsampler()
    for _ in range(3):
        assert len(up.process(noise(count))) == 6 * count


def test_fir_downsampler_carries_remainders_over_any_chunking() -> None:
    data = noise(24_013, seed=3)
    rng = np.random.default_rng(7)
    sizes = [int(s) for s in rng.integers(0, 400, 400)]
    sizes.append(len(data))
    down = Downsampler()
    out = chunked(down.process, data, sizes)
    assert any(s % 2 for s in sizes)
    assert any((s // 2) % 3 for s in sizes)
    assert len(out) == 2 * (len(data) // 2 // 3)
    whole = Downsampler().process(data)
    assert np.max(np.abs(samples(out) - samples(whole))) <= 1


def test_fir_downsampler_output_count_per_chunk() -> None:
    down = Downsampler()
    assert down.process(b"") == b""
    assert len(down.process(pcm([1, 2]))) == 0
    assert len(down.process(pcm([3]))) == 2
    assert len(down.process(pcm(range(480)))) == 320
    assert len(down.process(pcm(range(5)) + b"\x01")) == 2
    assert len(down.process(b"\x02")) == 2


@pytest.mark.parametrize("factory", [Upsampler, Downsampler])
def test_twenty_ms_frames_match_one_call(factory: Callable[[], Upsampler | Downsampler]) -> None:
    rate = 8000 if factory is Upsampler else 24000
    data = noise(rate * 2, seed=5)
    streamed = chunked(factory().process, data, frames(data, rate // 50 * 2))
    whole = factory().process(data)
    assert len(streamed) == len(whole)
    assert np.max(np.abs(samples(streamed) - samples(whole))) <= 1


def textbook(data: bytes, up: bool) -> Floats:
    """The FIR by its definition, in float64: zero-stuff to 24 kHz and filter (gain 3),
    or filter at 24 kHz and keep every third sample (the last of each three)."""
    x = samples(data)
    h = _LOWPASS.astype(np.float64)
    if up:
        stuffed = np.zeros(3 * x.shape[0])
        stuffed[::3] = x
        y = np.convolve(stuffed, 3 * h)[: stuffed.shape[0]]
    else:
        y = np.convolve(x, h)[2 : x.shape[0] : 3]
    clipped: Floats = np.clip(np.rint(y), -32768, 32767)
    return clipped


@pytest.mark.parametrize("up", [True, False], ids=["up", "down"])
def test_the_fir_is_the_textbook_filter_over_any_chunking(up: bool) -> None:
    """Chunks of every size (the block matrices' padding and remainders), against the
    filter's definition; float32 arithmetic may round a sample the other way."""
    rate = 8000 if up else 24000
    data = noise(rate, seed=11, amplitude=30000)  # loud enough to clip now and then
    rng = np.random.default_rng(3)
    sizes = [int(s) * 2 for s in rng.integers(0, 700, 60)] + [len(data)]
    got = samples(chunked((Upsampler() if up else Downsampler()).process, data, sizes))
    want = textbook(data, up)[: got.shape[0]]
    assert got.shape[0] == (3 * rate if up else rate // 3)
    assert np.max(np.abs(got - want)) <= 1
    assert np.mean(got == want) > 0.99


def test_upsampler_carries_odd_byte() -> None:
    data = noise(800, seed=9)
    sizes = [1, 2, 3, 319, 41, 1000, 400]
    streamed = chunked(Upsampler().process, data, sizes)
    assert len(streamed) == 3 * len(data)
    assert np.max(np.abs(samples(streamed) - samples(Upsampler().process(data)))) <= 1


# --- resampler quality ---------------------------------------------------------------------------


def test_upsampler_group_delay_within_2ms() -> None:
    up = Upsampler()
    delay = measured_delay_ms(lambda d: Upsampler().process(d), 8000, 24000)
    assert 0 < delay <= 2.0
    assert delay == pytest.approx(up.delay_ms, abs=0.02)


def test_downsampler_group_delay_within_2ms() -> None:
    down = Downsampler()
    delay = measured_delay_ms(lambda d: Downsampler().process(d), 24000, 8000)
    assert 0 < delay <= 2.0
    assert delay == pytest.approx(down.delay_ms, abs=0.02)


def test_upsampler_image_rejection_at_least_60db() -> None:
    worst = -200.0
    for f in range(300, 3401, 100):
        y = samples(Upsampler().process(tone(f, 8000, 8000, 20000)))[2400 : 2400 + 19200]
        power = np.abs(np.fft.rfft(y)) ** 2
        freqs = np.fft.rfftfreq(len(y), 1 / 24000)
        tone_power = power[np.argmin(np.abs(freqs - f))]
        image_power = power[freqs > 4000].sum()
        assert 20000 * 0.95 < np.sqrt(tone_power) * 2 / len(y) < 20000 * 1.05
        worst = max(worst, 10 * np.log10(image_power / tone_power))
    assert worst <= -60


def test_downsampler_alias_rejection_at_least_60db() -> None:
    def out_power(freq: float) -> float:
        y = samples(Downsampler().process(tone(freq, 24000, 24000, 20000)))[800:7200]
        return float(np.mean(y**2))

    in_band = out_power(1000)
    assert in_band == pytest.approx(20000**2 / 2, rel=0.05)
    aliasing = [*range(4600, 11701, 100), *(8000 - f for f in range(300, 3401, 300))]
    worst = max(10 * np.log10(max(out_power(f), 1e-12) / in_band) for f in aliasing)
    assert worst <= -60


@pytest.mark.parametrize(
    ("factory", "rate"), [(Upsampler, 8000), (Downsampler, 24000)], ids=["up", "down"]
)
def test_passband_flat_within_half_db(
    factory: Callable[[], Upsampler | Downsampler], rate: int
) -> None:
    out_rate = 24000 if rate == 8000 else 8000
    for f in (300, 1000, 2000, 3000, 3400):
        y = samples(factory().process(tone(f, rate, rate, 10000)))[out_rate // 10 :]
        gain_db = 10 * np.log10(np.mean(y**2) / (10000**2 / 2))
        assert abs(gain_db) < 0.5, (f, gain_db)


def test_round_trip_1khz_snr() -> None:
    x = tone(1000, 8000, 8000, 16000)
    up, down = Upsampler(), Downsampler()
    mid = chunked(up.process, x, frames(x, 320))
    back = samples(chunked(down.process, mid, frames(mid, 960)))
    ref = samples(x)
    lag = best_lag(ref, back, 64)
    span = len(ref) - 64
    assert snr_db(ref[:span], back[lag : lag + span]) >= 35


def test_round_trip_through_mulaw_messages_snr() -> None:
    ulaw = pcm16_to_ulaw(tone(1000, 8000, 8000, 16000))
    inbound, outbound = InboundAudio(), OutboundAudio()
    back = bytearray()
    for start in range(0, len(ulaw), FRAME_8K):
        payload = base64.b64encode(ulaw[start : start + FRAME_8K]).decode()
        back += base64.b64decode(outbound.process(inbound.process(payload)))
    ref = samples(ulaw_to_pcm16(ulaw))
    got = samples(ulaw_to_pcm16(bytes(back)))
    lag = best_lag(ref, got, 64)
    span = len(ref) - 64
    assert snr_db(ref[:span], got[lag : lag + span]) >= 35


def max_step(y: Floats) -> float:
    return float(np.max(np.abs(np.diff(y))))


@pytest.mark.parametrize(
    ("factory", "rate", "out_rate"),
    [(Upsampler, 8000, 24000), (Downsampler, 24000, 8000)],
    ids=["up", "down"],
)
def test_no_clicks_at_chunk_boundaries(
    factory: Callable[[], Upsampler | Downsampler], rate: int, out_rate: int
) -> None:
    amplitude, freq = 20000, 437.0
    x = tone(freq, rate, rate, amplitude)
    frame = rate // 50 * 2
    bound = 2 * amplitude * np.sin(np.pi * freq / out_rate) * 1.02 + 2
    skip = out_rate // 50
    y = samples(chunked(factory().process, x, frames(x, frame)))
    assert max_step(y[skip:]) <= bound
    # The same check catches a resampler that forgets its state between frames.
    stateless = samples(chunked(lambda d: factory().process(d), x, frames(x, frame)))
    assert max_step(stateless[skip:]) > 2 * bound


@pytest.mark.parametrize("factory", [Upsampler, Downsampler])
def test_full_scale_clips_instead_of_wrapping(
    factory: Callable[[], Upsampler | Downsampler],
) -> None:
    square = np.where(np.arange(24000) % 240 < 120, 1.0, -1.0)
    half = samples(factory().process(pcm(square * 16384)))
    full = samples(factory().process(pcm(np.where(square > 0, 32767, -32768))))
    expected = np.clip(half * (32767.5 / 16384), -32768, 32767)
    assert half.max() > 16384 * 1.05  # the filter rings, so full scale must overshoot
    assert full.max() == 32767
    assert full.min() == -32768
    assert np.max(np.abs(full - expected)) <= 3


# --- clear() and methods -------------------------------------------------------------------------


@pytest.mark.parametrize("method", RESAMPLER_METHODS)
@pytest.mark.parametrize("factory", [Upsampler, Downsampler])
def test_clear_resets_state(factory: Callable[[str], Upsampler | Downsampler], method: str) -> None:
    used = factory(method)
    used.process(noise(2001, seed=11) + b"\x05")
    used.clear()
    signal = noise(4800, seed=12)
    assert used.process(signal) == factory(method).process(signal)


@pytest.mark.parametrize("method", ["soxr-hq", "soxr-vhq"])
@pytest.mark.parametrize(
    ("factory", "rate", "out_rate"),
    [(Upsampler, 8000, 24000), (Downsampler, 24000, 8000)],
    ids=["up", "down"],
)
def test_soxr_methods_resample_in_time(
    factory: Callable[[str], Upsampler | Downsampler], rate: int, out_rate: int, method: str
) -> None:
    resampler = factory(method)
    x = tone(1000, rate, rate, 16000)
    y = samples(chunked(resampler.process, x, frames(x, rate // 50 * 2)))
    assert resampler.delay_ms > 2.0
    assert out_rate - len(y) <= (resampler.delay_ms * 4 + 20) * out_rate / 1000
    ideal = samples(tone(1000, out_rate, len(y), 16000))
    skip = out_rate // 20
    assert snr_db(ideal[skip:], y[skip:]) > 40


@pytest.mark.parametrize("factory", [Upsampler, Downsampler, InboundAudio, OutboundAudio])
def test_unknown_method_is_rejected(factory: Callable[..., object]) -> None:
    with pytest.raises(ValueError, match="fir, soxr-hq, soxr-vhq"):
        factory(method="linear")


def test_constants() -> None:
    assert RESAMPLER_METHODS == ("fir", "soxr-hq", "soxr-vhq")
    assert AUDIO_FORMATS == ("pcm16", "pcmu")
    assert Upsampler().method == "fir"
    assert openai_audio_format("pcm16") == {"type": "audio/pcm", "rate": 24000}
    assert openai_audio_format("pcmu") == {"type": "audio/pcmu"}
    with pytest.raises(ValueError, match="pcm16, pcmu"):
        openai_audio_format("g722")


# --- message payloads ----------------------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_inbound_frame_is_480_samples_of_24k_pcm() -> None:
    ulaw = pcm16_to_ulaw(tone(440, 8000, FRAME_8K, 12000))
    inbound = InboundAudio()
    out = base64.b64decode(inbound.process(b64(ulaw)), validate=True)
    assert len(out) == 2 * FRAME_24K
    assert out == Upsampler().process(ulaw_to_pcm16(ulaw))
    assert inbound.delay_ms == Upsampler().delay_ms


def test_outbound_delta_split_mid_sample() -> None:
    pcm24 = noise(FRAME_24K * 4, seed=13)
    whole = OutboundAudio().process(b64(pcm24))
    outbound = OutboundAudio()
    parts = [pcm24[:1001], pcm24[1001:1002], pcm24[1002:2881], pcm24[2881:]]
    split = b"".join(base64.b64decode(outbound.process(b64(p))) for p in parts)
    assert len(split) == FRAME_8K * 4
    assert split == base64.b64decode(whole)


def test_outbound_clear_drops_half_sample_and_history() -> None:
    outbound = OutboundAudio()
    outbound.process(b64(noise(1000, seed=14) + b"\x09"))
    outbound.clear()
    delta = b64(noise(FRAME_24K, seed=15))
    assert outbound.process(delta) == OutboundAudio().process(delta)


@pytest.mark.parametrize("cls", [InboundAudio, OutboundAudio])
@pytest.mark.parametrize("audio_format", AUDIO_FORMATS)
def test_empty_and_invalid_payloads(
    cls: type[InboundAudio | OutboundAudio], audio_format: str
) -> None:
    audio = cls(audio_format=audio_format)
    assert audio.process("") == ""
    for bad in ("not base64!", "QUJD=x", "QUJ", "é", "QU\nJD"):
        with pytest.raises(AudioPayloadError, match="not valid base64"):
            audio.process(bad)
    assert issubclass(AudioPayloadError, ValueError)


def test_outbound_short_delta_yields_nothing_until_a_sample_completes() -> None:
    outbound = OutboundAudio()
    assert outbound.process(b64(b"\x01\x02\x03")) == ""
    assert outbound.process(b64(b"\x04")) == ""
    assert len(base64.b64decode(outbound.process(b64(b"\x05\x06")))) == 1


def test_pcmu_mode_passes_payload_through() -> None:
    ulaw = read_speech("speech_8k.ulaw")[:FRAME_8K]
    payload = b64(ulaw)
    inbound, outbound = InboundAudio(audio_format="pcmu"), OutboundAudio(audio_format="pcmu")
    assert inbound.process(payload) == payload
    assert outbound.process(payload) == payload
    odd = b64(ulaw[:7])
    assert outbound.process(odd) == odd
    assert inbound.delay_ms == 0.0
    with pytest.raises(ValueError, match="pcm16, pcmu"):
        InboundAudio(audio_format="mulaw")


@pytest.mark.parametrize("method", RESAMPLER_METHODS)
def test_inbound_outbound_take_method(method: str) -> None:
    inbound, outbound = InboundAudio(method=method), OutboundAudio(method=method)
    ulaw = pcm16_to_ulaw(tone(700, 8000, 8000, 12000))
    produced = 0
    for start in range(0, len(ulaw), FRAME_8K):
        out = outbound.process(inbound.process(b64(ulaw[start : start + FRAME_8K])))
        produced += len(base64.b64decode(out))
    if method == "fir":
        assert produced == 8000
    assert 8000 - produced <= (inbound.delay_ms + outbound.delay_ms) * 8 * 3 + 160


# --- real speech ---------------------------------------------------------------------------------


def correlation(a: Floats, b: Floats) -> float:
    return float(np.corrcoef(a, b)[0, 1])


def test_speech_round_trip_through_messages_stays_correlated() -> None:
    ulaw = read_speech("speech_8k.ulaw")
    inbound, outbound = InboundAudio(), OutboundAudio()
    back = bytearray()
    for start in range(0, len(ulaw), FRAME_8K):
        to_model = inbound.process(b64(ulaw[start : start + FRAME_8K]))
        # The model's deltas are not frame-aligned; re-cut the 24 kHz audio unevenly.
        pcm24 = base64.b64decode(to_model)
        back += base64.b64decode(outbound.process(b64(pcm24[:333])))
        back += base64.b64decode(outbound.process(b64(pcm24[333:])))
    ref = samples(ulaw_to_pcm16(ulaw))
    got = samples(ulaw_to_pcm16(bytes(back)))
    assert len(got) == len(ref)
    lag = best_lag(ref, got, 64)
    assert lag == 29  # 1.854 ms up + 1.771 ms down at 8 kHz
    span = len(ref) - 64
    assert correlation(ref[:span], got[lag : lag + span]) >= 0.99


def test_speech_24k_round_trip_stays_correlated() -> None:
    pcm24 = read_speech("speech_24k.s16")
    down, up = Downsampler(), Upsampler()
    mid = chunked(down.process, pcm24, frames(pcm24, 2 * FRAME_24K))
    back = samples(chunked(up.process, mid, frames(mid, 2 * FRAME_8K)))
    ref = samples(pcm24)
    lag = best_lag(ref, back, 192)
    span = len(ref) - 192
    assert correlation(ref[:span], back[lag : lag + span]) >= 0.95
