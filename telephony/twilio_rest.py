"""Twilio's REST API, for what a live call needs: hanging up, with or without a last word."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from twilio.base.exceptions import TwilioException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse

log = logging.getLogger(__name__)


class TwilioCalls:
    """Wraps the SDK's blocking client in a thread so the event loop never waits on HTTP."""

    def __init__(self, account_sid: str, auth_token: str, api_url: str) -> None:
        # Without a timeout a stuck request would hold the hang-up (and its fallback) forever.
        self._client = Client(account_sid, auth_token, http_client=TwilioHttpClient(timeout=10))
        # The SDK builds every URL from this base; a regional edge or proxy can be set here.
        self._client.api.base_url = api_url.rstrip("/")

    def _update(self, call_sid: str, say: str | None) -> None:
        calls = self._client.api.account.calls(call_sid)
        if say:
            twiml = VoiceResponse()
            twiml.say(say)
            twiml.hangup()
            calls.update(twiml=str(twiml))
        else:
            calls.update(status="completed")

    async def redirect(self, call_sid: str, twiml: str) -> bool:
        """Give the live call new TwiML (another engine); false if Twilio would not."""
        calls = self._client.api.account.calls(call_sid)
        return await self._call(call_sid, "redirect", lambda: calls.update(twiml=twiml))

    async def hang_up(self, call_sid: str, say: str | None = None) -> bool:
        """End the call (after `say`, if given); false if Twilio would not."""
        return await self._call(call_sid, "hang-up", lambda: self._update(call_sid, say))

    async def _call(self, call_sid: str, what: str, update: Callable[[], object]) -> bool:
        try:
            await asyncio.to_thread(update)
        except TwilioException as exc:
            log.error(
                "Twilio refused the %s: %s", what, str(exc)[:200], extra={"call_sid": call_sid}
            )
            return False
        except OSError as exc:
            log.error("Twilio unreachable for %s (%s)", what, type(exc).__name__)
            return False
        return True
