"""Creating an outbound call through Twilio's REST API (`Calls.json`), with the parameters
the dialer always sends: the interview's webhooks, asynchronous machine detection that
waits for the greeting's end, a ring long enough for a person, no recording, and a time
limit from the template."""

from __future__ import annotations

from dataclasses import dataclass
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


class CallCreator:
    def __init__(self, account_sid: str, auth_token: str, api_url: str) -> None:
        self._url = f"{api_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Calls.json"
        self._auth = (account_sid, auth_token)
        self._client: httpx.AsyncClient | None = None

    async def prepare(self) -> None:
        """Make the HTTP client and load its async backend ahead of the paced moment: the
        first of each takes tens of milliseconds that would make the first creation late."""
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=CREATE_TIMEOUT_S, auth=self._auth)
            await anyio.lowlevel.checkpoint()

    async def create(self, request: OutboundRequest, public_url: str) -> Placed | Refused:
        await self.prepare()
        assert self._client is not None
        try:
            response = await self._client.post(
                self._url,
                content=urlencode(form(request, public_url)),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
        except httpx.HTTPError as exc:
            return Refused(None, f"Twilio unreachable ({type(exc).__name__})", None)
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        if response.status_code in (200, 201) and isinstance(body.get("sid"), str):
            return Placed(body["sid"])
        code = body.get("code")
        message = str(body.get("message") or response.reason_phrase)[:300]
        return Refused(code if isinstance(code, int) else None, message, response.status_code)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
