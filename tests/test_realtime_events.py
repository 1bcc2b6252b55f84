"""The GA wire shapes we send and the events we type; beta names must never appear."""

from __future__ import annotations

import json
from decimal import Decimal

from bridge import realtime_events as rt
from bridge.audio import openai_audio_format
from bridge.realtime_client import RealtimeEndpoint
from evaluation.tools import TOOLS
from evaluation.usage import ResponseUsage, TranscriptionSeconds, TranscriptionTokens


def test_session_update_is_ga_shaped() -> None:
    config = rt.SessionConfig(
        instructions="Interview the candidate.",
        audio_format=openai_audio_format("pcm16"),
        voice="marin",
        tools=TOOLS,
        transcription_model="gpt-4o-mini-transcribe",
        language="en-US",
        turn_detection=rt.TurnDetection("semantic_vad", "low", 1000, 0.6),
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
    detection = rt.TurnDetection("server_vad", "low", silence_ms=1200, threshold=0.7).to_wire()
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
    # Named, so a cancel arriving late never stops the response that followed.
    assert rt.response_cancel("resp_1") == {"type": "response.cancel", "response_id": "resp_1"}


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


def test_response_usage_is_typed_where_it_is_read() -> None:
    usage = {
        "total_tokens": 1800,
        "input_tokens": 1500,
        "output_tokens": 300,
        "input_token_details": {
            "text_tokens": 1000,
            "audio_tokens": 400,  # 100 input tokens are not attributed: billed as audio
            "cached_tokens": 700,
            "cached_tokens_details": {"text_tokens": 600, "audio_tokens": 900},
        },
        "output_token_details": {"text_tokens": 50, "audio_tokens": 200},
    }
    done = rt.parse_server_event(
        json.dumps({"type": "response.done", "response": {"id": "r1", "usage": usage}})
    )
    assert isinstance(done, rt.ResponseDone)
    assert done.usage == ResponseUsage(
        text_in=400,
        text_in_cached=600,
        audio_in=0,  # cached audio (900) is clamped to the audio input (500)
        audio_in_cached=500,
        text_out=50,
        audio_out=250,  # 50 output tokens not attributed: audio
    )


def test_partial_or_malformed_usage_counts_what_can_be_read() -> None:
    assert rt.response_usage(None) is None
    assert rt.response_usage("lots") is None
    assert rt.response_usage({}) == ResponseUsage.ZERO
    odd = {
        "input_tokens": "12",  # not a number: 0
        "output_tokens": 30,
        "input_token_details": 7,  # not an object: no split
        "output_token_details": {"text_tokens": True, "audio_tokens": -4},
    }
    assert rt.response_usage(odd) == ResponseUsage(audio_out=30)


def test_transcription_usage_by_duration_or_tokens() -> None:
    seconds = rt.transcription_usage({"type": "duration", "seconds": 2.35})
    assert seconds == TranscriptionSeconds(Decimal("2.35"))
    assert rt.transcription_usage({"seconds": 4}) == TranscriptionSeconds(Decimal(4))
    assert rt.transcription_usage({"type": "duration", "seconds": "x"}) == TranscriptionSeconds(
        Decimal(0)
    )
    tokens = rt.transcription_usage(
        {
            "type": "tokens",
            "input_tokens": 40,
            "output_tokens": 9,
            "input_token_details": {"text_tokens": 5, "audio_tokens": 30},
        }
    )
    assert tokens == TranscriptionTokens(text_in=5, audio_in=35, out=9)
    assert rt.transcription_usage(None) is None
    assert rt.transcription_usage({}) is None  # nothing reported: nothing to bill
    assert rt.transcription_usage({"seconds": 10**400}) is None  # unreadable, never fatal
    completed = rt.parse_server_event(
        json.dumps(
            {
                "type": "conversation.item.input_audio_transcription.completed",
                "item_id": "i1",
                "content_index": 0,
                "transcript": "Hello",
                "usage": {"type": "duration", "seconds": 1},
            }
        )
    )
    assert completed == rt.TranscriptionCompleted("i1", "Hello", TranscriptionSeconds(Decimal(1)))


def test_a_confirmed_session_must_keep_formats_and_voice() -> None:
    config = rt.SessionConfig(
        instructions="Interview the candidate.",
        audio_format=openai_audio_format("pcm16"),
        voice="marin",
        tools=[],
        transcription_model="gpt-4o-mini-transcribe",
        language="en",
        turn_detection=rt.TurnDetection("semantic_vad", "low", 1000, 0.6),
    )
    session = config.to_wire()["session"]
    assert rt.session_mismatch(config, session) is None
    pcmu = {**session["audio"]["input"], "format": {"type": "audio/pcmu"}}
    assert rt.session_mismatch(config, {"audio": {**session["audio"], "input": pcmu}}) == (
        "audio input format"
    )
    other_voice = {**session["audio"]["output"], "voice": "alloy"}
    assert (
        rt.session_mismatch(config, {"audio": {**session["audio"], "output": other_voice}})
        == "voice"
    )
    assert rt.session_mismatch(config, {}) == "no audio settings"
