"""The browser test call: /ops/try in Chromium with a fake microphone (speech made with
espeak-ng, tests/fixtures/make_browser_speech.sh), through the real service and the same
stream and session code as a phone call, to the OpenAI Realtime peer."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page

from telephony.api.auth import new_key
from tests.support.browser import expect, launch, new_page, screenshot, sign_in
from tests.support.call_harness import Env, live_env
from tests.support.openai import Say, Script

MIC = Path(__file__).parent / "fixtures" / "speech" / "browser_mic.wav"
FAKE_MIC = (
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    f"--use-file-for-fake-audio-capture={MIC}",
    "--autoplay-policy=no-user-gesture-required",
)
FRAME_MS = 20


@pytest.fixture(scope="module")
async def mic_browser() -> AsyncIterator[Browser]:
    """One Chromium per module whose microphone says the fixture's sentence (in a loop:
    3 s of silence, the sentence, 4 s of silence)."""
    pw, chromium = await launch(FAKE_MIC)
    try:
        yield chromium
    finally:
        await chromium.close()
        await pw.stop()


async def signed_in_page(browser: Browser, env: Env, path: str = "/ops/try") -> Page:
    key, key_id, key_hash = new_key()
    await env.svc.store.api_keys.add(key_hash, "recruiter", ["recruiter"], datetime.now(UTC), key_id)
    _, page = await new_page(browser)
    await sign_in(page, env.svc.base, key, path)
    return page


async def debug(page: Page) -> dict[str, object]:
    found: dict[str, object] = await page.evaluate("({...window.tryCall})")
    return found


@pytest.mark.slow
async def test_a_browser_call_is_heard_played_interrupted_and_stored(
    mongo_uri: str, mic_browser: Browser
) -> None:
    script = Script(
        responses=[
            Say("Welcome. Before we start, let me explain how this will work.", audio_ms=12000),
            Say("Of course, go ahead.", audio_ms=800),
        ],
        caller_transcripts=["Sorry, can I ask something first?"],
    )
    db_name = f"test_{uuid.uuid4().hex[:12]}"
    async with live_env(mongo_uri, db_name, script, realtime_factor=1.25) as env:
        page = await signed_in_page(mic_browser, env)
        try:
            await page.get_by_role("button", name="Start").click()
            await expect(page.locator("#try-status")).to_have_text(re.compile("On the call"))
            await env.wait(lambda: bool(env.model.connections), "the model session")
            conn = env.model.connections[0]
            await env.wait(lambda: bool(conn.truncations), "the barge-in's truncation", 30)
            await expect(page.locator(".turn-caller .said")).to_have_text(
                "Sorry, can I ask something first?"
            )
            state = await debug(page)
            print(state, conn.truncations)
            await screenshot(page, "try")
            await page.get_by_role("button", name="Hang up").click()
            call_sid = str(state["callSid"])
            call = await env.ended(call_sid)
            print(call.model_dump())
        finally:
            await page.context.close()
