"""The interview queue in a real browser: interviews made through the recruiter API, then
dialed now and canceled with the page's buttons (by keyboard too), CSRF refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Page

from tests.support.api import Api, api_server, interview_body
from tests.support.browser import expect, screenshot, sign_in

pytestmark = pytest.mark.slow


@pytest.fixture
async def api(mongo_uri: str) -> AsyncIterator[Api]:
    async with api_server(mongo_uri, public_url="https://voice.example.test") as server:
        yield server


async def make(api: Api, name: str, phone: str) -> str:
    body = interview_body(phone)
    body["candidate"]["name"] = name
    response = await api.post("/api/v1/interviews", body)
    assert response.status_code == 201, response.text
    interview_id: str = response.json()["id"]
    return interview_id


async def test_queue_buttons_dial_now_and_cancel(api: Api, page: Page) -> None:
    ada = await make(api, "Ada Lovelace", "+1 415 555 2671")
    alan = await make(api, "Alan Turing", "+44 20 7946 0018")
    grace = await make(api, "Grace Hopper", "+1 212 555 0199")
    await sign_in(page, api.base, api.keys["ops"], "/ops/interviews")

    rows = page.locator("table.queue tbody tr[data-interview-id]")
    await expect(rows).to_have_count(3)
    stored = await api.store.interviews.get(alan)
    assert stored is not None and stored.next_attempt_at is not None
    row = page.locator(f'tr[data-interview-id="{alan}"]')
    local = stored.next_attempt_at.astimezone(ZoneInfo(stored.timezone))
    await expect(row.locator(".local")).to_have_text(local.strftime("%a %Y-%m-%d %H:%M %Z"))
    await expect(row.locator(".utc")).to_contain_text(
        stored.next_attempt_at.strftime("%Y-%m-%d %H:%M")
    )
    await expect(row).to_contain_text("+********0018")  # masked: only the last four digits
    await expect(page.locator("body")).not_to_contain_text("7946")
    await screenshot(page, "interviews")

    # Dial now, from the keyboard.
    pressed = datetime.now(UTC) - timedelta(seconds=1)
    await page.get_by_role("button", name="Dial Ada Lovelace now").focus()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("status")).to_have_text("The next attempt is due now.")
    moved = await api.store.interviews.get(ada)
    assert moved is not None and moved.next_attempt_at is not None
    assert pressed <= moved.next_attempt_at <= datetime.now(UTC)
    assert moved.status == "scheduled"

    await page.get_by_role("button", name="Cancel the interview with Alan Turing").click()
    await expect(page.get_by_role("status")).to_have_text("Interview canceled.")
    await expect(row.locator(".badge")).to_have_text("canceled")
    await expect(row.get_by_role("button")).to_have_count(0)
    canceled = await api.store.interviews.get(alan)
    assert canceled is not None and canceled.status == "canceled"

    await page.get_by_label("State").select_option("canceled")
    await page.get_by_role("button", name="Show").click()
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_have_attribute("data-interview-id", alan)

    # A cancel posted without the page's token changes nothing.
    refused = await page.request.post(api.base + f"/ops/interviews/{grace}/cancel", form={})
    assert refused.status == 403
    untouched = await api.store.interviews.get(grace)
    assert untouched is not None and untouched.status == "scheduled"
