"""The ops console in a real browser (Debian's Chromium driven by Playwright) against the
real server, with calls made through the Twilio and OpenAI peers: sign-in, CSRF, the call
log's filters and CSV, and a call's page."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from playwright.async_api import Browser, Locator, Page

from telephony.api.auth import new_key
from tests.support.browser import expect, new_page, screenshot, sign_in
from tests.support.call_harness import ACCOUNT, Env, live_env
from tests.support.openai import CallTool, Say, Script
from tests.support.twilio_peer import sid

pytestmark = pytest.mark.slow

EVALUATION = json.dumps(
    {
        "answer_quality": "good",
        "key_points_covered": ["measure first"],
        "next_action": "move_to_next_topic",
        "follow_up_needed": False,
    }
)
GREETING = (
    "Welcome to the interview. Before we start, let me explain how this works, "
    "what we will cover today and how long it should take."
)


@dataclass
class Console:
    env: Env
    keys: dict[str, str]
    interview_sid: str
    busy_sid: str
    no_answer_sid: str

    @property
    def base(self) -> str:
        return self.env.svc.base


async def interview(env: Env) -> str:
    """A real call: the greeting is talked over, the answer evaluated, the interview ends."""
    env.model.script = Script(
        responses=[
            Say(GREETING, audio_ms=6000),
            CallTool("evaluate_candidate_answer", EVALUATION),
            Say("Thanks. How do you debug a slow API?", audio_ms=800),
            [
                Say("Thank you, that is all. Goodbye.", audio_ms=800),
                CallTool("end_interview", json.dumps({"reason": "completed"})),
            ],
        ],
        caller_transcripts=["Sorry, I always measure first.", "I profile, then fix it."],
    )
    call_sid, twilio, caller = await env.dial_in()
    await env.wait(lambda: twilio.played_ms() >= 1500, "1.5 s of the greeting heard")
    caller.say()
    await env.wait(
        lambda: len(env.model.connections[-1].events("response.done")) >= 3, "the question"
    )
    await env.wait_played(twilio, 3)
    caller.say()
    await env.ended(call_sid, timeout=20)
    await caller.stop()
    await twilio_status(env, call_sid, "completed", CallDuration="9")
    return call_sid


async def twilio_status(env: Env, call_sid: str, status: str, **more: str) -> None:
    """Twilio's status callback for the call, signed."""
    form = {
        "CallSid": call_sid,
        "AccountSid": ACCOUNT,
        "CallStatus": status,
        "Direction": "inbound",
        "From": "+14155550123",
        "To": "+14155550100",
        **more,
    }
    response = await env.svc.post_twilio("/twilio/status", form)
    assert response.status_code == 204, response.text


async def unanswered(env: Env, status: str, to: str) -> str:
    """An outbound call Twilio reports busy or unanswered, through the signed webhooks."""
    call_sid = await env.svc.incoming_call(
        sid("CA"), AccountSid=ACCOUNT, Direction="outbound-api", From="+14155550100", To=to
    )
    await twilio_status(env, call_sid, status, Direction="outbound-api", From="+14155550100", To=to)
    return call_sid


@pytest.fixture
async def console(mongo_uri: str) -> AsyncIterator[Console]:
    db_name = f"test_{uuid.uuid4().hex[:12]}"
    async with live_env(mongo_uri, db_name, Script(), realtime_factor=1.25) as env:
        keys = {}
        for scope in ("ops", "recruiter"):
            key, key_id, key_hash = new_key()
            await env.svc.store.api_keys.add(
                key_hash, f"{scope} console", [scope], datetime.now(UTC), key_id
            )
            keys[scope] = key
        yield Console(
            env,
            keys,
            interview_sid=await interview(env),
            busy_sid=await unanswered(env, "busy", "+14155557777"),
            no_answer_sid=await unanswered(env, "no-answer", "+14155558888"),
        )


def listed(page: Page) -> Locator:
    return page.locator("table.calls tbody tr[data-call-sid]")


async def sids_on(page: Page) -> list[str]:
    rows = page.locator("table.calls tbody tr[data-call-sid]")
    return [
        str(await rows.nth(i).get_attribute("data-call-sid")) for i in range(await rows.count())
    ]


async def filters_narrow_the_list_and_the_csv_matches_it(console: Console, page: Page) -> None:
    await sign_in(page, console.base, console.keys["ops"])
    everything = await sids_on(page)
    assert {console.interview_sid, console.busy_sid, console.no_answer_sid} <= set(everything)
    await screenshot(page, "calls")

    await page.get_by_label("Outcome").select_option("busy")
    await page.get_by_role("button", name="Apply").click()
    await expect(listed(page)).to_have_count(1)
    assert await sids_on(page) == [console.busy_sid]
    async with page.expect_download() as download:
        await page.get_by_role("link", name="Download CSV").click()
    rows = list(csv.DictReader(io.StringIO((await (await download.value).path()).read_text())))
    assert [r["call_sid"] for r in rows] == [console.busy_sid]
    assert rows[0]["outcome"] == "busy" and rows[0]["to"] == "+*******7777"

    await page.get_by_label("Outcome").select_option("")
    await page.get_by_label("Number ends in").fill("8888")
    await page.get_by_role("button", name="Apply").click()
    assert await sids_on(page) == [console.no_answer_sid]

    await page.get_by_label("Number ends in").fill("")
    await page.get_by_label("Direction").select_option("inbound")
    await page.get_by_label("Score from").fill("1")
    await page.get_by_role("button", name="Apply").click()
    assert await sids_on(page) == [console.interview_sid]
    async with page.expect_download() as download:
        await page.get_by_role("link", name="Download CSV").click()
    text = (await (await download.value).path()).read_text()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["call_sid"] for r in rows] == [console.interview_sid]
    assert float(rows[0]["cost_usd"]) > 0 and rows[0]["outcome"] == "completed"
    assert "+1415" not in text  # numbers stay masked


async def the_call_page_shows_transcript_cut_turn_evaluations_and_cost(
    console: Console, page: Page
) -> None:
    call_sid = console.interview_sid
    store = console.env.svc.store
    turns = await store.turns.for_call(call_sid)
    call = await store.calls.get(call_sid)
    assert call is not None and call.cost is not None and call.cost.total_usd
    await sign_in(page, console.base, console.keys["ops"], f"/ops/calls/{call_sid}")

    said = page.locator(".transcript .turn")
    await expect(said).to_have_count(len(turns))
    for i, turn in enumerate(turns):
        await expect(said.nth(i).locator(".said")).to_have_text(turn.text)
    greeting = said.nth(0)
    assert turns[0].interrupted and 0 < len(turns[0].text) < len(GREETING)
    await expect(greeting).to_have_class(re.compile(r"\binterrupted\b"))
    await expect(greeting.locator(".cut-note")).to_contain_text("stopped hearing it")
    # The evaluation sits beside the answer it scores: the caller's first turn.
    answer = page.locator(f"#turn-{turns[1].seq}")
    await expect(answer.locator(".evaluation")).to_contain_text("good")
    await expect(answer.locator(".evaluation")).to_contain_text("measure first")
    await expect(page.locator(".cost-total")).to_have_text(f"${call.cost.total_usd:,.4f}")
    await expect(page.locator("table.cost tbody tr")).to_have_count(len(call.cost.lines))
    await expect(page.locator(".scorecard")).to_contain_text("a person reads the answers")
    await expect(page.locator(".scorecard blockquote a").first).to_have_attribute(
        "href", f"#turn-{turns[1].seq}"
    )
    await expect(page.get_by_text("No audio is ever stored").first).to_be_visible()
    replied = [t for t in turns if t.latency_ms is not None]
    assert replied, "no reply latency was stored on the turns"
    await expect(page.locator("svg.chart rect.bar")).to_have_count(len(replied))
    await screenshot(page, "call")
    await page.set_viewport_size({"width": 390, "height": 844})
    await screenshot(page, "call-phone")

    async with page.expect_download() as download:
        await page.get_by_role("link", name="Download as JSON").click()
    exported = json.loads((await (await download.value).path()).read_text())
    assert [t["text"] for t in exported["turns"]] == [t.text for t in turns]
    assert exported["call"]["cost"]["total_usd"] == call.cost.total_usd


async def a_recruiter_sees_results_but_no_costs(console: Console, page: Page) -> None:
    await sign_in(page, console.base, console.keys["recruiter"])
    await expect(page.get_by_role("columnheader", name="Score")).to_be_visible()
    await expect(page.get_by_role("columnheader", name="Cost")).to_have_count(0)
    await expect(page.get_by_label("Cost from (USD)")).to_have_count(0)
    await page.goto(console.base + f"/ops/calls/{console.interview_sid}")
    await expect(page.locator(".scorecard")).to_be_visible()
    await expect(page.get_by_role("heading", name="Cost")).to_have_count(0)
    await expect(page.locator(".cost-total")).to_have_count(0)
    response = await page.request.get(console.base + f"/ops/calls/{console.interview_sid}.json")
    assert "cost" not in (await response.json())["call"]
    csv_text = await (await page.request.get(console.base + "/ops/calls.csv")).text()
    assert "cost_usd" not in csv_text.splitlines()[0]


async def the_dashboard_counts_todays_calls(console: Console, page: Page) -> None:
    call = await console.env.svc.store.calls.get(console.interview_sid)
    assert call is not None and call.report is not None and call.cost is not None
    await sign_in(page, console.base, console.keys["ops"], "/ops")
    await expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    today = page.locator("table.daily tbody tr").last
    cells = today.locator("td")
    # Three calls: the interview answered and completed; the busy and unanswered ones not.
    await expect(today.locator("th")).to_have_text(call.created_at.date().isoformat())
    await expect(cells.nth(0)).to_have_text("3")
    await expect(cells.nth(1)).to_have_text("1")
    await expect(cells.nth(2)).to_have_text("33.3%")
    await expect(cells.nth(3)).to_have_text("1")
    await expect(cells.nth(5)).to_have_text(str(call.report.score))
    cost = page.locator("table.template-costs tbody tr").last.locator("td").first
    await expect(cost).to_have_text(f"${call.cost.total_usd:,.4f}")
    await expect(page.locator("svg.chart")).to_have_count(5)
    await screenshot(page, "dashboard")
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.goto(console.base + "/ops/calls")
    await screenshot(page, "calls-phone")


CHECKS = (
    filters_narrow_the_list_and_the_csv_matches_it,
    the_call_page_shows_transcript_cut_turn_evaluations_and_cost,
    a_recruiter_sees_results_but_no_costs,
    the_dashboard_counts_todays_calls,
)


async def test_pages_built_from_real_calls(console: Console, browser: Browser) -> None:
    """Every check on the calls made once for this module (a real call takes seconds),
    each in a browser context of its own; one test, so parallel workers do not each make
    the calls again."""
    for check in CHECKS:
        context, page = await new_page(browser)
        try:
            await check(console, page)
        finally:
            await context.close()
