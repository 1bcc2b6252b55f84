"""session.update: the GA session shape, checked field by field the way the API checks
it, and merged into the session the way the API fills in defaults."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.support.openai.fields import (
    check_format,
    check_max_tokens,
    check_tool_choice,
    check_tools,
    check_turn_detection,
    full_format,
)
from tests.support.openai.protocol import (
    BETA_SESSION_KEYS,
    REASONING_EFFORTS,
    REASONING_KEYS,
    SEMANTIC_VAD_DEFAULTS,
    SERVER_VAD_DEFAULTS,
    SESSION_KEYS,
    VOICES,
    Json,
    Problem,
    err,
)

if TYPE_CHECKING:
    from tests.support.openai.connection import PeerConnection


async def update(conn: PeerConnection, event: Json, event_id: str | None) -> None:
    session = event["session"]
    problems = check_session(conn, session)
    if problems:
        for code, message, _param in problems[1:]:
            conn.error(f"{code}: {message}")
        code, message, param = problems[0]
        await conn.send_error(code, message, param, event_id)
        return
    merge(conn, session)
    await conn.send({"type": "session.updated", "session": conn.session})


def check_session(conn: PeerConnection, s: Any) -> list[Problem]:
    """Every way `s` departs from the GA session.update shape, most important first."""
    if not isinstance(s, dict):
        return [err("invalid_type", "session must be an object.", "session")]
    out: list[Problem] = []
    if "type" not in s:
        out.append(
            err(
                "missing_required_parameter",
                "Missing required parameter: 'session.type'.",
                "session.type",
            )
        )
    elif s["type"] != "realtime":
        out.append(
            err(
                "invalid_value",
                f"Invalid value: {s['type']!r}. Supported values are: 'realtime'.",
                "session.type",
            )
        )
    allowed = SESSION_KEYS | (REASONING_KEYS if conn.reasons else set())
    for key in sorted(set(s) - allowed):
        hint = " (beta session shape)" if key in BETA_SESSION_KEYS else ""
        out.append(
            err(
                "unknown_parameter",
                f"Unknown parameter: 'session.{key}'.{hint}",
                f"session.{key}",
            )
        )
    if "model" in s and s["model"] != conn.model:
        out.append(err("invalid_value", "The model cannot be changed.", "session.model"))
    if "instructions" in s and not isinstance(s["instructions"], str):
        out.append(err("invalid_type", "instructions must be a string.", "session.instructions"))
    if "output_modalities" in s and s["output_modalities"] not in (["audio"], ["text"]):
        out.append(
            err(
                "invalid_value",
                "output_modalities must be ['audio'] or ['text'].",
                "session.output_modalities",
            )
        )
    if "audio" in s:
        out += _check_audio(conn, s["audio"])
    if "tools" in s:
        out += check_tools(s["tools"], "session.tools")
    if "tool_choice" in s:
        out += check_tool_choice(s["tool_choice"], "session.tool_choice")
    if "max_output_tokens" in s:
        out += check_max_tokens(s["max_output_tokens"], "session.max_output_tokens")
    if "tracing" in s:
        t = s["tracing"]
        if not (
            t is None
            or t == "auto"
            or (isinstance(t, dict) and set(t) <= {"workflow_name", "group_id", "metadata"})
        ):
            out.append(err("invalid_value", "Invalid tracing configuration.", "session.tracing"))
    if "truncation" in s:
        t = s["truncation"]
        ok = t in ("auto", "disabled") or (
            isinstance(t, dict)
            and t.get("type") == "retention_ratio"
            and set(t) <= {"type", "retention_ratio", "token_limits"}
            and isinstance(t.get("retention_ratio"), int | float)
            and 0 <= t["retention_ratio"] <= 1
        )
        if not ok:
            out.append(err("invalid_value", "Invalid truncation.", "session.truncation"))
    if "reasoning" in s:
        r = s["reasoning"]
        if not (
            isinstance(r, dict) and set(r) <= {"effort"} and r.get("effort") in REASONING_EFFORTS
        ):
            out.append(
                err("invalid_value", "Invalid reasoning configuration.", "session.reasoning")
            )
    if "prompt" in s:
        p = s["prompt"]
        if not (
            p is None
            or (
                isinstance(p, dict)
                and isinstance(p.get("id"), str)
                and set(p) <= {"id", "variables", "version"}
            )
        ):
            out.append(err("invalid_value", "Invalid prompt reference.", "session.prompt"))
    if "include" in s:
        inc = s["include"]
        if not (
            inc is None
            or (isinstance(inc, list) and set(inc) <= {"item.input_audio_transcription.logprobs"})
        ):
            out.append(err("invalid_value", "Invalid include.", "session.include"))
    return out


def _check_audio(conn: PeerConnection, audio: Any) -> list[Problem]:
    p = "session.audio"
    if not isinstance(audio, dict):
        return [err("invalid_type", "audio must be an object.", p)]
    out: list[Problem] = [
        err("unknown_parameter", f"Unknown parameter: '{p}.{k}'.", f"{p}.{k}")
        for k in sorted(set(audio) - {"input", "output"})
    ]
    inp = audio.get("input")
    if inp is not None:
        out += _check_audio_input(inp)
    outp = audio.get("output")
    if outp is not None:
        out += _check_audio_output(conn, outp)
    return out


def _check_audio_input(inp: Any) -> list[Problem]:
    p = "session.audio.input"
    if not isinstance(inp, dict):
        return [err("invalid_type", "audio.input must be an object.", p)]
    keys = {"format", "transcription", "noise_reduction", "turn_detection"}
    out: list[Problem] = [
        err("unknown_parameter", f"Unknown parameter: '{p}.{k}'.", f"{p}.{k}")
        for k in sorted(set(inp) - keys)
    ]
    if "format" in inp:
        out += check_format(inp["format"], f"{p}.format")
    if "transcription" in inp:
        t = inp["transcription"]
        if t is not None and not (
            isinstance(t, dict)
            and set(t) <= {"model", "language", "prompt"}
            and isinstance(t.get("model"), str)
            and t["model"]
            and isinstance(t.get("language", ""), str)
            and isinstance(t.get("prompt", ""), str)
        ):
            out.append(err("invalid_value", "Invalid transcription config.", f"{p}.transcription"))
    if "noise_reduction" in inp:
        n = inp["noise_reduction"]
        if n is not None and not (
            isinstance(n, dict) and set(n) == {"type"} and n["type"] in ("near_field", "far_field")
        ):
            out.append(err("invalid_value", "Invalid noise_reduction.", f"{p}.noise_reduction"))
    if "turn_detection" in inp:
        out += check_turn_detection(inp["turn_detection"], f"{p}.turn_detection")
    return out


def _check_audio_output(conn: PeerConnection, outp: Any) -> list[Problem]:
    p = "session.audio.output"
    if not isinstance(outp, dict):
        return [err("invalid_type", "audio.output must be an object.", p)]
    out: list[Problem] = [
        err("unknown_parameter", f"Unknown parameter: '{p}.{k}'.", f"{p}.{k}")
        for k in sorted(set(outp) - {"format", "voice", "speed"})
    ]
    if "format" in outp:
        out += check_format(outp["format"], f"{p}.format")
    if "voice" in outp:
        v = outp["voice"]
        valid = v in VOICES or (
            isinstance(v, dict) and set(v) == {"id"} and isinstance(v["id"], str)
        )
        if not valid:
            out.append(err("invalid_value", f"Invalid voice {v!r}.", f"{p}.voice"))
        elif conn.audio_output_started and v != conn.session["audio"]["output"]["voice"]:
            out.append(
                err(
                    "cannot_update_voice",
                    "Cannot update a conversation's voice if assistant audio is present.",
                    f"{p}.voice",
                )
            )
    if "speed" in outp:
        sp = outp["speed"]
        if isinstance(sp, bool) or not isinstance(sp, int | float) or not 0.25 <= sp <= 1.5:
            out.append(err("invalid_value", "speed must be between 0.25 and 1.5.", f"{p}.speed"))
        elif conn.active is not None and sp != conn.session["audio"]["output"]["speed"]:
            out.append(
                err(
                    "invalid_value",
                    "speed can only be changed between model turns.",
                    f"{p}.speed",
                )
            )
    return out


def merge(conn: PeerConnection, s: Json) -> None:
    for key, value in s.items():
        if key != "audio":
            conn.session[key] = value
    audio = s.get("audio") or {}
    inp = audio.get("input") or {}
    cur_in = conn.session["audio"]["input"]
    for key, value in inp.items():
        if key == "format":
            cur_in["format"] = full_format(value)
            conn.check_call_format("input", cur_in["format"])
        elif key == "turn_detection" and value is not None:
            defaults = (
                SERVER_VAD_DEFAULTS if value["type"] == "server_vad" else SEMANTIC_VAD_DEFAULTS
            )
            cur_in["turn_detection"] = {**defaults, **value}
        else:
            cur_in[key] = value
    outp = audio.get("output") or {}
    cur_out = conn.session["audio"]["output"]
    for key, value in outp.items():
        cur_out[key] = full_format(value) if key == "format" else value
        if key == "format":
            conn.check_call_format("output", cur_out["format"])
    if "turn_detection" in inp:
        conn.vad.reset(conn.input_audio_ms)
