"""Whole calls through the real server while the line to the model fails in every way the
outside attack on issue #11 tried: does the caller's answer survive, and how long does a
half-open connection go unnoticed?

Each fault is run `--runs` times: the greeting, a fault, the caller's 2.8 s answer, and the
model's reply on the reopened connection. An answer is lost when its words are missing
from the stored transcript. Run from the repository root:

    .venv/bin/python benchmarks/model_faults.py            # every fault, 3 runs each
    .venv/bin/python benchmarks/model_faults.py --runs 1 --faults half-open
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.call_harness import Caller, Env, live_env
from tests.support.embedded import discard, start_in_memory
from tests.support.openai import Say, Script
from tests.support.twilio_peer import TwilioPeer

GREETING = "Hello. What did you work on last?"
ANSWER = "A search engine."
REPLY = "Interesting. Why that design?"

Fault = Callable[[Env, TwilioPeer, Caller], Awaitable[None]]


async def _drop_before(kind: str, env: Env, twilio: TwilioPeer, caller: Caller) -> None:
    await env.wait_played(twilio, 1)
    env.model.drop_before = kind
    caller.say()


async def _greeting_dropped(env: Env, twilio: TwilioPeer, caller: Caller) -> None:
    # Set before the stream starts: the first audio of the greeting is never sent.
    await env.wait(lambda: twilio.played_ms() > 0, "the greeting, asked again")
    await env.wait_played(twilio, 1)
    caller.say()


async def _mid_greeting(env: Env, twilio: TwilioPeer, caller: Caller) -> None:
    await env.wait(lambda: twilio.played_ms() >= 300, "part of the greeting heard")
    await env.model.drop()
    await env.wait(lambda: len(env.model.connections) == 2, "the reconnection")
    await env.wait_played(twilio, 1)
    caller.say()


async def _half_open(env: Env, twilio: TwilioPeer, caller: Caller) -> None:
    await env.wait_played(twilio, 1)
    env.model.freeze()
    caller.say()  # into the dead connection


async def _mid_answer_drop(env: Env, twilio: TwilioPeer, caller: Caller) -> None:
    await env.wait_played(twilio, 1)
    caller.say()
    await env.wait(
        lambda: bool(env.model.connections[0].events("input_audio_buffer.speech_started")),
        "the answer begun",
    )
    await env.model.drop()


FAULTS: dict[str, tuple[str | None, Fault]] = {
    # name: (the peer's drop_before before the call starts, what happens during the call)
    "before-greeting": ("response.output_audio.delta", _greeting_dropped),
    "mid-greeting": (None, _mid_greeting),
    "as-caller-starts": (
        None,
        lambda e, t, c: _drop_before("input_audio_buffer.speech_started", e, t, c),
    ),
    "mid-answer": (None, _mid_answer_drop),
    "as-caller-finishes": (
        None,
        lambda e, t, c: _drop_before("input_audio_buffer.speech_stopped", e, t, c),
    ),
    "before-transcript": (
        None,
        lambda e, t, c: _drop_before(
            "conversation.item.input_audio_transcription.completed", e, t, c
        ),
    ),
    "half-open": (None, _half_open),
}


@dataclass
class Result:
    lost: int = 0
    runs: int = 0
    noticed_s: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


async def one_call(mongo_uri: str, name: str, result: Result) -> None:
    preset, fault = FAULTS[name]
    script = Script(
        responses=[
            Say(GREETING, audio_ms=600),
            Say(REPLY, audio_ms=600),
            Say("Thank you.", audio_ms=400),
        ],
        # One per commit: a connection lost after committing the answer has used one up,
        # and the reopened one transcribes the replayed answer again.
        caller_transcripts=[ANSWER, ANSWER],
    )
    db = f"faults_{uuid.uuid4().hex[:8]}"
    async with live_env(mongo_uri, db, script, realtime_factor=1.0) as env:
        env.model.drop_before = preset
        call_sid, twilio, caller = await env.dial_in()
        try:
            await fault(env, twilio, caller)
            await env.wait(lambda: len(env.model.connections) >= 2, "the reconnection", 60)
            last = env.model.connections[-1]
            await env.wait(
                lambda: any(t == ANSWER for t in last.transcripts.values()), "the answer", 30
            )
            await env.wait_played(twilio, 1, timeout=30)
        except AssertionError as exc:
            result.failures.append(f"{name}: {exc}")
        frozen = [c for c in env.model.connections if c.frozen_at is not None]
        if frozen and len(env.model.connections) >= 2:
            frozen_at = frozen[0].frozen_at
            assert frozen_at is not None
            result.noticed_s.append(env.model.connections[1].opened_at - frozen_at)
        _, turns = await env.hang_up(call_sid, twilio, caller)
    result.runs += 1
    if not any(t.speaker == "caller" and t.text == ANSWER for t in turns):
        result.lost += 1
    if sum(t.speaker == "caller" and t.text == ANSWER for t in turns) > 1:
        result.failures.append(f"{name}: the answer was stored twice")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--faults", default=",".join(FAULTS))
    args = parser.parse_args()
    names = [n for n in args.faults.split(",") if n]
    with tempfile.TemporaryDirectory() as scratch:
        server = await start_in_memory(Path(scratch))
        try:
            print("| fault | runs | answers lost | time to notice (s) |")
            print("|---|---|---|---|")
            for name in names:
                result = Result()
                for _ in range(args.runs):
                    await one_call(server.uri, name, result)
                notice = (
                    f"{min(result.noticed_s):.1f}-{max(result.noticed_s):.1f} "
                    f"(median {statistics.median(result.noticed_s):.1f})"
                    if result.noticed_s
                    else "-"
                )
                print(f"| {name} | {result.runs} | {result.lost} | {notice} |", flush=True)
                for failure in result.failures:
                    print(f"  {failure}", file=sys.stderr)
        finally:
            await discard(server)


if __name__ == "__main__":
    asyncio.run(main())
