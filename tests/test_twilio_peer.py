"""The Twilio peer itself must behave like Twilio, or the call tests prove nothing."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from websockets.asyncio.server import ServerConnection, serve

from bridge.twilio_messages import clear_message, mark_message, media_message
from tests.support.twilio_peer import TwilioPeer, sign
from tests.support.waiting import Changes, eventually

TOKEN = "0123456789abcdef0123456789abcdef"
Script = Callable[[ServerConnection, list[dict[str, object]]], Awaitable[None]]
ScriptServer = tuple[str, list[Script], list[dict[str, object]]]


@pytest.fixture
async def script_server() -> AsyncIterator[ScriptServer]:
    """A media-stream server that runs whatever script the test pushes, recording input."""
    scripts: list[Script] = []
    seen: list[dict[str, object]] = []

    async def handler(ws: ServerConnection) -> None:
        headers = ws.request.headers if ws.request else {}
        seen.append({"signature": headers.get("X-Twilio-Signature")})
        await scripts.pop(0)(ws, seen)

    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}/twilio/media-stream", scripts, seen


@pytest.fixture
def heard() -> Changes:
    """Announces what a script records (a message the server read, an echo)."""
    return Changes()


async def until(heard: Changes, check: Callable[[], bool], what: str) -> None:
    await eventually(check, timeout=5, what=what, on=heard)


async def read_until_start(ws: ServerConnection, seen: list[dict[str, object]]) -> str:
    while True:
        msg = json.loads(await ws.recv())
        seen.append(msg)
        if msg["event"] == "start":
            return str(msg["start"]["streamSid"])


def peer_for(url: str) -> TwilioPeer:
    return TwilioPeer(url, "wss://voice.example.test/twilio/media-stream", TOKEN)


async def test_sends_twilio_shaped_messages_with_string_numbers(
    script_server: ScriptServer,
    heard: Changes,
) -> None:
    url, scripts, seen = script_server

    async def script(ws: ServerConnection, seen: list[dict[str, object]]) -> None:
        async for frame in ws:
            seen.append(json.loads(frame))
            heard.notify()

    scripts.append(script)
    async with peer_for(url) as peer:
        await peer.begin()
        await peer.stream_audio(b"\x7f" * 480)
        await peer.send_stop()
        await until(heard, lambda: seen[-1].get("event") == "stop", "the stop message")
    assert seen[0]["signature"] == sign(TOKEN, "wss://voice.example.test/twilio/media-stream")
    events = [m["event"] for m in seen[1:]]
    assert events == ["connected", "start", "media", "media", "media", "stop"]
    start = seen[2]["start"]
    assert isinstance(start, dict)
    assert set(start) == {
        "accountSid",
        "streamSid",
        "callSid",
        "tracks",
        "mediaFormat",
        "customParameters",
    }
    assert start["mediaFormat"] == {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}
    media = seen[3:6]
    assert [m["sequenceNumber"] for m in media] == ["2", "3", "4"]
    chunks = [m["media"]["chunk"] for m in media]  # type: ignore[index]
    stamps = [int(m["media"]["timestamp"]) for m in media]  # type: ignore[index]
    assert chunks == ["1", "2", "3"]
    assert all(isinstance(m["media"]["timestamp"], str) for m in media)  # type: ignore[index]
    assert stamps == sorted(stamps) and stamps[-1] - stamps[0] >= 30
    assert base64.b64decode(media[0]["media"]["payload"]) == b"\x7f" * 160  # type: ignore[index]


async def test_marks_echo_after_their_audio_has_played(
    script_server: ScriptServer, heard: Changes
) -> None:
    url, scripts, _ = script_server
    echoes: list[tuple[float, str]] = []

    async def script(ws: ServerConnection, seen: list[dict[str, object]]) -> None:
        sid = await read_until_start(ws, seen)
        sent = time.monotonic()
        await ws.send(mark_message(sid, "nothing-buffered"))
        await ws.send(media_message(sid, base64.b64encode(b"\xff" * 1600).decode()))  # 200 ms
        await ws.send(mark_message(sid, "after-200ms"))
        async for frame in ws:
            msg = json.loads(frame)
            if msg["event"] == "mark":
                assert isinstance(msg["sequenceNumber"], str)
                echoes.append((time.monotonic() - sent, msg["mark"]["name"]))
                heard.notify()

    scripts.append(script)
    async with peer_for(url) as peer:
        await peer.begin()
        await until(heard, lambda: len(echoes) == 2, "both marks echoed")
        assert peer.errors == []
        assert peer.played_bytes() == 1600
    assert [name for _, name in echoes] == ["nothing-buffered", "after-200ms"]
    assert echoes[0][0] < 0.1
    assert echoes[1][0] >= 0.195


async def test_clear_drops_queued_audio_and_echoes_every_pending_mark(
    script_server: ScriptServer,
    heard: Changes,
) -> None:
    url, scripts, _ = script_server
    echoes: list[str] = []

    async def script(ws: ServerConnection, seen: list[dict[str, object]]) -> None:
        sid = await read_until_start(ws, seen)
        for i in range(10):
            await ws.send(media_message(sid, base64.b64encode(b"\x00" * 800).decode()))  # 100 ms
            await ws.send(mark_message(sid, f"m{i}"))
        await asyncio.sleep(0.15)  # the server clears 150 ms into the 1 s of audio
        await ws.send(clear_message(sid))
        async for frame in ws:
            msg = json.loads(frame)
            if msg["event"] == "mark":
                echoes.append(msg["mark"]["name"])
                heard.notify()

    scripts.append(script)
    async with peer_for(url) as peer:
        await peer.begin()
        await until(heard, lambda: len(echoes) == 10, "every pending mark echoed")
        played = peer.played_ms()
        later = peer.played_ms(at=time.monotonic() + 1.0)
    assert echoes == [f"m{i}" for i in range(10)]
    assert 140 <= played < 1000  # cut where the clear came (~150 ms in), before the end
    assert later == played  # and nothing plays after it


async def test_protocol_errors_are_recorded(script_server: ScriptServer) -> None:
    url, scripts, _ = script_server

    async def script(ws: ServerConnection, seen: list[dict[str, object]]) -> None:
        sid = await read_until_start(ws, seen)
        await ws.send(b"binary")
        await ws.send(json.dumps({"event": "play", "streamSid": sid}))
        await ws.send(json.dumps({"event": "clear", "streamSid": "MZother"}))
        await ws.send(json.dumps({"event": "media", "streamSid": sid, "media": {"payload": "%%"}}))
        await ws.send(
            json.dumps({"event": "mark", "streamSid": sid, "mark": {"name": "x", "extra": 1}})
        )

    scripts.append(script)
    async with peer_for(url) as peer:
        await peer.begin()
        await peer.wait_closed()
    codes = [e.split(":")[0] for e in peer.errors]
    assert codes == ["31950", "31924", "31924", "31924", "31924"]


async def test_marks_due_together_echo_in_the_order_sent(
    script_server: ScriptServer, heard: Changes
) -> None:
    url, scripts, _ = script_server
    echoes: list[str] = []
    names = [f"m{i}" for i in range(40)]

    async def script(ws: ServerConnection, seen: list[dict[str, object]]) -> None:
        sid = await read_until_start(ws, seen)
        await ws.send(media_message(sid, base64.b64encode(b"\xff" * 400).decode()))  # 50 ms
        for name in names:
            await ws.send(mark_message(sid, name))
        async for frame in ws:
            msg = json.loads(frame)
            if msg["event"] == "mark":
                echoes.append(msg["mark"]["name"])
                heard.notify()

    scripts.append(script)
    async with peer_for(url) as peer:
        await peer.begin()
        await until(heard, lambda: len(echoes) == len(names), "every mark echoed")
    assert echoes == names
