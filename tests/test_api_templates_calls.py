"""/api/v1/templates (the same validation as save-template, 409 while in use) and
/api/v1/calls (filters, pages, one call with all it left; numbers masked) over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from evaluation.report import Report
from evaluation.templates import DEFAULT_TEMPLATE, template_to_dict
from persistence import (
    CallOutcome,
    CostLineRecord,
    CostRecord,
    Evaluation,
    Latency,
    LatencyStats,
    NewCall,
    Turn,
)
from tests.support.api import Api, api_server, interview_body

T0 = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
async def api(mongo_uri: str) -> AsyncIterator[Api]:
    async with api_server(mongo_uri) as served:
        yield served


def template(template_id: str, **changes: Any) -> dict[str, Any]:
    return {**template_to_dict(DEFAULT_TEMPLATE), "template_id": template_id, **changes}


async def test_templates_are_created_read_replaced_and_deleted(api: Api) -> None:
    created = await api.post("/api/v1/templates", template("sales-1"))
    assert created.status_code == 201, created.text
    assert created.json()["template"]["template_id"] == "sales-1"
    assert (await api.post("/api/v1/templates", template("sales-1"))).status_code == 409
    got = await api.get("/api/v1/templates/sales-1")
    assert got.status_code == 200 and got.json()["template"]["role"] == DEFAULT_TEMPLATE.role
    replaced = await api.put("/api/v1/templates/sales-1", template("sales-1", role="Closer"))
    assert replaced.status_code == 200 and replaced.json()["template"]["role"] == "Closer"
    listed = (await api.get("/api/v1/templates")).json()["items"]
    assert [t["template_id"] for t in listed if t["template_id"] == "sales-1"] == ["sales-1"]
    deleted = await api.delete("/api/v1/templates/sales-1")
    assert deleted.status_code == 200 and deleted.json() == {"id": "sales-1", "deleted": True}
    assert (await api.get("/api/v1/templates/sales-1")).status_code == 404
    assert (await api.put("/api/v1/templates/sales-1", template("sales-1"))).status_code == 404
    assert (await api.delete("/api/v1/templates/sales-1")).status_code == 404


async def test_template_problems_name_each_field_as_save_template_does(api: Api) -> None:
    bad = template("bad one", voice="robot", questions=[{"text": "", "key_points": []}])
    del bad["rubric"]
    response = await api.post("/api/v1/templates", bad)
    assert response.status_code == 422
    errors = {e["path"]: e["message"] for e in response.json()["errors"]}
    assert set(errors) == {
        "template_id",
        "voice",
        "questions[0].text",
        "questions[0].key_points",
        "rubric",
    }
    assert errors["rubric"] == "required"
    assert errors["voice"].startswith("must be one of")
    await api.post("/api/v1/templates", template("kept"))
    mismatch = await api.put("/api/v1/templates/kept", template("other"))
    assert mismatch.status_code == 422
    assert [e["path"] for e in mismatch.json()["errors"]] == ["template_id"]


async def test_a_template_in_use_by_a_scheduled_interview_cannot_be_deleted(api: Api) -> None:
    await api.post("/api/v1/templates", template("busy"))
    interview = (await api.post("/api/v1/interviews", interview_body(template_id="busy"))).json()
    refused = await api.delete("/api/v1/templates/busy")
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    assert await api.store.templates.get("busy") is not None
    await api.post(f"/api/v1/interviews/{interview['id']}/cancel")
    assert (await api.delete("/api/v1/templates/busy")).status_code == 200


async def add_call(
    api: Api,
    sid: str,
    at: datetime,
    *,
    direction: str = "inbound",
    template_id: str = "default",
    score: float | None = None,
    interview_id: str | None = None,
) -> None:
    store = api.store
    await store.calls.create_or_get(
        NewCall(
            call_sid=sid,
            direction=direction,  # type: ignore[arg-type]
            from_masked="+*******0123",
            to_masked="+*******0100",
            template_id=template_id,
            created_at=at,
            interview_id=interview_id,
        )
    )
    if score is None:
        return
    stats = LatencyStats(n=3, p50_ms=420.0, p95_ms=700.0, max_ms=800.0)
    report = Report(
        template_id=template_id,
        score=score,
        questions=(),
        questions_answered=2,
        completion="completed",
        end_reason=None,
        summary=None,
        interruptions=1,
        reconnects=0,
        duration_s=300.0,
    )
    line = CostLineRecord(quantity=5, unit="minute", rate_usd=0.0085, per="minute", usd=0.0425)
    await store.calls.record_outcome(
        sid,
        CallOutcome(
            completion="completed",
            ended_reason="interview complete",
            latency=Latency(model=stats, bridge=stats, first_audio_ms=300.0),
            interruptions=1,
            reconnects=0,
            report=report,
            cost=CostRecord(total_usd=0.42, model="gpt-realtime", lines={"twilio": line}),
        ),
        at,
    )


async def test_calls_are_filtered_and_paged(api: Api) -> None:
    for n in range(5):
        await add_call(
            api, f"CAP{n}", T0 + timedelta(minutes=n), template_id="paged", score=20.0 * n
        )
    await add_call(api, "CAOUT", T0, direction="outbound", template_id="paged")
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"template_id": "paged", "direction": "inbound", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await api.get("/api/v1/calls", params=params)).json()
        seen += [c["call_sid"] for c in page["items"]]
        if (cursor := page["next_cursor"]) is None:
            break
    assert seen == ["CAP4", "CAP3", "CAP2", "CAP1", "CAP0"]
    scored = await api.get("/api/v1/calls", params={"min_score": 30, "max_score": 70})
    assert [c["call_sid"] for c in scored.json()["items"]] == ["CAP3", "CAP2"]
    outbound = await api.get("/api/v1/calls", params={"direction": "outbound"})
    assert [c["call_sid"] for c in outbound.json()["items"]] == ["CAOUT"]
    window = {"created_from": (T0 + timedelta(minutes=1)).isoformat(), "template_id": "paged"}
    windowed = await api.get("/api/v1/calls", params={**window, "outcome": "completed"})
    assert [c["call_sid"] for c in windowed.json()["items"]] == ["CAP4", "CAP3", "CAP2", "CAP1"]
    bad = await api.get("/api/v1/calls", params={"min_score": 101, "direction": "sideways"})
    assert bad.status_code == 422
    assert {e["path"] for e in bad.json()["errors"]} == {"query.min_score", "query.direction"}


async def test_one_call_shows_turns_evaluations_report_cost_and_latency(api: Api) -> None:
    interview = (await api.post("/api/v1/interviews", interview_body())).json()
    await add_call(api, "CAFULL", T0, score=75.0, interview_id=interview["id"])
    for seq, (speaker, text) in enumerate([("assistant", "Hello"), ("caller", "Hi there")]):
        await api.store.turns.append(
            Turn(call_sid="CAFULL", seq=seq, speaker=speaker, text=text)  # type: ignore[arg-type]
        )
    await api.store.evaluations.add(
        Evaluation(
            call_sid="CAFULL",
            question_index=0,
            answer_quality="excellent",
            key_points_covered=["outcome"],
            next_action="next_question",
            follow_up_needed=False,
            created_at=T0,
        )
    )
    got = (await api.get("/api/v1/calls/CAFULL")).json()
    assert got["from_masked"] == "+*******0123" and got["to_masked"] == "+*******0100"
    assert got["interview_id"] == interview["id"]
    assert [t["text"] for t in got["turns"]] == ["Hello", "Hi there"]
    assert got["evaluations"][0]["answer_quality"] == "excellent"
    assert got["report"]["score"] == 75.0 and got["score"] == 75.0
    assert got["cost"]["total_usd"] == 0.42 and got["cost"]["lines"]["twilio"]["usd"] == 0.0425
    assert got["latency"]["model"]["p50_ms"] == 420.0
    by_interview = await api.get("/api/v1/calls", params={"interview_id": interview["id"]})
    assert [c["call_sid"] for c in by_interview.json()["items"]] == ["CAFULL"]
    assert (await api.get("/api/v1/calls/CA-unknown")).status_code == 404
