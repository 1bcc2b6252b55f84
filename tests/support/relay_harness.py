"""Whole relay calls over real sockets: the service under Hypercorn with MongoDB, the
Realtime, Twilio REST and media-stream peers of `call_harness`, plus a Responses API peer
and a ConversationRelay peer per relay session."""

from __future__ import annotations

import contextlib
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from tests.support.call_harness import ACCOUNT, WAIT_S, Env, live_env
from tests.support.openai import Script
from tests.support.relay_peer import RelayPeer, relay_element
from tests.support.responses_peer import ResponsesPeer
from tests.support.telephony_fixtures import AUTH_TOKEN
from tests.support.twilio_peer import sid
from tests.support.waiting import Changes, eventually


@dataclass
class RelayEnv:
    env: Env
    text: ResponsesPeer
    relays: dict[str, RelayPeer] = field(default_factory=dict)
    redirects: dict[str, str] = field(default_factory=dict)  # call -> TwiML it was given

    def changes(self) -> list[Changes]:
        return [*self.env.changes(), self.text.changed, *(r.changed for r in self.relays.values())]

    def protocol_errors(self) -> str:
        relays = {s: r.errors for s, r in self.relays.items() if r.errors}
        return (
            f"{self.env.protocol_errors()}, text errors={self.text.errors}, relay errors={relays}"
        )

    async def wait(self, predicate: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
        await eventually(
            predicate, timeout=timeout, what=what, on=self.changes(), context=self.protocol_errors
        )

    async def ring(self, call_sid: str | None = None) -> tuple[str, str]:
        """'Twilio' calls the voice webhook; the CallSid and the TwiML it was answered."""
        call_sid = call_sid or sid("CA")
        response = await self.env.svc.voice(call_sid, AccountSid=ACCOUNT)
        assert response.status_code == 200, response.text
        self.env.rest.live_calls.add(call_sid)
        return call_sid, response.text

    async def join(self, call_sid: str, twiml: str, base: str | None = None) -> RelayPeer:
        """Twilio runs <Connect><ConversationRelay>: the socket, then `setup`. `base`: the
        worker the load balancer sends it to (the test's service unless given)."""
        relay = relay_element(twiml)
        url = relay.get("url")
        params = {p.get("name"): p.get("value") for p in relay.iter("Parameter")}
        peer = RelayPeer(
            ws_url=(base or self.env.svc.base).replace("http://", "ws://") + urlsplit(url).path,
            signed_url=url,
            auth_token=AUTH_TOKEN,
            call_sid=call_sid,
            account_sid=ACCOUNT,
            custom_parameters={str(k): str(v) for k, v in params.items()},
        )
        await peer.connect()
        self.relays[call_sid] = peer
        await peer.setup()
        return peer

    async def relay_call(self) -> tuple[str, RelayPeer, str]:
        """A candidate calls and the webhook chooses the relay: CallSid, peer, greeting."""
        call_sid, twiml = await self.ring()
        peer = await self.join(call_sid, twiml)
        return call_sid, peer, relay_element(twiml).get("welcomeGreeting")

    async def answer(self, peer: RelayPeer, text: str, replies: int = 1) -> None:
        """The caller says `text`, and the service speaks `replies` whole turns after it."""
        before = len(peer.utterances)
        await peer.say(text)
        await self.wait(lambda: len(peer.utterances) >= before + replies, f"a reply to {text!r}")


def is_connect(twiml: str) -> bool:
    return [el.tag for el in ET.fromstring(twiml)] == ["Connect"]


@contextlib.asynccontextmanager
async def relay_env(
    mongo_uri: str,
    db_name: str,
    text_script: Script,
    realtime_script: Script | None = None,
    **overrides: Any,
) -> AsyncIterator[RelayEnv]:
    text = ResponsesPeer(script=text_script)
    async with (
        text.serving(),
        live_env(
            mongo_uri,
            db_name,
            realtime_script or Script(),
            openai_responses_url=text.url,
            **overrides,
        ) as env,
    ):
        renv = RelayEnv(env, text)

        async def redirected(call_sid: str, twiml: str) -> None:
            # Twilio leaves the <Connect><Stream> for the new TwiML: the stream stops.
            renv.redirects[call_sid] = twiml
            twilio = env.calls.get(call_sid)
            if twilio is not None:
                with contextlib.suppress(Exception):
                    await twilio.send_stop()

        env.rest.on_redirect = redirected
        try:
            yield renv
        finally:
            for peer in renv.relays.values():
                await peer.close()
