"""Conversation items the client creates, reads, deletes and truncates, checked against the
GA item shapes."""

from __future__ import annotations

import base64
import time
from typing import TYPE_CHECKING, Any

from tests.support.openai.audio import bytes_per_ms
from tests.support.openai.protocol import Json, Problem, err, new_id
from tests.support.openai.records import ItemInfo

if TYPE_CHECKING:
    from tests.support.openai.connection import PeerConnection


async def create(conn: PeerConnection, event: Json, event_id: str | None) -> None:
    item = event["item"]
    problem = check_item(conn, item)
    previous = event.get("previous_item_id")
    if problem is None and previous is not None and previous != "root" and not conn.item(previous):
        problem = err(
            "item_not_found",
            f"previous_item_id {previous!r} does not exist.",
            "previous_item_id",
        )
    if problem is not None:
        await conn.send_error(*problem, event_id)
        return
    stored: Json = {"id": item.get("id") or new_id("item"), "object": "realtime.item", **item}
    stored["status"] = "completed"
    if previous is None:
        position = len(conn.items)
    elif previous == "root":
        position = 0
    else:
        position = 1 + next(i for i, it in enumerate(conn.items) if it["id"] == previous)
    prev_id = conn.items[position - 1]["id"] if position > 0 else None
    conn.items.insert(position, stored)
    info = ItemInfo()
    if stored["type"] == "message":
        for part in stored["content"]:
            if part["type"] in ("input_audio", "output_audio") and part.get("audio"):
                ms = len(base64.b64decode(part["audio"])) / bytes_per_ms(conn.input_format)
                info.audio_ms += ms
                info.audio_per_token_ms = 50.0 if part["type"] == "output_audio" else 100.0
    conn.item_info[stored["id"]] = info
    await conn.send(
        {"type": "conversation.item.added", "previous_item_id": prev_id, "item": stored}
    )
    await conn.send({"type": "conversation.item.done", "previous_item_id": prev_id, "item": stored})


def check_item(conn: PeerConnection, item: Any) -> Problem | None:
    p = "item"
    if not isinstance(item, dict):
        return err("invalid_type", "item must be an object.", p)
    common = {"type", "id", "object", "status"}
    if "id" in item and (not isinstance(item["id"], str) or conn.item(item["id"])):
        return err("invalid_value", f"Item id {item.get('id')!r} is invalid or taken.", "item.id")
    kind = item.get("type")
    if kind == "message":
        extra = set(item) - common - {"role", "content"}
        if extra:
            return err("unknown_parameter", f"Unknown parameter: 'item.{min(extra)}'.", p)
        role = item.get("role")
        allowed = {
            "user": {"input_text", "input_audio", "input_image"},
            "system": {"input_text"},
            "assistant": {"output_text", "output_audio"},
        }
        if role not in allowed:
            return err("invalid_value", f"Invalid role {role!r}.", "item.role")
        content = item.get("content")
        if not isinstance(content, list) or not content:
            return err("invalid_value", "content must be a non-empty array.", "item.content")
        for n, part in enumerate(content):
            q = f"item.content[{n}]"
            if not isinstance(part, dict) or part.get("type") not in allowed[role]:
                kinds = ", ".join(sorted(allowed[role]))
                got = part.get("type") if isinstance(part, dict) else part
                return err(
                    "invalid_value",
                    f"Invalid content type {got!r} for a {role} message; use {kinds}.",
                    f"{q}.type",
                )
            extra = set(part) - {"type", "text", "audio", "transcript", "image_url", "detail"}
            if extra:
                return err("unknown_parameter", f"Unknown parameter: '{q}.{min(extra)}'.", q)
            if part["type"] in ("input_text", "output_text") and not isinstance(
                part.get("text"), str
            ):
                return err("missing_required_parameter", f"{q}.text must be a string.", q)
        return None
    if kind == "function_call":
        extra = set(item) - common - {"name", "call_id", "arguments"}
        if extra:
            return err("unknown_parameter", f"Unknown parameter: 'item.{min(extra)}'.", p)
        if not isinstance(item.get("name"), str) or not isinstance(item.get("arguments"), str):
            return err("invalid_value", "function_call needs name and arguments strings.", p)
        return None
    if kind == "function_call_output":
        extra = set(item) - common - {"call_id", "output"}
        if extra:
            return err("unknown_parameter", f"Unknown parameter: 'item.{min(extra)}'.", p)
        call_id = item.get("call_id")
        if not isinstance(item.get("output"), str):
            return err("invalid_type", "output must be a string.", "item.output")
        if not isinstance(call_id, str) or call_id not in conn.call_ids:
            return err(
                "invalid_value",
                f"No tool call found for function call output with call_id {call_id!r}.",
                "item.call_id",
            )
        return None
    return err("invalid_value", f"Invalid item type {kind!r}.", "item.type")


async def retrieve(conn: PeerConnection, event: Json, event_id: str | None) -> None:
    item = conn.item(str(event["item_id"]))
    if item is None:
        await conn.send_error(
            "item_not_found", f"Item {event['item_id']!r} does not exist.", "item_id", event_id
        )
        return
    await conn.send({"type": "conversation.item.retrieved", "item": item})


async def delete(conn: PeerConnection, event: Json, event_id: str | None) -> None:
    item = conn.item(str(event["item_id"]))
    if item is None:
        await conn.send_error(
            "item_not_found", f"Item {event['item_id']!r} does not exist.", "item_id", event_id
        )
        return
    conn.items.remove(item)
    await conn.send({"type": "conversation.item.deleted", "item_id": item["id"]})


async def truncate(conn: PeerConnection, event: Json, event_id: str | None) -> None:
    item_id, index, end = event["item_id"], event["content_index"], event["audio_end_ms"]
    item = conn.item(item_id) if isinstance(item_id, str) else None
    info = conn.item_info.get(item_id) if isinstance(item_id, str) else None
    if item is None or info is None:
        await conn.send_error(
            "item_not_found", f"Item {item_id!r} does not exist.", "item_id", event_id
        )
        return
    if not (item["type"] == "message" and item["role"] == "assistant" and info.has_output_audio):
        await conn.send_error(
            "invalid_value",
            f"Only assistant messages with audio can be truncated; {item_id} is not one.",
            "item_id",
            event_id,
        )
        return
    if index != 0 or isinstance(index, bool):
        await conn.send_error(
            "invalid_value", "content_index must be 0.", "content_index", event_id
        )
        return
    if isinstance(end, bool) or not isinstance(end, int) or end < 0:
        await conn.send_error(
            "invalid_value",
            "audio_end_ms must be a non-negative integer.",
            "audio_end_ms",
            event_id,
        )
        return
    if end > info.audio_ms:
        await conn.send_error(
            "invalid_value",
            f"audio_end_ms {end} exceeds the {info.audio_ms:.0f} ms of audio in {item_id}.",
            "audio_end_ms",
            event_id,
        )
        return
    info.truncated_ms = end
    info.audio_ms = float(end)
    cut = int(len(info.full_text) * end / info.planned_ms) if info.planned_ms else 0
    for part in item["content"]:
        if part.get("type") == "output_audio":
            part["transcript"] = info.full_text[:cut]
    conn.truncations.append((item_id, end, time.monotonic()))
    await conn.send(
        {
            "type": "conversation.item.truncated",
            "item_id": item_id,
            "content_index": 0,
            "audio_end_ms": end,
        }
    )
