"""Twilio's answering side of the dialer's calls, played through the service's real
webhooks and media stream: each number the dialer calls behaves as told (a person who
answers, a voicemail with an asynchronous AMD verdict after a delay, no answer, busy,
failed); and a clock fixed at a chosen instant that tests can move forward."""

from __future__ import annotations

import asyncio
import contextlib
import time
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from tests.support.call_harness import ACCOUNT, Caller
from tests.support.telephony_fixtures import AUTH_TOKEN, PUBLIC, Service
from tests.support.twilio_peer import TwilioPeer
from tests.support.twilio_rest_peer import Created, TwilioRestPeer
from tests.support.waiting import Changes

Behaviour = Literal["person", "voicemail", "no-answer", "busy", "failed", "unheard"]
"""`unheard`: the phone rings out (Twilio records no-answer), but no status callback
reaches the service."""
FROM_NUMBER = "+14155550100"


class MovableClock:
    """Wall time starting at `start`, running at real speed, moved on by `advance`."""

    def __init__(self, start: datetime) -> None:
        self._start = start
        self._t0 = time.monotonic()
        self._offset = timedelta()

    def __call__(self) -> datetime:
        return self._start + timedelta(seconds=time.monotonic() - self._t0) + self._offset

    def advance(self, by: timedelta) -> None:
        self._offset += by


@dataclass
class Line:
    """One call as the answering side played it."""

    created: Created
    behaviour: Behaviour
    statuses: list[str] = field(default_factory=list)
    twilio: TwilioPeer | None = None
    caller: Caller | None = None
    ended_at: float | None = None


@dataclass
class Phones:
    svc: Service
    rest: TwilioRestPeer
    streams: dict[str, TwilioPeer]
    behaviour: dict[str, Behaviour] = field(default_factory=dict)
    default: Behaviour = "no-answer"
    ring_s: float = 0.2
    amd_delay_s: float = 0.3
    answered_by: str = "machine_end_beep"
    lines: dict[str, Line] = field(default_factory=dict)
    # Joins a call answered with <Connect><ConversationRelay> (see tests.support.relay_harness).
    on_relay: Callable[[Line, str], Awaitable[object]] | None = None
    errors: list[str] = field(default_factory=list)
    changed: Changes = field(default_factory=Changes)

    def install(self) -> None:
        self.rest.numbers.add(FROM_NUMBER)
        self.rest.on_create = self.play
        self.rest.on_end = self.service_ended

    def by_number(self, to: str) -> list[Line]:
        return [line for line in self.lines.values() if line.created.one("To") == to]

    async def _post(self, url: str, params: dict[str, str]) -> str:
        assert url.startswith(PUBLIC), url
        response = await self.svc.post_twilio(url[len(PUBLIC) :], params, signed_url=url)
        if response.status_code >= 300:
            self.errors.append(f"{url}: {response.status_code} {response.text[:100]}")
        return response.text

    def _params(self, line: Line, status: str) -> dict[str, str]:
        return {
            "CallSid": line.created.call_sid,
            "AccountSid": ACCOUNT,
            "From": line.created.one("From"),
            "To": line.created.one("To"),
            "Direction": "outbound-api",
            "CallStatus": status,
            "ApiVersion": "2010-04-01",
        }

    async def status(self, line: Line, status: str, duration_s: int | None = None) -> None:
        params = {
            **self._params(line, status),
            "SequenceNumber": str(len(line.statuses)),
            "CallbackSource": "call-progress-events",
        }
        if duration_s is not None:
            params["CallDuration"] = str(duration_s)
        if status in ("completed", "busy", "failed", "no-answer", "canceled"):
            line.ended_at = time.time()  # before Twilio tells anyone: the span is closed
        line.statuses.append(status)
        self.rest.reported[line.created.call_sid] = status
        await self._post(line.created.one("StatusCallback"), params)
        self.changed.notify()

    async def play(self, created: Created) -> None:
        behaviour = self.behaviour.get(created.one("To"), self.default)
        line = Line(created, behaviour)
        self.lines[created.call_sid] = line
        if behaviour == "unheard":
            self.rest.reported[created.call_sid] = "no-answer"
            self.changed.notify()
            return
        await self.status(line, "initiated")
        if behaviour in ("busy", "failed"):
            await self.status(line, behaviour, 0)
            return
        await self.status(line, "ringing")
        await asyncio.sleep(self.ring_s)  # the phone rings: the simulation, not a wait
        if behaviour == "no-answer":
            await self.status(line, "no-answer", 0)
            return
        await self.status(line, "in-progress")
        twiml = await self._post(created.one("Url"), self._params(line, "in-progress"))
        stream = ET.fromstring(twiml).find("./Connect/Stream")
        relay = ET.fromstring(twiml).find("./Connect/ConversationRelay")
        if relay is not None and self.on_relay is not None:  # the relay engine's call
            await self.on_relay(line, twiml)
            self.changed.notify()
            return
        if stream is None:  # answered without an interview (line off, worker full)
            await self.status(line, "completed", 1)
            return
        url = stream.attrib["url"]
        path = url[url.index("/twilio/") :]
        parameters = {p.attrib["name"]: p.attrib["value"] for p in stream.iter("Parameter")}
        twilio = TwilioPeer(
            ws_url=self.svc.base.replace("http://", "ws://") + path,
            signed_url=url,
            auth_token=AUTH_TOKEN,
            call_sid=created.call_sid,
            account_sid=ACCOUNT,
            custom_parameters=parameters,
        )
        await twilio.connect()
        self.streams[created.call_sid] = twilio
        await twilio.begin()
        line.twilio, line.caller = twilio, Caller(twilio)
        line.caller.start()
        self.changed.notify()
        if behaviour == "voicemail":
            await asyncio.sleep(self.amd_delay_s)  # the greeting plays until the beep
            await self.amd(line)

    async def amd(self, line: Line, answered_by: str | None = None) -> None:
        params = {
            "CallSid": line.created.call_sid,
            "AccountSid": ACCOUNT,
            "AnsweredBy": answered_by or self.answered_by,
            "MachineDetectionDuration": str(int(self.amd_delay_s * 1000)),
        }
        await self._post(line.created.one("AsyncAmdStatusCallback"), params)
        self.changed.notify()

    async def service_ended(self, call_sid: str) -> None:
        """The service ended the call through the REST API: Twilio stops the stream and
        reports the call completed."""
        line = self.lines.get(call_sid)
        if line is None:  # a call-in: Twilio only stops its stream
            if (stream := self.streams.get(call_sid)) is not None:
                with contextlib.suppress(Exception):
                    await stream.send_stop()
            return
        if line.twilio is not None:
            with contextlib.suppress(Exception):
                await line.twilio.send_stop()
        if line.caller is not None:
            await line.caller.stop()
        await self.status(line, "completed", 30)

    async def candidate_hangs_up(self, call_sid: str) -> None:
        line = self.lines[call_sid]
        assert line.twilio is not None and line.caller is not None
        await line.twilio.hang_up()
        await line.caller.stop()
        await self.status(line, "completed", 20)

    async def close(self) -> None:
        for line in self.lines.values():
            if line.caller is not None:
                await line.caller.stop()
            if line.twilio is not None:
                await line.twilio.close()
