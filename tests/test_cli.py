"""The `voice-interview` command as a newcomer runs it: a real process, real signals."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from persistence.embedded import EmbeddedServer, free_loopback_port
from tests.support.embedded import discard
from tests.support.processes import LISTENING, Output

pytestmark = pytest.mark.slow

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
        "service.cli",
        "serve",
        cwd=tmp,
        env={**CLEAN_ENV, "PYTHONPATH": str(ROOT), "PORT": str(port), **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_serve_on_embedded_defaults_then_stop_cleanly(tmp_path: Path) -> None:
    port = free_loopback_port()
    process = await start(tmp_path, port)
    out, err = Output(process.stdout), Output(process.stderr)
    try:
        await err.wait_for(LISTENING)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            ready = await http.get("/readyz")
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 30)
        await out.rest()
        log = await err.rest()
    assert ready.status_code == 200, ready.text
    assert process.returncode == 0
    assert "MONGODB_URI is not set" in log and "production should set MONGODB_URI" in log
    assert "feature off: live interviews (set OPENAI_API_KEY)" in log
    assert "Traceback" not in log
    # The data lives in DATA_DIR/db (relative to where the service was started) ...
    data = tmp_path / "var" / "db"
    assert (data / "WiredTiger").is_file()
    # (beside the do-not-call list's key, made once since DO_NOT_CALL_KEY is not set)
    assert sorted(p.name for p in (tmp_path / "var").iterdir()) == [
        "db",
        "do-not-call.key",
        "embedded-db.log",
        "journal",
    ]
    # A clean stop with every call write in the database leaves no journal behind.
    assert list((tmp_path / "var" / "journal").iterdir()) == []
    # ... and the embedded server went down with the service: the directory is free again.
    again = EmbeddedServer(tmp_path / "var" / "db")
    await again.start()
    await discard(again)


async def test_serve_exits_with_a_message_when_the_data_directory_is_locked(
    tmp_path: Path,
) -> None:
    holder = EmbeddedServer(tmp_path / "data" / "db")
    await holder.start()
    try:
        process = await start(tmp_path, free_loopback_port(), DATA_DIR=str(tmp_path / "data"))
        _, err = await asyncio.wait_for(process.communicate(), 60)
    finally:
        await discard(holder)
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


def run_cli(tmp: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        cwd=tmp,
        env={**CLEAN_ENV, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_estimate_prints_a_total_and_its_assumptions(tmp_path: Path) -> None:
    big = run_cli(tmp_path, "estimate", "--minutes", "15")
    mini = run_cli(tmp_path, "estimate", "--minutes", "15", "--model", "gpt-realtime-2.1-mini")
    assert big.returncode == 0 and mini.returncode == 0
    assert big.stdout.startswith("15-minute interview on gpt-realtime-2.1: $")
    total = float(big.stdout.split("$")[1].split()[0])
    mini_total = float(mini.stdout.split("$")[1].split()[0])
    assert 0 < mini_total < total
    assert "cache_hit_ratio" in big.stdout
    unknown = run_cli(tmp_path, "estimate", "--minutes", "5", "--model", "gpt-unknown")
    assert unknown.returncode == 2 and "no price for model 'gpt-unknown'" in unknown.stderr


def test_save_template_validates_and_routes_a_number(tmp_path: Path) -> None:
    from evaluation.templates import DEFAULT_TEMPLATE, template_to_dict

    good = template_to_dict(DEFAULT_TEMPLATE) | {"template_id": "backend"}
    (tmp_path / "good.json").write_text(json.dumps(good))
    bad = {**good, "questions": [], "voice": "robot"}
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    refused = run_cli(tmp_path, "save-template", "bad.json")
    assert refused.returncode == 2
    assert "questions" in refused.stderr and "voice" in refused.stderr
    saved = run_cli(tmp_path, "save-template", "good.json", "--number", "+14155550100")
    assert saved.returncode == 0, saved.stderr
    assert "saved template 'backend' for calls to +14155550100" in saved.stdout
    # Stored in the embedded database: another template cannot take the same number.
    other = good | {"template_id": "frontend"}
    (tmp_path / "other.json").write_text(json.dumps(other))
    clash = run_cli(tmp_path, "save-template", "other.json", "--number", "+14155550100")
    assert clash.returncode == 1 and "already route to template 'backend'" in clash.stderr
