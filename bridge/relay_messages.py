"""Twilio ConversationRelay's WebSocket messages, as typed values, and the ones we send.

Twilio does the speech recognition and synthesis; over the socket it sends JSON objects
with a `type` (setup, prompt, interrupt, dtmf, error) and takes text to speak (text, play,
sendDigits, language, end). Anything else it answers with error 64107, so every message we
send is built here and nowhere else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


class RelayMessageError(ValueError):
    """A message from Twilio that cannot be used; `kind` names the problem for counting."""

    def __init__(self, kind: str, detail: str) -> None:
        self.kind = kind
        super().__init__(detail)


@dataclass(frozen=True, slots=True)
class Setup:
    session_id: str
    call_sid: str
    account_sid: str
    direction: str
    custom_parameters: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Prompt:
    """What the caller said; `last` is false only for partial prompts."""

    text: str
    lang: str
    last: bool


@dataclass(frozen=True, slots=True)
class Interrupt:
    """The caller talked over us: they heard `heard` (`heard_ms` of speech) of our turn."""

    heard: str
    heard_ms: int


@dataclass(frozen=True, slots=True)
class Digit:
    digit: str


@dataclass(frozen=True, slots=True)
class RelayError:
    description: str


RelayEvent = Setup | Prompt | Interrupt | Digit | RelayError


def _str(msg: dict[str, Any], key: str, kind: str, *, required: bool = True) -> str:
    value = msg.get(key, None if required else "")
    if not isinstance(value, str):
        raise RelayMessageError(kind, f"{msg.get('type')}: {key} must be a string")
    return value


def _int(msg: dict[str, Any], key: str) -> int:
    value = msg.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RelayMessageError("bad_field", f"{msg.get('type')}: {key} must be a number")
    return max(0, int(value))


def parse(frame: str | bytes) -> RelayEvent:
    """One frame from Twilio; raises RelayMessageError saying what is wrong with it."""
    if isinstance(frame, bytes):
        raise RelayMessageError("binary", "binary frame")
    try:
        msg = json.loads(frame)
    except ValueError:
        raise RelayMessageError("not_json", "frame is not JSON") from None
    if not isinstance(msg, dict):
        raise RelayMessageError("not_object", "frame is not a JSON object")
    kind = msg.get("type")
    if kind == "setup":
        params = msg.get("customParameters", {})
        params = {} if params is None else params
        if not isinstance(params, dict):
            raise RelayMessageError("bad_field", "setup: customParameters must be an object")
        return Setup(
            session_id=_str(msg, "sessionId", "bad_field"),
            call_sid=_str(msg, "callSid", "bad_field"),
            account_sid=_str(msg, "accountSid", "bad_field"),
            direction=_str(msg, "direction", "bad_field", required=False),
            custom_parameters={str(k): str(v) for k, v in params.items()},
        )
    if kind == "prompt":
        last = msg.get("last", True)
        if not isinstance(last, bool):
            raise RelayMessageError("bad_field", "prompt: last must be true or false")
        return Prompt(
            _str(msg, "voicePrompt", "bad_field"),
            _str(msg, "lang", "bad_field", required=False),
            last,
        )
    if kind == "interrupt":
        return Interrupt(
            _str(msg, "utteranceUntilInterrupt", "bad_field", required=False),
            _int(msg, "durationUntilInterruptMs"),
        )
    if kind == "dtmf":
        return Digit(_str(msg, "digit", "bad_field")[:1])
    if kind == "error":
        return RelayError(_str(msg, "description", "bad_field", required=False))
    raise RelayMessageError("unknown_type", f"unknown message type {str(kind)[:40]!r}")


def _dump(msg: dict[str, Any]) -> str:
    return json.dumps(msg, separators=(",", ":"))


def text_message(token: str, last: bool) -> str:
    """Words to speak; `last` ends our turn (Twilio flushes its speech synthesis)."""
    return _dump({"type": "text", "token": token, "last": last})


def send_digits_message(digits: str) -> str:
    return _dump({"type": "sendDigits", "digits": digits})


def language_message(tts: str, transcription: str) -> str:
    return _dump({"type": "language", "ttsLanguage": tts, "transcriptionLanguage": transcription})


def end_message(handoff: dict[str, Any] | None = None) -> str:
    """End the session; Twilio then runs the TwiML after <Connect> (none: the call ends)."""
    msg: dict[str, Any] = {"type": "end"}
    if handoff is not None:
        msg["handoffData"] = json.dumps(handoff)
    return _dump(msg)
