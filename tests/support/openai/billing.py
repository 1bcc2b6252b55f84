"""Usage the way the API bills it: every response re-bills the whole conversation as input,
and the prefix unchanged since the last response is billed as cached."""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

from tests.support.openai.protocol import Json
from tests.support.openai.records import ItemInfo

Segment = tuple[str, int, int]  # (identity, text tokens, audio tokens)


def tokens(chars: int, per: float = 4.0) -> int:
    return math.ceil(chars / per) if chars > 0 else 0


def item_tokens(item: Json, info: ItemInfo) -> tuple[int, int]:
    """(text, audio) input tokens an item costs each time the conversation is billed."""
    if item["type"] == "function_call":
        return tokens(len(item["name"]) + len(item["arguments"])), 0
    if item["type"] == "function_call_output":
        return tokens(len(item["output"])), 0
    text = sum(len(p.get("text") or "") for p in item["content"])
    if not info.audio_ms and item["role"] == "assistant":
        text += sum(len(p.get("transcript") or "") for p in item["content"])
    return tokens(text), tokens(int(info.audio_ms), info.audio_per_token_ms)


def input_segments(
    instructions: str, tools: list[Any], items: list[Json], item_info: dict[str, ItemInfo]
) -> list[Segment]:
    """The billed input of a response: the prompt, then every item as it stands now."""
    schema = json.dumps(tools, sort_keys=True, separators=(",", ":")) if tools else ""
    digest = hashlib.sha1((instructions + "\0" + schema).encode()).hexdigest()
    segments = [(f"prompt:{digest}", tokens(len(instructions)) + tokens(len(schema)), 0)]
    for item in items:
        info = item_info.get(item["id"], ItemInfo())
        text, audio = item_tokens(item, info)
        segments.append((f"{item['id']}:{info.truncated_ms}", text, audio))
    return segments


def usage(
    segments: list[Segment], previous: list[Segment] | None, out_text: int, out_audio: int
) -> Json:
    """response.done's usage; the prefix shared with the previous response's input is cached."""
    cached_text = cached_audio = 0
    if previous is not None:
        for now, before in zip(segments, previous, strict=False):
            if now != before:
                break
            cached_text += now[1]
            cached_audio += now[2]
    in_text = sum(s[1] for s in segments)
    in_audio = sum(s[2] for s in segments)
    return {
        "total_tokens": in_text + in_audio + out_text + out_audio,
        "input_tokens": in_text + in_audio,
        "output_tokens": out_text + out_audio,
        "input_token_details": {
            "text_tokens": in_text,
            "audio_tokens": in_audio,
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
