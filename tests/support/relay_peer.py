"""Twilio's side of a ConversationRelay WebSocket, for driving relay calls in tests.

Written from Twilio's documentation (websocket-messages): it signs its upgrade with
X-Twilio-Signature over the exact wss:// URL, sends `setup` first with every field Twilio
sends, then the caller's `prompt`s, `interrupt`s (the words heard so far and how long they
took to say), `dtmf` and `error`. Every message the service sends is checked against what
Twilio accepts (`text` with a string `token` and a boolean `last`, `play`, `sendDigits`,
`language`, `end`); anything else is recorded in `errors` with Twilio's error code 64107.
On `end` it closes the socket, as Twilio ends the session. Everything it records is
announced on `changed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.support.twilio_peer import sid, signed_headers
from tests.support.waiting import Changes

INVALID = 64107
MS_PER_CHAR = 60  # how long Twilio's voice takes per character, for durationUntilInterruptMs
# Keys each message may carry (required, optional), from Twilio's reference.
ALLOWED: dict[str, tuple[set[str], set[str]]] = {
    "text": ({"type", "token", "last"}, {"lang", "interruptible", "preemptible"}),
    "play": ({"type", "source"}, {"loop", "preemptible", "interruptible"}),
    "sendDigits": ({"type", "digits"}, set()),
    "language": ({"type"}, {"ttsLanguage", "transcriptionLanguage"}),
    "end": ({"type"}, {"handoffData"}),
}
DIGITS = re.compile(r"^[0-9*#wW]+$")


def check_message(frame: str | bytes) -> dict[str, Any] | str:
    """A message sent to Twilio, parsed, or why Twilio would refuse it (error 64107)."""
    if isinstance(frame, bytes):
        return "binary frame"
    try:
        msg = json.loads(frame)
    except ValueError:
        return "not JSON"
    if not isinstance(msg, dict):
        return "not an object"
    kind = msg.get("type")
    if kind not in ALLOWED:
        return f"unknown type {kind!r}"
    required, optional = ALLOWED[kind]
    if not required <= set(msg) or set(msg) - required - optional:
        return f"{kind}: keys {sorted(msg)}, needs {sorted(required)}, may add {sorted(optional)}"
    if kind == "text" and (not isinstance(msg["token"], str) or not isinstance(msg["last"], bool)):
        return "text: token must be a string and last a boolean"
    if kind == "play" and not str(msg["source"]).startswith(("https://", "http://")):
        return "play: source must be a URL"
    if kind == "sendDigits" and not (
        isinstance(msg["digits"], str) and DIGITS.match(msg["digits"])
    ):
        return "sendDigits: digits must be 0-9, *, #, w or W"
    if kind == "language" and len(msg) == 1:
        return "language: needs ttsLanguage or transcriptionLanguage"
    if kind == "end" and not isinstance(msg.get("handoffData", ""), str):
        return "end: handoffData must be a string"
    return msg


@dataclass
class RelayPeer:
    ws_url: str
    signed_url: str
    auth_token: str
    call_sid: str
    account_sid: str = field(default_factory=lambda: sid("AC"))
    session_id: str = field(default_factory=lambda: sid("VX"))
    custom_parameters: dict[str, str] = field(default_factory=dict)
    lang: str = "en-US"
    signature: str | None = None  # override (None: sign correctly)

    errors: list[str] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    utterances: list[str] = field(default_factory=list)  # our turns, each ended by last: true
    current: str = ""  # the turn being spoken (tokens since the last `last: true`)
    ended: dict[str, Any] | None = None
    close_code: int | None = None

    def __post_init__(self) -> None:
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self.closed = asyncio.Event()
        self.changed = Changes()

    async def connect(self) -> None:
        headers = signed_headers(self.auth_token, self.signed_url, self.signature)
        self._ws = await connect(self.ws_url, additional_headers=headers)
        self._reader = asyncio.create_task(self._read())

    async def close(self) -> None:
        """The caller hangs up: Twilio closes the socket."""
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def _read(self) -> None:
        assert self._ws is not None
        try:
            async for frame in self._ws:
                if self._handle(frame):  # `end`: Twilio ends the session
                    await self._ws.close()
                    break
        except ConnectionClosed:
            pass
        finally:
            self.close_code = self._ws.close_code
            self.closed.set()
            self.changed.notify()

    def _handle(self, frame: str | bytes) -> bool:
        """Record one message; true for `end`."""
        checked = check_message(frame)
        if isinstance(checked, str):
            self.errors.append(f"{INVALID}: {checked}")
            self.changed.notify()
            return False
        self.received.append(checked)
        if checked["type"] == "text":
            self.current += checked["token"]
            if checked["last"]:
                self.utterances.append(self.current)
                self.current = ""
        elif checked["type"] == "end":
            if self.ended is not None:
                self.errors.append(f"{INVALID}: end after end")
            self.ended = checked
        self.changed.notify()
        return bool(checked["type"] == "end")

    def sent(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.received if m["type"] == kind]

    # -- what Twilio sends ------------------------------------------------------------

    async def send(self, message: dict[str, Any] | str | bytes) -> None:
        """A message (an object is sent as JSON; text and bytes as they are)."""
        assert self._ws is not None
        await self._ws.send(json.dumps(message) if isinstance(message, dict) else message)

    async def setup(self) -> None:
        await self.send(
            {
                "type": "setup",
                "sessionId": self.session_id,
                "accountSid": self.account_sid,
                "parentCallSid": "",
                "callSid": self.call_sid,
                "from": "+14155550123",
                "to": "+14155550100",
                "forwardedFrom": "",
                "callerName": "",
                "direction": "inbound",
                "callType": "PSTN",
                "callStatus": "IN-PROGRESS",
                "customParameters": self.custom_parameters,
            }
        )

    async def say(self, text: str, *, partial: str = "") -> None:
        """The caller's words, as recognized; `partial` first arrives as a partial prompt."""
        if partial:
            await self.send(
                {"type": "prompt", "voicePrompt": partial, "lang": self.lang, "last": False}
            )
        await self.send({"type": "prompt", "voicePrompt": text, "lang": self.lang, "last": True})

    async def interrupt(self, heard_chars: int) -> str:
        """The caller talks over the turn being spoken, after hearing about `heard_chars`
        of it (cut back to a whole word); returns what Twilio reports as heard."""
        spoken = self.current or (self.utterances[-1] if self.utterances else "")
        heard = spoken[:heard_chars]
        if len(heard) < len(spoken) and not spoken[len(heard)].isspace():
            heard = heard.rsplit(" ", 1)[0] if " " in heard else ""
        heard = heard.rstrip()
        await self.send(
            {
                "type": "interrupt",
                "utteranceUntilInterrupt": heard,
                "durationUntilInterruptMs": len(heard) * MS_PER_CHAR,
            }
        )
        return heard

    async def dtmf(self, digit: str) -> None:
        await self.send({"type": "dtmf", "digit": digit})

    async def error(self, description: str) -> None:
        await self.send({"type": "error", "description": description})


TTS_PROVIDERS = {"ElevenLabs", "Google", "Amazon"}
STT_PROVIDERS = {"Deepgram", "Google"}
INTERRUPTIBLE = {"none", "dtmf", "speech", "any", "true", "false"}


def relay_element(twiml: str) -> Any:
    """The <ConversationRelay> of a TwiML document, checked as Twilio checks it (its URL a
    wss:// one without a query string, known attribute values); AssertionError if not."""
    root = ET.fromstring(twiml)
    assert [el.tag for el in root] == ["Connect"], twiml
    (relay,) = list(root[0])
    assert relay.tag == "ConversationRelay", twiml
    url = relay.get("url", "")
    assert url.startswith("wss://") and "?" not in url, url
    assert relay.get("welcomeGreeting"), "no welcome greeting"
    assert relay.get("ttsProvider") in TTS_PROVIDERS, relay.get("ttsProvider")
    assert relay.get("transcriptionProvider") in STT_PROVIDERS, relay.get("transcriptionProvider")
    assert relay.get("interruptible") in INTERRUPTIBLE, relay.get("interruptible")
    assert relay.get("dtmfDetection") in ("true", "false"), relay.get("dtmfDetection")
    return relay
