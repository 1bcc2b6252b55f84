"""The media stream's direct path (`TwilioStream.handle_now`): a media frame is taken at
once, or declined with nothing done so that `handle` takes it; either way each frame is
counted once and bad input is reported once."""

from __future__ import annotations

import base64
import json
from datetime import datetime

from bridge.stream import Outcome, TwilioStream
from bridge.twilio_messages import Dtmf, Mark, Media, Start
from persistence.records import StreamClaim, StreamEnd

CALL, STREAM = "CA" + "1" * 32, "MZ" + "2" * 32


class Calls:
    async def claim_stream(self, call_sid: str, stream_sid: str, at: datetime) -> StreamClaim:
        return "claimed"

    def keypress(self, call_sid: str, n: int, digit: str, at: datetime) -> None:
        pass

    def stream_ended(self, call_sid: str, end: StreamEnd, at: datetime) -> None:
        pass


class Listener:
    def __init__(self) -> None:
        self.takes = True
        self.now: list[bytes] = []
        self.later: list[bytes] = []

    async def on_start(self, start: Start) -> None:
        pass

    async def on_media(self, media: Media, mulaw: bytes) -> None:
        self.later.append(mulaw)

    def media_now(self, media: Media, mulaw: bytes) -> bool:
        if self.takes:
            self.now.append(mulaw)
        return self.takes

    async def on_mark(self, mark: Mark) -> None:
        pass

    async def on_dtmf(self, dtmf: Dtmf) -> None:
        pass

    async def on_end(self, reason: str) -> str | None:
        return None


def media(mulaw: bytes, *, stream_sid: str = STREAM, payload: str | None = None) -> str:
    body = {"track": "inbound", "chunk": "1", "timestamp": "0"}
    body["payload"] = payload if payload is not None else base64.b64encode(mulaw).decode()
    frame = {"event": "media", "sequenceNumber": "3", "media": body, "streamSid": stream_sid}
    return json.dumps(frame)


START = json.dumps(
    {
        "event": "start",
        "sequenceNumber": "1",
        "start": {
            "accountSid": "AC" + "3" * 32,
            "streamSid": STREAM,
            "callSid": CALL,
            "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            "customParameters": {},
        },
        "streamSid": STREAM,
    }
)


async def send(text: str) -> None:
    pass


async def started() -> tuple[TwilioStream, Listener]:
    listener = Listener()

    async def factory(start: Start, send: object) -> Listener:
        return listener

    stream = TwilioStream(Calls(), send, listener_factory=factory)
    assert await stream.handle(START) is Outcome.CONTINUE
    return stream, listener


async def test_before_start_nothing_is_taken() -> None:
    stream = TwilioStream(Calls(), send)
    assert not stream.handle_now(media(b"\xff" * 160))
    assert (stream.frames_in, dict(stream.bad)) == (0, {})


async def test_a_media_frame_is_taken_once_and_counted_once() -> None:
    stream, listener = await started()
    assert stream.handle_now(media(b"\x01" * 160))
    assert (listener.now, listener.later, stream.frames_in) == ([b"\x01" * 160], [], 1)


async def test_a_frame_the_listener_declines_is_left_whole_to_handle() -> None:
    stream, listener = await started()
    listener.takes = False
    frame = media(b"\x02" * 160)
    assert not stream.handle_now(frame)
    assert stream.frames_in == 0
    await stream.handle(frame)
    assert (listener.later, stream.frames_in) == ([b"\x02" * 160], 1)


async def test_other_messages_and_unreadable_frames_are_left_to_handle() -> None:
    stream, listener = await started()
    mark = json.dumps(
        {"event": "mark", "sequenceNumber": "4", "streamSid": STREAM, "mark": {"name": "a1"}}
    )
    assert not stream.handle_now(mark)
    assert not stream.handle_now("{not json")
    assert (listener.now, dict(stream.bad)) == ([], {})  # `handle` reports it, once


async def test_bad_media_is_reported_once_and_never_reaches_the_listener() -> None:
    stream, listener = await started()
    assert stream.handle_now(media(b"", payload="not base64!"))
    assert stream.handle_now(media(b"\x03" * 160, stream_sid="MZ" + "9" * 32))
    assert dict(stream.bad) == {"bad_payload": 1, "wrong_stream": 1}
    assert (listener.now, stream.frames_in) == ([], 0)
