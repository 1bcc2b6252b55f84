"""Cost and quality of the call audio path, per 20 ms frame, for each resampler choice.

Run by hand:  python benchmarks/audio_path.py
To compare with pipecat, run it with an interpreter that has pipecat-ai installed and the
project on PYTHONPATH; pipecat is never a dependency of this project.
"""

from __future__ import annotations

import base64
import importlib
import json
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
from numpy.typing import NDArray

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bridge.audio import InboundAudio, OutboundAudio
from bridge.g711 import pcm16_to_ulaw, ulaw_to_pcm16
from bridge.resample import RESAMPLER_METHODS, Downsampler, Upsampler

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

SPEECH = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "speech"
FRAMES = 500
STREAM_SID = "MZ" + "0" * 32


def per_call_us(fn: Callable[[], object], number: int = FRAMES, repeat: int = 15) -> float:
    """Best of several runs of the mean cost per call: the least disturbed by other load."""
    for _ in range(number // 10):
        fn()
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        runs.append((time.perf_counter() - start) / number * 1e6)
    return min(runs)


def cycle(items: list[str]) -> Callable[[], str]:
    state = {"i": 0}

    def next_item() -> str:
        i = state["i"]
        state["i"] = (i + 1) % len(items)
        return items[i]

    return next_item


def twilio_media_messages() -> list[str]:
    ulaw = (SPEECH / "speech_8k.ulaw").read_bytes()
    messages = []
    for n, start in enumerate(range(0, len(ulaw) - 159, 160)):
        payload = base64.b64encode(ulaw[start : start + 160]).decode()
        media = {"track": "inbound", "chunk": str(n + 1), "timestamp": str(20 * n)}
        messages.append(
            json.dumps(
                {
                    "event": "media",
                    "sequenceNumber": str(n + 2),
                    "media": {**media, "payload": payload},
                    "streamSid": STREAM_SID,
                }
            )
        )
    return messages


def openai_delta_messages(audio_format: str = "pcm16") -> list[str]:
    """20 ms deltas: PCM16 at 24 kHz, or mu-law at 8 kHz when the model speaks audio/pcmu."""
    if audio_format == "pcmu":
        audio, size = (SPEECH / "speech_8k.ulaw").read_bytes(), 160
    else:
        audio, size = (SPEECH / "speech_24k.s16").read_bytes(), 960
    messages = []
    for n, start in enumerate(range(0, len(audio) - size + 1, size)):
        delta = base64.b64encode(audio[start : start + size]).decode()
        event = {
            "type": "response.output_audio.delta",
            "event_id": f"event_{n:08d}",
            "response_id": "resp_0001",
            "item_id": "item_0001",
            "output_index": 0,
            "content_index": 0,
            "delta": delta,
        }
        messages.append(json.dumps(event))
    return messages


# --- quality measurements ----------------------------------------------------------------------


def tone(freq: float, rate: int, seconds: float, amplitude: float = 20000) -> bytes:
    t = np.arange(int(rate * seconds)) / rate
    return np.round(amplitude * np.sin(2 * np.pi * freq * t)).astype("<i2").tobytes()


def as_float(data: bytes) -> NDArray[np.float64]:
    return np.frombuffer(data, dtype="<i2").astype(np.float64)


Process = Callable[[bytes], bytes]


def image_rejection_db(new_upsampler: Callable[[], Process]) -> float:
    worst = -300.0
    for f in range(300, 3401, 100):
        y = as_float(new_upsampler()(tone(f, 8000, 2.0)))[4800 : 4800 + 14400]
        power = np.abs(np.fft.rfft(y)) ** 2
        freqs = np.fft.rfftfreq(len(y), 1 / 24000)
        ratio = power[freqs > 4000].sum() / power[np.argmin(np.abs(freqs - f))]
        worst = max(worst, float(10 * np.log10(ratio)))
    return -worst


def alias_rejection_db(new_downsampler: Callable[[], Process]) -> float:
    def out_power(freq: float) -> float:
        y = as_float(new_downsampler()(tone(freq, 24000, 2.0)))[1600 : 1600 + 9600]
        return max(float(np.mean(y**2)), 1e-12)

    in_band = out_power(1000)
    return -max(float(10 * np.log10(out_power(f) / in_band)) for f in range(4600, 11701, 100))


def phase_delay_ms(process: Callable[[bytes], bytes], in_rate: int, out_rate: int) -> float:
    """Group delay over 300-3400 Hz from the slope of tone phase (one long chunk)."""
    freqs = np.arange(300, 3401, 100, dtype=np.float64)
    phases = []
    for f in freqs:
        y = as_float(process(tone(f, in_rate, 1.0)))
        n = np.arange(out_rate // 10, out_rate // 2)
        weights = np.hanning(len(n)) * y[n]
        phases.append(np.angle(np.sum(weights * np.exp(-2j * np.pi * f * n / out_rate))))
    slope = np.polyfit(2 * np.pi * freqs, np.unwrap(np.array(phases)), 1)[0]
    return float(-slope * 1000)


def held_back_ms(
    process: Callable[[bytes], bytes], in_rate: int, out_rate: int
) -> tuple[float, float, float]:
    """Audio owed but not yet emitted after each 20 ms frame: mean, max, and bursty share."""
    data = tone(440, in_rate, 2.0, 8000)
    frame = in_rate // 50 * 2
    emitted = 0
    held = []
    bursty = 0
    for i, start in enumerate(range(0, len(data), frame)):
        out = len(process(data[start : start + frame])) // 2
        emitted += out
        held.append(((start + frame) // 2 * out_rate // in_rate - emitted) / out_rate * 1000)
        bursty += out != frame // 2 * out_rate // in_rate
        if i == 10:
            bursty = 0
    steady = held[10:]
    return float(np.mean(steady)), float(np.max(steady)), 100 * bursty / (len(held) - 11)


# --- pipecat -------------------------------------------------------------------------------------


def pipecat_paths() -> tuple[Callable[[], str], Callable[[], str], Any] | None:
    try:
        twilio = importlib.import_module("pipecat.serializers.twilio")
        frames = importlib.import_module("pipecat.frames.frames")
        utils = importlib.import_module("pipecat.audio.utils")
        logger = importlib.import_module("loguru").logger
    except ImportError:
        return None
    logger.remove()
    params = twilio.TwilioFrameSerializer.InputParams(auto_hang_up=False)
    serializer = twilio.TwilioFrameSerializer(STREAM_SID, params=params)
    inbound = cycle(twilio_media_messages())
    outbound = cycle(openai_delta_messages())

    def run(coro: Any) -> Any:
        # The serializer never suspends, so drive the coroutine directly like the event loop does.
        try:
            coro.send(None)
        except StopIteration as stop:
            return stop.value
        raise RuntimeError("pipecat serializer suspended")

    run(serializer.setup(SimpleNamespace(audio_in_sample_rate=24000)))

    def inbound_path() -> str:
        frame = run(serializer.deserialize(inbound()))
        if frame is None:  # its resampler is holding the audio back: nothing to send
            return ""
        audio = base64.b64encode(frame.audio).decode()
        return json.dumps({"type": "input_audio_buffer.append", "audio": audio})

    def outbound_path() -> str:
        event = json.loads(outbound())
        audio = base64.b64decode(event["delta"], validate=True)
        frame = frames.OutputAudioRawFrame(audio=audio, sample_rate=24000, num_channels=1)
        return str(run(serializer.serialize(frame)) or "")

    return inbound_path, outbound_path, (utils, run)


def pipecat_resampler(utils: Any, run: Any, in_rate: int, out_rate: int) -> Process:
    resampler = utils.create_stream_resampler(clear_after_secs=None)

    def process(data: bytes) -> bytes:
        return bytes(run(resampler.resample(data, in_rate, out_rate)))

    return process


# --- report --------------------------------------------------------------------------------------


def mulaw_table() -> None:
    frame = (SPEECH / "speech_8k.ulaw").read_bytes()[8000:8160]
    pcm = ulaw_to_pcm16(frame)
    bits = np.arange(65536, dtype=np.uint16)
    decode_lut = np.frombuffer(ulaw_to_pcm16(bytes(range(256))), dtype="<i2")
    every = bits.astype("<u2").tobytes()
    reference = pcm16_to_ulaw(every)
    audioop_bad = int(
        np.sum(
            np.frombuffer(audioop.lin2ulaw(every, 2), np.uint8)
            != np.frombuffer(reference, np.uint8)
        )
    )
    rows = [
        (
            "encode audioop.lin2ulaw",
            per_call_us(lambda: audioop.lin2ulaw(pcm, 2), 20000),
            f"{audioop_bad} of 65536 differ",
        ),
        ("encode numpy LUT (used)", per_call_us(lambda: pcm16_to_ulaw(pcm), 20000), "bit-exact"),
        (
            "decode audioop.ulaw2lin (used)",
            per_call_us(lambda: ulaw_to_pcm16(frame), 20000),
            "bit-exact",
        ),
        (
            "decode numpy LUT",
            per_call_us(lambda: decode_lut.take(np.frombuffer(frame, np.uint8)).tobytes(), 20000),
            "bit-exact",
        ),
    ]
    print("\nmu-law, one 20 ms frame (160 samples)")
    print(f"{'coder':32s} {'us/frame':>9s}  vs classic G.711 (bias 0x84, clip 32635)")
    for name, us, exact in rows:
        print(f"{name:32s} {us:9.2f}  {exact}")


HEADER = (
    f"{'path':15s} {'in us':>7s} {'out us':>7s} {'calls/core':>10s} {'delay in':>9s} "
    f"{'delay out':>9s} {'max held':>9s} {'bursty':>7s} {'image':>6s} {'alias':>6s}"
)


def report_row(
    label: str,
    inbound_path: Callable[[], str],
    outbound_path: Callable[[], str],
    new_up: Callable[[], Process] | None,
    new_down: Callable[[], Process] | None,
) -> None:
    in_us, out_us = per_call_us(inbound_path), per_call_us(outbound_path)
    row = f"{label:15s} {in_us:7.1f} {out_us:7.1f} {1e6 / (50 * (in_us + out_us)):10.0f}"
    if new_up is None or new_down is None:
        print(f"{row} {0:9.2f} {0:9.2f}")
        return
    up_held, up_max, up_burst = held_back_ms(new_up(), 8000, 24000)
    down_held, down_max, down_burst = held_back_ms(new_down(), 24000, 8000)
    delay_in = up_held + phase_delay_ms(new_up(), 8000, 24000)
    delay_out = down_held + phase_delay_ms(new_down(), 24000, 8000)
    print(
        f"{row} {delay_in:9.2f} {delay_out:9.2f} {max(up_max, down_max):9.1f} "
        f"{max(up_burst, down_burst):6.0f}% "
        f"{image_rejection_db(new_up):6.1f} {alias_rejection_db(new_down):6.1f}"
    )


def project_row(label: str, audio_format: str, method: str) -> None:
    messages_in = cycle(twilio_media_messages())
    messages_out = cycle(openai_delta_messages(audio_format))
    inbound = InboundAudio(audio_format=audio_format, method=method)
    outbound = OutboundAudio(audio_format=audio_format, method=method)

    def inbound_path() -> str:
        message = json.loads(messages_in())
        converted = inbound.process(message["media"]["payload"])
        return json.dumps({"type": "input_audio_buffer.append", "audio": converted})

    def outbound_path() -> str:
        event = json.loads(messages_out())
        payload = outbound.process(event["delta"])
        return json.dumps(
            {"event": "media", "streamSid": STREAM_SID, "media": {"payload": payload}}
        )

    def new_up() -> Process:
        return Upsampler(method).process

    def new_down() -> Process:
        return Downsampler(method).process

    if audio_format == "pcmu":
        report_row(label, inbound_path, outbound_path, None, None)
    else:
        report_row(label, inbound_path, outbound_path, new_up, new_down)


def pipecat_row() -> None:
    pipecat = pipecat_paths()
    if pipecat is None:
        print("pipecat not installed")
        return
    inbound_path, outbound_path, (utils, run) = pipecat
    version = importlib.import_module("pipecat").__version__

    def new_up() -> Process:
        return pipecat_resampler(utils, run, 8000, 24000)

    def new_down() -> Process:
        return pipecat_resampler(utils, run, 24000, 8000)

    report_row(f"pipecat {version}", inbound_path, outbound_path, new_up, new_down)


def main() -> None:
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}")
    print("\nWhole message path per 20 ms frame (JSON + base64 + convert); delay in ms, dB")
    print(HEADER)
    for method in RESAMPLER_METHODS:
        project_row(method, "pcm16", method)
    project_row("pcmu passthru", "pcmu", "fir")
    pipecat_row()
    print(
        "delay = audio held back by the stream (mean over 20 ms frames) + filter group delay; "
        "max held = worst frame;\nbursty = frames whose output is not exactly 3x / 1/3 of the "
        "input; image/alias = worst rejection for 300-3400 Hz tones; calls/core = CPU only."
    )
    mulaw_table()


if __name__ == "__main__":
    main()
