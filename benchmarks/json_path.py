"""Per-message JSON cost on the call's hot path (issue #17): the stdlib's json against
orjson, interleaved in one process so that both see the same machine.

Four messages a call handles many times a second: Twilio's 20 ms media frame (parsed, 50 a
second), a Realtime audio delta of 100 ms (parsed), a Realtime transcript delta (parsed),
and the mark sent after every media message (built: by json.dumps before, by hand now).

    .venv/bin/python benchmarks/json_path.py
"""

from __future__ import annotations

import base64
import json
import os
import statistics
import sys
import timeit
from collections.abc import Callable
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bridge.twilio_messages import mark_message

SID = "MZ" + "0123456789abcdef" * 2
MEDIA = json.dumps(
    {
        "event": "media",
        "sequenceNumber": "123",
        "streamSid": SID,
        "media": {
            "track": "inbound",
            "chunk": "120",
            "timestamp": "2400",
            "payload": base64.b64encode(os.urandom(160)).decode(),
        },
    }
)
DELTA = json.dumps(
    {
        "type": "response.output_audio.delta",
        "event_id": "event_" + "a" * 20,
        "response_id": "resp_" + "b" * 20,
        "item_id": "item_" + "c" * 20,
        "output_index": 0,
        "content_index": 0,
        "delta": base64.b64encode(os.urandom(4800)).decode(),  # 100 ms of 24 kHz PCM16
    }
)
TRANSCRIPT = json.dumps(
    {
        "type": "response.output_audio_transcript.delta",
        "event_id": "event_" + "a" * 20,
        "response_id": "resp_" + "b" * 20,
        "item_id": "item_" + "c" * 20,
        "output_index": 0,
        "content_index": 0,
        "delta": "Tell me about ",
    }
)
ROUNDS, NUMBER = 7, 20_000


def per_call_us(fn: Callable[[], object]) -> float:
    return min(timeit.repeat(fn, number=NUMBER, repeat=3)) / NUMBER * 1e6


def main() -> None:
    cases: list[tuple[str, Callable[[], object], Callable[[], object]]] = [
        ("media frame, parsed", lambda: json.loads(MEDIA), lambda: orjson.loads(MEDIA)),
        ("audio delta, parsed", lambda: json.loads(DELTA), lambda: orjson.loads(DELTA)),
        (
            "transcript delta, parsed",
            lambda: json.loads(TRANSCRIPT),
            lambda: orjson.loads(TRANSCRIPT),
        ),
        (
            "mark, built",
            lambda: json.dumps({"event": "mark", "streamSid": SID, "mark": {"name": "a123"}}),
            lambda: mark_message(SID, "a123"),
        ),
    ]
    print("| message | before (µs) | now (µs) | now / before |")
    print("| --- | --- | --- | --- |")
    for name, before, now in cases:
        ratios, old, new = [], [], []
        for _ in range(ROUNDS):  # interleaved: both see the same moments of the machine
            a, b = per_call_us(before), per_call_us(now)
            old.append(a)
            new.append(b)
            ratios.append(b / a)
        print(
            f"| {name} | {statistics.median(old):.2f} | {statistics.median(new):.2f} "
            f"| {statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f}) |"
        )


if __name__ == "__main__":
    main()
