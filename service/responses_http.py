"""The client side of the OpenAI Responses API, streamed: one HTTP request per reply, read
as server-sent events until the response finishes or the caller stops reading. It lives
in the composition root because `bridge` speaks no HTTP: the relay session is handed
`ResponsesClient.stream` as its `Streamer`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from bridge.responses_events import Json, TextEvent, TextModelUnavailable, parse_event

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ResponsesEndpoint:
    url: str
    api_key: str
    timeout_s: float = 20.0


class ResponsesClient:
    def __init__(self, endpoint: ResponsesEndpoint, http: httpx.AsyncClient) -> None:
        self._endpoint = endpoint
        self._http = http

    async def stream(self, body: Json) -> AsyncIterator[TextEvent]:
        """The events of one streamed response; closing the iterator cancels it."""
        headers = {"Authorization": f"Bearer {self._endpoint.api_key}"}
        try:
            async with self._http.stream(
                "POST",
                self._endpoint.url,
                json=body,
                headers=headers,
                timeout=self._endpoint.timeout_s,
            ) as response:
                if response.status_code != 200:
                    await response.aread()
                    raise TextModelUnavailable(
                        f"HTTP {response.status_code}: {_error_message(response)}"
                    )
                async for line in response.aiter_lines():
                    if line.startswith("data:"):
                        event = parse_event(line[5:].strip())
                        if event is not None:
                            yield event
        except httpx.HTTPError as exc:
            raise TextModelUnavailable(
                f"cannot reach the text model: {type(exc).__name__}"
            ) from None


def _error_message(response: httpx.Response) -> str:
    try:
        body: Any = response.json()
        return str(body["error"]["message"])[:200]
    except (ValueError, KeyError, TypeError):
        return "no error message"
