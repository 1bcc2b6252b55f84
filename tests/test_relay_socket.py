"""The relay's faces over real sockets: the voice webhook's engine choice and TwiML, the
relay socket's checks and bad input, and the Responses API client against a strict peer."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

import httpx
import pytest

from bridge import responses_events as te
from evaluation.tools import TOOLS
from persistence import CallRecord
from service.responses_http import ResponsesClient, ResponsesEndpoint
from tests.support.call_harness import ACCOUNT
from tests.support.openai import CallTool, Say, Script
from tests.support.relay_harness import RelayEnv, relay_env
from tests.support.relay_peer import RelayPeer, relay_element
from tests.support.responses_peer import ResponsesPeer
from tests.support.telephony_fixtures import AUTH_TOKEN
from tests.support.waiting import RECHECK_S, eventually


async def call_record(renv: RelayEnv, call_sid: str, done: str) -> CallRecord:
    async def check() -> CallRecord | None:
        call = await renv.env.svc.store.calls.get(call_sid)
        return call if call is not None and done in call.timings else None

    call = await eventually(check, timeout=10, what=f"{done} on the call", every=RECHECK_S)
    assert call is not None
    return call


async def test_realtime_switched_off_gets_the_relay_with_the_configured_voice(
    mongo_uri: str, db_name: str
) -> None:
    async with relay_env(
        mongo_uri,
        db_name,
        Script(),
        enable_realtime=False,
        relay_voice="en-US-Journey-O",
        relay_tts_provider="Google",
        relay_language="en-GB",
    ) as renv:
        call_sid, twiml = await renv.ring()
        call = await renv.env.svc.store.calls.get(call_sid)

    relay = relay_element(twiml)
    assert relay.get("voice") == "en-US-Journey-O" and relay.get("ttsProvider") == "Google"
    assert relay.get("language") == "en-GB" and relay.get("transcriptionProvider") == "Deepgram"
    assert relay.get("interruptible") == "any" and relay.get("dtmfDetection") == "true"
    assert relay.get("url", "").startswith("wss://voice.example.test/twilio/relay/")
    params = {p.get("name"): p.get("value") for p in relay.iter("Parameter")}
    assert params == {"call_id": call_sid, "template_id": "default"}
    assert call is not None
    assert [(e.engine, e.reason) for e in call.engines] == [("relay", "ENABLE_REALTIME is false")]
    assert renv.env.model.handshakes == []  # no pre-connect to a switched-off API


async def test_realtime_forced_and_switched_off_is_unavailable(
    mongo_uri: str, db_name: str
) -> None:
    async with relay_env(
        mongo_uri, db_name, Script(), enable_realtime=False, interview_engine="realtime"
    ) as renv:
        _, twiml = await renv.ring()
    assert [el.tag for el in ET.fromstring(twiml)] == ["Say", "Hangup"]


async def test_the_relay_socket_checks_who_connects(mongo_uri: str, db_name: str) -> None:
    async with relay_env(mongo_uri, db_name, Script(), interview_engine="relay") as renv:
        call_a, twiml_a = await renv.ring()
        call_b, _ = await renv.ring()
        element = relay_element(twiml_a)
        url = element.get("url")
        base = renv.env.svc.base.replace("http://", "ws://")
        path = url.split("voice.example.test", 1)[1]

        def peer(call_sid: str, account: str = ACCOUNT, signature: str | None = None) -> RelayPeer:
            return RelayPeer(base + path, url, AUTH_TOKEN, call_sid, account, signature=signature)

        unsigned = peer(call_a, signature="")
        await unsigned.connect()
        await unsigned.closed.wait()
        other_call = peer(call_b)  # call A's URL, a setup for call B
        await other_call.connect()
        await other_call.setup()
        await other_call.closed.wait()
        other_account = peer(call_a, account="AC" + "6" * 32)
        await other_account.connect()
        await other_account.setup()
        await other_account.closed.wait()
        calls = [await renv.env.svc.store.calls.get(sid) for sid in (call_a, call_b)]

    assert [unsigned.close_code, other_call.close_code, other_account.close_code] == [1008] * 3
    assert all(c is not None and c.relay is None for c in calls)  # nothing was claimed
    assert renv.text.requests == []


async def test_bad_input_is_counted_and_the_call_goes_on(mongo_uri: str, db_name: str) -> None:
    script = Script(responses=[Say("Glad to hear it.")])
    async with relay_env(mongo_uri, db_name, script, interview_engine="relay") as renv:
        call_sid, twiml = await renv.ring()
        element = relay_element(twiml)
        first = await renv.join(call_sid, twiml)
        await first.send('{"type": "prompt", "voicePrompt": 7, "last": true}')
        await first.send(b"\x00\x01")
        await first.send('{"type": "transcript", "text": "hi"}')
        await first.error("Invalid message received: unknown type")
        await renv.answer(first, "All good.")
        # A second socket for the same call is refused; the first goes on.
        second = await renv.join(call_sid, twiml)
        await second.closed.wait()
        await first.close()
        call = await call_record(renv, call_sid, "ended")

    assert element.get("welcomeGreeting")
    assert second.close_code == 1008 and first.errors == []
    assert first.utterances == ["Glad to hear it."]
    assert call.relay is not None
    assert call.relay.bad_input == {"bad_field": 1, "binary": 1, "unknown_type": 1}
    assert call.relay.errors == ["Invalid message received: unknown type"]
    assert call.relay.prompts == 1 and call.relay.end == "candidate hung up (relay disconnected)"


async def test_the_responses_peer_refuses_malformed_requests() -> None:
    peer = ResponsesPeer(Script(responses=[[Say("Hello there."), CallTool("end_interview", "{}")]]))
    good: dict[str, Any] = {
        "model": "gpt-4.1-mini",
        "instructions": "Interview.",
        "input": [{"role": "user", "content": "Hi"}],
        "tools": TOOLS,
        "stream": True,
        "store": False,
    }
    bad = [
        {**good, "temperature": 0.2, "modalities": ["text"]},
        {**good, "model": "gpt-9"},
        {**good, "stream": False},
        {**good, "input": []},
        {**good, "input": [{"role": "narrator", "content": "x"}]},
        {**good, "input": [{"type": "function_call_output", "call_id": "c1", "output": "{}"}]},
        {**good, "tools": [{"type": "function", "name": "f", "parameters": {"type": "array"}}]},
    ]
    async with peer.serving(), httpx.AsyncClient() as http:
        for body in bad:
            response = await http.post(
                peer.url, json=body, headers={"Authorization": "Bearer sk-test"}
            )
            assert response.status_code == 400, body
            assert response.json()["error"]["type"] == "invalid_request_error"
        unauthorized = await http.post(peer.url, json=good)
        assert unauthorized.status_code == 401
        client = ResponsesClient(ResponsesEndpoint(peer.url, "sk-test"), http)
        events = [event async for event in client.stream(good)]
        peer.fail_with = 503
        with pytest.raises(te.TextModelUnavailable, match="HTTP 503: overloaded"):
            [e async for e in client.stream(good)]
        refused = ResponsesClient(ResponsesEndpoint(peer.url, "sk-test"), http)
        with pytest.raises(te.TextModelUnavailable, match="HTTP 400: The model 'x' does not exist"):
            [e async for e in refused.stream({**good, "model": "x"})]

    assert len(peer.errors) == len(bad) + 2
    kinds = [type(e).__name__ for e in events]
    assert kinds == [
        "Created",
        "MessageStarted",
        "TextDelta",
        "TextDelta",
        "FunctionCall",
        "Finished",
    ]
    assert "".join(e.delta for e in events if isinstance(e, te.TextDelta)) == "Hello there."
    finished = events[-1]
    assert isinstance(finished, te.Finished) and finished.usage is not None
    assert json.loads(json.dumps(peer.usages[0]))["output_tokens"] == finished.usage.text_out
