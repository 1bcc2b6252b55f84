"""What the peer keeps about items and responses beyond their wire shape: for billing,
truncation, cancellation and pacing."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any, Literal

from tests.support.openai.protocol import Json
from tests.support.openai.script import Step


@dataclass
class ItemInfo:
    """What the peer knows about an item beyond its wire shape (for billing and truncation)."""

    audio_ms: float = 0.0  # caller audio committed, or assistant audio generated (cut if truncated)
    audio_per_token_ms: float = 100.0  # 100 for caller audio, 50 for assistant audio
    full_text: str = ""  # the scripted transcript of an assistant message
    planned_ms: float = 0.0
    truncated_ms: float | None = None
    has_output_audio: bool = False


@dataclass
class PeerResponse:
    """A response the peer produced, whoever triggered it."""

    id: str
    trigger: Literal["client", "vad"]
    plan: list[Step]
    in_conversation: bool
    instructions: str
    tools: list[Any]
    modalities: list[str]
    max_output_tokens: int | None
    voice: Any
    output_format: Json
    created_at: float
    started_at: float = 0.0
    status: str = "in_progress"
    status_details: Json | None = None
    output: list[Json] = field(default_factory=list)
    usage: Json | None = None
    audio_ms: float = 0.0
    output_text_tokens: int = 0
    output_audio_tokens: int = 0
    input_segments: list[tuple[str, int, int]] = field(default_factory=list)
    cancel_reason: str | None = None
    cancelled_at_event: int | None = None  # len(connection.sent) when the cancel took effect
    in_flight: int = 0  # deltas still delivered after the cancel took effect
    incomplete: bool = False
    done_at: float | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    def stopping(self) -> bool:
        return self.cancel_reason is not None or self.incomplete

    def output_stopped(self) -> bool:
        """No more deltas: cancelled (once those already in flight are out) or incomplete."""
        return (self.cancel_reason is not None and self.in_flight <= 0) or self.incomplete

    async def pause(self, seconds: float) -> None:
        """Sleep for pacing, waking at once when the response is cancelled."""
        if seconds <= 0 or self.stopping():
            await asyncio.sleep(0)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), seconds)


class Gone(Exception):
    """The WebSocket closed under us; the task that noticed stops quietly."""
