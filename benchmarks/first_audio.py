"""How long a caller waits for the greeting (issue #17): from the media stream's `start`
to the first outbound audio, over many calls, with a model that takes a while to its
first audio.

The service runs as the Procfile runs it, one worker; each call rings the voice webhook,
then opens its stream `--stream-delay` later (Twilio opens it once it has the TwiML and has
connected), and the OpenAI stand-in answers each response.create after `--model-delay`.
With `--compare REF`, the same calls run against the code at git REF too (checked out into
a temporary worktree), interleaved call by call with the current code, so both see the
same machine.

    .venv/bin/python benchmarks/first_audio.py
    .venv/bin/python benchmarks/first_audio.py --calls 100 --model-delay 300 --compare main~5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from load import HOST, ROOT, Server, database, log, ring, start_server, wait_until
from load_peers import ACCOUNT, Caller, ModelPeer, Scenario

from tests.support.telephony_fixtures import AUTH_TOKEN
from tests.support.twilio_peer import sid
from tests.support.twilio_rest_peer import TwilioRestPeer


@contextlib.contextmanager
def checkout(ref: str) -> Iterator[Path]:
    """The code at `ref`, in a temporary git worktree (it runs on this venv)."""
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "tree"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(path), ref],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        try:
            yield path
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(path)], cwd=ROOT, capture_output=True
            )


async def one_call(server: Server, index: int, stream_delay_s: float) -> Caller:
    call_sid = sid("CA")
    path = await ring(server.port, call_sid)
    await asyncio.sleep(stream_delay_s)
    caller = Caller(index, call_sid, HOST, server.port, path)
    await caller.connect()
    await wait_until(caller.heard_greeting, 10)
    await caller.stop()
    return caller


@contextlib.asynccontextmanager
async def service(root: Path, name: str, model: ModelPeer, rest: TwilioRestPeer, db_uri: str,
                  log_dir: Path) -> AsyncIterator[Server]:  # fmt: skip
    server = start_server(
        worker_class="uvloop",
        workers=1,
        cpus=None,
        db_uri=db_uri,
        db_name=f"bench_first_{name}_{secrets.token_hex(3)}",
        model_url=model.url,
        rest_url=rest.base,
        log_dir=log_dir,
        root=root,
    )
    try:
        await server.ready()
        yield server
    finally:
        await server.stop()


def summary(waits_ms: list[float]) -> str:
    if not waits_ms:
        return "no calls greeted"
    p50, p99 = np.percentile(waits_ms, [50, 99])
    return f"median {p50:.1f} ms, p99 {p99:.1f} ms, max {max(waits_ms):.1f} ms ({len(waits_ms)})"


async def run(args: argparse.Namespace) -> None:
    log_dir = Path(tempfile.mkdtemp(prefix="voice-first-audio-"))
    scenario = Scenario(first_audio_ms=args.model_delay, greeting_ms=1000, barge_every=0)
    roots = {"now": ROOT}
    with contextlib.ExitStack() as trees:
        if args.compare:
            roots["before"] = trees.enter_context(checkout(args.compare))
        async with database(cpu=None) as (db_uri, _):
            model = ModelPeer(scenario)
            await model.start()
            rest = TwilioRestPeer(ACCOUNT, AUTH_TOKEN)
            try:
                async with rest.serving(), contextlib.AsyncExitStack() as stack:
                    servers = {
                        name: await stack.enter_async_context(
                            service(root, name, model, rest, db_uri, log_dir)
                        )
                        for name, root in roots.items()
                    }
                    waits: dict[str, list[float]] = {name: [] for name in servers}
                    log(f"{args.calls} calls each; stream {args.stream_delay * 1000:.0f} ms after "
                        f"the webhook, model first audio after {args.model_delay} ms")  # fmt: skip
                    for i in range(args.calls):
                        for name, server in servers.items():  # interleaved, call by call
                            caller = await one_call(server, i, args.stream_delay)
                            if caller.media_rx:
                                waits[name].append((caller.media_rx[0] - caller.started_ns) / 1e6)
                            await asyncio.sleep(0.02)
                    for name, values in waits.items():
                        print(f"{name}: stream start to first audio: {summary(values)}")
            finally:
                await model.close()
    log(f"server logs in {log_dir}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--model-delay", type=int, default=300, help="ms to first audio")
    parser.add_argument("--stream-delay", type=float, default=0.5, help="s webhook to stream")
    parser.add_argument("--compare", help="also run the code at this git ref, interleaved")
    args = parser.parse_args()
    started = time.monotonic()
    asyncio.run(run(args))
    log(f"done in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
