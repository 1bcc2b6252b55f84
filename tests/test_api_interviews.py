"""/api/v1/interviews over HTTP against the real server and database: creation and its
validation, idempotent retries, batches, previews, lists across pages, cancel, reschedule
and erasure."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from evaluation.templates import DEFAULT_TEMPLATE, template_to_dict
from persistence import NewCall
from persistence.api_records import Attempt
from persistence.records import Evaluation, Turn
from tests.support.api import Api, api_server, interview_body

URL = "/api/v1/interviews"


@pytest.fixture(scope="module")
async def api(mongo_uri: str) -> AsyncIterator[Api]:
    async with api_server(mongo_uri) as served:
        yield served


def paths(response: Any) -> list[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 422 and body["title"] and body["detail"]
    return [e["path"] for e in body["errors"]]


async def test_create_normalises_the_number_and_plans_the_first_attempt(api: Api) -> None:
    body = interview_body(
        "(415) 555-2671",
        variables={"role": "Backend engineer"},
        metadata={"ats_id": 42, "tags": ["a"]},
        window={"start": "10:00", "end": "18:00", "days": ["tue", "mon"]},
    )
    response = await api.post(URL, body)
    assert response.status_code == 201, response.text
    got = response.json()
    assert got["id"].startswith("iv_") and got["status"] == "scheduled"
    assert got["candidate"] == {"name": "Ada Lovelace", "phone": "+14155552671"}
    assert got["code"].isdigit() and len(got["code"]) == 6
    assert got["timezone"] == "America/Los_Angeles" and got["timezone_source"] == "phone_number"
    assert got["metadata"] == {"ats_id": 42, "tags": ["a"]}
    assert got["variables"] == {"role": "Backend engineer"}
    assert got["window"] == {"start": "10:00", "end": "18:00", "days": ["mon", "tue"]}
    assert got["max_attempts"] == 3 and len(got["planned"]) == 3
    first = datetime.fromisoformat(got["next_attempt_at"])
    local = datetime.fromisoformat(got["next_attempt_local"])
    # The local text is to the minute; inside the window the first attempt is now.
    assert timedelta(0) <= first - local < timedelta(minutes=1)
    assert local.utcoffset() in (timedelta(hours=-7), timedelta(hours=-8))
    assert local.strftime("%a") in ("Mon", "Tue") and 10 <= local.hour < 18
    assert got["planned"][0] == {"at": got["next_attempt_at"], "local": got["next_attempt_local"]}
    stored = await api.store.interviews.get(got["id"])
    assert stored is not None and stored.candidate.phone == "+14155552671"
    assert stored.next_attempt_at == first
    # The GET answers the same interview.
    again = await api.get(f"{URL}/{got['id']}")
    assert again.status_code == 200 and again.json() == got


async def test_a_given_time_zone_is_used_as_given(api: Api) -> None:
    body = interview_body()
    body["candidate"]["timezone"] = "Europe/London"
    got = (await api.post(URL, body)).json()
    assert got["timezone"] == "Europe/London" and got["timezone_source"] == "given"
    assert got["next_attempt_local"][-6:] in ("+00:00", "+01:00")


async def test_redial_overrides_are_stored_echoed_and_default_otherwise(api: Api) -> None:
    redial = {"no_answer_minutes": [5, 15], "busy_minutes": [2], "voicemail": "never"}
    response = await api.post(URL, interview_body("+14155550161", redial=redial))
    assert response.status_code == 201, response.text
    expected = {
        "no_answer_minutes": [5, 15],
        "busy_minutes": [2],
        "failed_minutes": [10],  # left out: the default
        "dropped_minutes": [10],
        "voicemail": "never",
    }
    assert response.json()["redial"] == expected
    got = await api.get(f"{URL}/{response.json()['id']}")
    assert got.status_code == 200 and got.json()["redial"] == expected
    stored = await api.store.interviews.get(response.json()["id"])
    assert stored is not None and stored.redial is not None
    assert stored.redial.no_answer_min == [5, 15] and stored.redial.voicemail == "never"
    plain = (await api.post(URL, interview_body("+14155550162"))).json()
    assert plain["redial"] == {
        "no_answer_minutes": [30, 60, 120],
        "busy_minutes": None,
        "failed_minutes": [10],
        "dropped_minutes": [10],
        "voicemail": "next_day",
    }
    assert (await api.store.interviews.get(plain["id"])).redial is None  # type: ignore[union-attr]


async def test_bad_redial_overrides_name_each_field(api: Api) -> None:
    redial = {
        "no_answer_minutes": [30, 0],
        "busy_minutes": [-5],
        "failed_minutes": [10] * 11,
        "dropped_minutes": "often",
        "voicemail": "later",
        "pester": True,
    }
    response = await api.post(URL, interview_body("+14155550163", redial=redial))
    assert sorted(paths(response)) == sorted(
        [
            "redial.no_answer_minutes[1]",
            "redial.busy_minutes[0]",
            "redial.failed_minutes",
            "redial.dropped_minutes",
            "redial.voicemail",
            "redial.pester",
        ]
    )
    assert "between 1 and 10080" in response.text
    stored = await api.store.db["interviews"].count_documents({"candidate.phone": "+14155550163"})
    assert stored == 0


async def test_the_openapi_document_describes_redial_overrides(api: Api) -> None:
    doc = (await api.http.get("/api/v1/openapi.json")).json()
    schemas = doc["components"]["schemas"]
    redial = schemas["RedialIn"]["properties"]
    assert set(redial) == {
        "no_answer_minutes",
        "busy_minutes",
        "failed_minutes",
        "dropped_minutes",
        "voicemail",
    }
    assert redial["voicemail"]["enum"] == ["next_day", "never"]
    assert "redial" in schemas["InterviewIn"]["properties"]
    assert "redial" in schemas["InterviewOut"]["required"]


async def test_every_invalid_field_is_named(api: Api) -> None:
    body = {
        "candidate": {"name": "", "phone": "not a phone", "timezone": "Mars/Olympus"},
        "template_id": "default",
        "window": {"start": "07:00", "end": "22:00", "days": []},
        "max_attempts": 0,
        "surprise": 1,
    }
    assert sorted(paths(await api.post(URL, body))) == sorted(
        [
            "candidate.name",
            "candidate.phone",
            "candidate.timezone",
            "window.start",
            "window.end",
            "window.days",
            "max_attempts",
            "consent",
            "surprise",
        ]
    )


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"consent": None}, "consent"),
        (
            {"consent": {"obtained_at": "2999-01-01T00:00:00Z", "source": "x"}},
            "consent.obtained_at",
        ),
        ({"template_id": "no-such-template"}, "template_id"),
        ({"expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),
        ({"window": {"start": "12:00", "end": "11:00"}}, "window.end"),
        ({"not_before": "2026-06-01T09:00:00"}, "not_before"),  # no offset
        ({"metadata": {"blob": "x" * 20_000}}, "metadata"),
    ],
)
async def test_refusals_name_their_field(api: Api, change: dict[str, Any], path: str) -> None:
    body = interview_body() | change
    if change.get("consent", 0) is None:
        del body["consent"]
    assert paths(await api.post(URL, body)) == [path]


async def test_a_retry_with_the_same_idempotency_key_returns_the_same_interview(api: Api) -> None:
    headers = {"Idempotency-Key": "ats-req-1"}
    first = await api.post(URL, interview_body(), headers=headers)
    again = await api.post(URL, interview_body(), headers=headers)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json() == first.json()
    count = await api.store.db["interviews"].count_documents({"_id": first.json()["id"]})
    assert count == 1
    other = await api.post(URL, interview_body("+14155550111"), headers=headers)
    assert other.status_code == 409
    assert other.headers["content-type"] == "application/problem+json"
    # Another key's identical Idempotency-Key is another interview.
    admin = await api.post(URL, interview_body(), headers=headers, scope="admin")
    assert admin.status_code == 201 and admin.json()["id"] != first.json()["id"]


async def test_a_batch_answers_each_item_on_its_own(api: Api) -> None:
    items = [interview_body(), {"candidate": {"name": "x"}}, interview_body("+442079460018")]
    response = await api.post(f"{URL}:batch", {"items": items})
    assert response.status_code == 200, response.text
    got = response.json()
    assert (got["created"], got["refused"]) == (2, 1)
    ok, bad, uk = got["items"]
    assert ok["status"] == 201 and ok["interview"]["candidate"]["phone"] == "+14155552671"
    assert uk["interview"]["timezone"] == "Europe/London"
    assert bad["status"] == 422 and bad["interview"] is None
    assert {e["path"] for e in bad["problem"]["errors"]} == {
        "items[1].candidate.phone",
        "items[1].template_id",
        "items[1].consent",
    }


async def test_a_batch_retried_with_its_key_creates_nothing_new(api: Api) -> None:
    items = [interview_body("+14155550101"), interview_body("+14155550102")]
    headers = {"Idempotency-Key": "batch-7"}
    first = (await api.post(f"{URL}:batch", {"items": items}, headers=headers)).json()
    again = (await api.post(f"{URL}:batch", {"items": items}, headers=headers)).json()
    assert [i["status"] for i in again["items"]] == [200, 200]
    assert [i["interview"]["id"] for i in again["items"]] == [
        i["interview"]["id"] for i in first["items"]
    ]


async def test_a_batch_holds_at_most_a_thousand(api: Api) -> None:
    too_many = {"items": [interview_body()] * 1001}
    assert paths(await api.post(f"{URL}:batch", too_many)) == ["items"]
    assert paths(await api.post(f"{URL}:batch", {"items": []})) == ["items"]


async def test_preview_plans_without_storing(api: Api) -> None:
    before = await api.store.db["interviews"].count_documents({})
    body = interview_body(window={"start": "09:00", "end": "12:00", "days": ["sat"]})
    response = await api.post(f"{URL}:preview", body)
    assert response.status_code == 200, response.text
    got = response.json()
    assert got["timezone"] == "America/Los_Angeles" and got["zones"] == ["America/Los_Angeles"]
    assert all(datetime.fromisoformat(p["local"]).strftime("%a") == "Sat" for p in got["planned"])
    assert await api.store.db["interviews"].count_documents({}) == before
    assert await api.store.db["interview_codes"].count_documents({}) == before


async def test_list_pages_through_everything_once_with_filters(api: Api) -> None:
    await api.store.templates.save(
        "pager", {**template_to_dict(DEFAULT_TEMPLATE), "template_id": "pager"}, datetime.now(UTC)
    )
    made = []
    for n in range(5):
        body = interview_body(f"+1415555{n:04d}", template_id="pager")
        made.append((await api.post(URL, body)).json()["id"])
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"template_id": "pager", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await api.get(URL, params=params)).json()
        seen += [i["id"] for i in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and seen == list(reversed(made))
    none = await api.get(URL, params={"template_id": "pager", "status": "canceled"})
    assert none.json() == {"items": [], "next_cursor": None}
    future = await api.get(URL, params={"created_from": "2999-01-01T00:00:00Z"})
    assert future.json()["items"] == []
    assert paths(await api.get(URL, params={"cursor": "garbage"})) == ["query.cursor"]
    assert paths(await api.get(URL, params={"limit": 0})) == ["query.limit"]
    assert paths(await api.get(URL, params={"status": "lost"})) == ["query.status"]


async def test_unknown_ids_are_404_problems(api: Api) -> None:
    for response in (
        await api.get(f"{URL}/iv_missing"),
        await api.post(f"{URL}/iv_missing/cancel"),
        await api.post(f"{URL}/iv_missing/reschedule", {}),
        await api.delete(f"{URL}/iv_missing"),
    ):
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["title"] == "Not Found"


async def test_cancel_once_then_409(api: Api) -> None:
    created = (await api.post(URL, interview_body())).json()
    canceled = await api.post(f"{URL}/{created['id']}/cancel")
    assert canceled.status_code == 200
    assert canceled.json()["status"] == "canceled" and canceled.json()["next_attempt_at"] is None
    assert await api.store.db["interview_codes"].count_documents({"_id": created["code"]}) == 0
    again = await api.post(f"{URL}/{created['id']}/cancel")
    assert again.status_code == 409 and "canceled" in again.json()["detail"]
    late = await api.post(f"{URL}/{created['id']}/reschedule", {"not_before": None})
    assert late.status_code == 409


async def test_reschedule_plans_again(api: Api) -> None:
    created = (await api.post(URL, interview_body())).json()
    later = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    body = {"not_before": later.isoformat(), "window": {"start": "13:00", "end": "15:00"}}
    response = await api.post(f"{URL}/{created['id']}/reschedule", body)
    assert response.status_code == 200, response.text
    got = response.json()
    first = datetime.fromisoformat(got["next_attempt_at"])
    assert first >= later
    assert 13 <= datetime.fromisoformat(got["next_attempt_local"]).hour < 15
    assert got["window"]["start"] == "13:00" and got["expires_at"] == created["expires_at"]
    bad = await api.post(f"{URL}/{created['id']}/reschedule", {"timezone": "Nowhere/Else"})
    assert paths(bad) == ["timezone"]


async def test_get_shows_every_attempt(api: Api) -> None:
    created = (await api.post(URL, interview_body())).json()
    at = datetime.now(UTC).replace(microsecond=0)
    for n, sid in enumerate(("CA01", "CA02"), start=1):
        attempt = Attempt(number=n, planned_at=at, call_sid=sid, started_at=at)
        assert await api.store.interviews.add_attempt(created["id"], attempt, at)
    await api.store.interviews.attempt_ended(created["id"], "CA01", "no-answer", at)
    got = (await api.get(f"{URL}/{created['id']}")).json()
    assert got["status"] == "in_progress"
    assert [(a["call_sid"], a["outcome"]) for a in got["attempts"]] == [
        ("CA01", "no-answer"),
        ("CA02", None),
    ]


async def test_erasure_leaves_only_anonymous_figures(api: Api) -> None:
    created = (await api.post(URL, interview_body(metadata={"email": "ada@example.com"}))).json()
    iid, store, at = created["id"], api.store, datetime.now(UTC)
    sid = "CA" + iid[3:]
    await store.calls.create_or_get(
        NewCall(
            call_sid=sid,
            direction="outbound",
            from_masked="+*******0100",
            to_masked="+*******2671",
            template_id="default",
            created_at=at,
            interview_id=iid,
        )
    )
    await store.db["calls"].update_one(
        {"call_sid": sid},
        {
            "$set": {
                "duration_s": 312,
                "cost": {"total_usd": 1.25},
                "dtmf": [{"digit": "4", "at": at}],
            }
        },
    )
    await store.turns.append(Turn(call_sid=sid, seq=0, speaker="caller", text="I am Ada Lovelace"))
    await store.evaluations.add(
        Evaluation(
            call_sid=sid,
            question_index=0,
            answer_quality="good",
            key_points_covered=["built the analytical engine"],
            next_action="ask_follow_up",
            follow_up_needed=True,
            created_at=at,
            notes="Ada described her notes on the engine",
        )
    )
    await store.interviews.add_attempt(
        iid, Attempt(number=1, planned_at=at, call_sid=sid, started_at=at), at
    )
    response = await api.delete(f"{URL}/{iid}")
    assert response.status_code == 200 and response.json() == {"id": iid, "deleted": True}

    doc = await store.db["interviews"].find_one({"_id": iid})
    assert doc is not None and doc["status"] == "erased" and doc["request_hash"] == "erased"
    text = repr(doc) + repr(await store.db["calls"].find_one({"call_sid": sid}))
    text += repr([d async for d in store.db["evaluations"].find({"call_sid": sid})])
    for personal in ("Ada", "Lovelace", "4155552671", "2671", "ada@example.com", "engine"):
        assert personal not in text, personal
    assert await store.db["turns"].count_documents({"call_sid": sid}) == 0
    call = await store.db["calls"].find_one({"call_sid": sid})
    assert call is not None and call["duration_s"] == 312 and call["cost"]["total_usd"] == 1.25
    evaluation = await store.db["evaluations"].find_one({"call_sid": sid})
    assert evaluation is not None and evaluation["answer_quality"] == "good"
    assert doc["attempts"][0]["call_sid"] == sid and doc["created_at"] is not None
    # What the API shows afterwards says the same.
    got = (await api.get(f"{URL}/{iid}")).json()
    assert got["candidate"] == {"name": None, "phone": None} and got["metadata"] == {}
    assert got["erased_at"] is not None
