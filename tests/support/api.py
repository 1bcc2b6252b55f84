"""The recruiter API under test: the real app and services on a real server, a database of
its own, a key per scope; and a webhook receiver on 127.0.0.1 that checks signatures and
can be taken down and brought back on the same port."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from quart import Quart

from persistence.store import Store
from service.app import create_app, services
from service.services import Services
from service.settings import Settings
from telephony.api.auth import SCOPES, new_key
from telephony.api.signing import HEADER, verify
from tests.support.servers import running
from tests.support.waiting import Changes

RECEIVERS = ("127.0.0.1",)  # the tests' webhook receivers are on loopback
CONSENT = {"obtained_at": "2026-01-05T10:00:00Z", "source": "careers-site form"}


def interview_body(phone: str = "+1 415 555 2671", **extra: Any) -> dict[str, Any]:
    return {
        "candidate": {"name": "Ada Lovelace", "phone": phone},
        "template_id": "default",
        "consent": CONSENT,
        **extra,
    }


@dataclass
class Api:
    base: str
    app: Quart
    http: httpx.AsyncClient
    keys: dict[str, str]

    @property
    def services(self) -> Services:
        return services(self.app)

    @property
    def store(self) -> Store:
        store = self.services.store
        assert store is not None
        return store

    def auth(self, scope: str = "recruiter") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[scope]}"}

    async def get(self, path: str, scope: str = "recruiter", **kw: Any) -> httpx.Response:
        return await self.http.get(path, headers=self.auth(scope), **kw)

    async def post(self, path: str, body: Any = None, scope: str = "recruiter", **kw: Any) -> Any:
        headers = {**self.auth(scope), **kw.pop("headers", {})}
        return await self.http.post(path, json=body, headers=headers, **kw)

    async def put(self, path: str, body: Any, scope: str = "recruiter") -> httpx.Response:
        return await self.http.put(path, json=body, headers=self.auth(scope))

    async def delete(self, path: str, scope: str = "recruiter") -> httpx.Response:
        return await self.http.delete(path, headers=self.auth(scope))


async def add_keys(store: Store) -> dict[str, str]:
    keys: dict[str, str] = {}
    for scope in SCOPES:
        key, key_id, key_hash = new_key()
        await store.api_keys.add(key_hash, f"test {scope}", [scope], datetime.now(UTC), key_id)
        keys[scope] = key
    return keys


@contextlib.asynccontextmanager
async def api_server(
    mongo_uri: str, *, db_name: str | None = None, drop: bool = True, **settings: Any
) -> AsyncIterator[Api]:
    """A service on a database of its own (dropped afterwards unless `drop` is false)."""
    db_name = db_name or f"test_{uuid.uuid4().hex[:12]}"
    settings.setdefault("webhook_allow_networks", RECEIVERS)
    app = create_app(Settings(mongodb_uri=mongo_uri, mongodb_db=db_name, **settings))
    async with running(app) as base, httpx.AsyncClient(base_url=base, timeout=30) as http:
        store = services(app).store
        assert store is not None
        keys = await add_keys(store)
        try:
            yield Api(base, app, http, keys)
        finally:
            if drop:
                await store.db.client.drop_database(db_name)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Received:
    event_id: str
    event: str
    body: dict[str, Any]
    signed: bool


@dataclass
class Receiver:
    """A webhook receiver: a plain HTTP/1.1 server that records each delivery and whether
    its signature verified, and answers 200 (or `status`)."""

    port: int = field(default_factory=free_port)
    secret: str = ""
    status: int = 200
    received: list[Received] = field(default_factory=list)
    changes: Changes = field(default_factory=Changes)
    _server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = {
                k.strip().lower(): v.strip()
                for k, _, v in (line.partition(":") for line in lines[1:] if line)
            }
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            signed = verify(self.secret, headers.get(HEADER.lower(), ""), body, time.time())
            if self.status == 200:
                data = json.loads(body)
                self.received.append(Received(data["id"], data["type"], data, signed))
                self.changes.notify()
            reason = "OK" if self.status == 200 else "Error"
            writer.write(
                f"HTTP/1.1 {self.status} {reason}\r\nContent-Length: 0\r\n"
                "Connection: close\r\n\r\n".encode()
            )
            await writer.drain()
        finally:
            writer.close()

    def events(self, kind: str | None = None) -> list[Received]:
        return [r for r in self.received if kind is None or r.event == kind]
