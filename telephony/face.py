"""What Twilio's HTTP and WebSocket face needs from the rest of the service.

The composition root builds one `TwilioFace` and installs it on the app; handlers
reach it through `face()`. The face depends on these small interfaces, not on the
root, so the root may import the face and never the other way round.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from quart import Quart, current_app

from bridge.recorder import StreamCalls
from bridge.relay_messages import Setup
from bridge.relay_stream import RelayCalls, RelayListener
from bridge.stream import Send, StreamListener
from bridge.twilio_messages import Start
from evaluation.cost import Direction
from evaluation.outbound import OutboundCall
from persistence.records import Channel
from persistence.store import Store, opened
from telephony.twilio_auth import ProxyTrust, TwilioVerifier

EXTENSION = "twilio_face"
CloseStream = Callable[[], Awaitable[None]]


class Admission(Protocol):
    """This worker's call cap (see the root's capacity module)."""

    def has_room(self, call_sid: str | None = None) -> bool: ...
    def busy_reason(self, call_sid: str) -> str: ...
    def stream_opened(self) -> None: ...
    def stream_closed(self) -> None: ...


class Interviews(Protocol):
    """Live interview sessions: opened ahead on the webhook, claimed by the stream."""

    @property
    def unavailable_reason(self) -> str | None:
        """Why calls cannot be interviewed now (e.g. no OpenAI key), or None."""
        ...

    def preconnect(
        self,
        call_sid: str,
        template_id: str,
        direction: Direction = "inbound",
        channel: Channel = "phone",
        brief: OutboundCall | None = None,
    ) -> None: ...

    async def open(
        self, start: Start, send: Send, close_stream: CloseStream
    ) -> StreamListener | None: ...


class Relays(Protocol):
    """The second engine (ConversationRelay): which engine a call gets, its TwiML, and a
    session per relay socket."""

    def choose(self) -> tuple[str | None, str]:
        """("realtime" | "relay", why), or (None, why no engine can take the call)."""
        ...

    async def twiml(self, call_sid: str, template_id: str, base: str) -> str:
        """<Connect><ConversationRelay> for the call, its socket at `base`."""
        ...

    async def record_engine(self, call_sid: str, engine: str, reason: str) -> None: ...

    def records(self) -> RelayCalls:
        """The call document as relay sessions write it (durably)."""
        ...

    async def open(self, setup: Setup, send: Send) -> RelayListener | None: ...


@dataclass(frozen=True, slots=True)
class TwilioFace:
    public_url: str | None
    """Where Twilio reaches us (PUBLIC_URL); None: rebuilt from forwarded headers."""
    account_sid: str | None
    verifier: TwilioVerifier | None
    """None when TWILIO_AUTH_TOKEN is unset: every Twilio request is then refused."""
    admission: Admission
    interviews: Interviews
    open_store: Callable[[], Store | None]
    """The database once start-up has opened it."""
    proxies: ProxyTrust
    """Clients whose forwarded headers say where Twilio called us."""
    open_stream_calls: Callable[[], StreamCalls | None]
    """The call document as media streams write it (durably), once start-up has opened it."""
    relays: Relays | None = None
    """The ConversationRelay engine; None: every call uses the Realtime API."""

    def store(self) -> Store:
        return opened(self.open_store())

    def stream_calls(self) -> StreamCalls:
        return opened(self.open_stream_calls())


def install(app: Quart, twilio_face: TwilioFace) -> None:
    app.extensions[EXTENSION] = twilio_face


def face(app: Quart | None = None) -> TwilioFace:
    target = app if app is not None else current_app
    found: TwilioFace = target.extensions[EXTENSION]
    return found
