"""Opening a Realtime session against the strict peer: the session is used only once the
API has confirmed its configuration."""

from __future__ import annotations

import time

import pytest

from bridge import realtime_events as rt
from bridge.audio import openai_audio_format
from bridge.realtime_client import RealtimeConnection, RealtimeEndpoint, RealtimeUnavailable
from tests.support.openai import RealtimePeer
from tests.support.waiting import eventually


def config(voice: str = "marin") -> rt.SessionConfig:
    return rt.SessionConfig(
        instructions="Interview the candidate.",
        audio_format=openai_audio_format("pcm16"),
        voice=voice,
        tools=[],
        transcription_model="gpt-4o-mini-transcribe",
        language="en",
        turn_detection=rt.TurnDetection("semantic_vad", "low", 1000, 0.6),
    )


async def test_open_returns_once_the_session_is_confirmed() -> None:
    async with RealtimePeer() as peer:
        endpoint = RealtimeEndpoint(peer.url, "gpt-realtime-2.1", "sk-test")
        conn = await RealtimeConnection.open(endpoint, config())
        returned = time.monotonic()
        try:
            (server,) = peer.connections
            kinds = [e["type"] for e in server.sent]
            confirmed_at = server.sent_at[kinds.index("session.updated")]
            assert confirmed_at <= returned  # open() waited for the confirmation
        finally:
            await conn.close()


async def test_a_refused_configuration_is_unavailable_not_a_silent_call() -> None:
    async with RealtimePeer() as peer:
        endpoint = RealtimeEndpoint(peer.url, "gpt-realtime-2.1", "sk-test")
        with pytest.raises(RealtimeUnavailable, match="refused"):
            await RealtimeConnection.open(endpoint, config(voice="not-a-voice"))
        (server,) = peer.connections
        await eventually(
            lambda: server.closed, timeout=5, what="the refused session closed", on=peer.changed
        )
