"""Twilio's REST API, the parts the service uses: creating an outbound call (`Calls.json`),
fetching a call (`Calls/{CallSid}.json`, whose status the test sets in `reported`), and
updating a call to end it.

Strict like the real one: Basic auth with the account SID and auth token, the
2010-04-01 path, form-encoded parameters; a creation takes only Twilio's documented
parameters, each in its documented shape, and anything else is refused with a
Twilio-style 400 and error code; an update takes exactly one of Status or Twiml.
Each creation is recorded with the time it arrived and handed to `on_create`, which
plays the answering side (see `tests.support.dialing`). When a call is ended it tells
the test, which plays Twilio's part by stopping the media stream; new TwiML that goes on
with the call (a redirect to ConversationRelay) is told to `on_redirect` instead, and the
call stays live. Every creation, update or refusal it records is announced on `changed`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import secrets
import time
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


# Calls.json's documented parameters (twilio-python's CallList.create, Nov 2026).
CREATE_PARAMETERS = frozenset(
    {
        "To", "From", "Url", "Twiml", "ApplicationSid", "Method", "FallbackUrl",
        "FallbackMethod", "StatusCallback", "StatusCallbackEvent", "StatusCallbackMethod",
        "SendDigits", "Timeout", "Record", "RecordingChannels", "RecordingStatusCallback",
        "RecordingStatusCallbackMethod", "SipAuthUsername", "SipAuthPassword",
        "MachineDetection", "MachineDetectionTimeout", "RecordingStatusCallbackEvent", "Trim",
        "CallerId", "MachineDetectionSpeechThreshold", "MachineDetectionSpeechEndThreshold",
        "MachineDetectionSilenceTimeout", "AsyncAmd", "AsyncAmdStatusCallback",
        "AsyncAmdStatusCallbackMethod", "Byoc", "CallReason", "CallToken",
        "RecordingTrack", "TimeLimit",
    }
)  # fmt: skip
E164 = re.compile(r"\+[1-9]\d{6,14}")
URL = re.compile(r"https?://[^\s/?#]+[^\s#]*")


@dataclass
class Created:
    """One call creation Twilio accepted, and when it arrived (time.time())."""

    call_sid: str
    params: list[tuple[str, str]]
    at: float
    source: str = ""  # the address the request came from

    def one(self, name: str) -> str:
        return next(v for k, v in self.params if k == name)

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.params if k == name]


def _refuse(code: int, message: str) -> tuple[Response, int]:
    more = f"https://www.twilio.com/docs/errors/{code}"
    return jsonify(code=code, message=message, more_info=more, status=400), 400


def create_problem(params: list[tuple[str, str]], numbers: set[str]) -> tuple[int, str] | None:
    """Twilio's error code and message for a creation it refuses, or None."""
    names = [k for k, _ in params]
    unknown = sorted(set(names) - CREATE_PARAMETERS)
    if unknown:
        return 21218, f"Invalid parameter: {unknown[0]}"
    repeated = {k for k in names if names.count(k) > 1} - {"StatusCallbackEvent"}
    if repeated:
        return 21218, f"Parameter given twice: {sorted(repeated)[0]}"
    one = dict(params)
    if "To" not in one:
        return 21201, "No 'To' number is specified"
    if not E164.fullmatch(one["To"]):
        return 21211, "Invalid 'To' Phone Number"
    if "From" not in one:
        return 21213, "No 'From' number is specified"
    if one["From"] not in numbers:
        return 21210, "The source phone number provided is not yet verified for your account"
    if ("Url" in one) == ("Twiml" in one) or "ApplicationSid" in one:
        return 21205, "Exactly one of Url or Twiml is required"
    for name in ("Url", "StatusCallback", "AsyncAmdStatusCallback", "FallbackUrl"):
        if name in one and not URL.fullmatch(one[name]):
            return 21205, f"{name} is not a valid URL"
    for name in ("Method", "StatusCallbackMethod", "AsyncAmdStatusCallbackMethod"):
        if name in one and one[name] not in ("GET", "POST"):
            return 21218, f"Invalid {name}"
    events = [v for k, v in params if k == "StatusCallbackEvent"]
    if any(e not in ("initiated", "ringing", "answered", "completed") for e in events):
        return 21218, "Invalid StatusCallbackEvent"
    ranges = {"Timeout": (1, 600), "TimeLimit": (1, 14400), "MachineDetectionTimeout": (3, 59)}
    for name, (low, high) in ranges.items():
        if name in one and not (one[name].isdigit() and low <= int(one[name]) <= high):
            return 21218, f"Invalid {name}"
    if one.get("Record", "false") not in ("true", "false"):
        return 21218, "Invalid Record"
    if one.get("AsyncAmd", "false") not in ("true", "false"):
        return 21218, "Invalid AsyncAmd"
    if one.get("MachineDetection", "Enable") not in ("Enable", "DetectMessageEnd"):
        return 21218, "Invalid MachineDetection"
    if one.get("AsyncAmd") == "true" and "MachineDetection" not in one:
        return 21218, "AsyncAmd requires MachineDetection"
    return None


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
    numbers: set[str] = field(default_factory=set)  # the account's numbers (valid From)
    created: list[Created] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)
    refuse_to: dict[str, tuple[int, str]] = field(default_factory=dict)  # To -> Twilio error
    on_create: Callable[[Created], Awaitable[None]] | None = None
    # What Twilio knows of each created call (its last status), whether or not its
    # callbacks reached the service; a call fetched without one is still "queued".
    reported: dict[str, str] = field(default_factory=dict)
    fetched: list[str] = field(default_factory=list)  # CallSids read back, in order
    fetch_fails_with: int | None = None  # answer every fetch with this HTTP status
    _answering: set[asyncio.Task[None]] = field(default_factory=set)

    def app(self) -> Quart:
        app = Quart(__name__)

        @app.post("/2010-04-01/Accounts/<account>/Calls.json")
        async def create(account: str) -> Response | tuple[Response, int]:
            try:
                return await self._create(account)
            finally:
                self.changed.notify()

        @app.get("/2010-04-01/Accounts/<account>/Calls/<call_sid>.json")
        async def fetch(account: str, call_sid: str) -> Response | tuple[Response, int]:
            try:
                return await self._fetch(account, call_sid)
            finally:
                self.changed.notify()

        @app.post("/2010-04-01/Accounts/<account>/Calls/<call_sid>.json")
        async def update(account: str, call_sid: str) -> Response | tuple[Response, int]:
            try:
                return await self._update(account, call_sid)
            finally:
                self.changed.notify()

        return app

    def _refusal(self, account: str) -> tuple[Response, int] | None:
        """What Twilio answers a request with the wrong credentials or for another
        account; None when neither."""
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            self.errors.append("bad credentials")
            return jsonify(code=20003, message="Authenticate", status=401), 401
        if account != self.account_sid:
            self.errors.append("wrong account")
            return jsonify(code=20404, message="not found", status=404), 404
        return None

    async def _create(self, account: str) -> Response | tuple[Response, int]:
        at = time.time()
        if (refused := self._refusal(account)) is not None:
            return refused
        params = list((await request.form).items(multi=True))
        problem = create_problem(params, self.numbers)
        if problem is None:
            problem = self.refuse_to.get(dict(params)["To"])
        if problem is not None:
            self.refused.append(problem)
            return _refuse(*problem)
        created = Created("CA" + secrets.token_hex(16), params, at, request.remote_addr or "")
        self.created.append(created)
        self.live_calls.add(created.call_sid)
        if self.on_create is not None:
            task = asyncio.ensure_future(self.on_create(created))
            self._answering.add(task)
            task.add_done_callback(self._answering.discard)
        one = dict(params)
        return jsonify(
            sid=created.call_sid,
            account_sid=account,
            to=one["To"],
            status="queued",
            direction="outbound-api",
            api_version="2010-04-01",
            uri=f"/2010-04-01/Accounts/{account}/Calls/{created.call_sid}.json",
        ), 201

    async def _fetch(self, account: str, call_sid: str) -> Response | tuple[Response, int]:
        """A Call resource as Twilio's API returns it (every documented field)."""
        if (refused := self._refusal(account)) is not None:
            return refused
        if request.args:
            self.errors.append(f"a fetch takes no parameters: {sorted(request.args)}")
            return _refuse(21218, "Invalid parameter")
        self.fetched.append(call_sid)
        if (failing := self.fetch_fails_with) is not None:
            return jsonify(code=20500, message="Internal server error", status=failing), failing
        created = next((c for c in self.created if c.call_sid == call_sid), None)
        if created is None:
            more = "https://www.twilio.com/docs/errors/20404"
            message = f"The requested resource {request.path} was not found"
            return jsonify(code=20404, message=message, more_info=more, status=404), 404
        status = self.reported.get(call_sid, "queued")
        ended = status in ("completed", "busy", "failed", "no-answer", "canceled")
        stamp = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(created.at))
        uri = f"/2010-04-01/Accounts/{account}/Calls/{call_sid}"
        return jsonify(
            account_sid=account,
            annotation=None,
            answered_by=None,
            api_version="2010-04-01",
            caller_name=None,
            date_created=stamp,
            date_updated=stamp,
            direction="outbound-api",
            duration="0" if ended else None,
            end_time=stamp if ended else None,
            forwarded_from=None,
            **{"from": created.one("From")},
            from_formatted=created.one("From"),
            group_sid=None,
            parent_call_sid=None,
            phone_number_sid="PN" + "0" * 32,
            price=None,
            price_unit="USD",
            queue_time="0",
            sid=call_sid,
            start_time=stamp if status not in ("queued",) else None,
            status=status,
            subresource_uris={
                "notifications": f"{uri}/Notifications.json",
                "recordings": f"{uri}/Recordings.json",
                "payments": f"{uri}/Payments.json",
                "events": f"{uri}/Events.json",
                "siprec": f"{uri}/Siprec.json",
                "streams": f"{uri}/Streams.json",
                "transcriptions": f"{uri}/Transcriptions.json",
                "user_defined_message_subscriptions": f"{uri}/UserDefinedMessageSubscriptions.json",
                "user_defined_messages": f"{uri}/UserDefinedMessages.json",
            },
            to=created.one("To"),
            to_formatted=created.one("To"),
            trunk_sid=None,
            uri=f"{uri}.json",
        )

    async def _update(self, account: str, call_sid: str) -> Response | tuple[Response, int]:
        if (refused := self._refusal(account)) is not None:
            return refused
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
    async def serving(self, host: str = "127.0.0.1") -> AsyncIterator[TwilioRestPeer]:
        async with running(self.app(), host=host) as base:
            self.base = base
            try:
                yield self
            finally:
                for task in list(self._answering):
                    task.cancel()
                    with contextlib.suppress(BaseException):
                        await task
