"""Responses: created by the client or by turn detection, streamed as the GA event sequence
at a multiple of real time, cut cleanly by a cancel or a barge-in, and billed when done."""

from __future__ import annotations

import asyncio
import base64
import itertools
import math
import time
import traceback
from typing import TYPE_CHECKING, Any, Literal

from tests.support.openai import billing
from tests.support.openai.audio import ulaw_encode, voiced_tone
from tests.support.openai.fields import (
    check_format,
    check_max_tokens,
    check_tool_choice,
    check_tools,
    full_format,
)
from tests.support.openai.protocol import (
    RATE_LIMIT_REQUESTS,
    RATE_LIMIT_TOKENS,
    REASONING_TOKENS,
    RESPONSE_KEYS,
    Json,
    Problem,
    err,
    new_id,
)
from tests.support.openai.records import Gone, ItemInfo, PeerResponse
from tests.support.openai.script import CallTool, Say

if TYPE_CHECKING:
    from tests.support.openai.connection import PeerConnection

CHUNK_PATTERN_MS = (40, 120, 200, 80, 160, 60, 100, 180)  # sizes of the audio deltas, in turn


async def create(conn: PeerConnection, event: Json, event_id: str | None) -> None:
    params = event.get("response")
    problems = check_params(params)
    if problems:
        await conn.send_error(*problems[0], event_id)
        return
    if conn.active is not None:
        message = (
            f"Conversation already has an active response in progress: {conn.active.id}. "
            "Wait until the response is finished before creating a new one."
        )
        await conn.send_error(
            "conversation_already_has_active_response",
            message,
            None,
            event_id,
            record="note" if conn.active.trigger == "vad" else "error",
        )
        return
    await start(conn, "client", params)


def check_params(params: Any) -> list[Problem]:
    if params is None:
        return []
    if not isinstance(params, dict):
        return [err("invalid_type", "response must be an object.", "response")]
    out: list[Problem] = [
        err("unknown_parameter", f"Unknown parameter: 'response.{k}'.", f"response.{k}")
        for k in sorted(set(params) - RESPONSE_KEYS)
    ]
    if "tools" in params:
        out += check_tools(params["tools"], "response.tools")
    if "tool_choice" in params:
        out += check_tool_choice(params["tool_choice"], "response.tool_choice")
    if "max_output_tokens" in params:
        out += check_max_tokens(params["max_output_tokens"], "response.max_output_tokens")
    if "output_modalities" in params and params["output_modalities"] not in (
        ["audio"],
        ["text"],
    ):
        out.append(err("invalid_value", "Invalid output_modalities.", "response.output_modalities"))
    if "conversation" in params and params["conversation"] not in ("auto", "none"):
        out.append(err("invalid_value", "Invalid conversation.", "response.conversation"))
    if "instructions" in params and not isinstance(params["instructions"], str):
        out.append(err("invalid_type", "Invalid instructions.", "response.instructions"))
    audio = params.get("audio")
    if audio is not None:
        if not isinstance(audio, dict) or set(audio) - {"output"}:
            out.append(err("invalid_value", "Invalid audio.", "response.audio"))
        else:
            ao = audio.get("output") or {}
            if not isinstance(ao, dict) or set(ao) - {"format", "voice"}:
                out.append(err("invalid_value", "Invalid audio.output.", "response.audio.output"))
            elif "format" in ao:
                out += check_format(ao["format"], "response.audio.output.format")
    return out


async def start(
    conn: PeerConnection, trigger: Literal["client", "vad"], params: Json | None
) -> None:
    """Send response.created now and stream the rest from a task."""
    given: Json = dict(params or {})
    s = conn.session

    def pick(key: str, default: Any) -> Any:
        return given.get(key, default)

    audio_out: Json = (pick("audio", None) or {}).get("output") or {}
    max_tokens = pick("max_output_tokens", s["max_output_tokens"])
    out_cfg = s["audio"]["output"]
    resp = PeerResponse(
        id=new_id("resp"),
        trigger=trigger,
        plan=conn.peer.script.take_response(),
        in_conversation=pick("conversation", "auto") == "auto",
        instructions=str(pick("instructions", s["instructions"]) or ""),
        tools=list(pick("tools", s["tools"]) or []),
        modalities=list(pick("output_modalities", s["output_modalities"])),
        max_output_tokens=None if max_tokens == "inf" else int(max_tokens),
        voice=audio_out["voice"] if "voice" in audio_out else out_cfg["voice"],
        output_format=full_format(
            audio_out["format"] if "format" in audio_out else out_cfg["format"]
        ),
        created_at=time.monotonic(),
    )
    resp.input_segments = billing.input_segments(
        resp.instructions, resp.tools, conn.items, conn.item_info
    )
    if "audio" in resp.modalities:
        conn.check_call_format("output", resp.output_format)
    conn.responses.append(resp)
    conn.active = resp
    await conn.send({"type": "response.created", "response": response_object(conn, resp)})
    resp.task = conn.spawn(run(conn, resp))


def response_object(conn: PeerConnection, resp: PeerResponse) -> Json:
    return {
        "object": "realtime.response",
        "id": resp.id,
        "status": resp.status,
        "status_details": resp.status_details,
        "output": resp.output,
        "conversation_id": conn.conversation_id if resp.in_conversation else None,
        "output_modalities": resp.modalities,
        "max_output_tokens": ("inf" if resp.max_output_tokens is None else resp.max_output_tokens),
        "audio": {"output": {"format": resp.output_format, "voice": resp.voice}},
        "usage": resp.usage,
        "metadata": None,
    }


def mark_cancelled(conn: PeerConnection, resp: PeerResponse, reason: str) -> None:
    """Stop `resp` from sending more output; call with the floor held."""
    if resp.cancel_reason is None:
        resp.cancel_reason = reason
        resp.cancelled_at_event = len(conn.sent)
        resp.in_flight = conn.peer.deltas_after_cancel
    resp.wake.set()


async def await_response(resp: PeerResponse) -> None:
    if resp.task is not None and resp.task is not asyncio.current_task():
        await asyncio.wait({resp.task})


async def cancel_active(conn: PeerConnection, reason: str) -> None:
    """Stop the running response and wait until its response.done has been sent."""
    resp = conn.active
    if resp is None:
        return
    async with conn.floor:
        mark_cancelled(conn, resp, reason)
    await await_response(resp)


async def cancel(conn: PeerConnection, event: Json, event_id: str | None) -> None:
    wanted = event.get("response_id")
    active = conn.active
    if active is None or active.stopping() or (wanted is not None and wanted != active.id):
        await conn.send_error(
            "response_cancel_not_active",
            "Cancellation failed: no active response found",
            None,
            event_id,
            record="note",
        )
        return
    await cancel_active(conn, "client_cancelled")


async def run(conn: PeerConnection, resp: PeerResponse) -> None:
    try:
        if conn.peer.response_latency_ms > 0:
            await resp.pause(conn.peer.response_latency_ms / 1000)
        resp.started_at = time.monotonic()
        for index, step in enumerate(resp.plan):
            if resp.stopping():
                break
            if isinstance(step, Say):
                await emit_say(conn, resp, index, step)
            else:
                await emit_call(conn, resp, index, step)
        await finish(conn, resp)
    except Gone:
        pass
    except Exception as exc:
        conn.error(f"peer internal error: {exc!r}\n{traceback.format_exc()}")
    finally:
        if conn.active is resp:
            conn.active = None


async def add_output_item(
    conn: PeerConnection, resp: PeerResponse, index: int, item: Json
) -> str | None:
    resp.output.append(item)
    await conn.send(
        {
            "type": "response.output_item.added",
            "response_id": resp.id,
            "output_index": index,
            "item": item,
        }
    )
    previous = None
    if resp.in_conversation:
        previous = conn.items[-1]["id"] if conn.items else None
        conn.items.append(item)
        await conn.send(
            {"type": "conversation.item.added", "previous_item_id": previous, "item": item}
        )
    return previous


async def done_output_item(
    conn: PeerConnection, resp: PeerResponse, index: int, item: Json, previous: str | None
) -> None:
    await conn.send(
        {
            "type": "response.output_item.done",
            "response_id": resp.id,
            "output_index": index,
            "item": item,
        }
    )
    if resp.in_conversation:
        await conn.send(
            {"type": "conversation.item.done", "previous_item_id": previous, "item": item}
        )


async def emit_say(conn: PeerConnection, resp: PeerResponse, index: int, say: Say) -> None:
    audio = "audio" in resp.modalities
    item: Json = {
        "id": new_id("item"),
        "object": "realtime.item",
        "type": "message",
        "status": "in_progress",
        "role": "assistant",
        "content": [],
    }
    item_id = item["id"]
    info = ItemInfo(
        audio_per_token_ms=50.0,
        full_text=say.text,
        planned_ms=say.duration_ms,
        has_output_audio=audio,
    )
    conn.item_info[item_id] = info
    previous = await add_output_item(conn, resp, index, item)
    ids = {
        "response_id": resp.id,
        "item_id": item_id,
        "output_index": index,
        "content_index": 0,
    }
    part: Json = {"type": "audio", "transcript": ""} if audio else {"type": "text", "text": ""}
    await conn.send({"type": "response.content_part.added", **ids, "part": part})
    fmt = str(resp.output_format["type"])
    rate = 24000 if fmt == "audio/pcm" else 8000
    out = conn.output_audio.setdefault(item_id, bytearray())
    total, produced, chars = say.duration_ms, 0, 0
    for n in itertools.count():
        if produced >= total or resp.output_stopped():
            break
        chunk_ms = min(CHUNK_PATTERN_MS[n % len(CHUNK_PATTERN_MS)], total - produced)
        upto = round(len(say.text) * (produced + chunk_ms) / total)
        async with conn.floor:
            if resp.output_stopped():
                break
            if resp.cancel_reason is not None:
                resp.in_flight -= 1
            if upto > chars:
                delta_type = (
                    "response.output_audio_transcript.delta"
                    if audio
                    else "response.output_text.delta"
                )
                await conn.send({"type": delta_type, **ids, "delta": say.text[chars:upto]})
                chars = upto
            if audio:
                first = produced * rate // 1000
                count = (produced + chunk_ms) * rate // 1000 - first
                samples = voiced_tone(first, count, rate)
                payload = (
                    samples.astype("<i2").tobytes() if fmt == "audio/pcm" else ulaw_encode(samples)
                )
                await conn.send(
                    {
                        "type": "response.output_audio.delta",
                        **ids,
                        "delta": base64.b64encode(payload).decode(),
                    }
                )
                conn.audio_output_started = True
                out += payload
                info.audio_ms += chunk_ms
                resp.audio_ms += chunk_ms
        produced += chunk_ms
        if (
            resp.max_output_tokens is not None
            and output_tokens(resp, info, say.text[:chars]) >= resp.max_output_tokens
        ):
            resp.incomplete = True
        await resp.pause(pace(conn, resp))
    text = say.text[:chars]
    resp.output_audio_tokens += billing.tokens(int(info.audio_ms), 50) if audio else 0
    resp.output_text_tokens += billing.tokens(len(text))
    if audio:
        await conn.send({"type": "response.output_audio.done", **ids})
        await conn.send(
            {"type": "response.output_audio_transcript.done", **ids, "transcript": text}
        )
        part = {"type": "audio", "transcript": text}
        item["content"] = [{"type": "output_audio", "transcript": text}]
    else:
        await conn.send({"type": "response.output_text.done", **ids, "text": text})
        part = {"type": "text", "text": text}
        item["content"] = [{"type": "output_text", "text": text}]
    await conn.send({"type": "response.content_part.done", **ids, "part": part})
    item["status"] = "incomplete" if resp.stopping() else "completed"
    await done_output_item(conn, resp, index, item, previous)


def output_tokens(resp: PeerResponse, info: ItemInfo, text: str) -> int:
    so_far = resp.output_text_tokens + resp.output_audio_tokens
    return so_far + billing.tokens(int(info.audio_ms), 50) + billing.tokens(len(text))


def pace(conn: PeerConnection, resp: PeerResponse) -> float:
    """Seconds to wait so audio leaves at realtime_factor x real time since the start."""
    factor = conn.peer.realtime_factor
    if factor <= 0 or math.isinf(factor):
        return 0.0
    due = resp.started_at + resp.audio_ms / 1000 / factor
    return due - time.monotonic()


async def emit_call(conn: PeerConnection, resp: PeerResponse, index: int, call: CallTool) -> None:
    call_id = call.call_id or new_id("call")
    item: Json = {
        "id": new_id("item"),
        "object": "realtime.item",
        "type": "function_call",
        "status": "in_progress",
        "name": call.name,
        "call_id": call_id,
        "arguments": "",
    }
    conn.item_info[item["id"]] = ItemInfo()
    previous = await add_output_item(conn, resp, index, item)
    ids = {
        "response_id": resp.id,
        "item_id": item["id"],
        "output_index": index,
        "call_id": call_id,
    }
    sent = 0
    while sent < len(call.arguments):
        piece = call.arguments[sent : sent + 12]
        async with conn.floor:
            if resp.stopping():
                break
            await conn.send(
                {"type": "response.function_call_arguments.delta", **ids, "delta": piece}
            )
        sent += len(piece)
        await resp.pause(0)
    arguments = call.arguments[:sent]
    await conn.send(
        {
            "type": "response.function_call_arguments.done",
            **ids,
            "name": call.name,
            "arguments": arguments,
        }
    )
    resp.output_text_tokens += billing.tokens(len(call.name) + len(arguments))
    item["arguments"] = arguments
    item["status"] = "incomplete" if resp.stopping() else "completed"
    conn.call_ids.add(call_id)
    await done_output_item(conn, resp, index, item, previous)


async def finish(conn: PeerConnection, resp: PeerResponse) -> None:
    if resp.cancel_reason is not None:
        resp.status = "cancelled"
        resp.status_details = {"type": "cancelled", "reason": resp.cancel_reason}
    elif resp.incomplete:
        resp.status = "incomplete"
        resp.status_details = {"type": "incomplete", "reason": "max_output_tokens"}
    else:
        resp.status = "completed"
    reasoning = conn.session.get("reasoning") or {}
    thought = REASONING_TOKENS[reasoning.get("effort", "low")] if conn.reasons else 0
    resp.usage = billing.usage(
        resp.input_segments,
        conn.last_segments,
        resp.output_text_tokens + thought,
        resp.output_audio_tokens,
    )
    conn.last_segments = resp.input_segments
    conn.usages.append(resp.usage)
    conn.tokens_used += resp.usage["total_tokens"]
    resp.done_at = time.monotonic()
    conn.active = None
    await conn.send({"type": "response.done", "response": response_object(conn, resp)})
    await conn.send(
        {
            "type": "rate_limits.updated",
            "rate_limits": [
                {
                    "name": "requests",
                    "limit": RATE_LIMIT_REQUESTS,
                    "remaining": max(0, RATE_LIMIT_REQUESTS - len(conn.responses)),
                    "reset_seconds": 0.06,
                },
                {
                    "name": "tokens",
                    "limit": RATE_LIMIT_TOKENS,
                    "remaining": max(0, RATE_LIMIT_TOKENS - conn.tokens_used),
                    "reset_seconds": round(60 * conn.tokens_used / RATE_LIMIT_TOKENS, 3),
                },
            ],
        }
    )
