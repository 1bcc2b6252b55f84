"""`voice-interview api-key create|list|revoke` as an operator runs them, against the
database the API then checks keys in."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.support.api import api_server
from tests.test_cli import run_cli

pytestmark = pytest.mark.slow


async def test_a_key_is_printed_once_listed_by_id_and_revoked(
    mongo_uri: str, tmp_path: Path
) -> None:
    db_name = f"test_{uuid.uuid4().hex[:12]}"
    env = {"MONGODB_URI": mongo_uri, "MONGODB_DB": db_name}
    created = run_cli(tmp_path, "api-key", "create", "--label", "ATS", "--scope", "ops", **env)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("vi_") and len(key) > 40
    key_id = key.split("_")[1]
    assert "shown this once" in created.stderr

    async with api_server(mongo_uri, db_name=db_name) as api:
        headers = {"Authorization": f"Bearer {key}"}
        assert (await api.http.get("/api/v1/templates", headers=headers)).status_code == 200
        revoked = run_cli(tmp_path, "api-key", "revoke", key_id, **env)
        assert revoked.returncode == 0 and key_id in revoked.stdout
        assert (await api.http.get("/api/v1/templates", headers=headers)).status_code == 401
        listed = run_cli(tmp_path, "api-key", "list", **env)
    lines = listed.stdout.splitlines()
    assert len(lines) == 4  # this key and the test server's three
    (line,) = [line for line in lines if line.startswith(key_id)]
    assert line.split()[:3] == [key_id, "ops", "revoked"] and line.endswith("ATS")
    assert key not in listed.stdout
