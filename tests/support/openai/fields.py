"""Field validators shared by session.update and response.create, each returning every
way a value departs from what the API accepts."""

from __future__ import annotations

import re
from typing import Any

from tests.support.openai.protocol import (
    SEMANTIC_SILENCE_MS,
    SEMANTIC_VAD_DEFAULTS,
    SERVER_VAD_DEFAULTS,
    Json,
    Problem,
    err,
)


def full_format(fmt: Json) -> Json:
    return {"type": "audio/pcm", "rate": 24000} if fmt["type"] == "audio/pcm" else dict(fmt)


def check_format(fmt: Any, p: str) -> list[Problem]:
    if isinstance(fmt, dict):
        kind = fmt.get("type")
        if kind == "audio/pcm" and set(fmt) <= {"type", "rate"} and fmt.get("rate", 24000) == 24000:
            return []
        if kind in ("audio/pcmu", "audio/pcma") and set(fmt) == {"type"}:
            return []
    return [
        err(
            "invalid_value",
            f"Invalid audio format {fmt!r}; use {{'type': 'audio/pcm', 'rate': 24000}}, "
            "{'type': 'audio/pcmu'} or {'type': 'audio/pcma'}.",
            p,
        )
    ]


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def check_turn_detection(td: Any, p: str) -> list[Problem]:
    if td is None:
        return []
    if not isinstance(td, dict):
        return [err("invalid_type", "turn_detection must be an object or null.", p)]
    kind = td.get("type")
    if kind == "server_vad":
        keys = set(SERVER_VAD_DEFAULTS)
    elif kind == "semantic_vad":
        keys = set(SEMANTIC_VAD_DEFAULTS)
    else:
        return [err("invalid_value", f"Invalid turn_detection type {kind!r}.", f"{p}.type")]
    out = [
        err("unknown_parameter", f"Unknown parameter: '{p}.{k}'.", f"{p}.{k}")
        for k in sorted(set(td) - keys)
    ]
    for key in ("create_response", "interrupt_response"):
        if key in td and not isinstance(td[key], bool):
            out.append(err("invalid_type", f"{key} must be a boolean.", f"{p}.{key}"))
    for key in ("prefix_padding_ms", "silence_duration_ms"):
        if key in td and not _is_int(td[key]):
            out.append(err("invalid_type", f"{key} must be a non-negative integer.", f"{p}.{key}"))
    if (
        "idle_timeout_ms" in td
        and td["idle_timeout_ms"] is not None
        and not _is_int(td["idle_timeout_ms"])
    ):
        out.append(
            err("invalid_type", "idle_timeout_ms must be an integer.", f"{p}.idle_timeout_ms")
        )
    if "threshold" in td:
        t = td["threshold"]
        if isinstance(t, bool) or not isinstance(t, int | float) or not 0 <= t <= 1:
            out.append(err("invalid_value", "threshold must be between 0 and 1.", f"{p}.threshold"))
    if "eagerness" in td and td["eagerness"] not in SEMANTIC_SILENCE_MS:
        out.append(err("invalid_value", "Invalid eagerness.", f"{p}.eagerness"))
    return out


def check_tools(tools: Any, p: str) -> list[Problem]:
    if not isinstance(tools, list):
        return [err("invalid_type", "tools must be an array.", p)]
    out: list[Problem] = []
    for n, tool in enumerate(tools):
        q = f"{p}[{n}]"
        if not isinstance(tool, dict) or tool.get("type") != "function":
            out.append(err("invalid_value", "Only function tools are supported here.", f"{q}.type"))
            continue
        extra = set(tool) - {"type", "name", "description", "parameters"}
        if extra:
            out.append(err("unknown_parameter", f"Unknown parameter: '{q}.{min(extra)}'.", q))
        name = tool.get("name")
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name):
            out.append(err("invalid_value", f"Invalid function name {name!r}.", f"{q}.name"))
        if "description" in tool and not isinstance(tool["description"], str):
            out.append(err("invalid_type", "description must be a string.", f"{q}.description"))
        if not isinstance(tool.get("parameters"), dict):
            out.append(
                err("invalid_type", "parameters must be a JSON schema object.", f"{q}.parameters")
            )
    return out


def check_tool_choice(choice: Any, p: str) -> list[Problem]:
    if choice in ("auto", "none", "required"):
        return []
    if (
        isinstance(choice, dict)
        and choice.get("type") == "function"
        and set(choice) == {"type", "name"}
        and isinstance(choice["name"], str)
    ):
        return []
    return [err("invalid_value", f"Invalid tool_choice {choice!r}.", p)]


def check_max_tokens(value: Any, p: str) -> list[Problem]:
    if value == "inf" or (_is_int(value) and 1 <= value <= 4096):
        return []
    return [err("invalid_value", "max_output_tokens must be 1..4096 or 'inf'.", p)]
