from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from bridge.stream import MAX_KEYPRESSES
from persistence import CallRecord
from service.server import SERVERS, ServerName
from tests.support.telephony_fixtures import Service, service, settings_for
from tests.support.twilio_peer import SILENCE, sid
from tests.support.waiting import RECHECK_S, eventually


@pytest.fixture
async def svc(mongo_uri: str, db_name: str) -> AsyncIterator[Service]:
    # These tests are about the stream itself; the live interview has its own.
    async with service(settings_for(mongo_uri, db_name, enable_realtime=False)) as s:
        yield s


async def ended_call(svc: Service, call_sid: str) -> CallRecord:
    """The call once the server has recorded the end of its stream."""

    async def ended() -> CallRecord | None:
        call = await svc.store.calls.get(call_sid)
        return call if call is not None and "ended" in call.timings else None

    call = await eventually(ended, timeout=5, what="the call finalized", every=RECHECK_S)
    assert call is not None
    return call


async def live_calls(svc: Service) -> int:
    calls: int = (await svc.http.get("/readyz")).json()["calls"]
    return calls


async def test_a_signed_stream_runs_and_is_recorded(svc: Service) -> None:
    call_sid = await svc.incoming_call()
    async with svc.peer(call_sid) as peer:
        await peer.begin()
        await peer.stream_audio(SILENCE * 10)
        during = (await svc.http.get("/readyz")).json()
        await peer.send_dtmf("7")
        await peer.send_stop()
        await peer.wait_closed()
    assert peer.close_code == 1000
    # The worker counts the live stream against its cap, and frees the slot after.
    assert during["calls"] == 1

    async def slot_freed() -> bool:
        return await live_calls(svc) == 0

    # The slot is freed as the handler returns, just after the close; only /readyz says when.
    await eventually(slot_freed, timeout=2, what="the stream's slot freed", every=RECHECK_S)
    assert peer.errors == []
    call = await ended_call(svc, call_sid)
    assert call.stream is not None
    assert call.stream.sid == peer.stream_sid
    assert call.stream.frames_in == 10
    assert call.stream.end == "stream stopped"
    assert call.stream.bad_input == {}
    assert call.ended_reason == "stream stopped"
    assert {"webhook_received", "stream_started", "stream_stopped", "ended"} <= set(call.timings)
    assert call.timings["stream_started"] <= call.timings["stream_stopped"]
    assert [k.digit for k in call.dtmf] == ["7"]


@pytest.mark.parametrize("signature", ["", "d3Jvbmc="])
async def test_unsigned_or_wrongly_signed_streams_are_refused(svc: Service, signature: str) -> None:
    call_sid = await svc.incoming_call()
    peer = svc.peer(call_sid, signature=signature)
    async with peer:
        await peer.wait_closed()
    assert peer.close_code == 1008
    call = await svc.store.calls.get(call_sid)
    assert call is not None and call.stream is None


async def test_signature_for_another_url_is_refused(svc: Service) -> None:
    call_sid = await svc.incoming_call()
    peer = svc.peer(call_sid)
    peer.signed_url += "?x=1"
    async with peer:
        await peer.wait_closed()
    assert peer.close_code == 1008


async def test_a_stream_url_without_its_call_token_is_refused(svc: Service) -> None:
    # Correctly signed, but the bare URL signs nothing call-specific: its signature would
    # be the same for every call, forever.
    call_sid = await svc.incoming_call()
    peer = svc.peer(call_sid)
    peer.ws_url = svc.base.replace("http://", "ws://") + "/twilio/media-stream"
    peer.signed_url = "wss://voice.example.test/twilio/media-stream"
    async with peer:
        await peer.wait_closed()
    assert peer.close_code == 1008 and "call token" in peer.close_reason
    call = await svc.store.calls.get(call_sid)
    assert call is not None and call.stream is None


async def test_a_stream_url_issued_for_another_call_is_refused(svc: Service) -> None:
    # A genuine, signed upgrade for call A's URL cannot carry call B's stream.
    first = await svc.incoming_call()
    second = await svc.incoming_call()
    issued = svc.peer(first)
    peer = svc.peer(second)
    peer.ws_url, peer.signed_url = issued.ws_url, issued.signed_url
    async with peer:
        await peer.begin()
        await peer.wait_closed()
    assert peer.close_code == 1008 and "issued for another call" in peer.close_reason
    for call_sid in (first, second):
        call = await svc.store.calls.get(call_sid)
        assert call is not None and call.stream is None


async def test_a_second_stream_for_the_same_call_is_refused(svc: Service) -> None:
    call_sid = await svc.incoming_call()
    async with svc.peer(call_sid) as first, svc.peer(call_sid) as second:
        await first.begin()
        await first.send_media()

        async def claimed() -> bool:
            call = await svc.store.calls.get(call_sid)
            return call is not None and call.stream is not None

        await eventually(claimed, timeout=5, what="the first stream's claim", every=RECHECK_S)
        await second.begin()
        await second.wait_closed()
        assert second.close_code == 1008
        assert "already" in second.close_reason
        assert not first.closed.is_set()  # the live stream is untouched
        await first.send_media()
        await first.send_stop()
        await first.wait_closed()
    assert first.close_code == 1000
    call = await ended_call(svc, call_sid)
    assert call.stream is not None
    assert call.stream.sid == first.stream_sid and call.stream.frames_in == 2


async def test_a_stream_for_an_unknown_call_is_refused(svc: Service) -> None:
    async with svc.peer(sid("CA")) as peer:
        await peer.begin()
        await peer.wait_closed()
    assert peer.close_code == 1008 and "no such call" in peer.close_reason


async def test_mismatched_call_id_parameter_is_refused(svc: Service) -> None:
    call_sid = await svc.incoming_call()
    other = await svc.incoming_call()
    peer = svc.peer(call_sid)
    peer.custom_parameters = {"call_id": other}
    async with peer:
        await peer.begin()
        await peer.wait_closed()
    assert peer.close_code == 1008


@pytest.mark.parametrize("server", SERVERS)
async def test_bad_input_is_counted_and_survived(
    mongo_uri: str, db_name: str, server: ServerName
) -> None:
    settings = settings_for(mongo_uri, db_name, enable_realtime=False)
    async with service(settings, server=server) as svc:
        await _send_bad_input(svc)


async def _send_bad_input(svc: Service) -> None:
    call_sid = await svc.incoming_call()
    async with svc.peer(call_sid) as peer:
        await peer.send_connected()
        await peer.send_media()  # media before start
        await peer.send_start()
        await peer.send_raw("{not json")
        await peer.send_raw("[1, 2]")
        await peer.send_raw(json.dumps({"event": "transcription", "streamSid": peer.stream_sid}))
        await peer.send_raw(json.dumps({"event": "media", "streamSid": peer.stream_sid}))
        await peer.send_raw(b"\x00\x01binary")
        await peer.send_raw("x" * (70 * 1024))
        await peer.send_raw("x" * (900 * 1024))  # past the parser's cap, within the server's
        await peer.send_raw("[" * 30_000 + "]" * 30_000)  # deep enough to exhaust a parser
        await peer.send_raw(
            json.dumps(
                {
                    "event": "media",
                    "sequenceNumber": "9",
                    "streamSid": peer.stream_sid,
                    "media": {
                        "track": "inbound",
                        "chunk": "1",
                        "timestamp": "0",
                        "payload": "***not base64***",
                    },
                }
            )
        )
        await peer.send_media()
        await peer.send_stop()
        await peer.wait_closed()
    assert peer.close_code == 1000
    call = await ended_call(svc, call_sid)
    assert call.stream is not None
    assert call.stream.bad_input == {
        "before_start": 1,
        "malformed_json": 3,
        "unknown_event": 1,
        "missing_field": 1,
        "binary_frame": 1,
        "oversize_frame": 2,
        "bad_payload": 1,
    }
    assert call.stream.frames_in == 1


async def test_caller_hanging_up_without_stop_finalizes_once(svc: Service) -> None:
    call_sid = await svc.incoming_call()
    peer = svc.peer(call_sid)
    async with peer:
        await peer.begin()
        await peer.stream_audio(SILENCE * 3)
    call = await ended_call(svc, call_sid)
    assert call.ended_reason == "stream disconnected"
    assert call.stream is not None and call.stream.frames_in == 3


async def test_a_keypad_flood_is_capped(svc: Service) -> None:
    call_sid = await svc.incoming_call()
    async with svc.peer(call_sid) as peer:
        await peer.begin()
        for i in range(MAX_KEYPRESSES + 6):
            await peer.send_dtmf(str(i % 10))
        await peer.send_stop()
        await peer.wait_closed()
    call = await ended_call(svc, call_sid)
    assert len(call.dtmf) == MAX_KEYPRESSES  # the record does not grow past the cap
    assert call.stream is not None and call.stream.bad_input == {"too_many_keypresses": 6}
