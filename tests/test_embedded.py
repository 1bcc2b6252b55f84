from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from persistence import NewCall
from persistence.embedded import EmbeddedServer, EmbeddedServerError
from persistence.store import Store
from tests.support.embedded import discard

pytestmark = pytest.mark.slow


async def test_data_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "db"
    first = EmbeddedServer(path)
    uri = await first.start()
    try:
        store = await Store.open(uri, "lifecycle")
        call = NewCall(
            call_sid="CAkeep",
            direction="inbound",
            from_masked="+***0001",
            to_masked="+***0002",
            template_id="default",
            created_at=datetime.now(UTC),
        )
        await store.calls.create_or_get(call)
        await store.close()
    finally:
        await first.stop()
    assert not first.running

    second = EmbeddedServer(path)
    uri = await second.start()
    try:
        store = await Store.open(uri, "lifecycle")
        kept = await store.calls.get("CAkeep")
        await store.close()
    finally:
        await discard(second)  # only read from: nothing of it needs to last
    assert kept is not None and kept.to_masked == "+***0002"


async def test_locked_data_directory_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "db"
    owner = EmbeddedServer(path)
    await owner.start()
    try:
        with pytest.raises(EmbeddedServerError, match="in use by another process"):
            await EmbeddedServer(path).start()
    finally:
        await discard(owner)


async def test_unwritable_data_directory_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(EmbeddedServerError, match="cannot create the embedded database directory"):
        await EmbeddedServer(blocker / "db").start()


async def test_stop_is_idempotent(tmp_path: Path) -> None:
    server = EmbeddedServer(":memory:")
    await server.stop()  # never started
    await server.start()
    assert server.running
    await server.stop()
    await server.stop()
    assert not server.running
