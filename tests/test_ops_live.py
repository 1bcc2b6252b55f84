"""The live page in a real browser: a call in progress through the Twilio and OpenAI peers,
whose new turns appear on the open page, without a reload, as they are stored."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import pytest
from playwright.async_api import Browser

from telephony.api.auth import new_key
from tests.support.browser import expect, new_page, screenshot, sign_in
from tests.support.call_harness import live_env
from tests.support.openai import Say, Script

pytestmark = pytest.mark.slow


async def test_the_live_page_shows_new_turns_of_a_call_in_progress(
    mongo_uri: str, browser: Browser
) -> None:
    script = Script(
        responses=[
            Say("Welcome. Before we start, let me explain how this will work.", audio_ms=6000),
            Say("Of course, go ahead.", audio_ms=600),
        ],
        caller_transcripts=["Sorry, can I ask something first?"],
    )
    db_name = f"test_{uuid.uuid4().hex[:12]}"
    async with live_env(mongo_uri, db_name, script, realtime_factor=1.25) as env:
        key, key_id, key_hash = new_key()
        await env.svc.store.api_keys.add(key_hash, "ops", ["ops"], datetime.now(UTC), key_id)
        context, page = await new_page(browser)
        try:
            await sign_in(page, env.svc.base, key, "/ops/live")
            await expect(page.get_by_text("No call is in progress.")).to_be_visible()
            await expect(page.locator("#live-status")).to_have_text(re.compile("Following"))
            await page.evaluate("window.sameDocument = true")

            call_sid, twilio, caller = await env.dial_in()
            section = page.locator(f"#call-{call_sid}")
            await expect(section).to_be_visible()  # the stream started: the call is live
            await env.wait(lambda: twilio.played_ms() >= 1500, "1.5 s of the greeting heard")
            caller.say()
            await expect(section.locator(".turn-caller .said")).to_have_text(
                "Sorry, can I ask something first?"
            )
            greeting = section.locator(".turn-assistant").first
            await expect(greeting).to_have_class(re.compile(r"\binterrupted\b"))
            stored = await env.turns(call_sid)
            await expect(section.locator(".turn")).to_have_count(len(stored))
            assert await page.evaluate("window.sameDocument") is True  # never reloaded
            await screenshot(page, "live")

            await env.wait_played(twilio, 2)
            await env.hang_up(call_sid, twilio, caller)
            await expect(section.locator(".state")).to_have_text("ended")
        finally:
            await context.close()
