"""The caller's audio on its way to the model: converted, kept for a replay, counted.

While the model connection is being reopened the audio is only kept; once it is back,
what the new connection has not heard goes first, then the live audio resumes, so the
model hears the caller's words in order and none twice.
"""

from __future__ import annotations

from bridge.audio import AudioFormat, InboundAudio, b64encode_audio
from bridge.caller_audio import CallerAudio
from bridge.model_link import ModelLink
from bridge.resample import ResamplerMethod

MULAW_BYTES_PER_MS = 8  # Twilio's 8 kHz G.711: one byte per sample


class CallerLine:
    def __init__(
        self, audio_format: AudioFormat, resampler: ResamplerMethod, link: ModelLink
    ) -> None:
        self._format, self._resampler = audio_format, resampler
        self._inbound = InboundAudio(audio_format, resampler)
        self._link = link
        self.audio = CallerAudio()

    @property
    def sent_s(self) -> float:
        """Caller audio the model was sent: what streaming transcription bills."""
        return self.audio.sent_ms / 1000

    async def media(self, mulaw: bytes, payload: str) -> None:
        if not mulaw:
            return
        ms = len(mulaw) / MULAW_BYTES_PER_MS
        self.audio.add(mulaw, ms)
        if not self.audio.held:
            await self._send(self._inbound.process_decoded(mulaw, payload), ms)

    def media_now(self, mulaw: bytes, payload: str) -> bool:
        """`media` done at once when the model's connection takes the audio without a
        wait; false, with nothing done, when it would have to wait."""
        if not mulaw:
            return True
        live = not self.audio.held
        if live and not self._link.takes_audio_now():
            return False
        ms = len(mulaw) / MULAW_BYTES_PER_MS
        self.audio.add(mulaw, ms)
        if live and self._link.send_audio_now(self._inbound.process_decoded(mulaw, payload)):
            self.audio.sent_ms += ms
        return True

    async def _send(self, b64: str, ms: float) -> None:
        if await self._link.send_audio(b64):
            self.audio.sent_ms += ms

    def hold(self) -> None:
        self.audio.hold()

    async def replay(self) -> bool:
        """Send what the new connection has not heard, then go live again; true if that
        includes a caller turn the conversation lacks (the model's turn detection will
        answer it)."""
        chunks, had_open = self.audio.replay()
        # A converter of its own: the replay does not continue the live audio's signal.
        inbound = InboundAudio(self._format, self._resampler)
        while chunks:
            for chunk in chunks:
                payload = b64encode_audio(chunk.mulaw)
                await self._send(inbound.process_decoded(chunk.mulaw, payload), chunk.ms)
            chunks = self.audio.since(chunks[-1])  # what arrived while the replay was sent
        self.audio.release()
        return had_open

    def release(self) -> None:
        """Go live without a replay (the call is ending)."""
        self.audio.release()
