"""The browser test call: /ops/try in Chromium with a fake microphone (speech made with
espeak-ng, tests/fixtures/make_browser_speech.sh), through the real service and the same
stream and session code as a phone call, to the OpenAI Realtime peer; its socket's token;
its place in the worker's capacity, its cost and the call log."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import time
import uuid
from base64 import b64decode, b64encode
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from playwright.async_api import Browser, Page
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from bridge.audio import InboundAudio, OutboundAudio
from bridge.g711 import ULAW_ENCODE, ulaw_to_pcm16
from persistence.browser_tokens import BrowserTicket
from persistence.records import CallRecord
from telephony.api.auth import new_key
from tests.support.browser import expect, launch, new_page, screenshot, sign_in
from tests.support.call_harness import ACCOUNT, WAIT_S, Env, live_env
from tests.support.openai import CallTool, Say, Script
from tests.support.telephony_fixtures import service, settings_for
from tests.support.twilio_peer import TwilioPeer
from tests.support.waiting import RECHECK_S, eventually

MIC = Path(__file__).parent / "fixtures" / "speech" / "browser_mic.wav"
SPEECH_24K = Path(__file__).parent / "fixtures" / "speech" / "speech_24k.s16"
FAKE_MIC = (
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    f"--use-file-for-fake-audio-capture={MIC}",
    "--autoplay-policy=no-user-gesture-required",
)
FRAME_MS = 20
SAID = "Sorry, can I ask something first?"
EVALUATION = json.dumps(
    {
        "answer_quality": "needs_clarification",
        "key_points_covered": ["own contribution"],
        "next_action": "follow_up",
        "follow_up_needed": True,
    }
)
POLICY_VIOLATION = 1008


@pytest.fixture(scope="module")
async def mic_browser() -> AsyncIterator[Browser]:
    """One Chromium per module whose microphone says the fixture's sentence, in a loop:
    3 s of silence, the sentence, 4 s of silence."""
    pw, chromium = await launch(FAKE_MIC)
    try:
        yield chromium
    finally:
        await chromium.close()
        await pw.stop()


async def add_key(env: Env, scope: str) -> str:
    key, key_id, key_hash = new_key()
    await env.svc.store.api_keys.add(key_hash, scope, [scope], datetime.now(UTC), key_id)
    return key


async def completed(env: Env, call_sid: str) -> CallRecord:
    """The call once its report is written and the socket's end recorded it completed (no
    status callback comes for a browser call: the socket's route records it)."""
    await env.ended(call_sid)

    async def done() -> CallRecord | None:
        call = await env.svc.store.calls.get(call_sid)
        return call if call is not None and call.status == "completed" else None

    found = await eventually(done, timeout=WAIT_S, what="the call completed", every=RECHECK_S)
    assert found is not None
    return found


async def page_module_result(
    mongo_uri: str, db_name: str, browser: Browser, script: str, arg: object = None
) -> dict[str, Any]:
    """What `script` returns in a page of the service, where it can import the page's own
    modules (`/ops/static/...`), as a browser loads them."""
    async with service(settings_for(mongo_uri, db_name)) as svc:
        context, page = await new_page(browser)
        try:
            await page.goto(svc.base + "/ops/sign-in")
            found: dict[str, Any] = await page.evaluate(script, arg)
        finally:
            await context.close()
    return found


async def window_state(page: Page) -> dict[str, object]:
    found: dict[str, object] = await page.evaluate("({...window.tryCall})")
    return found


@pytest.mark.slow
async def test_a_browser_call_is_heard_played_interrupted_and_stored(
    mongo_uri: str, mic_browser: Browser
) -> None:
    script = Script(
        responses=[
            Say("Welcome. Before we start, let me explain how this will work.", audio_ms=12000),
            CallTool("evaluate_candidate_answer", EVALUATION),
            [
                Say("Of course. That is all for today, goodbye.", audio_ms=1000),
                CallTool("end_interview", json.dumps({"reason": "completed"})),
            ],
        ],
        caller_transcripts=[SAID],
    )
    db_name = f"test_{uuid.uuid4().hex[:12]}"
    # No PUBLIC_URL and no Twilio auth token: the page's socket URL comes from its origin,
    # and nothing of Twilio's is needed.
    async with live_env(
        mongo_uri, db_name, script, realtime_factor=1.25, public_url=None, twilio_auth_token=None
    ) as env:
        assert env.svc.services.twilio_calls is None
        context, page = await new_page(mic_browser)
        try:
            await sign_in(page, env.svc.base, await add_key(env, "recruiter"), "/ops/try")
            await page.get_by_role("button", name="Start").click()
            await expect(page.locator("#try-status")).to_have_text(re.compile("On the call"))
            await env.wait(lambda: bool(env.model.connections), "the model session")
            conn = env.model.connections[0]
            wall_offset = time.time() - time.monotonic()  # the peer stamps with monotonic

            # The page plays the greeting and echoes its marks; then the fixture's words
            # reach the model, whose VAD hears them and the bridge cuts the greeting.
            await env.wait(lambda: bool(conn.truncations), "the barge-in's truncation", 30)
            assert conn.events("input_audio_buffer.speech_started")
            (item_id, audio_end_ms, _), *_ = conn.truncations
            assert item_id == conn.responses[0].output[0]["id"]  # the greeting
            state = await window_state(page)
            assert state["sampleRate"] == 24000
            assert state["clears"] == 1
            heard = state["heardAtClearMs"]
            assert isinstance(heard, list) and len(heard) == 1
            # What the page had played of the greeting when its buffer was cleared is what
            # the model's memory was cut to, within one 20 ms frame, plus what played while
            # the clear was on its way (the bridge takes the position, then sends the clear,
            # the cancel and the truncate; on a loaded machine the page gets it later).
            (cancelled_at,) = [
                at
                for event, at in zip(conn.received, conn.received_at, strict=True)
                if event.get("type") == "response.cancel"
            ]
            cleared_at = state["clearedAt"]
            assert isinstance(cleared_at, list) and len(cleared_at) == 1
            on_its_way_ms = cleared_at[0] - (cancelled_at + wall_offset) * 1000
            slack = FRAME_MS + max(0.0, on_its_way_ms)
            assert audio_end_ms - FRAME_MS <= heard[0] <= audio_end_ms + slack, (
                state,
                audio_end_ms,
                on_its_way_ms,
            )
            assert isinstance(state["framesPlayed"], int)
            assert state["framesPlayed"] >= audio_end_ms // FRAME_MS - 1
            assert isinstance(state["marksEchoed"], int) and state["marksEchoed"] >= 1

            # The stored transcript and evaluation appear on the page.
            await expect(page.locator(".turn-caller .said")).to_have_text(SAID)
            await expect(page.locator("#try-evaluations li")).to_have_count(1)
            await expect(page.locator("#try-evaluations li")).to_contain_text("needs_clarification")
            await env.wait(lambda: len(conn.events("response.done")) >= 3, "the third reply")
            await expect(page.locator("#try-latency li")).to_have_count(1)
            await screenshot(page, "try-call")

            # The interviewer says goodbye and ends the call: the service closes the socket
            # when the page echoes the mark after the goodbye, so every sample the page was
            # sent and did not clear had played by then.
            await expect(page.locator("#try-status")).to_have_text("The call has ended.")
            call_sid = str(state["callSid"])
            call = await completed(env, call_sid)
            state = await window_state(page)
        finally:
            await context.close()

        assert state["socketClose"] == 1000
        received, played, dropped = (
            state[k] for k in ("samplesReceived", "samplesPlayed", "samplesDropped")
        )
        assert isinstance(received, int) and isinstance(played, int) and isinstance(dropped, int)
        assert dropped > 0 and played + dropped == received
        assert call.completion == "completed"
        assert call.channel == "browser" and call.status == "completed"
        assert call.stream is not None and call.stream.frames_in >= 100
        assert isinstance(state["framesSent"], int) and state["framesSent"] >= call.stream.frames_in
        assert isinstance(state["marksEchoed"], int)
        assert 1 <= call.stream.marks_in <= state["marksEchoed"]
        turns = await env.turns(call_sid)
        assert [(t.speaker, t.interrupted) for t in turns][:2] == [
            ("assistant", True),
            ("caller", False),
        ]
        assert turns[0].truncated_at_ms == audio_end_ms
        assert turns[1].text == SAID
        assert len(await env.svc.store.evaluations.for_call(call_sid)) == 1
        # The model's cost, and nothing from Twilio: no Twilio call was made.
        assert call.cost is not None and call.cost.total_usd
        assert call.cost.lines["model_audio_out"].quantity > 0
        assert not [name for name in call.cost.lines if name.startswith("twilio")]
        assert not env.rest.errors and not env.model.errors


async def test_the_page_codec_matches_the_service(
    mongo_uri: str, db_name: str, mic_browser: Browser
) -> None:
    """The page's mu-law and resamplers, run in Chromium on fixed input, give the bytes the
    service's own give (bridge/g711.py, bridge/resample.py) on the same input."""
    pcm24 = np.frombuffer(SPEECH_24K.read_bytes(), "<i2")[:24000]
    # The service's paths on the same speech: 24 kHz PCM to the line (8 kHz mu-law), and
    # that line audio back to 24 kHz PCM, in the frames a call carries.
    outbound, inbound = OutboundAudio("pcm16", "fir"), InboundAudio("pcm16", "fir")
    line = b"".join(
        b64decode(outbound.process(b64encode(pcm24[i : i + 480].tobytes()).decode()))
        for i in range(0, len(pcm24), 480)
    )
    back = np.frombuffer(
        b"".join(
            b64decode(inbound.process(b64encode(line[i : i + 160]).decode()))
            for i in range(0, len(line), 160)
        ),
        "<i2",
    )
    found = await page_module_result(
        mongo_uri,
        db_name,
        mic_browser,
        """async ([pcm, line]) => {
            const m = await import("/ops/static/call-audio.js");
            const ints = Array.from({ length: 65536 }, (_, i) => i - 32768);
            const codes = Array.from({ length: 256 }, (_, i) => i);
            // In Chromium's render quanta (128 frames): state carries across them.
            const down = m.toLine(24000), ours = [];
            for (let i = 0; i < pcm.length; i += 128) {
                ours.push(...down.push(pcm.slice(i, i + 128)));
            }
            const up = m.fromLine(24000), back = [], decoded = line.map(m.ulawDecode);
            for (let i = 0; i < decoded.length; i += 160) {
                back.push(...up.push(decoded.slice(i, i + 160)));
            }
            return {
                encoded: ints.map(m.ulawEncode),
                decoded: codes.map(m.ulawDecode),
                line: ours.map(m.ulawEncode),
                back,
            };
        }""",
        [pcm24.tolist(), list(line)],
    )

    # Every 16-bit sample encodes to the reference encoder's code; every code decodes alike.
    every = (np.arange(65536) - 32768).astype("<i2").view("<u2")
    assert found["encoded"] == ULAW_ENCODE[every].tolist()
    assert found["decoded"] == np.frombuffer(ulaw_to_pcm16(bytes(range(256))), "<i2").tolist()
    # 24 kHz to the line: the same mu-law bytes, or one code step apart (float rounding).
    page_line = np.frombuffer(bytes(found["line"]), np.uint8).astype(int)
    assert len(page_line) == len(line) == 8000
    steps = np.abs(page_line - np.frombuffer(line, np.uint8))
    assert steps.max() <= 1, f"{int((steps > 0).sum())} codes differ"
    # The line to 24 kHz: the same samples, within one least significant bit.
    page_back = np.array(found["back"])
    assert page_back.shape == back.shape == (24000,)
    assert np.abs(page_back - back).max() <= 1


async def test_the_page_resamples_contexts_at_other_rates(
    mongo_uri: str, db_name: str, mic_browser: Browser
) -> None:
    """Should a browser run the audio context at 48 or 44.1 kHz instead of the 24 kHz the
    page asks for: the speech band passes, and (at 48 kHz, with the service's filter
    design) what would fold into it is filtered out."""
    found = await page_module_result(
        mongo_uri,
        db_name,
        mic_browser,
        """async () => {
            const m = await import("/ops/static/call-audio.js");
            const tone = (hz, rate, n) => Array.from(
                { length: n }, (_, i) => 10000 * Math.sin((2 * Math.PI * hz * i) / rate)
            );
            const line = (hz, rate) => {
                const down = m.toLine(rate), input = tone(hz, rate, rate), out = [];
                for (let i = 0; i < input.length; i += 128) {
                    out.push(...down.push(input.slice(i, i + 128)));
                }
                return out;
            };
            const up = m.fromLine(48000).push(tone(1000, 8000, 8000));
            return {
                k48: line(1000, 48000), alias48: line(5000, 48000),
                k44: line(1000, 44100), up48: up,
            };
        }""",
    )

    def rms(samples: list[int], skip: int) -> float:
        return float(np.sqrt(np.mean(np.square(np.array(samples[skip:], dtype=float)))))

    tone = 10000 / np.sqrt(2)
    assert len(found["k48"]) == 8000 and len(found["alias48"]) == 8000
    assert abs(rms(found["k48"], 100) / tone - 1) < 0.01  # 1 kHz passes (within 0.1 dB)
    assert rms(found["alias48"], 100) < tone / 1000  # 5 kHz, which would fold to 3 kHz: -60 dB
    assert abs(len(found["k44"]) - 8000) <= 1
    assert abs(rms(found["k44"], 100) / tone - 1) < 0.05  # linear interpolation: rougher
    assert len(found["up48"]) == 48000
    assert abs(rms(found["up48"], 600) / tone - 1) < 0.01


def keep_cookies(http: httpx.AsyncClient, response: httpx.Response) -> None:
    """The console's cookies say Secure (PUBLIC_URL is https); over loopback's plain HTTP
    the client keeps them as a browser on localhost would."""
    for name, value in response.cookies.items():
        http.cookies.set(name, value)


@contextlib.asynccontextmanager
async def signed_in(base: str, key: str) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A console session over plain HTTP, and the /ops/try page's CSRF token."""
    async with httpx.AsyncClient(base_url=base) as http:
        yield http, await _sign_in(http, key)


async def _sign_in(http: httpx.AsyncClient, key: str) -> str:
    form = await http.get("/ops/sign-in")
    keep_cookies(http, form)
    token = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    response = await http.post(
        "/ops/sign-in", data={"api_key": key, "csrf_token": token, "next": "/ops/try"}
    )
    assert response.status_code == 303, response.text
    keep_cookies(http, response)
    page = await http.get("/ops/try")
    assert page.status_code == 200
    return page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def socket_url(env: Env, path: str) -> str:
    return env.svc.base.replace("http://", "ws://") + path


async def close_code(url: str) -> int | None:
    """The close code a real WebSocket client is given after it connects."""
    async with connect(url) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    return closed.value.rcvd.code if closed.value.rcvd else None


def browser_peer(env: Env, issued: dict[str, str]) -> TwilioPeer:
    """A browser call's socket spoken to by the Twilio handset peer (the page's protocol),
    watched and closed by the harness like a phone call's stream."""
    peer = env.calls[issued["call_sid"]] = TwilioPeer(
        ws_url=socket_url(env, issued["socket"]),
        signed_url="",
        auth_token="",
        signature="",
        call_sid=issued["call_sid"],
        account_sid="browser",
        custom_parameters={"template_id": issued["template_id"]},
    )
    return peer


@pytest.mark.slow
async def test_wrong_reused_and_expired_tokens_are_refused_with_1008(mongo_uri: str) -> None:
    script = Script(responses=[Say("Hello.", audio_ms=400)])
    db_name = f"test_{uuid.uuid4().hex[:12]}"
    async with (
        live_env(mongo_uri, db_name, script) as env,
        signed_in(env.svc.base, await add_key(env, "ops")) as (http, csrf),
    ):
        response = await http.post("/ops/try/calls", data={"csrf_token": csrf})
        assert response.status_code == 201, response.text
        issued = response.json()
        assert issued["socket"].startswith("/browser-call/")
        # Stored once its socket opens: a token never used leaves no call behind.
        assert await env.svc.store.calls.get(issued["call_sid"]) is None

        assert await close_code(socket_url(env, "/browser-call/not-a-token")) == POLICY_VIOLATION
        assert await close_code(socket_url(env, "/browser-call")) == POLICY_VIOLATION

        peer = browser_peer(env, issued)
        await peer.connect()
        await peer.begin()
        await env.wait(lambda: bool(peer.segments), "the greeting on the browser socket")
        # The token has been used: a second socket with it is refused.
        assert await close_code(socket_url(env, issued["socket"])) == POLICY_VIOLATION
        await peer.hang_up()
        await env.ended(issued["call_sid"])

        now = datetime.now(UTC)
        await env.svc.store.browser_tokens.issue(
            "expired-token",
            BrowserTicket(call_sid=issued["call_sid"], template_id="default"),
            now - timedelta(minutes=2),
            now - timedelta(minutes=1),
        )
        assert await close_code(socket_url(env, "/browser-call/expired-token")) == POLICY_VIOLATION

        # Without the session's CSRF token nothing is issued.
        forged = await http.post("/ops/try/calls", data={"csrf_token": "x"})
        assert forged.status_code == 403
        unknown = await http.post(
            "/ops/try/calls", data={"csrf_token": csrf, "template": "no-such-template"}
        )
        assert unknown.status_code == 422
        assert "template" in unknown.json()["detail"]


async def test_a_browser_call_gives_the_model_its_variables(mongo_uri: str) -> None:
    script = Script(responses=[Say("Hello.", audio_ms=400)])
    db_name = f"test_{uuid.uuid4().hex[:12]}"
    async with (
        live_env(mongo_uri, db_name, script) as env,
        signed_in(env.svc.base, await add_key(env, "recruiter")) as (http, csrf),
    ):
        bad = await http.post(
            "/ops/try/calls",
            data={"csrf_token": csrf, "variables": "role: Backend engineer\nno colon here"},
        )
        assert bad.status_code == 422
        assert bad.headers["content-type"] == "application/problem+json"
        assert bad.json()["detail"].startswith("variables, line 2")
        assert env.model.connections == []  # nothing was opened for it

        variables = "role: Backend engineer\n\ncompany: Example Ltd\n"
        started = await http.post(
            "/ops/try/calls", data={"csrf_token": csrf, "variables": variables}
        )
        assert started.status_code == 201, started.text
        await env.wait(
            lambda: bool(
                env.model.connections and env.model.connections[0].events("response.done")
            ),
            "the primed session's greeting",
        )
    updates = env.model.connections[0].client_events("session.update")
    instructions = updates[0]["session"]["instructions"]
    assert "- role: Backend engineer" in instructions
    assert "- company: Example Ltd" in instructions
    tools = [t["name"] for t in updates[0]["session"]["tools"]]
    assert "opt_out" not in tools and "reschedule_interview" not in tools  # an inbound call's


async def test_the_page_without_a_session_leads_to_sign_in(mongo_uri: str, db_name: str) -> None:
    async with service(settings_for(mongo_uri, db_name)) as svc:
        page = await svc.http.get("/ops/try")
        assert page.status_code == 303
        assert page.headers["location"] == "/ops/sign-in?next=%2Fops%2Ftry"
        started = await svc.http.post("/ops/try/calls", data={"csrf_token": "x"})
        assert started.status_code == 401
        feed = await svc.http.get("/ops/try/calls/BR0/feed")
        assert feed.status_code == 303


@pytest.mark.slow
async def test_a_browser_call_takes_a_slot_costs_no_twilio_and_is_listed(
    mongo_uri: str, mic_browser: Browser
) -> None:
    script = Script(responses=[Say("Hello, welcome to the interview.", audio_ms=1500)])
    db_name = f"test_{uuid.uuid4().hex[:12]}"
    async with live_env(mongo_uri, db_name, script, max_calls_per_worker=1) as env:
        key = await add_key(env, "admin")
        context, page = await new_page(mic_browser)
        async with signed_in(env.svc.base, key) as (http, csrf):
            try:
                await sign_in(page, env.svc.base, key, "/ops/try")
                await page.get_by_role("button", name="Start").click()
                await page.wait_for_function("() => window.tryCall.framesPlayed >= 25")  # 0.5 s
                state = await window_state(page)
                browser_sid = str(state["callSid"])

                # The worker's one slot is the browser call's: a phone call hears "busy".
                ready = await env.svc.http.get("/readyz")
                assert ready.status_code == 503 and ready.json()["calls"] == 1
                phone = await env.svc.incoming_call(AccountSid=ACCOUNT)
                refused = await env.svc.store.calls.get(phone)
                assert refused is not None and refused.channel == "phone"
                assert (refused.unavailable_reason or "").startswith("busy")
                busy = await http.post("/ops/try/calls", data={"csrf_token": csrf})
                assert busy.status_code == 503 and busy.json()["title"] == "Busy"

                conn = env.model.connections[0]
                await env.wait(lambda: bool(conn.events("response.done")), "the greeting done")
                await page.get_by_role("button", name="Hang up").click()
                await expect(page.locator("#try-status")).to_have_text("You hung up.")
            finally:
                await context.close()
            call = await completed(env, browser_sid)
            assert call.ended_reason is not None and "hung up" in call.ended_reason
            assert call.channel == "browser" and call.status == "completed"
            assert call.cost is not None and call.cost.lines["model_audio_out"].quantity > 0
            assert not [name for name in call.cost.lines if name.startswith("twilio")]
            assert (await env.svc.http.get("/readyz")).status_code == 200

            def listed(text: str) -> set[str]:
                return set(re.findall(r'data-call-sid="([^"]+)"', text))

            log = await http.get("/ops/calls")
            assert listed(log.text) == {browser_sid, phone}
            assert listed((await http.get("/ops/calls?channel=browser")).text) == {browser_sid}
            assert listed((await http.get("/ops/calls?channel=phone")).text) == {phone}
            bad = await http.get("/ops/calls?channel=fax")
            assert "channel" in bad.text and listed(bad.text) == {browser_sid, phone}

            rows = list(
                csv.DictReader(io.StringIO((await http.get("/ops/calls.csv?channel=browser")).text))
            )
            assert [(r["call_sid"], r["channel"]) for r in rows] == [(browser_sid, "browser")]

            feed = (await http.get(f"/ops/try/calls/{browser_sid}/feed")).json()
            assert feed["ended"] is True and feed["turns"][0]["speaker"] == "Interviewer"
            assert (await http.get(f"/ops/try/calls/{phone}/feed")).status_code == 404

        auth = {"Authorization": f"Bearer {key}"}
        api = await env.svc.http.get("/api/v1/calls", params={"channel": "browser"}, headers=auth)
        assert api.status_code == 200
        assert [(c["call_sid"], c["channel"]) for c in api.json()["items"]] == [
            (browser_sid, "browser")
        ]
        phones = await env.svc.http.get("/api/v1/calls?channel=phone", headers=auth)
        assert [c["call_sid"] for c in phones.json()["items"]] == [phone]
        wrong = await env.svc.http.get("/api/v1/calls?channel=fax", headers=auth)
        assert wrong.status_code == 422
