"""Shared fixtures: a real MongoDB wire-protocol server and a real Hypercorn on loopback."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest

from persistence.embedded import EmbeddedServer
from persistence.store import Store


@pytest.fixture(scope="session")
async def mongo_uri() -> AsyncIterator[str]:
    """MONGODB_URI when set; otherwise SecantusDB's server on a free loopback port."""
    external = os.environ.get("MONGODB_URI")
    if external:
        yield external
        return
    server = EmbeddedServer(":memory:")
    uri = await server.start()
    try:
        yield uri
    finally:
        await server.stop()


@pytest.fixture
def db_name() -> str:
    return f"test_{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def store(mongo_uri: str, db_name: str) -> AsyncIterator[Store]:
    """A store on a database of its own, dropped after the test."""
    s = await Store.open(mongo_uri, db_name)
    try:
        yield s
    finally:
        await s.db.client.drop_database(db_name)
        await s.close()
