"""Browser test calls (issue #15), whole: /ops/try in Debian's Chromium with the espeak-ng
fake microphone of the tests, the real service (Hypercorn) and the OpenAI Realtime peer.
Each call plays a 12 s greeting, the microphone's sentence barges in, and the reply after
it is the one timed.

    .venv/bin/python benchmarks/browser_call.py              # 5 calls
    .venv/bin/python benchmarks/browser_call.py --calls 10

Figures per call: where the page had stopped playing the greeting against where the model's
memory was cut (ms; positive: the page played on while the clear travelled), how long the
clear took to stop the page after the bridge sent it (ms, from the peer's receipt of the
cancel that follows it), the page's reply latency (end of speech as the page hears it to
the first audio played) beside the service's stored one (end of speech as the model's VAD
reports it to the first audio sent), and the page's buffer underruns.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.browser import expect, launch, new_page, sign_in
from tests.support.call_harness import live_env
from tests.support.embedded import discard, start_in_memory
from tests.support.openai import Say, Script
from tests.test_browser_call import FAKE_MIC, SAID, add_key, completed, window_state


async def one_call(mongo_uri: str, browser: object) -> dict[str, float]:
    script = Script(
        responses=[Say("Welcome to the interview.", audio_ms=12000), Say("Sure.", audio_ms=800)],
        caller_transcripts=[SAID],
    )
    db_name = f"bench_{uuid.uuid4().hex[:12]}"
    async with live_env(
        mongo_uri, db_name, script, realtime_factor=1.25, public_url=None, twilio_auth_token=None
    ) as env:
        context, page = await new_page(browser)  # type: ignore[arg-type]
        wall_offset = time.time() - time.monotonic()
        try:
            await sign_in(page, env.svc.base, await add_key(env, "recruiter"), "/ops/try")
            await page.get_by_role("button", name="Start").click()
            await env.wait(lambda: bool(env.model.connections), "the model session")
            conn = env.model.connections[0]
            await env.wait(lambda: len(conn.events("response.done")) >= 2, "the reply", 30)
            await expect(page.locator("#try-latency li")).to_have_count(1)
            state = await window_state(page)
            await page.get_by_role("button", name="Hang up").click()
            call = await completed(env, str(state["callSid"]))
        finally:
            await context.close()
        turns = await env.turns(call.call_sid)
    (_, audio_end_ms, _), *_ = conn.truncations
    cancelled = next(
        at
        for event, at in zip(conn.received, conn.received_at, strict=True)
        if event.get("type") == "response.cancel"
    )
    heard = state["heardAtClearMs"]
    cleared = state["clearedAt"]
    latencies = state["latenciesMs"]
    assert isinstance(heard, list) and isinstance(cleared, list) and isinstance(latencies, list)
    stored = [t.latency_ms for t in turns if t.speaker == "assistant" and t.latency_ms]
    return {
        "heard_minus_cut_ms": heard[0] - audio_end_ms,
        "clear_on_its_way_ms": cleared[0] - (cancelled + wall_offset) * 1000,
        "page_latency_ms": float(latencies[0]),
        "stored_latency_ms": float(stored[-1]) if stored else float("nan"),
        "underruns": float(state["underruns"]),  # type: ignore[arg-type]
    }


async def main(calls: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        server = await start_in_memory(Path(scratch))
        pw, browser = await launch(FAKE_MIC)
        try:
            results = []
            for i in range(calls):
                result = await one_call(server.uri, browser)
                results.append(result)
                print(f"call {i + 1}: " + ", ".join(f"{k} {v:.1f}" for k, v in result.items()))
        finally:
            await browser.close()
            await pw.stop()
            await discard(server)
    print(f"\nmedian of {calls} calls (min..max):")
    for key in results[0]:
        values = [r[key] for r in results]
        print(f"  {key}: {statistics.median(values):.1f} ({min(values):.1f}..{max(values):.1f})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=5)
    asyncio.run(main(parser.parse_args().calls))
