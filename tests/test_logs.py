from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from service.logs import configure_logging
from telephony.privacy import mask_phone, mask_phones_in, redact_text


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    configure_logging("DEBUG", stream)
    try:
        yield stream
    finally:
        for h in list(root.handlers):
            root.removeHandler(h)
        for h in saved[0]:
            root.addHandler(h)
        root.setLevel(saved[1])


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_mask_keeps_plus_and_last_four() -> None:
    assert mask_phone("+14155550123") == "+*******0123"
    assert mask_phone("(415) 555-0123") == "******0123"
    assert mask_phone("12") == "**"


@pytest.mark.parametrize(
    "text",
    [
        "call from +14155550123 ended",
        "call from +44 20 7946 0958 ended",
        "call from 4155550123 ended",
        "call from (415) 555-0123 ended",
        "call from +1-415-555-0123 ended",
    ],
)
def test_numbers_in_text_are_masked(text: str) -> None:
    masked = mask_phones_in(text)
    digits = "".join(c for c in masked if c.isdigit())
    assert len(digits) == 4
    assert masked.startswith("call from ") and masked.endswith(" ended")


def test_identifiers_and_dates_are_left_alone() -> None:
    text = "CallSid CA1234567890abcdef1234567890abcdef on 2026-11-23 took 1800 s"
    assert mask_phones_in(text) == text


def test_json_lines_mask_message_args_and_extras(captured: io.StringIO) -> None:
    log = logging.getLogger("voice_interview.test")
    log.info("inbound call from %s", "+14155550123", extra={"to": "+442079460958", "n": 3})
    (entry,) = lines(captured)
    assert entry["msg"] == "inbound call from +*******0123"
    assert entry["to"] == "+********0958"
    assert entry["n"] == 3
    assert entry["level"] == "INFO" and entry["logger"] == "voice_interview.test"
    assert "14155550123" not in captured.getvalue()


def test_exceptions_are_logged_masked(captured: io.StringIO) -> None:
    log = logging.getLogger("voice_interview.test")
    try:
        raise ValueError("cannot dial +14155550123")
    except ValueError:
        log.exception("dial failed")
    (entry,) = lines(captured)
    assert "ValueError: cannot dial +*******0123" in str(entry["exc"])
    assert "14155550123" not in captured.getvalue()


def test_level_filters(captured: io.StringIO) -> None:
    configure_logging("WARNING", captured)
    log = logging.getLogger("voice_interview.test")
    log.info("hidden")
    log.warning("shown")
    assert [e["msg"] for e in lines(captured)] == ["shown"]


def test_url_encoded_numbers_are_masked() -> None:
    line = "POST /twilio/voice?From=%2B14155550123&To=%2b4930123456 HTTP/1.1"
    masked = mask_phones_in(line)
    assert "4155550123" not in masked and "4930123456" not in masked
    assert "From=%2B*******0123" in masked and "To=%2B******3456" in masked


def test_redacted_transcripts_keep_no_number_or_address() -> None:
    said = "Call me on +1 415 555 0123 or 4155550199, or write to jo.doe+jobs@mail.example.com."
    redacted = redact_text(said)
    assert "555 0123" not in redacted and "4155550199" not in redacted
    assert "jo.doe" not in redacted and "[e-mail]" in redacted
    assert redacted.startswith("Call me on +")  # the words around them stay
