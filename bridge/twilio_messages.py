"""Twilio Media Streams wire format, isolated here: JSON text in, typed events out, and back.

Nothing else in the service sees Twilio's raw JSON. Field names and string-typed
numbers follow Twilio's documentation exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

MAX_FRAME_BYTES = 64 * 1024  # a 20 ms media frame is ~330 bytes; anything huge is abuse


class TwilioMessageError(ValueError):
    """A message Twilio would never send; `kind` names the problem for counters."""

    def __init__(self, kind: str, detail: str) -> None:
        self.kind = kind
        super().__init__(f"{kind}: {detail}")


@dataclass(frozen=True, slots=True)
class Connected:
    protocol: str
    version: str


@dataclass(frozen=True, slots=True)
class Start:
    sequence_number: str
    stream_sid: str
    account_sid: str
    call_sid: str
    tracks: tuple[str, ...]
    custom_parameters: dict[str, str]
    encoding: str
    sample_rate: int
    channels: int


# Not frozen: a frozen dataclass's __init__ costs about four times as much, and this one
# is made for every frame (50 a second per call).
@dataclass(slots=True)
class Media:
    sequence_number: str
    stream_sid: str
    track: str
    chunk: str
    timestamp: str
    payload: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Dtmf:
    sequence_number: str
    stream_sid: str
    track: str
    digit: str


@dataclass(frozen=True, slots=True)
class Mark:
    sequence_number: str
    stream_sid: str
    name: str


@dataclass(frozen=True, slots=True)
class Stop:
    sequence_number: str
    stream_sid: str
    account_sid: str
    call_sid: str


TwilioEvent = Connected | Start | Media | Dtmf | Mark | Stop


def _obj(parent: dict[str, Any], key: str) -> dict[str, Any]:
    value = parent.get(key)
    if not isinstance(value, dict):
        raise TwilioMessageError("missing_field", f"'{key}' must be an object")
    return value


def _str(parent: dict[str, Any], key: str) -> str:
    value = parent.get(key)
    if not isinstance(value, str):
        raise TwilioMessageError("missing_field", f"'{key}' must be a string")
    return value


def _int(parent: dict[str, Any], key: str) -> int:
    value = parent.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise TwilioMessageError("missing_field", f"'{key}' must be a number")
    return value


def _media(msg: dict[str, Any]) -> Media:
    """Checked inline (exact type tests, no helper calls): half the cost of the general
    path, on the message that makes up nearly all of a call's traffic."""
    media = msg.get("media")
    if type(media) is dict:
        seq, sid = msg.get("sequenceNumber"), msg.get("streamSid")
        track, chunk = media.get("track"), media.get("chunk")
        timestamp, payload = media.get("timestamp"), media.get("payload")
        if (
            type(seq) is str
            and type(sid) is str
            and type(track) is str
            and type(chunk) is str
            and type(timestamp) is str
            and type(payload) is str
        ):
            return Media(seq, sid, track, chunk, timestamp, payload)
    # Something is missing or mistyped (orjson makes no subclasses): name the first.
    media = _obj(msg, "media")
    for parent, key in (
        (msg, "sequenceNumber"),
        (msg, "streamSid"),
        (media, "track"),
        (media, "chunk"),
        (media, "timestamp"),
        (media, "payload"),
    ):
        _str(parent, key)
    raise AssertionError("unreachable: every field checked out")


def parse(text: str | bytes) -> TwilioEvent:
    """Turn one WebSocket frame into a typed event, or raise TwilioMessageError."""
    if isinstance(text, bytes):
        raise TwilioMessageError("binary_frame", "Twilio sends text frames only")
    if len(text) > MAX_FRAME_BYTES:
        raise TwilioMessageError("oversize_frame", f"{len(text)} bytes")
    try:
        msg = orjson.loads(text)
    except ValueError:  # orjson refuses nesting past 1024 levels as malformed, too
        raise TwilioMessageError("malformed_json", "frame is not JSON") from None
    if not isinstance(msg, dict):
        raise TwilioMessageError("malformed_json", "frame is not a JSON object")
    event = msg.get("event")
    if event == "media":
        return _media(msg)
    if event == "connected":
        return Connected(_str(msg, "protocol"), _str(msg, "version"))
    if event == "start":
        start = _obj(msg, "start")
        fmt = _obj(start, "mediaFormat")
        tracks = start.get("tracks")
        if not isinstance(tracks, list) or not all(isinstance(t, str) for t in tracks):
            raise TwilioMessageError("missing_field", "'tracks' must be a list of strings")
        params = start.get("customParameters", {})
        if not isinstance(params, dict) or not all(isinstance(v, str) for v in params.values()):
            raise TwilioMessageError("missing_field", "'customParameters' must map to strings")
        stream_sid = _str(start, "streamSid")
        if not stream_sid.isalnum() or not stream_sid.isascii():
            # It is echoed into every outbound frame: only plain SIDs are accepted.
            raise TwilioMessageError("missing_field", "'streamSid' must be alphanumeric")
        return Start(
            _str(msg, "sequenceNumber"),
            stream_sid,
            _str(start, "accountSid"),
            _str(start, "callSid"),
            tuple(tracks),
            dict(params),
            _str(fmt, "encoding"),
            _int(fmt, "sampleRate"),
            _int(fmt, "channels"),
        )
    if event == "mark":
        return Mark(
            _str(msg, "sequenceNumber"), _str(msg, "streamSid"), _str(_obj(msg, "mark"), "name")
        )
    if event == "dtmf":
        dtmf = _obj(msg, "dtmf")
        return Dtmf(
            _str(msg, "sequenceNumber"),
            _str(msg, "streamSid"),
            _str(dtmf, "track"),
            _str(dtmf, "digit"),
        )
    if event == "stop":
        stop = _obj(msg, "stop")
        return Stop(
            _str(msg, "sequenceNumber"),
            _str(msg, "streamSid"),
            _str(stop, "accountSid"),
            _str(stop, "callSid"),
        )
    raise TwilioMessageError("unknown_event", f"event {str(event)[:40]!r}")


def media_message(stream_sid: str, payload: str) -> str:
    """Outbound audio: base64 mu-law 8 kHz, any length; Twilio plays it in order."""
    return f'{{"event":"media","streamSid":"{stream_sid}","media":{{"payload":"{payload}"}}}}'


def mark_message(stream_sid: str, name: str) -> str:
    """After every media message, so built by hand like it: the stream SID was checked to
        be alphanumeric at `start`, and mark names are the bridge's own (ASCII letters, digits
    and hyphens; never a quote or a backslash)."""
    return f'{{"event":"mark","streamSid":"{stream_sid}","mark":{{"name":"{name}"}}}}'


def clear_message(stream_sid: str) -> str:
    return f'{{"event":"clear","streamSid":"{stream_sid}"}}'
