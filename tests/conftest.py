"""Shared fixtures: a real MongoDB wire-protocol server, and a database of its own per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page

from persistence.store import Store
from tests.support.browser import launch, new_page
from tests.support.embedded import discard, start_in_memory


@pytest.fixture(scope="session")
async def mongo_uri(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """MONGODB_URI when set; otherwise SecantusDB's server on a free loopback port, one per
    xdist worker (the session is the worker's), in memory and thrown away at the end."""
    external = os.environ.get("MONGODB_URI")
    if external:
        yield external
        return
    server = await start_in_memory(tmp_path_factory.mktemp("embedded-db"))
    try:
        yield server.uri
    finally:
        await discard(server)


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


@pytest.fixture(autouse=True)
def own_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test runs in a directory of its own: a service keeps its write journal under
    DATA_DIR (./var unless a test says otherwise), and no test may leave one in the
    repository."""
    monkeypatch.chdir(tmp_path)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests first, so the parallel workers share them out from the start and end
    together, instead of one worker running the last long ones alone."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """One headless Chromium per test process, shared by every browser test in it."""
    pw, chromium = await launch()
    try:
        yield chromium
    finally:
        await chromium.close()
        await pw.stop()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A laptop-sized page of its own (cookies included), closed after the test."""
    context, opened = await new_page(browser)
    try:
        yield opened
    finally:
        await context.close()
