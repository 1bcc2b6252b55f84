from __future__ import annotations

import asyncio
import contextlib
import re
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator

import pytest

from tests.support.telephony_fixtures import AUTH_TOKEN, PUBLIC, Service, service, settings_for
from tests.support.twilio_peer import sid, sign


@pytest.fixture
async def svc(mongo_uri: str, db_name: str) -> AsyncIterator[Service]:
    async with service(settings_for(mongo_uri, db_name)) as s:
        yield s


def voice_form(call_sid: str, **extra: str) -> dict[str, str]:
    return {
        "CallSid": call_sid,
        "AccountSid": "AC" + "1" * 32,
        "From": "+14155550123",
        "To": "+14155550100",
        "Direction": "inbound",
        "CallStatus": "ringing",
        **extra,
    }


async def test_voice_webhook_answers_with_a_media_stream(svc: Service) -> None:
    call_sid = sid("CA")
    response = await svc.post_twilio("/twilio/voice", voice_form(call_sid))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(response.text)
    assert root.tag == "Response"
    (connect,) = list(root)
    assert connect.tag == "Connect"
    (stream,) = list(connect)
    assert stream.tag == "Stream"
    # Each call gets its own stream URL (so its own signature), and no query string,
    # which Twilio's <Stream> does not support.
    url = stream.attrib["url"]
    assert re.fullmatch(r"wss://voice\.example\.test/twilio/media-stream/[0-9a-f]{32}", url), url
    assert url == "wss://voice.example.test" + svc.stream_path(call_sid)
    other = await svc.post_twilio("/twilio/voice", voice_form(sid("CA")))
    assert next(ET.fromstring(other.text).iter("Stream")).attrib["url"] != url
    assert stream.attrib["statusCallback"] == PUBLIC + "/twilio/stream-status"
    params = {p.attrib["name"]: p.attrib["value"] for p in stream.iter("Parameter")}
    assert params == {"call_id": call_sid, "template_id": "default"}

    call = await svc.store.calls.get(call_sid)
    assert call is not None
    assert call.direction == "inbound"
    assert call.from_masked == "+*******0123" and call.to_masked == "+*******0100"
    assert call.template_id == "default"
    assert "webhook_received" in call.timings


async def test_retried_webhook_keeps_one_call_document(svc: Service) -> None:
    call_sid = sid("CA")
    first = await svc.post_twilio("/twilio/voice", voice_form(call_sid))
    second = await svc.post_twilio("/twilio/voice", voice_form(call_sid))
    assert first.status_code == second.status_code == 200
    assert await svc.store.db["calls"].count_documents({"call_sid": call_sid}) == 1
    call = await svc.store.calls.get(call_sid)
    assert call is not None
    first_seen = call.timings["webhook_received"]
    assert first_seen <= call.updated_at


async def test_dialed_number_selects_its_template(svc: Service) -> None:
    from datetime import UTC, datetime

    await svc.store.templates.save("sales", {"role": "AE"}, datetime.now(UTC), ["+14155550199"])
    call_sid = sid("CA")
    response = await svc.post_twilio("/twilio/voice", voice_form(call_sid, To="+14155550199"))
    params = {
        p.attrib["name"]: p.attrib["value"] for p in ET.fromstring(response.text).iter("Parameter")
    }
    assert params["template_id"] == "sales"
    call = await svc.store.calls.get(call_sid)
    assert call is not None and call.template_id == "sales"


@pytest.mark.parametrize("signature", ["", "bm90IGEgc2lnbmF0dXJl"])
async def test_bad_or_missing_signature_is_403(svc: Service, signature: str) -> None:
    call_sid = sid("CA")
    response = await svc.post_twilio("/twilio/voice", voice_form(call_sid), signature=signature)
    assert response.status_code == 403
    assert "Signature" in response.text
    assert await svc.store.calls.get(call_sid) is None


async def test_tampered_parameters_fail_the_signature(svc: Service) -> None:
    form = voice_form(sid("CA"))
    good = sign(AUTH_TOKEN, PUBLIC + "/twilio/voice", form)
    response = await svc.post_twilio(
        "/twilio/voice", {**form, "To": "+19995550100"}, signature=good
    )
    assert response.status_code == 403


async def test_proxy_headers_rebuild_the_public_url(mongo_uri: str, db_name: str) -> None:
    settings = settings_for(mongo_uri, db_name, public_url=None)
    async with service(settings) as svc:
        call_sid = sid("CA")
        form = voice_form(call_sid)
        proxied = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "calls.example.org"}
        ok = await svc.post_twilio(
            "/twilio/voice",
            form,
            headers=proxied,
            signed_url="https://calls.example.org/twilio/voice",
        )
        assert ok.status_code == 200
        stream = next(ET.fromstring(ok.text).iter("Stream"))
        assert stream.attrib["url"] == "wss://calls.example.org" + svc.stream_path(call_sid)
        # Signed for the proxy's URL but sent without its headers: the URL differs.
        bare = await svc.post_twilio(
            "/twilio/voice", form, signed_url="https://calls.example.org/twilio/voice"
        )
        assert bare.status_code == 403


async def test_forwarded_headers_count_only_from_trusted_proxies(
    mongo_uri: str, db_name: str
) -> None:
    form = voice_form(sid("CA"))
    proxied = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "calls.example.org"}
    untrusted = settings_for(mongo_uri, db_name, public_url=None, forwarded_allow_ips=("10.9.9.9",))
    async with service(untrusted) as svc:
        # A signature for another app's URL, replayed with that app's forwarded headers.
        replayed = await svc.post_twilio(
            "/twilio/voice",
            form,
            headers=proxied,
            signed_url="https://calls.example.org/twilio/voice",
        )
        assert replayed.status_code == 403
        # Nor does the Host a client sends choose the URL: without PUBLIC_URL, only a
        # trusted proxy says where Twilio called.
        direct = await svc.post_twilio(
            "/twilio/voice", form, headers=proxied, signed_url=svc.base + "/twilio/voice"
        )
        assert direct.status_code == 403 and "FORWARDED_ALLOW_IPS" in direct.text
    trusted = settings_for(mongo_uri, db_name, public_url=None)  # 127.0.0.1 is trusted
    async with service(trusted) as svc:
        through_proxy = await svc.post_twilio(
            "/twilio/voice",
            form,
            headers=proxied,
            signed_url="https://calls.example.org/twilio/voice",
        )
        assert through_proxy.status_code == 200


async def test_unavailable_when_realtime_is_off(mongo_uri: str, db_name: str) -> None:
    settings = settings_for(mongo_uri, db_name, openai_api_key=None)
    async with service(settings) as svc:
        call_sid = sid("CA")
        response = await svc.post_twilio("/twilio/voice", voice_form(call_sid))
        root = ET.fromstring(response.text)
        assert [el.tag for el in root] == ["Say", "Hangup"]
        assert "not available" in (root[0].text or "")
        call = await svc.store.calls.get(call_sid)
        assert call is not None and call.unavailable_reason == "OPENAI_API_KEY is not set"


async def test_webhooks_refuse_when_no_auth_token(mongo_uri: str, db_name: str) -> None:
    async with service(settings_for(mongo_uri, db_name, twilio_auth_token=None)) as svc:
        response = await svc.post_twilio("/twilio/voice", voice_form(sid("CA")))
    assert response.status_code == 503 and "TWILIO_AUTH_TOKEN" in response.text


def status_form(call_sid: str, status: str, seq: int, **extra: str) -> dict[str, str]:
    return {
        "CallSid": call_sid,
        "AccountSid": "AC" + "1" * 32,
        "CallStatus": status,
        "SequenceNumber": str(seq),
        "Direction": "outbound-api",
        "From": "+14155550100",
        "To": "+14155550123",
        **extra,
    }


async def test_status_callbacks_out_of_order_and_duplicated(svc: Service) -> None:
    call_sid = sid("CA")
    sequence = [
        status_form(call_sid, "initiated", 0),
        status_form(call_sid, "completed", 3, CallDuration="61"),
        status_form(call_sid, "ringing", 1),  # late
        status_form(call_sid, "in-progress", 2),  # late
        status_form(call_sid, "completed", 3, CallDuration="61"),  # retried
    ]
    for form in sequence:
        response = await svc.post_twilio("/twilio/status", form)
        assert response.status_code == 204
    call = await svc.store.calls.get(call_sid)
    assert call is not None
    assert call.status == "completed"
    assert call.duration_s == 61
    assert call.direction == "outbound"
    history = [(e.status, e.sequence_number) for e in call.status_history]
    assert history == [("initiated", 0), ("completed", 3), ("ringing", 1), ("in-progress", 2)]


async def test_status_callback_validation(svc: Service) -> None:
    bad = await svc.post_twilio("/twilio/status", status_form(sid("CA"), "exploded", 0))
    assert bad.status_code == 400
    unsigned = await svc.post_twilio(
        "/twilio/status", status_form(sid("CA"), "ringing", 0), signature=""
    )
    assert unsigned.status_code == 403


async def test_stream_status_callbacks_are_recorded(svc: Service) -> None:
    call_sid = await svc.incoming_call()
    for event in ("stream-started", "stream-error", "stream-stopped"):
        form = {
            "AccountSid": "AC" + "1" * 32,
            "CallSid": call_sid,
            "StreamSid": sid("MZ"),
            "StreamEvent": event,
            "Timestamp": "2026-11-23T09:00:00Z",
        }
        if event == "stream-error":
            form["StreamError"] = "31920 handshake failed for +14155550123"
        response = await svc.post_twilio("/twilio/stream-status", form)
        assert response.status_code == 204
    call = await svc.store.calls.get(call_sid)
    assert call is not None
    events = call.stream_events
    assert [e.event for e in events] == ["stream-started", "stream-error", "stream-stopped"]
    assert events[1].error == "31920 handshake failed for +*******0123"  # stored masked


async def test_webhook_starts_opening_the_model_session(mongo_uri: str, db_name: str) -> None:
    from typing import Any

    from evaluation.templates import Template
    from service.services import Services

    opened: list[tuple[str, str]] = []
    greeted: list[str] = []

    class Connection:
        """Stands in for the Realtime connection the opener would return."""

        def __init__(self, call_sid: str) -> None:
            self.call_sid = call_sid

        async def request_greeting(self) -> None:
            greeted.append(self.call_sid)

        async def close(self) -> None:
            pass

    async def opener(call_sid: str, template: Template) -> Any:
        opened.append((call_sid, template.template_id))
        return Connection(call_sid)

    settings = settings_for(mongo_uri, db_name)
    services = Services(settings, model_opener=opener)
    await services.start()
    try:
        async with service(settings, services) as svc:
            call_sid = await svc.incoming_call()
            assert call_sid in services.interviews.pending
            assert await services.interviews.pending.take(call_sid, 1.0) is not None
    finally:
        await services.stop()
    assert opened == [(call_sid, "default")]
    assert greeted == [call_sid]  # the greeting is asked for before the stream exists


async def test_public_url_with_a_path_prefix(mongo_uri: str, db_name: str) -> None:
    prefix = PUBLIC + "/interviews"
    async with service(settings_for(mongo_uri, db_name, public_url=prefix)) as svc:
        call_sid = sid("CA")
        response = await svc.post_twilio(
            "/twilio/voice", voice_form(call_sid), signed_url=prefix + "/twilio/voice"
        )
    assert response.status_code == 200
    stream = next(ET.fromstring(response.text).iter("Stream"))
    assert stream.attrib["url"] == "wss://voice.example.test/interviews" + svc.stream_path(call_sid)
    assert stream.attrib["statusCallback"] == prefix + "/twilio/stream-status"


async def test_full_worker_answers_busy_without_a_stream(
    mongo_uri: str, db_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with service(settings_for(mongo_uri, db_name, max_calls_per_worker=2)) as svc:
        services = svc.services
        services.admission.stream_opened()
        services.admission.stream_opened()

        for direction in ("inbound", "outbound-api"):
            call_sid = sid("CA")
            response = await svc.post_twilio(
                "/twilio/voice", voice_form(call_sid, Direction=direction)
            )
            assert response.status_code == 200
            root = ET.fromstring(response.text)
            assert [el.tag for el in root] == ["Say", "Hangup"]
            assert "busy" in (root[0].text or "")
            assert not list(root.iter("Stream"))
            call = await svc.store.calls.get(call_sid)
            assert call is not None
            assert call.unavailable_reason == "busy: 2 calls in progress on this worker"
            assert call_sid not in services.interviews.pending
        assert len(services.interviews.pending) == 0  # nothing was pre-connected

        refusals = [r for r in caplog.records if "at capacity" in r.getMessage()]
        assert len(refusals) == 2 and refusals[0].levelname == "WARNING"
        assert getattr(refusals[0], "call_sid", None) is not None
        assert all("5550123" not in r.getMessage() for r in caplog.records)

        services.admission.stream_closed()
        admitted = sid("CA")
        response = await svc.post_twilio("/twilio/voice", voice_form(admitted))
        assert len(list(ET.fromstring(response.text).iter("Stream"))) == 1
        assert admitted in services.interviews.pending
        call = await svc.store.calls.get(admitted)
        assert call is not None and call.unavailable_reason is None


async def test_answered_calls_still_connecting_hold_their_slots(
    mongo_uri: str, db_name: str
) -> None:
    async with service(settings_for(mongo_uri, db_name, max_calls_per_worker=2)) as svc:
        services = svc.services
        services.admission.stream_opened()
        first = await svc.incoming_call()  # answered; its stream has not arrived yet
        assert first in services.interviews.pending

        refused = sid("CA")
        response = await svc.post_twilio("/twilio/voice", voice_form(refused))
        assert not list(ET.fromstring(response.text).iter("Stream"))
        call = await svc.store.calls.get(refused)
        assert call is not None
        assert call.unavailable_reason == (
            "busy: 1 calls in progress on this worker, 1 more answered and connecting"
        )

        # Twilio retrying the first call's webhook finds its slot still held for it.
        retried = await svc.post_twilio("/twilio/voice", voice_form(first))
        assert len(list(ET.fromstring(retried.text).iter("Stream"))) == 1


async def test_no_cap_when_max_calls_is_zero(mongo_uri: str, db_name: str) -> None:
    async with service(settings_for(mongo_uri, db_name, max_calls_per_worker=0)) as svc:
        for _ in range(50):
            svc.services.admission.stream_opened()
        response = await svc.post_twilio("/twilio/voice", voice_form(sid("CA")))
    assert len(list(ET.fromstring(response.text).iter("Stream"))) == 1


async def test_a_signature_re_split_into_new_parameters_is_refused(svc: Service) -> None:
    """Twilio signs names and values joined with no separator: `CallSid=X, CallStatus=
    ringing` and `CallSid=XCallStatusringing` carry the same signature."""
    call_sid = sid("CA")
    genuine = voice_form(call_sid)
    signature = sign(AUTH_TOKEN, PUBLIC + "/twilio/voice", genuine)
    forged = {k: v for k, v in genuine.items() if k != "CallStatus"}
    forged["CallSid"] = call_sid + "CallStatusringing"
    assert sign(AUTH_TOKEN, PUBLIC + "/twilio/voice", forged) == signature
    response = await svc.post_twilio("/twilio/voice", forged, signature=signature)
    assert response.status_code == 400 and "CallSid" in response.text
    assert await svc.store.calls.get(forged["CallSid"]) is None
    assert len(svc.services.interviews.pending) == 0  # no model session was opened
    # The genuine request, with the same signature, is answered.
    assert (await svc.post_twilio("/twilio/voice", genuine, signature=signature)).status_code == 200


@pytest.mark.parametrize(
    ("path", "field", "value"),
    [
        ("/twilio/voice", "CallSid", "CA123"),
        ("/twilio/voice", "AccountSid", "ACnot-hex"),
        ("/twilio/voice", "Direction", "sideways"),
        ("/twilio/voice", "CallStatus", "dancing"),
        ("/twilio/voice", "From", "+1415CallStatusringing"),
        ("/twilio/voice", "To", "not a number"),
        ("/twilio/status", "CallStatus", ""),
        ("/twilio/stream-status", "StreamSid", "MZ1"),
    ],
)
async def test_parameters_not_in_twilio_shapes_are_refused(
    svc: Service, path: str, field: str, value: str
) -> None:
    call_sid = sid("CA")
    form = status_form(call_sid, "ringing", 0) if path != "/twilio/voice" else voice_form(call_sid)
    if path == "/twilio/stream-status":
        form.update(StreamSid=sid("MZ"), StreamEvent="stream-started")
    if path != "/twilio/voice":  # an existing call, which a refused callback leaves alone
        assert (await svc.post_twilio("/twilio/voice", voice_form(call_sid))).status_code == 200
    before = await svc.store.calls.get(call_sid)
    form[field] = value
    response = await svc.post_twilio(path, form)
    assert response.status_code == 400, response.text
    assert field in response.text
    assert await svc.store.calls.get(call_sid) == before


async def test_special_callers_are_accepted(svc: Service) -> None:
    for caller in ("anonymous", "Restricted", "client:alice", "sip:bob@example.test"):
        response = await svc.post_twilio("/twilio/voice", voice_form(sid("CA"), From=caller))
        assert response.status_code == 200, (caller, response.text)


async def test_another_twilio_account_is_refused(mongo_uri: str, db_name: str) -> None:
    ours = "AC" + "2" * 32
    async with service(settings_for(mongo_uri, db_name, twilio_account_sid=ours)) as svc:
        foreign = await svc.post_twilio("/twilio/voice", voice_form(sid("CA")))
        assert foreign.status_code == 400 and "account" in foreign.text
        own = await svc.post_twilio("/twilio/voice", voice_form(sid("CA"), AccountSid=ours))
        assert own.status_code == 200


async def _raw_post(svc: Service, head: str, body_chunks: list[bytes]) -> bytes:
    """An HTTP/1.1 request over a bare socket: the response's status line, read as soon as
    the server answers, while the client may still have body left to send."""
    port = int(svc.base.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head.encode())
        for chunk in body_chunks:
            writer.write(chunk)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        return await asyncio.wait_for(reader.readline(), 10)
    finally:
        writer.close()


async def test_oversized_webhook_bodies_are_413_before_they_are_read(svc: Service) -> None:
    declared = (
        "POST /twilio/voice HTTP/1.1\r\nHost: voice.example.test\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        "X-Twilio-Signature: c2lnbmF0dXJl\r\nContent-Length: 15000000\r\n\r\n"
    )
    # Refused on the header alone: not one byte of the 15 MB is sent.
    assert (await _raw_post(svc, declared, [])).startswith(b"HTTP/1.1 413")
    chunked = declared.replace("Content-Length: 15000000", "Transfer-Encoding: chunked")
    chunks = [b"%x\r\n%s\r\n" % (8192, b"x" * 8192) for _ in range(12)]
    assert (await _raw_post(svc, chunked, chunks)).startswith(b"HTTP/1.1 413")
