"""Creating an outbound call through Twilio's REST API (`Calls.json`), with the parameters
the dialer always sends: the interview's webhooks, asynchronous machine detection that
waits for the greeting's end, a ring long enough for a person, no recording, and a time
limit from the template."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import anyio.lowlevel
import httpx

RING_TIMEOUT_S = 25  # a person answers within it; most voicemails pick up after it
CREATE_TIMEOUT_S = 10.0
STATUS_EVENTS = ("initiated", "ringing", "answered", "completed")


@dataclass(frozen=True, slots=True)
class Placed:
    call_sid: str


@dataclass(frozen=True, slots=True)
class Refused:
    """Twilio refused the call (its error code and message), or could not be reached."""

    code: int | None
    message: str
    status: int | None


@dataclass(frozen=True, slots=True)
class Reported:
    """What Twilio's REST API says of a call: its status, and its length once ended."""

    status: str
    duration_s: int | None


@dataclass(frozen=True, slots=True)
class OutboundRequest:
    to: str
    from_: str
    interview_id: str
    time_limit_s: int


def form(request: OutboundRequest, public_url: str) -> list[tuple[str, str]]:
    """The `Calls.json` parameters; the interview id rides in the webhook URLs' query."""
    query = "?" + urlencode({"interview": request.interview_id})
    params = [
        ("To", request.to),
        ("From", request.from_),
        ("Url", f"{public_url}/twilio/outbound/voice{query}"),
        ("Method", "POST"),
        ("StatusCallback", f"{public_url}/twilio/outbound/status{query}"),
        ("StatusCallbackMethod", "POST"),
        *(("StatusCallbackEvent", event) for event in STATUS_EVENTS),
        ("Timeout", str(RING_TIMEOUT_S)),
        ("Record", "false"),
        ("TimeLimit", str(request.time_limit_s)),
        ("MachineDetection", "DetectMessageEnd"),
        ("AsyncAmd", "true"),
        ("AsyncAmdStatusCallback", f"{public_url}/twilio/amd{query}"),
        ("AsyncAmdStatusCallbackMethod", "POST"),
    ]
    return params


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _refused(response: httpx.Response, body: dict[str, Any]) -> Refused:
    code = body.get("code")
    message = str(body.get("message") or response.reason_phrase)[:300]
    return Refused(code if isinstance(code, int) else None, message, response.status_code)


class CallCreator:
    """Creates calls (`Calls.json`), and reads one back (`Calls/{CallSid}.json`) when its
    status callbacks never came."""

    def __init__(self, account_sid: str, auth_token: str, api_url: str) -> None:
        self._calls = f"{api_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Calls"
        self._auth = (account_sid, auth_token)
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=CREATE_TIMEOUT_S, auth=self._auth)
        return self._client

    async def prepare(self) -> None:
        """Make the HTTP client and load its async backend ahead of the paced moment: the
        first of each takes tens of milliseconds that would make the first creation late."""
        if self._client is None:
            self._http()
            await anyio.lowlevel.checkpoint()

    async def create(self, request: OutboundRequest, public_url: str) -> Placed | Refused:
        try:
            response = await self._http().post(
                f"{self._calls}.json",
                content=urlencode(form(request, public_url)),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
        except httpx.HTTPError as exc:
            return Refused(None, f"Twilio unreachable ({type(exc).__name__})", None)
        body = _body(response)
        if response.status_code in (200, 201) and isinstance(body.get("sid"), str):
            return Placed(body["sid"])
        return _refused(response, body)

    async def fetch(self, call_sid: str) -> Reported | Refused:
        """The call's status as Twilio has it (`status`, and `duration` in seconds as a
        string once the call has ended)."""
        try:
            response = await self._http().get(f"{self._calls}/{call_sid}.json")
        except httpx.HTTPError as exc:
            return Refused(None, f"Twilio unreachable ({type(exc).__name__})", None)
        body = _body(response)
        status = body.get("status")
        if response.status_code != 200 or not isinstance(status, str):
            return _refused(response, body)
        duration = body.get("duration")
        seconds = int(duration) if isinstance(duration, str) and duration.isdigit() else None
        return Reported(status, seconds)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
