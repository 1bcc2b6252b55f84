"""One accepted Twilio WebSocket (a media stream or a ConversationRelay session) as its
driver needs it: the upgrade accepted or refused, text out, a close sent once, and the
receive loop that feeds the driver and always records the end."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Protocol

from bridge.stream import Outcome
from telephony.face import Admission

log = logging.getLogger(__name__)
NORMAL = 1000
POLICY_VIOLATION = 1008
INTERNAL_ERROR = 1011
START_WAIT_S = 5.0  # Twilio sends its first message at once; an upgrade that does not is not Twilio
# An ASGI extension of the production server (service.ws_protocol): the app may register a
# function that takes a text frame as it arrives, while the app waits for messages.
TEXT_NOW = "voice-interview.text-now"
TextNow = Callable[[str], bool]


class Driver(Protocol):
    """TwilioStream or RelayStream: frames in, an outcome each, the end recorded once."""

    @property
    def call_sid(self) -> str | None: ...
    @property
    def refusal(self) -> str | None: ...
    async def handle(self, frame: str | bytes) -> Outcome: ...
    async def finish(self, reason: str) -> None: ...


class SocketLine:
    def __init__(
        self,
        receive: Any,
        send: Any,
        label: str,
        noun: str,
        *,
        first: str,
        scope: dict[str, Any] | None = None,
    ) -> None:
        """`label` names the socket in logs ("media stream"); `noun` starts its end
        reasons ("stream stopped"); `first` names the message that starts it ("start");
        `scope`, the socket's ASGI scope, says whether the server offers TEXT_NOW."""
        self._receive, self._send = receive, send
        self.label, self.noun, self.first = label, noun, first
        self.closed = False
        self._counted = False
        extension = ((scope or {}).get("extensions") or {}).get(TEXT_NOW) or {}
        self._offer_now: Callable[[TextNow | None], None] | None = extension.get("register")

    def count(self, admission: Admission) -> None:
        """Count the socket against the worker's cap: once its call is claimed, so an
        upgrade replayed with a captured URL, which never starts, holds no slot."""
        if not self._counted:
            self._counted = True
            admission.stream_opened()

    async def accept(self, refusal: str | None) -> bool:
        """Take the upgrade; with a refusal, close at once with 1008 saying why."""
        first = await self._receive()
        if first["type"] != "websocket.connect":
            return False
        await self._send({"type": "websocket.accept"})
        if refusal is not None:
            log.warning("%s refused: %s", self.label, refusal)
            self.closed = True
            await self._send(
                {"type": "websocket.close", "code": POLICY_VIOLATION, "reason": refusal[:120]}
            )
            return False
        return True

    def _guarded(self, now: TextNow, driver: Driver) -> TextNow:
        """`now` as the server calls it, from its socket callback: a failure there is
        logged once and the frame, and every later one, goes the usual way instead."""

        def taking(frame: str) -> bool:
            try:
                return now(frame)
            except Exception:
                log.exception("%s: a frame taken at once failed", self.label, extra=_ctx(driver))
                if self._offer_now is not None:
                    self._offer_now(None)
                return False

        return taking

    async def close(self, code: int = NORMAL, why: str = "") -> None:
        if not self.closed:
            self.closed = True
            try:
                await self._send({"type": "websocket.close", "code": code, "reason": why[:120]})
            except Exception as exc:  # Twilio closes its side right after `stop` or `end`
                log.debug(
                    "%s already closed by the other side (%s)", self.label, type(exc).__name__
                )

    async def send_text(self, text: str) -> None:
        if self.closed:
            raise ConnectionError(f"the {self.label} is closed")
        await self._send({"type": "websocket.send", "text": text})

    async def run(
        self,
        driver: Driver,
        admission: Admission,
        *,
        started: Callable[[], bool],
        start_wait_s: float = START_WAIT_S,
        now: TextNow | None = None,
    ) -> None:
        """Feed every frame to `driver` until the socket ends; record the end in any case.
        A socket not `started()` within `start_wait_s` is closed (1008). `now(frame)`,
        where the server offers it, takes frames as they arrive while this waits for
        one; a frame it declines (false) comes here as usual."""
        ending = f"{self.noun} disconnected"
        loop = asyncio.get_running_loop()
        start_by = loop.time() + start_wait_s
        if now is not None and self._offer_now is not None:
            self._offer_now(self._guarded(now, driver))
        try:
            while True:
                if not started():
                    try:
                        wait = max(0.0, start_by - loop.time())
                        message = await asyncio.wait_for(self._receive(), wait)
                    except TimeoutError:
                        ending = f"{self.noun} refused"
                        log.warning(
                            "%s closed: no %s within %.0f s", self.label, self.first, start_wait_s
                        )
                        await self.close(POLICY_VIOLATION, f"no {self.first}")
                        break
                else:
                    message = await self._receive()
                if message["type"] != "websocket.receive":
                    self.closed = True  # websocket.disconnect: the caller (or Twilio) went away
                    break
                text = message.get("text")
                frame = text if text is not None else message.get("bytes", b"")
                outcome = await driver.handle(frame)
                if outcome is Outcome.STOP:
                    ending = f"{self.noun} stopped"
                    await self.close()
                    break
                if outcome is Outcome.REFUSE:
                    ending = f"{self.noun} refused"
                    await self.close(POLICY_VIOLATION, driver.refusal or "refused")
                    break
        except asyncio.CancelledError:
            raise  # the server is shutting down; the finally block still records the call
        except Exception:
            ending = f"{self.noun} failed: internal error"
            log.exception("%s failed", self.label, extra=_ctx(driver))
            await self.close(INTERNAL_ERROR, "internal error")
        finally:
            if self._offer_now is not None:
                self._offer_now(None)
            # Shielded: a second cancellation must not lose the call's final record.
            if self._counted:
                admission.stream_closed()
            try:
                await asyncio.shield(driver.finish(ending))
            except Exception:
                log.exception("could not record the end of the %s", self.label)


def _ctx(driver: Driver) -> dict[str, str]:
    return {"call_sid": driver.call_sid or "?"}
