"""The input audio buffer: appends (checked and fed to turn detection), commits and clears,
and the transcription of each committed caller turn."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import re
from typing import TYPE_CHECKING

from tests.support.openai.audio import bytes_per_ms
from tests.support.openai.billing import tokens
from tests.support.openai.protocol import STREAMING_TRANSCRIPTION, Json, new_id
from tests.support.openai.records import Gone, ItemInfo
from tests.support.openai.responses import await_response, mark_cancelled, start
from tests.support.openai.vad import SpeechStarted, SpeechStopped

if TYPE_CHECKING:
    from tests.support.openai.connection import PeerConnection


async def append(conn: PeerConnection, event: Json, event_id: str | None) -> None:
    audio = event["audio"]
    if not isinstance(audio, str):
        await conn.send_error("invalid_type", "audio must be a base64 string.", "audio", event_id)
        return
    try:
        data = base64.b64decode(audio, validate=True)
    except (binascii.Error, ValueError):
        await conn.send_error("invalid_value", "audio is not valid base64.", "audio", event_id)
        return
    fmt = conn.input_format
    conn.check_call_format("input", conn.session["audio"]["input"]["format"])
    if fmt == "audio/pcm" and len(data) % 2:
        await conn.send_error(
            "invalid_value",
            f"audio/pcm audio must be whole 16-bit samples; got {len(data)} bytes.",
            "audio",
            event_id,
        )
        return
    conn.input_audio_ms += len(data) / bytes_per_ms(fmt)
    td = conn.turn_detection
    if td is not None:
        for detected in conn.vad.feed(data, fmt, td):
            await _on_turn(conn, td, detected)


async def _on_turn(conn: PeerConnection, td: Json, detected: SpeechStarted | SpeechStopped) -> None:
    """Speech started: say so and cut the running response (a barge-in). Speech stopped:
    say so, commit the turn and answer it."""
    if isinstance(detected, SpeechStarted):
        interrupted = None
        async with conn.floor:
            await conn.send(
                {
                    "type": "input_audio_buffer.speech_started",
                    "audio_start_ms": detected.audio_start_ms,
                    "item_id": detected.item_id,
                }
            )
            if td.get("interrupt_response", True) and conn.active is not None:
                interrupted = conn.active
                mark_cancelled(conn, interrupted, "turn_detected")
        if interrupted is not None:
            await await_response(interrupted)
        return
    await conn.send(
        {
            "type": "input_audio_buffer.speech_stopped",
            "audio_end_ms": detected.audio_end_ms,
            "item_id": detected.item_id,
        }
    )
    await commit_turn(conn, detected.item_id, detected.audio_ms)
    if td.get("create_response", True):
        if conn.active is not None:
            conn.note(
                f"VAD turn {detected.item_id} ended while {conn.active.id} was active; no response"
            )
        else:
            await start(conn, "vad", None)


async def commit(conn: PeerConnection, event: Json, event_id: str | None) -> None:
    buffered = conn.input_audio_ms - conn.vad.buffer_start_ms
    if buffered < 100:
        await conn.send_error(
            "input_audio_buffer_commit_empty",
            "Error committing input audio buffer: buffer too small. Expected at least "
            f"100ms of audio, but buffer only has {buffered:.2f}ms of audio.",
            None,
            event_id,
        )
        return
    item_id = conn.vad.speech_item_id or new_id("item")
    conn.vad.buffer_start_ms = conn.input_audio_ms
    conn.vad.reset(conn.input_audio_ms)
    await commit_turn(conn, item_id, buffered)


async def clear(conn: PeerConnection, event: Json, event_id: str | None) -> None:
    conn.vad.buffer_start_ms = conn.input_audio_ms
    conn.vad.reset(conn.input_audio_ms)
    await conn.send({"type": "input_audio_buffer.cleared"})


async def clear_output(conn: PeerConnection, event: Json, event_id: str | None) -> None:
    await conn.send_error(
        "invalid_request_error",
        "output_audio_buffer.clear is only supported for WebRTC and SIP connections.",
        "type",
        event_id,
    )


async def commit_turn(conn: PeerConnection, item_id: str, audio_ms: float) -> None:
    previous = conn.items[-1]["id"] if conn.items else None
    await conn.send(
        {
            "type": "input_audio_buffer.committed",
            "previous_item_id": previous,
            "item_id": item_id,
        }
    )
    item: Json = {
        "id": item_id,
        "object": "realtime.item",
        "type": "message",
        "status": "completed",
        "role": "user",
        "content": [{"type": "input_audio", "transcript": None}],
    }
    conn.items.append(item)
    conn.item_info[item_id] = ItemInfo(audio_ms=audio_ms, audio_per_token_ms=100.0)
    await conn.send({"type": "conversation.item.added", "previous_item_id": previous, "item": item})
    await conn.send({"type": "conversation.item.done", "previous_item_id": previous, "item": item})
    transcription = conn.session["audio"]["input"]["transcription"]
    if transcription is not None:
        text = conn.peer.script.take_transcript()
        conn.spawn(transcribe(conn, item_id, text, audio_ms, str(transcription["model"])))


async def transcribe(
    conn: PeerConnection, item_id: str, text: str, audio_ms: float, model: str
) -> None:
    with contextlib.suppress(Gone):
        # Transcription finishes later than the turn, as the API's does.
        await asyncio.sleep(conn.peer.script.transcript_delay_ms / 1000)
        for piece in re.findall(r"\S+\s*", text):
            await conn.send(
                {
                    "type": "conversation.item.input_audio_transcription.delta",
                    "item_id": item_id,
                    "content_index": 0,
                    "delta": piece,
                }
            )
        usage: Json
        if model == "whisper-1" or model in STREAMING_TRANSCRIPTION:
            usage = {"type": "duration", "seconds": round(audio_ms / 1000, 3)}
        else:
            audio_tokens = tokens(int(audio_ms), 100)
            out_tokens = tokens(len(text))
            usage = {
                "type": "tokens",
                "input_tokens": audio_tokens,
                "output_tokens": out_tokens,
                "total_tokens": audio_tokens + out_tokens,
                "input_token_details": {"text_tokens": 0, "audio_tokens": audio_tokens},
            }
        conn.transcripts[item_id] = text
        item = conn.item(item_id)
        if item is not None:
            item["content"][0]["transcript"] = text
        await conn.send(
            {
                "type": "conversation.item.input_audio_transcription.completed",
                "item_id": item_id,
                "content_index": 0,
                "transcript": text,
                "usage": usage,
            }
        )
