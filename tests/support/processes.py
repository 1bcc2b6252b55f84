"""The service in a process of its own: its output read as it is written, so a test waits
for the line that says the server is listening instead of knocking until it answers."""

from __future__ import annotations

import asyncio
import contextlib

from tests.support.waiting import Changes, eventually

LISTENING = "Uvicorn running on"  # uvicorn's line once its socket accepts connections


class Output:
    """One of a child process's output streams, kept line by line as it arrives."""

    def __init__(self, stream: asyncio.StreamReader | None) -> None:
        assert stream is not None, "the process was started without a pipe for this stream"
        self.lines: list[str] = []
        self.ended = False
        self.changed = Changes()
        self._reader = asyncio.ensure_future(self._read(stream))

    async def _read(self, stream: asyncio.StreamReader) -> None:
        try:
            async for line in stream:
                self.lines.append(line.decode(errors="replace").rstrip("\n"))
                self.changed.notify()
        finally:
            self.ended = True
            self.changed.notify()

    async def wait_for(self, text: str, timeout: float = 60.0) -> None:
        """Until a line contains `text`; AssertionError (with the output) if the stream ends
        first."""
        await eventually(
            lambda: self.ended or any(text in line for line in self.lines),
            timeout=timeout,
            what=f"a line with {text!r}",
            on=self.changed,
            context=self.text,
        )
        if not any(text in line for line in self.lines):
            raise AssertionError(f"the process ended without {text!r}:\n{self.text()}")

    async def rest(self, timeout: float = 30.0) -> str:
        """Everything, once the stream has ended."""
        await asyncio.wait_for(asyncio.shield(self._reader), timeout)
        return self.text()

    def text(self) -> str:
        return "\n".join(self.lines)

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
