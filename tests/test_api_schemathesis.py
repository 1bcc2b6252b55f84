"""Property-based requests generated from the API's own OpenAPI document, sent to the
running server: no 5xx, and every response (status, content type, body, headers) as the
document says."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance

from tests.support.api import Api, api_server, interview_body

pytestmark = pytest.mark.slow
MAX_EXAMPLES = 10


@pytest.fixture(scope="module")
async def api(mongo_uri: str) -> AsyncIterator[Api]:
    async with api_server(mongo_uri, api_rate_limit=100_000) as served:
        yield served


def fuzz(base: str, key: str) -> tuple[dict[str, int], Counter[int]]:
    """Every operation, up to MAX_EXAMPLES cases each: the cases sent per operation, and
    the responses by class (2 for 2xx, 4 for 4xx)."""
    schema = schemathesis.openapi.from_url(f"{base}/api/v1/openapi.json")
    sent: dict[str, int] = {}
    statuses: Counter[int] = Counter()
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # the document itself is valid
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        sent[label] = 0
        _exercise(operation, label, base, key, sent, statuses)
    return sent, statuses


def _exercise(
    operation: schemathesis.APIOperation[Any, Any, Any, Any],
    label: str,
    base: str,
    key: str,
    sent: dict[str, int],
    statuses: Counter[int],
) -> None:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: schemathesis.Case[Any]) -> None:
        response = case.call_and_validate(
            base_url=base,
            headers={"Authorization": f"Bearer {key}"},
            # 401s are the auth tests' business. A schema-valid body may still be refused:
            # the document cannot say which strings are dialable numbers or time zones,
            # which templates exist, or that expires_at must be in the future.
            excluded_checks=[ignored_auth, positive_data_acceptance],
            timeout=120,  # a bound for a loaded machine, not a figure
        )
        sent[label] += 1
        statuses[response.status_code // 100] += 1

    check()


async def test_every_operation_conforms_to_the_document(api: Api) -> None:
    # Something to find: a stored template and interview, so ids are not all unknown.
    assert (await api.post("/api/v1/interviews", interview_body())).status_code == 201
    sent, statuses = await asyncio.to_thread(fuzz, api.base, api.keys["admin"])
    assert len(sent) == 20, sorted(sent)
    assert all(count >= 1 for count in sent.values()), sent
    # Both sides were exercised: requests accepted and requests refused.
    assert statuses[2] > 0 and statuses[4] > 0, statuses
    assert set(statuses) <= {2, 4}, statuses


async def test_the_document_lists_every_error_as_problem_json(api: Api) -> None:
    doc = (await api.http.get("/api/v1/openapi.json")).json()
    assert doc["openapi"].startswith("3.1")
    for path, operations in doc["paths"].items():
        assert path.startswith("/api/v1/")
        for method, operation in operations.items():
            responses = operation["responses"]
            assert {"401", "429", "503"} <= set(responses), (method, path)
            for code, response in responses.items():
                media = set(response.get("content", {}))
                wanted = "application/problem+json" if code >= "400" else "application/json"
                assert media == {wanted}, (method, path, code)
