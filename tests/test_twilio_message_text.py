"""The outbound frames built by hand, and the parser's refusals, without a socket."""

from __future__ import annotations

import json

import pytest

from bridge.session import END_MARK
from bridge.twilio_messages import (
    Media,
    TwilioMessageError,
    clear_message,
    mark_message,
    media_message,
    parse,
)

SID = "MZ" + "0123456789abcdef" * 2


@pytest.mark.parametrize("name", ["a1", "a99999", END_MARK])
def test_a_mark_built_by_hand_is_the_json_twilio_expects(name: str) -> None:
    assert json.loads(mark_message(SID, name)) == {
        "event": "mark",
        "streamSid": SID,
        "mark": {"name": name},
    }


def test_clear_and_media_built_by_hand_are_the_json_twilio_expects() -> None:
    assert json.loads(clear_message(SID)) == {"event": "clear", "streamSid": SID}
    assert json.loads(media_message(SID, "//8=")) == {
        "event": "media",
        "streamSid": SID,
        "media": {"payload": "//8="},
    }


@pytest.mark.parametrize(
    "frame",
    [
        '{"event": "media", "media": ' + "[" * 30_000 + "]" * 30_000 + "}",
        '{"event": "media", "sequenceNumber": NaN}',
        '{"event": "media"',
        "",
        '"\\ud800"',
    ],
)
def test_frames_that_are_not_json_are_refused_as_malformed(frame: str) -> None:
    with pytest.raises(TwilioMessageError) as refused:
        parse(frame)
    assert refused.value.kind == "malformed_json"


def _media_frame(**changes: object) -> dict[str, object]:
    media: dict[str, object] = {
        "track": "inbound",
        "chunk": "2",
        "timestamp": "20",
        "payload": "//8=",
    }
    frame: dict[str, object] = {
        "event": "media",
        "sequenceNumber": "3",
        "streamSid": SID,
        "media": media,
    }
    for key, value in changes.items():
        target = frame if key in frame else media
        if value is None:
            del target[key]
        else:
            target[key] = value
    return frame


def test_a_media_frame_is_read_field_by_field() -> None:
    media = parse(json.dumps(_media_frame()))
    assert isinstance(media, Media)
    assert (media.sequence_number, media.stream_sid) == ("3", SID)
    assert (media.track, media.chunk, media.timestamp, media.payload) == (
        "inbound",
        "2",
        "20",
        "//8=",
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("media", None),
        ("media", "x"),
        ("sequenceNumber", 3),
        ("streamSid", None),
        ("track", None),
        ("chunk", 2),
        ("timestamp", ["20"]),
        ("payload", None),
        ("payload", {"b64": "//8="}),
    ],
)
def test_a_media_frame_missing_or_mistyping_a_field_names_it(field: str, value: object) -> None:
    with pytest.raises(TwilioMessageError) as refused:
        parse(json.dumps(_media_frame(**{field: value})))
    assert refused.value.kind == "missing_field"
    assert f"'{field}'" in str(refused.value)
