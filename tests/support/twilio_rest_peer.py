"""Twilio's REST API, the part a live call uses: updating a call to end it.

Strict like the real one: Basic auth with the account SID and auth token, the
2010-04-01 path, form-encoded parameters, and exactly one of Status or Twiml.
When a call is ended it tells the test, which plays Twilio's part by stopping the
media stream; new TwiML that goes on with the call (a redirect to ConversationRelay) is
told to `on_redirect` instead, and the call stays live. Every update or refusal it records
is announced on `changed`.
"""

from __future__ import annotations

import base64
import contextlib
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from quart import Quart, Response, jsonify, request

from tests.support.servers import running
from tests.support.waiting import Changes


@dataclass
class Update:
    call_sid: str
    status: str | None
    twiml: str | None

    @property
    def said(self) -> list[str]:
        if self.twiml is None:
            return []
        return [el.text or "" for el in ET.fromstring(self.twiml).iter("Say")]


@dataclass
class TwilioRestPeer:
    account_sid: str
    auth_token: str
    updates: list[Update] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    on_end: Callable[[str], Awaitable[None]] | None = None
    on_redirect: Callable[[str, str], Awaitable[None]] | None = None
    fail_with: int | None = None  # answer every update with this HTTP status
    live_calls: set[str] = field(default_factory=set)  # calls in progress; others are 404
    base: str = ""
    changed: Changes = field(default_factory=Changes)

    def app(self) -> Quart:
        app = Quart(__name__)

        @app.post("/2010-04-01/Accounts/<account>/Calls/<call_sid>.json")
        async def update(account: str, call_sid: str) -> Response | tuple[Response, int]:
            try:
                return await self._update(account, call_sid)
            finally:
                self.changed.notify()

        return app

    async def _update(self, account: str, call_sid: str) -> Response | tuple[Response, int]:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            self.errors.append("bad credentials")
            return jsonify(code=20003, message="Authenticate", status=401), 401
        if account != self.account_sid:
            self.errors.append("wrong account")
            return jsonify(code=20404, message="not found", status=404), 404
        if call_sid not in self.live_calls:
            self.errors.append(f"update for a call not in progress: {call_sid}")
            return jsonify(code=20404, message="not found", status=404), 404
        form = await request.form
        unknown = set(form) - {"Status", "Twiml", "Url", "Method"}
        if unknown:
            self.errors.append(f"unknown parameters {sorted(unknown)}")
            return jsonify(code=21218, message="Invalid parameter", status=400), 400
        status, twiml = form.get("Status"), form.get("Twiml")
        if (status is None) == (twiml is None):
            self.errors.append("need exactly one of Status and Twiml")
            return jsonify(code=21218, message="Invalid parameter", status=400), 400
        if status is not None and status not in ("completed", "canceled"):
            self.errors.append(f"invalid Status {status!r}")
            return jsonify(code=21218, message="Invalid Status", status=400), 400
        if twiml is not None:
            try:
                ET.fromstring(twiml)
            except ET.ParseError:
                self.errors.append("Twiml is not XML")
                return jsonify(code=12100, message="Document parse failure", status=400), 400
        if self.fail_with is not None:
            return jsonify(code=20500, message="Internal error", status=self.fail_with), (
                self.fail_with
            )
        self.updates.append(Update(call_sid, status, twiml))
        self.changed.notify()
        goes_on = (
            twiml is not None
            and not any(el.tag == "Hangup" for el in ET.fromstring(twiml).iter())
            and any(el.tag == "Connect" for el in ET.fromstring(twiml).iter())
        )
        if goes_on:
            if self.on_redirect is not None:
                await self.on_redirect(call_sid, twiml or "")
        else:
            self.live_calls.discard(call_sid)  # it has ended: a second update is refused
            if self.on_end is not None:
                await self.on_end(call_sid)
        return jsonify(
            sid=call_sid,
            account_sid=account,
            status=status or "in-progress",
            api_version="2010-04-01",
            uri=f"/2010-04-01/Accounts/{account}/Calls/{call_sid}.json",
        )

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[TwilioRestPeer]:
        async with running(self.app()) as base:
            self.base = base
            yield self
