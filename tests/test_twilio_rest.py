from __future__ import annotations

from telephony.twilio_rest import TwilioCalls
from tests.support.twilio_rest_peer import TwilioRestPeer

ACCOUNT = "AC" + "a" * 32
TOKEN = "0123456789abcdef0123456789abcdef"


async def test_hang_up_with_and_without_a_last_word() -> None:
    ended: list[str] = []

    async def on_end(call_sid: str) -> None:
        ended.append(call_sid)

    peer = TwilioRestPeer(ACCOUNT, TOKEN, on_end=on_end, live_calls={"CA1", "CA2"})
    async with peer.serving():
        calls = TwilioCalls(ACCOUNT, TOKEN, peer.base)
        assert await calls.hang_up("CA1")
        assert await calls.hang_up("CA2", say="Sorry, goodbye.")
    assert peer.errors == []
    assert [(u.call_sid, u.status) for u in peer.updates] == [("CA1", "completed"), ("CA2", None)]
    assert peer.updates[1].said == ["Sorry, goodbye."]
    assert ended == ["CA1", "CA2"]


async def test_refusals_are_reported_not_raised() -> None:
    peer = TwilioRestPeer(ACCOUNT, TOKEN, live_calls={"CA1"})
    async with peer.serving():
        assert not await TwilioCalls(ACCOUNT, TOKEN, peer.base).hang_up("CA404")
        wrong_token = TwilioCalls(ACCOUNT, "f" * 32, peer.base)
        assert not await wrong_token.hang_up("CA1")
        peer.fail_with = 500
        assert not await TwilioCalls(ACCOUNT, TOKEN, peer.base).hang_up("CA1")
    assert peer.errors == ["update for a call not in progress: CA404", "bad credentials"]
    assert peer.updates == []


async def test_unreachable_twilio_is_reported() -> None:
    assert not await TwilioCalls(ACCOUNT, TOKEN, "http://127.0.0.1:9").hang_up("CA1")
