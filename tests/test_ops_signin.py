"""Signing in to the console in a real browser: every page asks first and leads back
after, a wrong key is refused, the cookie's flags, CSRF tokens, and signing out."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Page

from tests.support.api import Api, api_server
from tests.support.browser import expect, screenshot, sign_in

pytestmark = pytest.mark.slow


@pytest.fixture
async def api(mongo_uri: str) -> AsyncIterator[Api]:
    async with api_server(mongo_uri, public_url="https://voice.example.test") as server:
        yield server


async def test_every_page_needs_sign_in_and_returns_there_after(api: Api, page: Page) -> None:
    for path in ("/ops/", "/ops/calls", "/ops/calls/CA1", "/ops/calls.csv", "/ops/interviews"):
        await page.goto(api.base + path)
        await expect(page).to_have_url(re.compile(r"/ops/sign-in\?next="))
        await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await screenshot(page, "sign-in")
    await page.get_by_label("API key").fill("vi_nothing_wrong")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("not valid")
    await sign_in(page, api.base, api.keys["ops"], "/ops/calls?outcome=busy")
    await expect(page).to_have_url(api.base + "/ops/calls?outcome=busy")
    await expect(page.get_by_label("Outcome")).to_have_value("busy")
    cookie = next(c for c in await page.context.cookies() if c["name"] == "vi_ops")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["secure"]


async def test_forms_without_their_csrf_token_are_refused(api: Api, page: Page) -> None:
    await sign_in(page, api.base, api.keys["ops"])
    # Sign-out posted from elsewhere (no token, then a wrong one) is refused...
    forms: list[dict[str, str | float | bool]] = [{}, {"csrf_token": "forged"}]
    for form in forms:
        response = await page.request.post(api.base + "/ops/sign-out", form=form)
        assert response.status == 403
    await page.goto(api.base + "/ops/calls")
    await expect(page.get_by_role("heading", name="Calls")).to_be_visible()
    # ...while the page's own form signs out, after which every page asks to sign in again.
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await page.goto(api.base + "/ops/calls")
    await expect(page).to_have_url(re.compile(r"/ops/sign-in"))
    # The sign-in form itself carries a token bound to its cookie.
    response = await page.request.post(
        api.base + "/ops/sign-in", form={"api_key": api.keys["ops"], "csrf_token": "x"}
    )
    assert response.status == 403
