"""The service exactly as the Procfile runs it -- uvicorn on uvloop with httptools, in its
own process -- carrying a whole call between the Twilio and OpenAI peers.

The other call tests serve the app inside the test's own event loop; this one catches
what only the production process does (its event loop, its server's WebSocket protocol,
its logging set-up)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import httpx
import pytest

from persistence.embedded import free_loopback_port
from persistence.store import Store
from service.server import WS_MAX_SIZE
from tests.support.call_harness import ACCOUNT, Env
from tests.support.openai import RealtimePeer, Say, Script
from tests.support.processes import LISTENING, Output
from tests.support.servers import procfile_command
from tests.support.telephony_fixtures import AUTH_TOKEN, PUBLIC, Service
from tests.support.twilio_rest_peer import TwilioRestPeer

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
OWN_SETTINGS = ("MONGODB_", "OPENAI_", "TWILIO_", "PUBLIC_URL", "PORT", "DATA_DIR", "MAX_CALLS")


async def test_a_call_through_the_procfile_server(
    mongo_uri: str, db_name: str, tmp_path: Path
) -> None:
    script = Script(
        responses=[
            Say("Hello, thanks for calling. Tell me about a recent project you led.", 2000),
            Say("Of course, go ahead.", audio_ms=600),
        ],
        caller_transcripts=["Sorry, can I ask something first?"],
    )
    model = RealtimePeer(script=script, realtime_factor=1.25)
    rest = TwilioRestPeer(ACCOUNT, AUTH_TOKEN)
    port = free_loopback_port()
    async with model, rest.serving():
        env_vars = {k: v for k, v in os.environ.items() if not k.startswith(OWN_SETTINGS)}
        env_vars.update(
            PYTHONPATH=str(ROOT),
            PORT=str(port),
            MONGODB_URI=mongo_uri,
            MONGODB_DB=db_name,
            PUBLIC_URL=PUBLIC,
            TWILIO_AUTH_TOKEN=AUTH_TOKEN,
            TWILIO_ACCOUNT_SID=ACCOUNT,
            TWILIO_API_URL=rest.base,
            OPENAI_API_KEY="sk-test",
            OPENAI_REALTIME_URL=model.url,
            LOG_LEVEL="INFO",
            DATA_DIR=str(tmp_path / "data"),  # the write journal, out of the repository
        )
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            *procfile_command(port),
            cwd=ROOT,
            env=env_vars,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = Output(process.stdout), Output(process.stderr)
        store = await Store.open(mongo_uri, db_name)
        base = f"http://127.0.0.1:{port}"
        try:
            await err.wait_for(LISTENING)
            async with httpx.AsyncClient(base_url=base, timeout=10) as http:
                assert (await http.get("/readyz")).status_code == 200
                env = Env(Service(base, None, http, direct_store=store), model, rest)
                call_sid, twilio, caller = await env.dial_in()
                await env.wait(lambda: twilio.played_ms() >= 800, "0.8 s of the greeting heard")
                caller.say()
                await env.wait(lambda: bool(model.connections[0].truncations), "the truncation")
                await env.wait_played(twilio, 2)
                live = (await http.get("/readyz")).json()
                call, turns = await env.hang_up(call_sid, twilio, caller)
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), 30)
            output = await out.rest() + "\n" + await err.rest()
            await store.db.client.drop_database(db_name)
            await store.close()

    assert model.errors == [] and twilio.errors == [] and rest.errors == []
    assert live["calls"] == 1
    # The greeting played, was interrupted where the caller was, and the call went on.
    assert [t.speaker for t in turns] == ["assistant", "caller", "assistant"]
    assert turns[0].interrupted and turns[0].truncated_at_ms is not None
    assert call.ended_reason == "candidate hung up (stream stopped)"
    assert "first_audio_out" in call.timings
    # A clean shutdown (uvicorn re-raises SIGTERM once it has finished, so that is the
    # exit status), every line through the service's JSON logging, no errors.
    assert process.returncode in (0, -signal.SIGTERM)
    lines = [line for line in output.splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]
    errors = [e for e in entries if e["level"] not in ("DEBUG", "INFO", "WARNING")]
    assert errors == [], json.dumps(errors)
    said = [e["msg"] for e in entries if e["logger"] == "uvicorn.error"]
    assert "Application shutdown complete." in said, said


def test_the_procfile_and_serve_share_the_frame_limit() -> None:
    """Frames up to the limit are read and counted as bad input; the Procfile's uvicorn
    and `voice-interview serve` must agree on it."""
    args = procfile_command(8000)
    assert int(args[args.index("--ws-max-size") + 1]) == WS_MAX_SIZE
