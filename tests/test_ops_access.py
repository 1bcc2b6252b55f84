"""The console's door over plain HTTP: cookies and headers, where sign-in may send you,
a revoked key, and what answers without a session."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from tests.support.api import Api, api_server


@pytest.fixture
async def api(mongo_uri: str) -> AsyncIterator[Api]:
    async with api_server(mongo_uri) as server:
        yield server


async def signed_in(api: Api, key: str, next_path: str = "/ops") -> httpx.AsyncClient:
    http = httpx.AsyncClient(base_url=api.base)
    form = await http.get("/ops/sign-in")
    token = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    response = await http.post(
        "/ops/sign-in", data={"api_key": key, "csrf_token": token, "next": next_path}
    )
    assert response.status_code == 303, response.text
    return http


async def test_cookies_headers_and_where_sign_in_leads(api: Api) -> None:
    http = httpx.AsyncClient(base_url=api.base)
    async with http:
        page = await http.get("/ops/sign-in")
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert page.headers["cache-control"] == "no-store"
        token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        response = await http.post(
            "/ops/sign-in",
            data={"api_key": api.keys["ops"], "csrf_token": token, "next": "https://evil.test/"},
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/ops/"  # never another site
        cookie = response.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/ops" in cookie
        assert "Secure" not in cookie  # PUBLIC_URL is not https here
        assert (await http.get("/ops/calls")).status_code == 200
        missing = await http.get("/ops/calls/CA-no-such-call")
        assert missing.status_code == 404 and "No call" in missing.text


async def test_revoking_the_key_ends_its_sessions(api: Api) -> None:
    http = await signed_in(api, api.keys["admin"])
    try:
        assert (await http.get("/ops/interviews")).status_code == 200
        key_id = api.keys["admin"].split("_")[1]
        assert await api.store.api_keys.revoke_id(key_id, datetime.now(UTC))
        response = await http.get("/ops/interviews")
        assert response.status_code == 303
        assert response.headers["location"].startswith("/ops/sign-in?next=")
    finally:
        await http.aclose()


async def test_without_a_session_nothing_is_served(api: Api) -> None:
    async with httpx.AsyncClient(base_url=api.base) as http:
        for path in ("/ops/", "/ops/calls", "/ops/calls.csv", "/ops/live", "/ops/interviews"):
            response = await http.get(path)
            assert response.status_code == 303, path
        events = await http.get("/ops/live/events", headers={"Accept": "text/event-stream"})
        assert events.status_code == 401
        forged = await http.post("/ops/interviews/x/cancel", data={"csrf_token": "x"})
        assert forged.status_code == 401
    async with httpx.AsyncClient(base_url=api.base, cookies={"vi_ops": "not.signed"}) as http:
        stale = await http.get("/ops/calls")
        assert stale.status_code == 303
