"""`voice-interview api-key create|list|revoke` against the database the API then checks
keys in. The command runs in a thread of this process (its own event loop, as from a
shell), which spares three interpreter start-ups."""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path

import pytest

from persistence.embedded import port_file
from service.cli import main
from service.services import Services
from service.settings import Settings
from tests.support.api import api_server


async def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        code = await asyncio.to_thread(main, ["api-key", *args])
    finally:  # the command sets up logging as it would for its own process
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
    out, err = capsys.readouterr()
    return code, out, err


async def test_a_key_is_printed_once_listed_by_id_and_revoked(
    mongo_uri: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db_name = f"test_{uuid.uuid4().hex[:12]}"
    monkeypatch.chdir(tmp_path)  # no .env from elsewhere
    monkeypatch.setenv("MONGODB_URI", mongo_uri)
    monkeypatch.setenv("MONGODB_DB", db_name)
    code, out, err = await cli(capsys, "create", "--label", "ATS", "--scope", "ops")
    assert code == 0, err
    key = out.strip()
    assert key.startswith("vi_") and len(key) > 40
    key_id = key.split("_")[1]
    assert "shown this once" in err

    async with api_server(mongo_uri, db_name=db_name) as api:
        headers = {"Authorization": f"Bearer {key}"}
        assert (await api.http.get("/api/v1/templates", headers=headers)).status_code == 200
        code, out, _ = await cli(capsys, "revoke", key_id)
        assert code == 0 and key_id in out
        assert (await api.http.get("/api/v1/templates", headers=headers)).status_code == 401
        code, out, _ = await cli(capsys, "list")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 4  # this key and the test server's three
    (line,) = [line for line in lines if line.startswith(key_id)]
    assert line.split()[:3] == [key_id, "ops", "revoked"] and line.endswith("ATS")
    assert key not in out
    code, _, err = await cli(capsys, "revoke", key_id)
    assert code == 1 and "no active key" in err


@pytest.mark.slow
async def test_a_key_made_beside_a_running_service_goes_into_its_embedded_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`./dev serve` holds the embedded database's directory; a command run beside it
    uses that server rather than failing to start a second one."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MONGODB_URI", raising=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "var"))
    running = Services(Settings(data_dir=tmp_path / "var"))
    await running.start(background=False)
    try:
        assert running.embedded is not None and running.store is not None
        code, out, err = await cli(capsys, "create", "--label", "beside", "--scope", "ops")
        assert code == 0, err
        key_id = out.strip().split("_")[1]
        keys = await running.store.api_keys.list()
        assert [k.key_id for k in keys] == [key_id]
    finally:
        await running.stop()
    assert not port_file((tmp_path / "var" / "db").resolve()).exists()
