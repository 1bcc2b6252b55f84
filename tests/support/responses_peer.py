"""A loopback stand-in for POST https://api.openai.com/v1/responses, streamed.

Strict like the API: Bearer key, a JSON body with known fields only, the expected model,
`stream: true`, `input` items of the documented shapes (messages, function_call and
function_call_output, each output answering a call made earlier), function tools with
JSON-schema parameters. A malformed request gets a 400 with OpenAI's error body and is
recorded in `errors`. What the model says is a `Script` (the Realtime peer's: `Say` is an
assistant message, `CallTool` a function call), streamed as server-sent events:
response.created, output items with their text deltas or argument deltas, and
response.completed with usage that bills the whole input again, cached prefix included.
A client that stops reading cancels the response (recorded).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from quart import Quart, Response, request

from tests.support.openai import CallTool, Say, Script
from tests.support.servers import running
from tests.support.waiting import Changes

Json = dict[str, Any]
BODY_KEYS = {
    "model", "input", "instructions", "tools", "tool_choice", "stream", "store",
    "max_output_tokens", "temperature", "parallel_tool_calls", "reasoning", "text",
    "previous_response_id", "prompt_cache_key", "metadata", "user", "truncation",
}  # fmt: skip
ROLES = {"user", "assistant", "system", "developer"}
CACHE_MIN_TOKENS, CACHE_STEP = 1024, 128


def tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


@dataclass
class PeerTextResponse:
    id: str
    status: str = "in_progress"
    output_text: str = ""
    usage: Json | None = None


@dataclass
class ResponsesPeer:
    script: Script
    api_key: str = "sk-test"
    model: str = "gpt-4.1-mini"
    delta_delay_s: float = 0.01  # between events, so a reply can be talked over
    fail_with: int | None = None  # answer every request with this HTTP status
    requests: list[Json] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    responses: list[PeerTextResponse] = field(default_factory=list)
    base: str = ""
    changed: Changes = field(default_factory=Changes)
    _last_prompt: str = ""

    @property
    def url(self) -> str:
        return self.base + "/v1/responses"

    @property
    def usages(self) -> list[Json]:
        return [r.usage for r in self.responses if r.usage is not None]

    def app(self) -> Quart:
        app = Quart(__name__)

        @app.post("/v1/responses")
        async def create() -> Response:
            try:
                return await self._create()
            finally:
                self.changed.notify()

        return app

    def _refuse(self, status: int, message: str, param: str | None = None) -> Response:
        self.errors.append(f"{status}: {message}")
        body = {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": param,
                "code": None,
            }
        }
        return Response(json.dumps(body), status=status, content_type="application/json")

    async def _create(self) -> Response:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return self._refuse(401, "Incorrect API key provided")
        try:
            body = json.loads(await request.get_data(as_text=True))
        except ValueError:
            return self._refuse(400, "We could not parse the JSON body of your request.")
        if not isinstance(body, dict):
            return self._refuse(400, "The body must be a JSON object.")
        problem = self._problem(body)
        if problem is not None:
            return self._refuse(400, problem)
        self.requests.append(body)
        if self.fail_with is not None:
            status = self.fail_with
            body = {"error": {"message": "overloaded", "type": "server_error", "code": None}}
            return Response(json.dumps(body), status=status, content_type="application/json")
        reply = PeerTextResponse("resp_" + secrets.token_hex(8))
        self.responses.append(reply)
        return Response(self._events(body, reply), content_type="text/event-stream")

    def _problem(self, body: Json) -> str | None:
        unknown = set(body) - BODY_KEYS
        if unknown:
            return f"Unknown parameter: '{sorted(unknown)[0]}'."
        if body.get("model") != self.model:
            return f"The model '{body.get('model')}' does not exist"
        if body.get("stream") is not True:
            return "this peer serves streamed responses only (stream: true)"
        if not isinstance(body.get("instructions", ""), str):
            return "Invalid type for 'instructions': expected a string."
        for i, tool in enumerate(body.get("tools", [])):
            if not isinstance(tool, dict) or tool.get("type") != "function":
                return f"Invalid 'tools[{i}]': expected a function tool."
            if set(tool) - {"type", "name", "description", "parameters", "strict"}:
                return f"Unknown parameter: 'tools[{i}].{sorted(set(tool) - {'type'})[0]}'."
            params = tool.get("parameters")
            if not isinstance(tool.get("name"), str) or not isinstance(params, dict):
                return f"Missing required parameter: 'tools[{i}].name' or 'parameters'."
            if params.get("type") != "object":
                return f"Invalid schema for function '{tool['name']}': type must be object."
        items = body.get("input")
        if not isinstance(items, list) or not items:
            return "Invalid 'input': expected a non-empty array of items."
        calls: set[str] = set()
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                return f"Invalid 'input[{i}]': expected an object."
            kind = item.get("type", "message")
            if kind == "message":
                if set(item) - {"type", "role", "content"} or item.get("role") not in ROLES:
                    return f"Invalid 'input[{i}]': a message needs role and content only."
                if not isinstance(item.get("content"), str) or not item["content"]:
                    return f"Invalid 'input[{i}].content': expected a non-empty string."
            elif kind == "function_call":
                if set(item) != {"type", "call_id", "name", "arguments"}:
                    return f"Invalid 'input[{i}]': function_call needs call_id, name, arguments."
                calls.add(item["call_id"])
            elif kind == "function_call_output":
                if set(item) != {"type", "call_id", "output"}:
                    return f"Invalid 'input[{i}]': function_call_output needs call_id, output."
                if item["call_id"] not in calls:
                    return f"No tool call found for function call output {item['call_id']}."
            else:
                return f"Invalid 'input[{i}].type': {kind!r}."
        return None

    def _usage(self, body: Json, output: str) -> Json:
        prompt = json.dumps([body.get("instructions", ""), body.get("tools", []), body["input"]])
        common = 0
        for a, b in zip(prompt, self._last_prompt, strict=False):
            if a != b:
                break
            common += 1
        self._last_prompt = prompt
        input_tokens = tokens(prompt)
        cached = 0
        if input_tokens >= CACHE_MIN_TOKENS:
            cached = min(input_tokens, (common // 4) // CACHE_STEP * CACHE_STEP)
        output_tokens = tokens(output)
        return {
            "input_tokens": input_tokens,
            "input_tokens_details": {"cached_tokens": cached},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": input_tokens + output_tokens,
        }

    async def _events(self, body: Json, reply: PeerTextResponse) -> AsyncIterator[bytes]:
        seq = 0

        def event(kind: str, **fields: Any) -> bytes:
            nonlocal seq
            seq += 1
            data = {"type": kind, "sequence_number": seq, **fields}
            return f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode()

        shell = {"id": reply.id, "object": "response", "model": self.model}
        output: list[Json] = []
        produced = ""
        try:
            yield event("response.created", response={**shell, "status": "in_progress"})
            for index, step in enumerate(self.script.take_response()):
                await asyncio.sleep(self.delta_delay_s)
                if isinstance(step, Say):
                    item_id = "msg_" + secrets.token_hex(6)
                    item: Json = {"type": "message", "id": item_id, "role": "assistant"}
                    yield event(
                        "response.output_item.added",
                        output_index=index,
                        item={**item, "status": "in_progress", "content": []},
                    )
                    yield event(
                        "response.content_part.added",
                        item_id=item_id,
                        output_index=index,
                        content_index=0,
                        part={"type": "output_text", "text": ""},
                    )
                    words = step.text.split(" ")
                    for n, word in enumerate(words):
                        delta = word if n == len(words) - 1 else word + " "
                        reply.output_text += delta
                        produced += delta
                        self.changed.notify()
                        yield event(
                            "response.output_text.delta",
                            item_id=item_id,
                            output_index=index,
                            content_index=0,
                            delta=delta,
                        )
                        await asyncio.sleep(self.delta_delay_s)
                    part = {"type": "output_text", "text": step.text, "annotations": []}
                    yield event(
                        "response.output_text.done",
                        item_id=item_id,
                        output_index=index,
                        content_index=0,
                        text=step.text,
                    )
                    yield event(
                        "response.content_part.done",
                        item_id=item_id,
                        output_index=index,
                        content_index=0,
                        part=part,
                    )
                    done = {**item, "status": "completed", "content": [part]}
                else:
                    assert isinstance(step, CallTool)
                    item_id = "fc_" + secrets.token_hex(6)
                    call_id = step.call_id or "call_" + secrets.token_hex(6)
                    item = {
                        "type": "function_call",
                        "id": item_id,
                        "call_id": call_id,
                        "name": step.name,
                    }
                    yield event(
                        "response.output_item.added",
                        output_index=index,
                        item={**item, "arguments": "", "status": "in_progress"},
                    )
                    yield event(
                        "response.function_call_arguments.delta",
                        item_id=item_id,
                        output_index=index,
                        delta=step.arguments,
                    )
                    yield event(
                        "response.function_call_arguments.done",
                        item_id=item_id,
                        output_index=index,
                        name=step.name,
                        arguments=step.arguments,
                    )
                    produced += step.arguments
                    done = {**item, "arguments": step.arguments, "status": "completed"}
                output.append(done)
                yield event("response.output_item.done", output_index=index, item=done)
            reply.usage = self._usage(body, produced)
            reply.status = "completed"
            yield event(
                "response.completed",
                response={**shell, "status": "completed", "output": output, "usage": reply.usage},
            )
        finally:
            if reply.status != "completed":
                reply.status = "cancelled"  # the client stopped reading
            self.changed.notify()

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[ResponsesPeer]:
        async with running(self.app()) as base:
            self.base = base
            yield self
