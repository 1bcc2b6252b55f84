"""Who may use the recruiter API, how much, and how it says no: keys and scopes (401, 403),
rate limits (429 with Retry-After), oversized bodies (413), and problem+json everywhere
under /api/v1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from persistence.embedded import free_loopback_port
from service.app import create_app
from service.settings import Settings
from telephony.api.auth import hash_key
from tests.support.api import Api, api_server, interview_body
from tests.support.servers import running

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
async def api(mongo_uri: str) -> AsyncIterator[Api]:
    async with api_server(mongo_uri) as served:
        yield served


async def test_no_key_or_a_wrong_one_is_401(api: Api) -> None:
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer vi_nope_x"}):
        response = await api.http.get("/api/v1/interviews", headers=headers)
        assert response.status_code == 401
        assert response.headers["content-type"] == PROBLEM
        assert response.headers["www-authenticate"].startswith("Bearer")
        body = response.json()
        assert body["status"] == 401 and body["title"] == "Unauthorized" and body["detail"]


async def test_a_revoked_key_is_401(api: Api) -> None:
    key = api.keys["admin"]
    assert (await api.get("/api/v1/templates", scope="admin")).status_code == 200
    key_id = key.split("_")[1]
    assert await api.store.api_keys.revoke_id(key_id, datetime.now(UTC))
    assert (await api.get("/api/v1/templates", scope="admin")).status_code == 401
    stored = await api.store.db["api_keys"].find_one({"key_id": key_id})
    assert stored is not None and stored["key_hash"] == hash_key(key)
    assert key not in repr(stored)  # only the hash is kept


async def test_an_ops_key_reads_but_may_not_write(api: Api) -> None:
    assert (await api.get("/api/v1/interviews", scope="ops")).status_code == 200
    assert (await api.get("/api/v1/calls", scope="ops")).status_code == 200
    refused = await api.post("/api/v1/interviews", interview_body(), scope="ops")
    assert refused.status_code == 403
    assert refused.headers["content-type"] == PROBLEM
    assert "ops" in refused.json()["detail"]
    assert (await api.delete("/api/v1/templates/default", scope="ops")).status_code == 403
    assert await api.store.db["interviews"].count_documents({}) == 0


async def test_bodies_over_one_mib_are_413_problems(api: Api) -> None:
    big = b'{"items": [' + b'"x",' * 300_000 + b'"x"]}'
    assert len(big) > 1 << 20
    response = await api.http.post(
        "/api/v1/interviews:batch",
        content=big,
        headers={**api.auth(), "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["status"] == 413


async def test_malformed_json_is_400_and_a_wrong_type_422(api: Api) -> None:
    headers = {**api.auth(), "Content-Type": "application/json"}
    broken = await api.http.post("/api/v1/interviews", content=b"{nope", headers=headers)
    assert broken.status_code == 400 and broken.headers["content-type"] == PROBLEM
    listed = await api.http.post("/api/v1/interviews", content=b"[1, 2]", headers=headers)
    assert listed.status_code == 422 and listed.headers["content-type"] == PROBLEM
    assert [e["path"] for e in listed.json()["errors"]] == ["body"]


async def test_unknown_paths_and_methods_under_the_api_are_problems(api: Api) -> None:
    missing = await api.get("/api/v1/nothing-here")
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM
    wrong = await api.http.patch("/api/v1/interviews", headers=api.auth())
    assert wrong.status_code == 405 and wrong.headers["content-type"] == PROBLEM
    # Outside the API, nothing changes.
    other = await api.http.get("/no-such-page")
    assert other.status_code == 404 and other.headers["content-type"] != PROBLEM


async def test_the_document_is_public_and_describes_the_api(api: Api) -> None:
    response = await api.http.get("/api/v1/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    assert doc["components"]["securitySchemes"] == {"bearer": {"type": "http", "scheme": "bearer"}}
    assert "/api/v1/interviews:batch" in doc["paths"]
    assert not any(path.startswith("/twilio") for path in doc["paths"])
    create = doc["paths"]["/api/v1/interviews"]["post"]
    assert {"201", "200", "409", "422", "403"} <= set(create["responses"])
    assert create["parameters"][0]["name"] == "idempotency-key"
    # quart-schema's pages load scripts from CDNs: not served. Ours loads nothing.
    assert (await api.http.get("/docs")).status_code == 404
    page = await api.http.get("/api/v1/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<script" not in page.text and "http" not in page.text.replace("https://", "")
    assert "/api/v1/interviews:batch" in page.text and "Idempotency" in page.text


@pytest.mark.slow
async def test_over_the_rate_each_key_gets_429_with_retry_after(mongo_uri: str) -> None:
    async with api_server(mongo_uri, api_rate_limit=3) as limited:
        statuses = [(await limited.get("/api/v1/templates")).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        refused = await limited.get("/api/v1/templates")
        assert refused.headers["content-type"] == PROBLEM
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        # Another key has its own allowance.
        assert (await limited.get("/api/v1/templates", scope="ops")).status_code == 200


@pytest.mark.slow
async def test_without_a_database_the_api_answers_503_problems() -> None:
    port = free_loopback_port()  # nothing listens here
    settings = Settings(mongodb_uri=f"mongodb://127.0.0.1:{port}", mongodb_timeout_ms=300)
    async with running(create_app(settings)) as base, httpx.AsyncClient(base_url=base) as http:
        response = await http.get("/api/v1/templates", headers={"Authorization": "Bearer x"})
        document = await http.get("/api/v1/openapi.json")
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM
    assert "database" in response.json()["detail"]
    assert document.status_code == 200
