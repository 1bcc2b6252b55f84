"""What the "model" does, written by the test: one entry per response, one transcript per
committed caller turn, consumed in order across reconnections."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Say:
    """An assistant audio (or text) message; its audio length follows the text unless given."""

    text: str
    audio_ms: int | None = None

    @property
    def duration_ms(self) -> int:
        if self.audio_ms is not None:
            return self.audio_ms
        return max(20, 60 * len(self.text))


@dataclass
class CallTool:
    """A function_call output item; `arguments` is sent verbatim, valid JSON or not."""

    name: str
    arguments: str
    call_id: str | None = None


Step = Say | CallTool


@dataclass
class Script:
    """What the model does: one entry per response, one transcript per committed caller turn."""

    responses: list[Step | list[Step]] = field(default_factory=list)
    caller_transcripts: list[str] = field(default_factory=list)
    transcript_delay_ms: int = 50
    next_response: int = 0
    next_transcript: int = 0

    def take_response(self) -> list[Step]:
        if self.next_response >= len(self.responses):
            return [Say("Okay.")]
        entry = self.responses[self.next_response]
        self.next_response += 1
        return list(entry) if isinstance(entry, list) else [entry]

    def take_transcript(self) -> str:
        if self.next_transcript >= len(self.caller_transcripts):
            return ""
        text = self.caller_transcripts[self.next_transcript]
        self.next_transcript += 1
        return text
