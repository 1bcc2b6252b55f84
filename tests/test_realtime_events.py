"""The GA wire shapes we send and the events we type; beta names must never appear."""

from __future__ import annotations

import json

from bridge import realtime_events as rt
from bridge.audio import openai_audio_format
from bridge.realtime_client import RealtimeEndpoint
from evaluation.tools import TOOLS


def test_session_update_is_ga_shaped() -> None:
    config = rt.SessionConfig(
        instructions="Interview the candidate.",
        audio_format=openai_audio_format("pcm16"),
        voice="marin",
        tools=TOOLS,
        language="en-US",
    )
    wire = config.to_wire()
    session = wire["session"]
    assert wire["type"] == "session.update"
    assert session["type"] == "realtime"
    assert session["output_modalities"] == ["audio"]
    assert session["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
    assert session["audio"]["output"] == {
        "format": {"type": "audio/pcm", "rate": 24000},
        "voice": "marin",
    }
    assert session["audio"]["input"]["transcription"] == {
        "model": "gpt-4o-mini-transcribe",
        "language": "en",
    }
    detection = session["audio"]["input"]["turn_detection"]
    assert detection["type"] == "semantic_vad" and detection["eagerness"] == "low"
    assert {t["name"] for t in session["tools"]} == {"evaluate_candidate_answer", "end_interview"}
    text = json.dumps(wire)
    for beta in ("input_audio_format", "output_audio_format", '"modalities"', "OpenAI-Beta"):
        assert beta not in text


def test_server_vad_and_pcmu() -> None:
    detection = rt.TurnDetection("server_vad", silence_ms=1200, threshold=0.7).to_wire()
    assert detection["type"] == "server_vad"
    assert detection["silence_duration_ms"] == 1200 and detection["threshold"] == 0.7
    assert openai_audio_format("pcmu") == {"type": "audio/pcmu"}


def test_client_events() -> None:
    assert json.loads(rt.append_audio("AAAA")) == {
        "type": "input_audio_buffer.append",
        "audio": "AAAA",
    }
    assert rt.truncate("item_1", 840) == {
        "type": "conversation.item.truncate",
        "item_id": "item_1",
        "content_index": 0,
        "audio_end_ms": 840,
    }
    assert rt.function_call_output("call_1", "{}")["item"] == {
        "type": "function_call_output",
        "call_id": "call_1",
        "output": "{}",
    }
    assert rt.message_item("assistant", "Hi")["item"]["content"] == [
        {"type": "output_text", "text": "Hi"}
    ]
    assert rt.message_item("user", "Hi")["item"]["content"][0]["type"] == "input_text"
    assert rt.response_create("Say bye")["response"] == {"instructions": "Say bye"}


def test_server_events_are_typed() -> None:
    delta = rt.parse_server_event(
        json.dumps(
            {
                "type": "response.output_audio.delta",
                "event_id": "e1",
                "response_id": "r1",
                "item_id": "i1",
                "output_index": 0,
                "content_index": 0,
                "delta": "AAAA",
            }
        )
    )
    assert delta == rt.AudioDelta("r1", "i1", "AAAA")
    done = rt.parse_server_event(
        json.dumps(
            {
                "type": "response.done",
                "response": {"id": "r1", "status": "cancelled", "usage": None},
            }
        )
    )
    assert done == rt.ResponseDone("r1", "cancelled", None)
    error = rt.parse_server_event(
        json.dumps(
            {
                "type": "error",
                "error": {
                    "type": "invalid_request_error",
                    "code": "session_expired",
                    "message": "60 minutes",
                },
            }
        )
    )
    assert isinstance(error, rt.ServerError) and error.ends_session
    # The beta name is not the GA event and is not acted on.
    beta = rt.parse_server_event(json.dumps({"type": "response.audio.delta", "delta": "AAAA"}))
    assert beta == rt.Ignored("response.audio.delta")


def test_endpoint_url_carries_the_model() -> None:
    endpoint = RealtimeEndpoint("wss://api.openai.com/v1/realtime", "gpt-realtime", "sk")
    assert endpoint.full_url == "wss://api.openai.com/v1/realtime?model=gpt-realtime"
