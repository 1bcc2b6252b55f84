"""The OpenAI Responses API's streamed events, as typed values, and the conversation sent.

A streamed response arrives as server-sent events, each a JSON object with a `type`. The
relay session needs few of them: the response starting, text deltas of an assistant
message, finished function calls, and the end with its usage. The rest (content parts,
argument deltas, `in_progress`) carry nothing the session uses and are skipped here.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from evaluation.usage import ResponseUsage

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Created:
    response_id: str


@dataclass(frozen=True, slots=True)
class MessageStarted:
    item_id: str


@dataclass(frozen=True, slots=True)
class TextDelta:
    item_id: str
    delta: str


@dataclass(frozen=True, slots=True)
class FunctionCall:
    item_id: str
    call_id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class Finished:
    """response.completed, .incomplete or .failed: the last event of a response."""

    response_id: str
    status: str
    usage: ResponseUsage | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class StreamError:
    code: str
    message: str


TextEvent = Created | MessageStarted | TextDelta | FunctionCall | Finished | StreamError
FINISHED = {"response.completed", "response.incomplete", "response.failed"}
Streamer = Callable[[Json], AsyncIterator[TextEvent]]
"""Streams one response for a request body (the Responses API client, or a stand-in)."""


class TextModelUnavailable(ConnectionError):
    """The text model could not be reached, or refused the request; the message says how."""


def _usage(response: Json) -> ResponseUsage | None:
    usage = response.get("usage")
    if not isinstance(usage, dict):
        return None
    details = usage.get("input_tokens_details") or {}
    try:
        return ResponseUsage.billed_text(
            input_tokens=int(usage.get("input_tokens", 0)),
            cached_tokens=int(details.get("cached_tokens", 0)),
            output_tokens=int(usage.get("output_tokens", 0)),
        )
    except (TypeError, ValueError):
        return None


def parse_event(data: str) -> TextEvent | None:
    """One SSE `data:` payload; None for events the session has no use for."""
    try:
        event = json.loads(data)
    except ValueError:
        return StreamError("bad_event", "an event that is not JSON")
    if not isinstance(event, dict):
        return StreamError("bad_event", "an event that is not an object")
    kind = event.get("type")
    if kind == "response.created":
        return Created(str(event.get("response", {}).get("id", "")))
    if kind == "response.output_text.delta":
        return TextDelta(str(event.get("item_id", "")), str(event.get("delta", "")))
    if kind == "response.output_item.added":
        item = event.get("item") or {}
        if item.get("type") == "message":
            return MessageStarted(str(item.get("id", "")))
        return None
    if kind == "response.output_item.done":
        item = event.get("item") or {}
        if item.get("type") == "function_call":
            return FunctionCall(
                str(item.get("id", "")),
                str(item.get("call_id", "")),
                str(item.get("name", "")),
                str(item.get("arguments", "")),
            )
        return None
    if kind in FINISHED:
        response = event.get("response") or {}
        error = response.get("error") or {}
        return Finished(
            str(response.get("id", "")),
            str(response.get("status", kind.rsplit(".", 1)[1])),
            _usage(response),
            str(error.get("message", ""))[:200] or None if isinstance(error, dict) else None,
        )
    if kind == "error":
        return StreamError(str(event.get("code", "")), str(event.get("message", ""))[:200])
    return None


@dataclass
class TextContext:
    """The conversation as the text model is given it, request after request (the API
    keeps nothing between them: `store` is false)."""

    model: str
    instructions: str
    tools: Sequence[Json]
    items: list[Json] = field(default_factory=list)

    def said(self, role: str, text: str) -> int:
        """A message (user, assistant, or developer for notes); returns its index."""
        self.items.append({"role": role, "content": text})
        return len(self.items) - 1

    def cut(self, index: int, heard: str) -> None:
        """An assistant message the caller interrupted: the model hears what they heard."""
        self.items[index] = {"role": "assistant", "content": heard or "..."}

    def tool_call(self, call: FunctionCall) -> None:
        self.items.append(
            {
                "type": "function_call",
                "call_id": call.call_id,
                "name": call.name,
                "arguments": call.arguments,
            }
        )

    def tool_output(self, call_id: str, output: str) -> None:
        self.items.append({"type": "function_call_output", "call_id": call_id, "output": output})

    def request(self, extra: str | None = None) -> Json:
        """A streamed request for the next reply; `extra`: a note for this reply only."""
        items = list(self.items)
        if extra:
            items.append({"role": "developer", "content": extra})
        return {
            "model": self.model,
            "instructions": self.instructions,
            "input": items,
            "tools": list(self.tools),
            "stream": True,
            "store": False,
        }
