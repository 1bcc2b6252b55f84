"""A whole call through the live path (Twilio's stream, the model, the recorder) ends with
its call.completed webhook at a receiver: the finished call's hook is wired in."""

from __future__ import annotations

import pytest

from bridge.clock import utcnow
from persistence.api_records import WebhookEndpoint
from tests.support.api import Receiver
from tests.support.call_harness import live_env
from tests.support.openai import Say, Script
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow


async def test_a_whole_call_sends_call_completed(mongo_uri: str, db_name: str) -> None:
    receiver = Receiver(secret="whsec_live")
    await receiver.start()
    script = Script(responses=[Say("Hello, first question.", audio_ms=400)])
    try:
        async with live_env(mongo_uri, db_name, script) as env:
            await env.svc.store.webhooks.add(
                WebhookEndpoint(
                    id="wh_live",
                    url=receiver.url,
                    events=["call.completed"],
                    secret=receiver.secret,
                    created_at=utcnow(),
                    key_id="k",
                )
            )
            call_sid, twilio, caller = await env.dial_in()
            await env.wait_played(twilio, 1)
            await caller.stop()
            await twilio.close()
            call = await env.ended(call_sid)
            await eventually(
                lambda: receiver.received, timeout=10, what="call.completed", on=receiver.changes
            )
    finally:
        await receiver.stop()
    (event,) = receiver.received
    assert event.event == "call.completed" and event.signed
    data = event.body["data"]
    assert data["call_sid"] == call_sid and data["completion"] == call.completion
    assert data["from_masked"] == call.from_masked and "+1415" not in str(data)
