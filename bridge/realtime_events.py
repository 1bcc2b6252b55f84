"""OpenAI Realtime GA wire format, isolated here: client events built, server events typed.

Only the GA shape exists (`response.output_audio.delta`, `session.type = "realtime"`,
`audio.input.format`); the beta names are switched off upstream and never appear here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from evaluation.usage import (
    ResponseUsage,
    TranscriptionSeconds,
    TranscriptionTokens,
    TranscriptionUsage,
)

TurnDetectionKind = Literal["semantic_vad", "server_vad"]
Eagerness = Literal["low", "medium", "high", "auto"]
ReasoningEffort = Literal["minimal", "low", "medium", "high", "xhigh"]


def reasons(model: str) -> bool:
    """gpt-realtime-2 and later take `session.reasoning`; the API refuses it elsewhere."""
    return model.startswith("gpt-realtime-2")


# -- client events ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TurnDetection:
    kind: TurnDetectionKind
    eagerness: Eagerness
    """semantic_vad only."""
    silence_ms: int
    """server_vad only: the silence that ends a turn."""
    threshold: float
    """server_vad only."""

    def to_wire(self) -> dict[str, Any]:
        if self.kind == "server_vad":
            return {
                "type": "server_vad",
                "threshold": self.threshold,
                "prefix_padding_ms": 300,
                "silence_duration_ms": self.silence_ms,
                "create_response": True,
                "interrupt_response": True,
            }
        return {
            "type": "semantic_vad",
            "eagerness": self.eagerness,
            "create_response": True,
            "interrupt_response": True,
        }


@dataclass(frozen=True, slots=True)
class SessionConfig:
    instructions: str
    audio_format: dict[str, Any]
    voice: str
    tools: list[dict[str, Any]]
    transcription_model: str
    language: str | None
    turn_detection: TurnDetection
    reasoning_effort: ReasoningEffort | None = None
    """Sent only to models that reason (see `reasons`)."""

    def to_wire(self) -> dict[str, Any]:
        transcription: dict[str, Any] = {"model": self.transcription_model}
        if self.language:
            transcription["language"] = self.language.split("-")[0].lower()
        reasoning = (
            {"reasoning": {"effort": self.reasoning_effort}}
            if self.reasoning_effort is not None
            else {}
        )
        return {
            "type": "session.update",
            "session": {
                "type": "realtime",
                **reasoning,
                "instructions": self.instructions,
                "output_modalities": ["audio"],
                "audio": {
                    "input": {
                        "format": self.audio_format,
                        "transcription": transcription,
                        # Phone audio: the caller holds the handset close.
                        "noise_reduction": {"type": "near_field"},
                        "turn_detection": self.turn_detection.to_wire(),
                    },
                    "output": {"format": self.audio_format, "voice": self.voice},
                },
                "tools": self.tools,
                "tool_choice": "auto",
            },
        }


def session_mismatch(config: SessionConfig, session: Any) -> str | None:
    """What a confirmed session (session.updated) changed of what the call relies on."""
    audio = session.get("audio") if isinstance(session, dict) else None
    if not isinstance(audio, dict):
        return "no audio settings"
    inp, out = audio.get("input") or {}, audio.get("output") or {}
    for side, confirmed in (("input", inp), ("output", out)):
        fmt = confirmed.get("format") if isinstance(confirmed, dict) else None
        if not isinstance(fmt, dict) or any(
            fmt.get(k) != v for k, v in config.audio_format.items()
        ):
            return f"audio {side} format"
    if not isinstance(out, dict) or out.get("voice") != config.voice:
        return "voice"
    return None


def append_audio(b64: str) -> str:
    """The hot path: 50 times a second per call, so built without json.dumps."""
    return '{"type":"input_audio_buffer.append","audio":"' + b64 + '"}'


def response_create(instructions: str | None = None) -> dict[str, Any]:
    if instructions is None:
        return {"type": "response.create"}
    return {"type": "response.create", "response": {"instructions": instructions}}


def response_cancel(response_id: str) -> dict[str, Any]:
    """Names the response: a bare cancel stops whichever is active when it arrives."""
    return {"type": "response.cancel", "response_id": response_id}


def truncate(item_id: str, audio_end_ms: int) -> dict[str, Any]:
    return {
        "type": "conversation.item.truncate",
        "item_id": item_id,
        "content_index": 0,
        "audio_end_ms": audio_end_ms,
    }


def function_call_output(call_id: str, output: str) -> dict[str, Any]:
    return {
        "type": "conversation.item.create",
        "item": {"type": "function_call_output", "call_id": call_id, "output": output},
    }


def message_item(role: str, text: str) -> dict[str, Any]:
    """A text message for replaying context or adding a note; assistant text is output_text."""
    kind = "output_text" if role == "assistant" else "input_text"
    return {
        "type": "conversation.item.create",
        "item": {"type": "message", "role": role, "content": [{"type": kind, "text": text}]},
    }


# -- server events ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    item_id: str
    audio_start_ms: int


@dataclass(frozen=True, slots=True)
class SpeechStopped:
    item_id: str
    audio_end_ms: int


@dataclass(frozen=True, slots=True)
class Committed:
    item_id: str
    previous_item_id: str | None


@dataclass(frozen=True, slots=True)
class TranscriptionCompleted:
    item_id: str
    transcript: str
    usage: TranscriptionUsage | None


@dataclass(frozen=True, slots=True)
class TranscriptionFailed:
    item_id: str
    message: str


@dataclass(frozen=True, slots=True)
class ResponseCreated:
    response_id: str


@dataclass(frozen=True, slots=True)
class OutputItemAdded:
    response_id: str
    item_id: str
    item_type: str
    role: str | None


# Not frozen: a frozen dataclass's __init__ costs about four times as much, and this one
# is made for every audio delta.
@dataclass(slots=True)
class AudioDelta:
    response_id: str
    item_id: str
    delta: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class TranscriptDelta:
    response_id: str
    item_id: str
    delta: str


@dataclass(frozen=True, slots=True)
class TranscriptDone:
    response_id: str
    item_id: str
    transcript: str


@dataclass(frozen=True, slots=True)
class FunctionCall:
    response_id: str
    item_id: str
    call_id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ResponseDone:
    response_id: str
    status: str
    usage: ResponseUsage | None


@dataclass(frozen=True, slots=True)
class ServerError:
    type: str
    code: str | None
    message: str

    @property
    def ends_session(self) -> bool:
        return self.code == "session_expired"


@dataclass(frozen=True, slots=True)
class SessionEvent:
    type: str  # session.created / session.updated
    session: Any = field(repr=False)


@dataclass(frozen=True, slots=True)
class Ignored:
    type: str


ServerEvent = (
    SpeechStarted
    | SpeechStopped
    | Committed
    | TranscriptionCompleted
    | TranscriptionFailed
    | ResponseCreated
    | OutputItemAdded
    | AudioDelta
    | TranscriptDelta
    | TranscriptDone
    | FunctionCall
    | ResponseDone
    | ServerError
    | SessionEvent
    | Ignored
)

# Events that are part of the protocol but carry nothing the session acts on.
KNOWN_QUIET = frozenset(
    {
        "conversation.item.added",
        "conversation.item.done",
        "conversation.item.created",
        "conversation.item.truncated",
        "conversation.item.input_audio_transcription.delta",
        "input_audio_buffer.cleared",
        "response.content_part.added",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_audio.done",
        "response.function_call_arguments.delta",
        "rate_limits.updated",
    }
)


def _count(data: Mapping[str, Any], key: str) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return 0
    return value


def _details(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    return value if isinstance(value, Mapping) else {}


def response_usage(usage: Any) -> ResponseUsage | None:
    """`response.done`'s usage; counts missing or malformed are 0 (the meter errs high).

    None when there is none to read: usage must never cost the event that carries it.
    """
    if not isinstance(usage, Mapping):
        return None
    try:
        inp = _details(usage, "input_token_details")
        cached = _details(inp, "cached_tokens_details")
        out = _details(usage, "output_token_details")
        return ResponseUsage.billed(
            input_tokens=_count(usage, "input_tokens"),
            output_tokens=_count(usage, "output_tokens"),
            text_in=_count(inp, "text_tokens"),
            audio_in=_count(inp, "audio_tokens"),
            cached_text_in=_count(cached, "text_tokens"),
            cached_audio_in=_count(cached, "audio_tokens"),
            text_out=_count(out, "text_tokens"),
            audio_out=_count(out, "audio_tokens"),
        )
    except Exception:
        return None


def transcription_usage(usage: Any) -> TranscriptionUsage | None:
    """Transcription usage: seconds of audio, or tokens, as the model is billed; None
    when there is nothing to read."""
    if not isinstance(usage, Mapping) or not usage:
        return None
    try:
        kind = usage.get("type")
        if kind == "duration" or (kind is None and "seconds" in usage):
            seconds = usage.get("seconds")
            if isinstance(seconds, bool) or not isinstance(seconds, int | float):
                seconds = 0.0
            return TranscriptionSeconds.billed(seconds=float(seconds))
        inp = _details(usage, "input_token_details")
        return TranscriptionTokens.billed(
            input_tokens=_count(usage, "input_tokens"),
            text_in=_count(inp, "text_tokens"),
            audio_in=_count(inp, "audio_tokens"),
            output_tokens=_count(usage, "output_tokens"),
        )
    except Exception:
        return None


def _str(msg: Mapping[str, Any], key: str, default: str | None = None) -> str:
    """A string field; anything else makes the event unreadable (skipped, not acted on)."""
    value = msg[key] if default is None else msg.get(key, default)
    if not isinstance(value, str):
        raise TypeError(f"{key} is not a string")
    return value


def parse_server_event(text: str | bytes) -> ServerEvent:
    """Type the events the session acts on; anything else becomes Ignored(type)."""
    msg = orjson.loads(text)
    kind = msg.get("type", "") if isinstance(msg, dict) else ""
    if kind == "response.output_audio.delta":
        return AudioDelta(_str(msg, "response_id"), _str(msg, "item_id"), _str(msg, "delta"))
    if kind == "response.output_audio_transcript.delta":
        return TranscriptDelta(
            _str(msg, "response_id"), _str(msg, "item_id"), _str(msg, "delta", "")
        )
    if kind == "input_audio_buffer.speech_started":
        return SpeechStarted(_str(msg, "item_id"), int(msg.get("audio_start_ms", 0)))
    if kind == "input_audio_buffer.speech_stopped":
        return SpeechStopped(_str(msg, "item_id"), int(msg.get("audio_end_ms", 0)))
    if kind == "input_audio_buffer.committed":
        return Committed(_str(msg, "item_id"), msg.get("previous_item_id"))
    if kind == "conversation.item.input_audio_transcription.completed":
        return TranscriptionCompleted(
            _str(msg, "item_id"), _str(msg, "transcript", ""), transcription_usage(msg.get("usage"))
        )
    if kind == "conversation.item.input_audio_transcription.failed":
        error = msg.get("error") or {}
        return TranscriptionFailed(_str(msg, "item_id"), str(error.get("message", "")))
    if kind == "response.created":
        return ResponseCreated(_str(msg["response"], "id"))
    if kind == "response.output_item.added":
        item = msg["item"]
        return OutputItemAdded(
            _str(msg, "response_id"), _str(item, "id"), _str(item, "type"), item.get("role")
        )
    if kind == "response.output_audio_transcript.done":
        return TranscriptDone(
            _str(msg, "response_id"), _str(msg, "item_id"), _str(msg, "transcript", "")
        )
    if kind == "response.function_call_arguments.done":
        return FunctionCall(
            _str(msg, "response_id"),
            _str(msg, "item_id"),
            _str(msg, "call_id"),
            _str(msg, "name"),
            _str(msg, "arguments"),
        )
    if kind == "response.done":
        response = msg["response"]
        return ResponseDone(
            _str(response, "id"),
            _str(response, "status", ""),
            response_usage(response.get("usage")),
        )
    if kind == "error":
        error = msg.get("error") or {}
        return ServerError(
            str(error.get("type", "")), error.get("code"), str(error.get("message", ""))
        )
    if kind in ("session.created", "session.updated"):
        return SessionEvent(kind, msg.get("session"))
    return Ignored(kind)
