"""The `voice-interview` command as a newcomer runs it: a real process, real signals."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import httpx

from persistence import EmbeddedServer
from persistence.embedded import free_loopback_port

ROOT = Path(__file__).resolve().parent.parent
CLEAN_ENV = {
    k: v
    for k, v in os.environ.items()
    if not k.startswith(("MONGODB_", "OPENAI_", "TWILIO_", "PUBLIC_URL", "PORT", "DATA_DIR"))
}


async def start(tmp: Path, port: int, **env: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "telephony.cli",
        "serve",
        cwd=tmp,
        env={**CLEAN_ENV, "PYTHONPATH": str(ROOT), "PORT": str(port), **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def wait_ready(base: str, process: asyncio.subprocess.Process) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base, timeout=5) as http:
        for _ in range(300):
            if process.returncode is not None:
                raise AssertionError("serve exited early")
            try:
                return await http.get("/readyz")
            except httpx.TransportError:
                await asyncio.sleep(0.1)
    raise AssertionError("serve never answered")


async def test_serve_on_embedded_defaults_then_stop_cleanly(tmp_path: Path) -> None:
    port = free_loopback_port()
    process = await start(tmp_path, port)
    try:
        ready = await wait_ready(f"http://127.0.0.1:{port}", process)
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), 30)
    assert ready.status_code == 200, ready.text
    assert process.returncode == 0
    log = err.decode()
    assert "MONGODB_URI is not set" in log and "production should set MONGODB_URI" in log
    assert "feature off: live interviews (set OPENAI_API_KEY)" in log
    assert "Traceback" not in log
    # The embedded server went down with the service: its data directory is free again.
    assert (tmp_path / "var" / "db").is_dir()
    again = EmbeddedServer(tmp_path / "var" / "db")
    await again.start()
    await again.stop()


async def test_serve_exits_with_a_message_when_the_data_directory_is_locked(
    tmp_path: Path,
) -> None:
    holder = EmbeddedServer(tmp_path / "data" / "db")
    await holder.start()
    try:
        process = await start(tmp_path, free_loopback_port(), DATA_DIR=str(tmp_path / "data"))
        _, err = await asyncio.wait_for(process.communicate(), 60)
    finally:
        await holder.stop()
    text = err.decode()
    assert process.returncode == 1
    assert "cannot start: the embedded database directory" in text
    assert "in use by another process" in text
    assert "Traceback" not in text


async def test_serve_refuses_bad_configuration(tmp_path: Path) -> None:
    process = await start(tmp_path, free_loopback_port(), LOG_LEVEL="loud", MONGODB_URI="redis://x")
    _, err = await asyncio.wait_for(process.communicate(), 30)
    text = err.decode()
    assert process.returncode == 2
    assert "LOG_LEVEL: must be one of" in text
    assert "MONGODB_URI: must start with mongodb://" in text
    assert "Traceback" not in text
