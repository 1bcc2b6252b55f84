from __future__ import annotations

import gc
from pathlib import Path
from typing import cast

import httpx
import pytest

from persistence.embedded import free_loopback_port
from persistence.store import Store
from service.app import create_app
from service.call_sessions import Primed
from service.services import Services
from service.settings import Settings
from tests.support.embedded import discard, start_in_memory
from tests.support.servers import running


async def test_healthz_and_readyz_when_the_database_is_up(mongo_uri: str, db_name: str) -> None:
    app = create_app(Settings(mongodb_uri=mongo_uri, mongodb_db=db_name))
    async with running(app) as base, httpx.AsyncClient(base_url=base) as http:
        health = await http.get("/healthz")
        ready = await http.get("/readyz")
        store = app.extensions["voice_interview"].store
        await store.db.client.drop_database(db_name)
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "calls": 0, "connecting": 0, "max_calls": 80}


async def test_what_the_start_made_is_kept_out_of_full_collections(
    mongo_uri: str, db_name: str
) -> None:
    before = gc.get_freeze_count()
    app = create_app(Settings(mongodb_uri=mongo_uri, mongodb_db=db_name))
    async with running(app):
        frozen = gc.get_freeze_count()
        store = app.extensions["voice_interview"].store
        await store.db.client.drop_database(db_name)
    # The start made the store, its client and every other long-lived part: all frozen.
    assert frozen > before


@pytest.mark.slow
async def test_readyz_is_503_with_a_reason_when_the_database_goes_down(tmp_path: Path) -> None:
    server = await start_in_memory(tmp_path)
    uri = server.uri
    settings = Settings(mongodb_uri=uri, mongodb_db="health")
    svc = Services(settings)
    svc.store = await Store.open(uri, "health", timeout_ms=500)
    app = create_app(settings, svc)
    try:
        async with running(app) as base, httpx.AsyncClient(base_url=base, timeout=10) as http:
            assert (await http.get("/readyz")).status_code == 200
            await discard(server)  # the database process dies
            down = await http.get("/readyz")
            alive = await http.get("/healthz")
    finally:
        await svc.stop()
        await discard(server)
    assert down.status_code == 503
    body = down.json()
    assert body["status"] == "unavailable" and body["reason"].startswith("database")
    assert alive.status_code == 200


@pytest.mark.slow
async def test_service_starts_with_an_unreachable_database_and_reports_it() -> None:
    port = free_loopback_port()  # nothing listens here
    settings = Settings(mongodb_uri=f"mongodb://127.0.0.1:{port}", mongodb_timeout_ms=300)
    app = create_app(settings)
    async with running(app) as base, httpx.AsyncClient(base_url=base, timeout=10) as http:
        ready = await http.get("/readyz")
        alive = await http.get("/healthz")
    assert alive.status_code == 200
    assert ready.status_code == 503 and "database" in ready.json()["reason"]


async def test_readyz_reports_load_and_is_503_at_capacity(mongo_uri: str, db_name: str) -> None:
    app = create_app(Settings(mongodb_uri=mongo_uri, mongodb_db=db_name, max_calls_per_worker=2))
    svc: Services = app.extensions["voice_interview"]
    async with running(app) as base, httpx.AsyncClient(base_url=base) as http:
        svc.admission.stream_opened()
        one = await http.get("/readyz")
        svc.admission.stream_opened()
        full = await http.get("/readyz")
        alive = await http.get("/healthz")
        svc.admission.stream_closed()
        again = await http.get("/readyz")

        async def opened() -> Primed:
            return cast(Primed, object())  # never used: the call stays connecting

        svc.interviews.pending.start("CA1", opened)  # answered here; its stream is on its way
        reserved = await http.get("/readyz")
        assert svc.store is not None
        await svc.store.db.client.drop_database(db_name)
    assert one.status_code == 200
    assert one.json() == {"status": "ready", "calls": 1, "connecting": 0, "max_calls": 2}
    assert full.status_code == 503
    assert full.json() == {
        "status": "unavailable",
        "reason": "at capacity (2 calls)",
        "calls": 2,
        "connecting": 0,
        "max_calls": 2,
    }
    assert alive.status_code == 200  # full is not dead: the process must not be restarted
    assert again.status_code == 200 and again.json()["calls"] == 1
    assert reserved.status_code == 503
    assert reserved.json()["reason"] == "at capacity (2 calls)"
    assert reserved.json()["connecting"] == 1
