"""The two wire formats the relay engine speaks, in process: ConversationRelay's messages
(checked against the test peer's reading of Twilio's rules) and the Responses API's
streamed events and request body."""

from __future__ import annotations

import json

import pytest

from bridge import relay_messages as relay
from bridge import responses_events as te
from evaluation.tools import TOOLS
from tests.support.relay_peer import check_message


def test_every_message_from_twilio_is_read() -> None:
    setup = relay.parse(
        json.dumps(
            {
                "type": "setup",
                "sessionId": "VX1",
                "accountSid": "AC1",
                "parentCallSid": "",
                "callSid": "CA1",
                "from": "+14155550123",
                "to": "+14155550100",
                "forwardedFrom": "",
                "callerName": "",
                "direction": "inbound",
                "callType": "PSTN",
                "callStatus": "RINGING",
                "customParameters": {"template_id": "default"},
            }
        )
    )
    assert setup == relay.Setup("VX1", "CA1", "AC1", "inbound", {"template_id": "default"})
    prompt = '{"type": "prompt", "voicePrompt": "Hello there", "lang": "en-US", "last": true}'
    assert relay.parse(prompt) == relay.Prompt("Hello there", "en-US", True)
    interrupt = {
        "type": "interrupt",
        "utteranceUntilInterrupt": "Welcome to",
        "durationUntilInterruptMs": 820,
    }
    assert relay.parse(json.dumps(interrupt)) == relay.Interrupt("Welcome to", 820)
    assert relay.parse('{"type": "dtmf", "digit": "5"}') == relay.Digit("5")
    error = '{"type": "error", "description": "Invalid message received"}'
    assert relay.parse(error) == relay.RelayError("Invalid message received")


@pytest.mark.parametrize(
    ("frame", "kind"),
    [
        (b"\x00binary", "binary"),
        ("{not json", "not_json"),
        ("[1]", "not_object"),
        ('{"type": "transcript"}', "unknown_type"),
        ('{"type": "prompt", "voicePrompt": 5, "last": true}', "bad_field"),
        ('{"type": "prompt", "voicePrompt": "hi", "last": "yes"}', "bad_field"),
        ('{"type": "interrupt", "durationUntilInterruptMs": "long"}', "bad_field"),
        ('{"type": "setup", "callSid": "CA1"}', "bad_field"),
        ('{"type": "setup", "sessionId": "VX", "callSid": "CA", "accountSid": "AC", '
         '"customParameters": []}', "bad_field"),
    ],
)  # fmt: skip
def test_bad_frames_say_what_is_wrong(frame: str | bytes, kind: str) -> None:
    with pytest.raises(relay.RelayMessageError) as error:
        relay.parse(frame)
    assert error.value.kind == kind


def test_what_we_send_is_what_twilio_accepts() -> None:
    messages = [
        relay.text_message("Hello, ", False),
        relay.text_message("", True),
        relay.send_digits_message("12#"),
        relay.language_message("es-ES", "es-ES"),
        relay.end_message(),
        relay.end_message({"reason": "completed"}),
    ]
    for message in messages:
        assert isinstance(check_message(message), dict), message
    assert json.loads(messages[-1])["handoffData"] == '{"reason": "completed"}'
    # The peer's rules do refuse what Twilio refuses.
    assert isinstance(check_message('{"type": "text", "token": "x"}'), str)
    assert isinstance(check_message('{"type": "text", "token": "x", "last": 1}'), str)
    assert isinstance(check_message('{"type": "clear"}'), str)
    assert isinstance(check_message('{"type": "sendDigits", "digits": "12a"}'), str)


def test_streamed_events_become_typed_values() -> None:
    created = {"type": "response.created", "response": {"id": "resp_1", "status": "in_progress"}}
    assert te.parse_event(json.dumps(created)) == te.Created("resp_1")
    added = {"type": "response.output_item.added", "item": {"type": "message", "id": "msg_1"}}
    assert te.parse_event(json.dumps(added)) == te.MessageStarted("msg_1")
    delta = {"type": "response.output_text.delta", "item_id": "msg_1", "delta": "Hi"}
    assert te.parse_event(json.dumps(delta)) == te.TextDelta("msg_1", "Hi")
    call = {
        "type": "response.output_item.done",
        "item": {
            "type": "function_call",
            "id": "fc_1",
            "call_id": "call_1",
            "name": "end_interview",
            "arguments": '{"reason": "completed"}',
        },
    }
    assert te.parse_event(json.dumps(call)) == te.FunctionCall(
        "fc_1", "call_1", "end_interview", '{"reason": "completed"}'
    )
    usage = {
        "input_tokens": 2000,
        "input_tokens_details": {"cached_tokens": 1536},
        "output_tokens": 40,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 2040,
    }
    done = {"type": "response.completed", "response": {"id": "resp_1", "status": "completed",
                                                       "usage": usage}}  # fmt: skip
    finished = te.parse_event(json.dumps(done))
    assert isinstance(finished, te.Finished) and finished.status == "completed"
    assert finished.usage is not None
    assert (finished.usage.text_in, finished.usage.text_in_cached, finished.usage.text_out) == (
        464,
        1536,
        40,
    )
    failed = {"type": "response.failed", "response": {"id": "r", "error": {"message": "boom"}}}
    assert te.parse_event(json.dumps(failed)) == te.Finished("r", "failed", None, "boom")
    error = {"type": "error", "code": "rate_limit_exceeded", "message": "slow down"}
    assert te.parse_event(json.dumps(error)) == te.StreamError("rate_limit_exceeded", "slow down")
    assert te.parse_event('{"type": "response.in_progress"}') is None
    assert isinstance(te.parse_event("not json"), te.StreamError)


def test_the_request_carries_the_conversation_and_a_note_for_one_reply() -> None:
    context = te.TextContext("gpt-4.1-mini", "Interview well.", TOOLS)
    context.said("assistant", "Hello.")
    index = context.said("assistant", "Let me explain the whole process.")
    context.cut(index, "Let me explain")
    context.tool_call(te.FunctionCall("fc_1", "call_1", "end_interview", "{}"))
    context.tool_output("call_1", '{"ok": true}')
    body = context.request("Say goodbye.")
    assert body["input"][1] == {"role": "assistant", "content": "Let me explain"}
    assert body["input"][-1] == {"role": "developer", "content": "Say goodbye."}
    assert body["stream"] is True and body["store"] is False
    assert context.request()["input"][-1]["type"] == "function_call_output"
