"""The Realtime peer must be as strict and as lifelike as the GA API, or bridge tests prove nothing.

Every test drives it with a bare `websockets` client, so nothing here depends on the bridge.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import time
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedError, InvalidStatus

from tests.support.openai import (
    ULAW_DECODE,
    CallTool,
    RealtimePeer,
    Say,
    Script,
    decode_samples,
    ulaw_encode,
)
from tests.support.waiting import eventually

Json = dict[str, Any]
KEY = "sk-test"


def pcm_tone(ms: int, amplitude: float = 6000.0, hz: float = 300.0) -> bytes:
    t = np.arange(ms * 24) / 24000
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype("<i2").tobytes()


def pcm_silence(ms: int) -> bytes:
    return b"\x00\x00" * (ms * 24)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def rms(samples: np.ndarray[Any, Any]) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))


class Client:
    """A bare Realtime client: sends JSON, keeps every server event it reads."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.events: list[Json] = []

    async def send(self, **event: Any) -> None:
        await self.ws.send(json.dumps(event))

    async def next(self, timeout: float = 5.0) -> Json:
        event: Json = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        self.events.append(event)
        return event

    async def until(self, kind: str, timeout: float = 10.0) -> Json:
        deadline = time.monotonic() + timeout
        while True:
            event = await self.next(max(0.01, deadline - time.monotonic()))
            if event["type"] == kind:
                return event

    def types(self) -> list[str]:
        return [e["type"] for e in self.events]


async def open_client(
    peer: RealtimePeer, *, headers: dict[str, str] | None = None, model: str = "gpt-realtime-2.1"
) -> Client:
    ws = await connect(
        f"{peer.url}?model={model}",
        additional_headers={"Authorization": f"Bearer {KEY}"} if headers is None else headers,
        max_size=2**24,
    )
    client = Client(ws)
    assert (await client.next())["type"] == "session.created"
    return client


@pytest.fixture(params=["gpt-realtime-2.1"])
async def peer(request: pytest.FixtureRequest) -> AsyncIterator[RealtimePeer]:
    """The default model; a test that bills exact token counts asks for one that does not
    reason (`@pytest.mark.parametrize("peer", [...], indirect=True)`)."""
    async with RealtimePeer(realtime_factor=50.0, model=request.param) as p:
        yield p


@pytest.fixture
async def client(peer: RealtimePeer) -> AsyncIterator[Client]:
    c = await open_client(peer, model=peer.model)
    try:
        yield c
    finally:
        await c.ws.close()


async def manual_turns(client: Client) -> None:
    await client.send(
        type="session.update",
        session={"type": "realtime", "audio": {"input": {"turn_detection": None}}},
    )
    await client.until("session.updated")


# -- handshake ---------------------------------------------------------------------------------


async def test_handshake_with_key_gets_ga_session_created(peer: RealtimePeer) -> None:
    ws = await connect(
        f"{peer.url}?model=gpt-realtime-2.1", additional_headers={"Authorization": "Bearer sk-test"}
    )
    first = json.loads(await ws.recv())
    await ws.close()
    assert first["type"] == "session.created"
    assert first["event_id"].startswith("event_")
    session = first["session"]
    assert session["type"] == "realtime" and session["model"] == "gpt-realtime-2.1"
    assert session["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
    assert session["audio"]["input"]["turn_detection"]["type"] == "server_vad"
    assert "modalities" not in session and "input_audio_format" not in session
    assert peer.errors == []
    assert len(peer.connections) == 1


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/v1/realtime?model=gpt-realtime-2.1", {}, 401),
        ("/v1/realtime?model=gpt-realtime-2.1", {"Authorization": "Bearer sk-wrong"}, 401),
        ("/v1/realtime?model=gpt-4o-realtime-preview", {"Authorization": "Bearer sk-test"}, 400),
        ("/v1/realtime", {"Authorization": "Bearer sk-test"}, 400),
        ("/v1/chat?model=gpt-realtime-2.1", {"Authorization": "Bearer sk-test"}, 404),
        (
            "/v1/realtime?model=gpt-realtime-2.1",
            {"Authorization": "Bearer sk-test", "OpenAI-Beta": "realtime=v1"},
            400,
        ),
    ],
)
async def test_bad_handshakes_are_rejected_and_recorded(
    peer: RealtimePeer, path: str, headers: dict[str, str], status: int
) -> None:
    base = peer.url.removesuffix("/v1/realtime")
    with pytest.raises(InvalidStatus) as caught:
        await connect(base + path, additional_headers=headers)
    assert caught.value.response.status_code == status
    assert len(peer.errors) == 1 and peer.errors[0].startswith(f"handshake {status}")
    assert peer.connections == []


async def test_refused_connections_get_503_without_blaming_the_client(peer: RealtimePeer) -> None:
    peer.refuse_connections = True
    with pytest.raises(InvalidStatus) as caught:
        await open_client(peer)
    assert caught.value.response.status_code == 503
    assert peer.errors == [] and len(peer.notes) == 1
    peer.refuse_connections = False
    client = await open_client(peer)
    await client.ws.close()
    assert len(peer.connections) == 1


# -- strict client events ----------------------------------------------------------------------


async def test_beta_and_malformed_events_get_error_events(
    peer: RealtimePeer, client: Client
) -> None:
    await client.send(type="transcription_session.update", event_id="evt_1", session={})
    err = await client.until("error")
    assert err["error"]["type"] == "invalid_request_error"
    assert err["error"]["code"] == "invalid_value"
    assert err["error"]["event_id"] == "evt_1"
    await client.send(type="response.create", response={"modalities": ["audio"]})
    assert (await client.until("error"))["error"]["param"] == "response.modalities"
    await client.send(type="input_audio_buffer.commit", audio="AAAA")
    assert (await client.until("error"))["error"]["code"] == "unknown_parameter"
    await client.send(type="conversation.item.truncate", item_id="x")
    assert (await client.until("error"))["error"]["code"] == "missing_required_parameter"
    await client.ws.send(b"\x00\x01")
    assert (await client.until("error"))["error"]["code"] == "invalid_json"
    await client.ws.send("{not json")
    assert (await client.until("error"))["error"]["code"] == "invalid_json"
    await client.send(type="output_audio_buffer.clear")
    await client.until("error")
    assert len(peer.errors) == 7
    assert peer.connections[0].received[0]["type"] == "transcription_session.update"


async def test_beta_session_fields_are_rejected_and_the_session_kept(
    peer: RealtimePeer, client: Client
) -> None:
    beta = {
        "modalities": ["audio", "text"],
        "voice": "alloy",
        "input_audio_format": "pcm16",
        "output_audio_format": "g711_ulaw",
        "turn_detection": {"type": "server_vad"},
        "input_audio_transcription": {"model": "whisper-1"},
        "temperature": 0.8,
    }
    for key, value in beta.items():
        await client.send(type="session.update", session={"type": "realtime", key: value})
        err = await client.until("error")
        assert err["error"]["code"] == "unknown_parameter"
        assert err["error"]["param"] == f"session.{key}"
    await client.send(type="session.update", session={"instructions": "hi"})
    assert (await client.until("error"))["error"]["param"] == "session.type"
    bad_audio = [
        {"input": {"format": "pcm16"}},
        {"input": {"format": {"type": "audio/pcm", "rate": 16000}}},
        {"input": {"turn_detection": {"type": "server_vad", "eagerness": "low"}}},
        {"input": {"noise_reduction": {"type": "studio"}}},
        {"output": {"voice": "nova"}},
        {"output": {"speed": 3}},
    ]
    for audio in bad_audio:
        await client.send(type="session.update", session={"type": "realtime", "audio": audio})
        assert (await client.until("error"))["type"] == "error"
    assert len(peer.errors) == len(beta) + 1 + len(bad_audio)
    assert peer.connections[0].session["instructions"] != "hi"
    assert "session.updated" not in client.types()


async def test_valid_ga_session_update_is_merged_and_echoed(
    peer: RealtimePeer, client: Client
) -> None:
    tool = {
        "type": "function",
        "name": "record_answer",
        "description": "Store the answer",
        "parameters": {"type": "object", "properties": {"score": {"type": "integer"}}},
    }
    await client.send(
        type="session.update",
        event_id="evt_cfg",
        session={
            "type": "realtime",
            "model": "gpt-realtime-2.1",
            "instructions": "You interview candidates.",
            "output_modalities": ["audio"],
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": 24000},
                    "transcription": {"model": "gpt-4o-mini-transcribe", "language": "en"},
                    "noise_reduction": {"type": "near_field"},
                    "turn_detection": {"type": "server_vad", "silence_duration_ms": 700},
                },
                "output": {"format": {"type": "audio/pcm"}, "voice": "cedar", "speed": 1.1},
            },
            "tools": [tool],
            "tool_choice": "auto",
            "max_output_tokens": 4096,
            "tracing": None,
            "truncation": "auto",
        },
    )
    updated = (await client.until("session.updated"))["session"]
    assert updated["instructions"] == "You interview candidates."
    assert updated["audio"]["input"]["turn_detection"] == {
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 700,
        "idle_timeout_ms": None,
        "create_response": True,
        "interrupt_response": True,
    }
    assert updated["audio"]["output"] == {
        "format": {"type": "audio/pcm", "rate": 24000},
        "voice": "cedar",
        "speed": 1.1,
    }
    assert updated["tools"] == [tool]
    await client.send(
        type="session.update",
        session={"type": "realtime", "audio": {"input": {"turn_detection": None}}},
    )
    again = (await client.until("session.updated"))["session"]
    assert again["audio"]["input"]["turn_detection"] is None
    assert again["audio"]["output"]["voice"] == "cedar"
    assert peer.errors == []


async def test_format_other_than_the_calls_is_recorded() -> None:
    async with RealtimePeer(audio_format="pcmu") as peer:
        client = await open_client(peer)
        await client.send(
            type="session.update",
            session={
                "type": "realtime",
                "audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000}}},
            },
        )
        await client.until("session.updated")
        await client.ws.close()
    assert len(peer.errors) == 1 and "audio.input.format" in peer.errors[0]


async def test_voice_is_fixed_after_the_first_audio(peer: RealtimePeer, client: Client) -> None:
    await manual_turns(client)
    await client.send(
        type="session.update", session={"type": "realtime", "audio": {"output": {"voice": "ash"}}}
    )
    await client.until("session.updated")
    await client.send(type="response.create")
    await client.until("response.done")
    await client.send(
        type="session.update", session={"type": "realtime", "audio": {"output": {"voice": "sage"}}}
    )
    assert (await client.until("error"))["error"]["code"] == "cannot_update_voice"
    assert len(peer.errors) == 1


# -- responses ---------------------------------------------------------------------------------


def collapse(types: list[str]) -> list[str]:
    out: list[str] = []
    for t in types:
        if t in ("response.output_audio.delta", "response.output_audio_transcript.delta"):
            t = "deltas"
        if not out or out[-1] != t:
            out.append(t)
    return out


async def test_say_follows_the_ga_event_order_with_audio_of_the_scripted_length(
    peer: RealtimePeer, client: Client
) -> None:
    peer.script = Script(responses=[Say("Tell me about yourself.", audio_ms=1530)])
    await manual_turns(client)
    client.events.clear()
    await client.send(type="response.create")
    await client.until("rate_limits.updated")
    assert collapse(client.types()) == [
        "response.created",
        "response.output_item.added",
        "conversation.item.added",
        "response.content_part.added",
        "deltas",
        "response.output_audio.done",
        "response.output_audio_transcript.done",
        "response.content_part.done",
        "response.output_item.done",
        "conversation.item.done",
        "response.done",
        "rate_limits.updated",
    ]
    ids = [e["event_id"] for e in client.events]
    assert len(set(ids)) == len(ids)
    created = client.events[0]["response"]
    assert created["status"] == "in_progress" and created["object"] == "realtime.response"
    resp_id = created["id"]
    audio = [e for e in client.events if e["type"] == "response.output_audio.delta"]
    pcm = b"".join(base64.b64decode(e["delta"]) for e in audio)
    assert len(pcm) == 1530 * 48
    sizes = {len(base64.b64decode(e["delta"])) // 48 for e in audio}
    assert len(sizes) > 3 and min(sizes) >= 10 and max(sizes) <= 200
    item_id = audio[0]["item_id"]
    assert all(
        e["response_id"] == resp_id and e["item_id"] == item_id and e["output_index"] == 0
        for e in audio
    )
    samples = np.frombuffer(pcm, dtype="<i2")
    assert rms(samples) > 3000
    words = [e["delta"] for e in client.events if e["type"].endswith("transcript.delta")]
    assert "".join(words) == "Tell me about yourself."
    done = client.events[-2]["response"]
    assert done["status"] == "completed" and done["status_details"] is None
    assert done["output"][0]["content"] == [
        {"type": "output_audio", "transcript": "Tell me about yourself."}
    ]
    limits = client.events[-1]["rate_limits"]
    assert {r["name"] for r in limits} == {"requests", "tokens"}
    assert peer.connections[0].output_audio[item_id] == pcm
    assert peer.errors == []


async def test_audio_is_paced_at_the_realtime_factor() -> None:
    async with RealtimePeer(realtime_factor=4.0, script=Script([Say("x", audio_ms=2000)])) as peer:
        client = await open_client(peer)
        await manual_turns(client)
        await client.send(type="response.create")
        start = time.monotonic()
        await client.until("response.done")
        elapsed = time.monotonic() - start
        await client.ws.close()
    assert 0.4 <= elapsed <= 1.0


async def test_pcmu_call_gets_mulaw_audio() -> None:
    script = Script([Say("Hello.", audio_ms=500)])
    async with RealtimePeer(audio_format="pcmu", realtime_factor=50, script=script) as peer:
        client = await open_client(peer)
        pcmu = {"type": "audio/pcmu"}
        await client.send(
            type="session.update",
            session={
                "type": "realtime",
                "audio": {
                    "input": {"format": pcmu, "turn_detection": None},
                    "output": {"format": pcmu},
                },
            },
        )
        await client.until("session.updated")
        await client.send(type="response.create")
        await client.until("response.done")
        await client.ws.close()
    audio = b"".join(
        base64.b64decode(e["delta"])
        for e in client.events
        if e["type"] == "response.output_audio.delta"
    )
    assert len(audio) == 500 * 8
    assert rms(decode_samples(audio, "audio/pcmu")) > 3000
    assert peer.errors == []


def test_mulaw_round_trip_matches_g711() -> None:
    samples = np.array([0, 1, -1, 100, -100, 1000, -8000, 32124, -32124, 32767], dtype=np.int16)
    decoded = ULAW_DECODE[np.frombuffer(ulaw_encode(samples), dtype=np.uint8)]
    assert ulaw_encode(np.array([0], dtype=np.int16)) == b"\xff"
    assert np.all(np.abs(decoded.astype(int) - samples.clip(-32124, 32124)) <= 1024)
    assert ULAW_DECODE.max() == 32124 and ULAW_DECODE.min() == -32124


async def test_script_runs_out_into_a_short_okay(peer: RealtimePeer, client: Client) -> None:
    await manual_turns(client)
    await client.send(type="response.create")
    done = (await client.until("response.done"))["response"]
    assert done["output"][0]["content"][0]["transcript"] == "Okay."


async def test_second_response_create_while_active_is_an_error() -> None:
    async with RealtimePeer(realtime_factor=4, script=Script([Say("x", audio_ms=2000)])) as peer:
        client = await open_client(peer)
        await manual_turns(client)
        await client.send(type="response.create")
        await client.until("response.created")
        await client.send(type="response.create")
        err = await client.until("error")
        await client.ws.close()
    assert err["error"]["code"] == "conversation_already_has_active_response"
    assert len(peer.errors) == 1


async def test_response_cancel_stops_deltas_and_bills_what_was_made() -> None:
    async with RealtimePeer(
        realtime_factor=4, script=Script([Say("y" * 50, audio_ms=3000)])
    ) as peer:
        client = await open_client(peer)
        await manual_turns(client)
        await client.send(type="response.create")
        for _ in range(3):
            await client.until("response.output_audio.delta")
        await client.send(type="response.cancel")
        done = await client.until("response.done")
        await client.send(type="response.cancel")
        late = await client.until("error")
        await client.ws.close()
    conn = peer.connections[0]
    generated = sum(e["delta_bytes"] for e in conn.events("response.output_audio.delta"))
    cut = conn.responses[0].cancelled_at_event
    assert cut is not None
    after = [e["type"] for e in conn.sent[cut:]]
    assert "response.output_audio.delta" not in after
    end = after.index("response.done") + 1
    assert after[end - 4 : end] == [
        "response.content_part.done",
        "response.output_item.done",
        "conversation.item.done",
        "response.done",
    ]
    response = done["response"]
    assert response["status"] == "cancelled"
    assert response["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}
    assert response["output"][0]["status"] == "incomplete"
    audio_ms = generated / 48
    assert audio_ms < 3000
    assert response["usage"]["output_token_details"]["audio_tokens"] == math.ceil(audio_ms / 50)
    assert late["error"]["code"] == "response_cancel_not_active"
    assert peer.errors == [] and any("response_cancel_not_active" in n for n in peer.notes)


async def test_call_tool_and_function_call_output(peer: RealtimePeer, client: Client) -> None:
    peer.script = Script([[Say("One moment.", audio_ms=200), CallTool("score", '{"s": 4')]])
    await manual_turns(client)
    await client.send(type="response.create")
    args_done = await client.until("response.function_call_arguments.done")
    done = (await client.until("response.done"))["response"]
    assert args_done["arguments"] == '{"s": 4' and args_done["name"] == "score"
    assert args_done["output_index"] == 1
    assert [o["type"] for o in done["output"]] == ["message", "function_call"]
    assert done["output"][1]["call_id"] == args_done["call_id"]
    deltas = [e["delta"] for e in client.events if e["type"].endswith("arguments.delta")]
    assert "".join(deltas) == '{"s": 4'
    bad = {"type": "function_call_output", "call_id": "call_nope", "output": "{}"}
    await client.send(type="conversation.item.create", item=bad)
    assert (await client.until("error"))["error"]["param"] == "item.call_id"
    good = {"type": "function_call_output", "call_id": args_done["call_id"], "output": '{"ok":1}'}
    await client.send(type="conversation.item.create", item=good)
    added = await client.until("conversation.item.added")
    await client.until("conversation.item.done")
    assert added["item"]["call_id"] == args_done["call_id"]
    assert added["previous_item_id"] == done["output"][1]["id"]
    assert len(peer.errors) == 1


async def test_item_create_checks_ga_shapes(peer: RealtimePeer, client: Client) -> None:
    beta_assistant = {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "text", "text": "hi"}],
    }
    await client.send(type="conversation.item.create", item=beta_assistant)
    assert (await client.until("error"))["error"]["param"] == "item.content[0].type"
    for item in (
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
        {"type": "message", "role": "system", "content": [{"type": "input_text", "text": "x"}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "y"}]},
    ):
        await client.send(type="conversation.item.create", item=item)
        done = await client.until("conversation.item.done")
        assert done["item"]["id"].startswith("item_")
    assert len(peer.errors) == 1
    assert [i["role"] for i in peer.connections[0].items] == ["user", "system", "assistant"]


async def test_truncate_within_generated_audio_only(peer: RealtimePeer, client: Client) -> None:
    peer.script = Script([Say("abcdefghij", audio_ms=1000)])
    await manual_turns(client)
    await client.send(
        type="conversation.item.create",
        item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "q"}]},
    )
    user_id = (await client.until("conversation.item.done"))["item"]["id"]
    await client.send(type="response.create")
    item_id = (await client.until("response.done"))["response"]["output"][0]["id"]
    await client.send(
        type="conversation.item.truncate", item_id=item_id, content_index=0, audio_end_ms=1001
    )
    assert "exceeds" in (await client.until("error"))["error"]["message"]
    await client.send(
        type="conversation.item.truncate", item_id=user_id, content_index=0, audio_end_ms=0
    )
    await client.until("error")
    await client.send(
        type="conversation.item.truncate", item_id=item_id, content_index=0, audio_end_ms=400
    )
    truncated = await client.until("conversation.item.truncated")
    assert truncated["audio_end_ms"] == 400 and truncated["item_id"] == item_id
    conn = peer.connections[0]
    assert [(t[0], t[1]) for t in conn.truncations] == [(item_id, 400)]
    assert conn.item(item_id)["content"][0]["transcript"] == "abcd"  # type: ignore[index]
    await client.send(
        type="conversation.item.truncate", item_id=item_id, content_index=0, audio_end_ms=500
    )
    await client.until("error")
    assert len(peer.errors) == 3


async def test_commit_needs_100_ms_and_append_needs_whole_samples(
    peer: RealtimePeer, client: Client
) -> None:
    await manual_turns(client)
    await client.send(type="input_audio_buffer.append", audio=b64(pcm_silence(50)))
    await client.send(type="input_audio_buffer.commit")
    assert (await client.until("error"))["error"]["code"] == "input_audio_buffer_commit_empty"
    await client.send(type="input_audio_buffer.append", audio=b64(b"\x00\x01\x02"))
    await client.until("error")
    await client.send(type="input_audio_buffer.append", audio="@@@")
    await client.until("error")
    await client.send(type="input_audio_buffer.append", audio=b64(pcm_silence(100)))
    await client.send(type="input_audio_buffer.commit")
    committed = await client.until("input_audio_buffer.committed")
    assert committed["previous_item_id"] is None
    await eventually(
        lambda: peer.connections[0].input_audio_ms == 150,
        timeout=10,
        what="150 ms of input audio",
        on=peer.changed,
    )
    assert peer.connections[0].item_info[committed["item_id"]].audio_ms == 150
    assert len(peer.errors) == 3


# -- VAD, barge-in and transcription -----------------------------------------------------------


async def stream(client: Client, audio: bytes, chunk_ms: int = 20) -> None:
    step = chunk_ms * 48
    for i in range(0, len(audio), step):
        await client.send(type="input_audio_buffer.append", audio=b64(audio[i : i + step]))


async def test_vad_commits_the_turn_and_responds_and_transcribes_later() -> None:
    script = Script(
        responses=[Say("Thanks.", audio_ms=300)],
        caller_transcripts=["I have ten years of experience."],
        transcript_delay_ms=600,
    )
    async with RealtimePeer(realtime_factor=50, script=script) as peer:
        client = await open_client(peer)
        await client.send(
            type="session.update",
            session={
                "type": "realtime",
                "audio": {"input": {"transcription": {"model": "whisper-1"}}},
            },
        )
        await client.until("session.updated")
        client.events.clear()
        await stream(client, pcm_silence(500) + pcm_tone(1000) + pcm_silence(1000))
        started = await client.until("input_audio_buffer.speech_started")
        stopped = await client.until("input_audio_buffer.speech_stopped")
        committed = await client.until("input_audio_buffer.committed")
        added = await client.until("conversation.item.added")
        await client.until("response.done")
        completed = await client.until(
            "conversation.item.input_audio_transcription.completed", timeout=3
        )
        await client.ws.close()
    assert started["audio_start_ms"] == 200  # speech at 500 ms minus 300 ms prefix padding
    assert stopped["audio_end_ms"] == 1500
    assert started["item_id"] == stopped["item_id"] == committed["item_id"]
    assert added["item"]["role"] == "user"
    assert added["item"]["content"] == [{"type": "input_audio", "transcript": None}]
    types = client.types()
    assert types.index("response.created") > types.index("conversation.item.done")
    assert types.index("response.done") < types.index(
        "conversation.item.input_audio_transcription.delta"
    )
    assert completed["transcript"] == "I have ten years of experience."
    assert completed["item_id"] == committed["item_id"]
    assert completed["usage"] == {"type": "duration", "seconds": 1.3}
    assert peer.connections[0].input_audio_ms == 2500
    assert peer.errors == []


async def test_semantic_vad_on_mulaw_waits_by_eagerness() -> None:
    async with RealtimePeer(audio_format="pcmu", realtime_factor=50) as peer:
        client = await open_client(peer)
        pcmu = {"type": "audio/pcmu"}
        await client.send(
            type="session.update",
            session={
                "type": "realtime",
                "audio": {
                    "input": {
                        "format": pcmu,
                        "turn_detection": {"type": "semantic_vad", "eagerness": "high"},
                    },
                    "output": {"format": pcmu},
                },
            },
        )
        await client.until("session.updated")
        t = np.arange(8000) / 8000
        speech = ulaw_encode((6000 * np.sin(2 * np.pi * 300 * t)).astype(np.int16))
        await client.send(type="input_audio_buffer.append", audio=b64(speech))
        await client.send(type="input_audio_buffer.append", audio=b64(b"\xff" * 8 * 450))
        await client.until("input_audio_buffer.speech_started")
        # Turn detection runs as each append is handled: once both are, 450 ms of silence
        # has been judged, and it was not enough for a turn to end.
        conn = peer.connections[0]
        await eventually(
            lambda: (
                len(conn.client_events("input_audio_buffer.append")) == 2
                and conn.frames_handled == len(conn.received)
            ),
            timeout=10,
            what="both appends handled",
            on=peer.changed,
        )
        assert not conn.events("input_audio_buffer.speech_stopped")
        assert "input_audio_buffer.speech_stopped" not in client.types()
        await client.send(type="input_audio_buffer.append", audio=b64(b"\xff" * 8 * 60))
        stopped = await client.until("input_audio_buffer.speech_stopped")
        await client.until("response.done")
        await client.ws.close()
    assert stopped["audio_end_ms"] == 1000
    assert peer.errors == []


async def test_barge_in_cancels_the_response_on_the_server() -> None:
    script = Script([Say("A long question " * 5, audio_ms=4000), Say("Sure.", audio_ms=200)])
    async with RealtimePeer(realtime_factor=4, script=script) as peer:
        client = await open_client(peer)
        await client.send(type="response.create")
        for _ in range(3):
            await client.until("response.output_audio.delta")
        await stream(client, pcm_tone(600) + pcm_silence(700))
        await client.until("input_audio_buffer.speech_started")
        at_barge_in = len(client.events)
        first_done = await client.until("response.done")
        second_done = await client.until("response.done")
        await client.ws.close()
    between = client.events[at_barge_in:]
    cut = between.index(first_done)
    assert "response.output_audio.delta" not in [e["type"] for e in between[:cut]]
    assert first_done["response"]["status"] == "cancelled"
    assert first_done["response"]["status_details"]["reason"] == "turn_detected"
    assert second_done["response"]["status"] == "completed"
    assert peer.errors == []


# -- usage -------------------------------------------------------------------------------------


@pytest.mark.parametrize("peer", ["gpt-realtime-1.5"], indirect=True)
async def test_usage_rebills_the_conversation_with_a_cached_prefix(
    peer: RealtimePeer, client: Client
) -> None:
    instructions = "i" * 400  # 100 tokens
    tool = {"type": "function", "name": "f", "parameters": {"type": "object"}}
    schema_tokens = math.ceil(len(json.dumps([tool], sort_keys=True, separators=(",", ":"))) / 4)
    prompt = 100 + schema_tokens
    peer.script = Script([Say("Hello there", audio_ms=1000), Say("Ok", audio_ms=500), Say("z")])
    await client.send(
        type="session.update",
        session={
            "type": "realtime",
            "instructions": instructions,
            "tools": [tool],
            "audio": {"input": {"turn_detection": None}},
        },
    )
    await client.until("session.updated")
    await client.send(type="input_audio_buffer.append", audio=b64(pcm_tone(1000)))
    await client.send(type="input_audio_buffer.commit")
    await client.send(type="response.create")
    first = (await client.until("response.done"))["response"]
    await client.send(
        type="conversation.item.create",
        item={
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "t" * 40}],
        },
    )
    await client.send(type="response.create")
    second = (await client.until("response.done"))["response"]
    first_say = first["output"][0]["id"]
    await client.send(
        type="conversation.item.truncate", item_id=first_say, content_index=0, audio_end_ms=600
    )
    await client.send(type="response.create")
    third = (await client.until("response.done"))["response"]

    def expect(
        text: int, audio: int, cached_text: int, cached_audio: int, out_text: int, out_audio: int
    ) -> Json:
        return {
            "total_tokens": text + audio + out_text + out_audio,
            "input_tokens": text + audio,
            "output_tokens": out_text + out_audio,
            "input_token_details": {
                "text_tokens": text,
                "audio_tokens": audio,
                "image_tokens": 0,
                "cached_tokens": cached_text + cached_audio,
                "cached_tokens_details": {
                    "text_tokens": cached_text,
                    "audio_tokens": cached_audio,
                    "image_tokens": 0,
                },
            },
            "output_token_details": {"text_tokens": out_text, "audio_tokens": out_audio},
        }

    # caller audio 1000 ms = 10 tokens; "Hello there" = 3 text + 1000 ms = 20 audio tokens out
    assert first["usage"] == expect(prompt, 10, 0, 0, 3, 20)
    # re-billed: prompt + caller 10 + assistant 20 audio + 40 chars = 10 text; cached prefix
    assert second["usage"] == expect(prompt + 10, 30, prompt, 10, 1, 10)
    # truncating the first answer to 600 ms (12 tokens) busts the cache from that item on
    assert third["usage"] == expect(prompt + 10, 10 + 12 + 10, prompt, 10, 1, 2)
    assert peer.connections[0].usages == [first["usage"], second["usage"], third["usage"]]
    assert peer.errors == []


# -- connection life -----------------------------------------------------------------------------


async def test_drop_aborts_the_current_connection(peer: RealtimePeer) -> None:
    client = await open_client(peer)
    await peer.drop()
    with pytest.raises(ConnectionClosedError):
        await client.ws.recv()
    assert client.ws.close_code == 1006
    again = await open_client(peer)
    await peer.drop(code=1011)
    with pytest.raises(ConnectionClosedError):
        await again.ws.recv()
    assert again.ws.close_code == 1011
    assert [c.closed for c in peer.connections] == [True, True]
    assert peer.errors == []


async def test_expire_sends_session_expired_then_closes(peer: RealtimePeer) -> None:
    client = await open_client(peer)
    await peer.expire()
    err = await client.until("error")
    assert err["error"]["code"] == "session_expired"
    assert "60 minutes" in err["error"]["message"]
    with pytest.raises(ConnectionClosed):
        await client.ws.recv()
    assert peer.errors == []


async def test_leaving_the_peer_stops_everything_mid_response() -> None:
    script = Script([Say("x", audio_ms=5000)], caller_transcripts=["hi"], transcript_delay_ms=5000)
    async with RealtimePeer(realtime_factor=1, script=script) as peer:
        client = await open_client(peer)
        await client.send(
            type="session.update",
            session={
                "type": "realtime",
                "audio": {
                    "input": {"transcription": {"model": "whisper-1"}, "turn_detection": None}
                },
            },
        )
        await client.send(type="input_audio_buffer.append", audio=b64(pcm_tone(200)))
        await client.send(type="input_audio_buffer.commit")
        await client.send(type="response.create")
        await client.until("response.output_audio.delta")
    with pytest.raises(ConnectionClosed):
        while True:
            await client.ws.recv()
    conn = peer.connections[0]
    assert conn.closed and not conn._tasks
    assert peer.errors == []


async def test_script_continues_across_reconnects(peer: RealtimePeer) -> None:
    peer.script = Script([Say("first", audio_ms=100), Say("second", audio_ms=100)])
    client = await open_client(peer)
    await manual_turns(client)
    await client.send(type="response.create")
    await client.until("response.done")
    await peer.drop()
    again = await open_client(peer)
    await manual_turns(again)
    await again.send(type="response.create")
    done = (await again.until("response.done"))["response"]
    await again.ws.close()
    assert done["output"][0]["content"][0]["transcript"] == "second"
    assert [len(c.responses) for c in peer.connections] == [1, 1]
    assert peer.errors == []


@pytest.mark.parametrize("peer", ["gpt-realtime-1.5"], indirect=True)
async def test_max_output_tokens_ends_the_response_incomplete(
    peer: RealtimePeer, client: Client
) -> None:
    peer.script = Script([Say("abc", audio_ms=2000)])
    await manual_turns(client)
    await client.send(type="response.create", response={"max_output_tokens": 10})
    done = (await client.until("response.done"))["response"]
    assert done["status"] == "incomplete"
    assert done["status_details"] == {"type": "incomplete", "reason": "max_output_tokens"}
    assert 10 <= done["usage"]["output_tokens"] < 20
    assert peer.errors == []


@pytest.mark.parametrize(("effort", "thought"), [(None, 64), ("minimal", 8), ("high", 1024)])
async def test_reasoning_is_billed_as_text_output(
    peer: RealtimePeer, client: Client, effort: str | None, thought: int
) -> None:
    peer.script = Script([Say("Hello there", audio_ms=1000)])
    session: dict[str, object] = {"type": "realtime", "audio": {"input": {"turn_detection": None}}}
    if effort is not None:
        session["reasoning"] = {"effort": effort}
    await client.send(type="session.update", session=session)
    await client.until("session.updated")
    await client.send(type="response.create")
    done = (await client.until("response.done"))["response"]
    # "Hello there" is 3 text tokens; the rest is the effort's hidden reasoning.
    assert done["usage"]["output_token_details"]["text_tokens"] == 3 + thought


@pytest.mark.parametrize("peer", ["gpt-realtime-1.5"], indirect=True)
async def test_reasoning_is_refused_by_models_that_do_not_reason(
    peer: RealtimePeer, client: Client
) -> None:
    await client.send(
        type="session.update", session={"type": "realtime", "reasoning": {"effort": "low"}}
    )
    error = (await client.until("error"))["error"]
    assert error["code"] == "unknown_parameter" and error["param"] == "session.reasoning"


async def test_reasoning_effort_must_be_a_known_level(peer: RealtimePeer, client: Client) -> None:
    await client.send(
        type="session.update", session={"type": "realtime", "reasoning": {"effort": "max"}}
    )
    error = (await client.until("error"))["error"]
    assert error["code"] == "invalid_value" and error["param"] == "session.reasoning"
