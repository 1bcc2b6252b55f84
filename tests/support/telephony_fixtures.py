"""A running service for telephony tests: a real server, a real database, signed requests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
from quart import Quart

from persistence.store import Store
from service.app import create_app, services
from service.server import ServerName
from service.services import Services
from service.settings import Secret, Settings
from telephony.twilio_auth import stream_token
from tests.support.servers import running
from tests.support.twilio_peer import TwilioPeer, sid, sign

AUTH_TOKEN = "0123456789abcdef0123456789abcdef"
PUBLIC = "https://voice.example.test"


@dataclass
class Service:
    base: str
    app: Quart | None  # None: the service runs in another process
    http: httpx.AsyncClient
    direct_store: Store | None = None  # the same database, for a service in another process

    @property
    def services(self) -> Services:
        assert self.app is not None, "a service in another process has no in-process state"
        return services(self.app)

    @property
    def store(self) -> Store:
        if self.direct_store is not None:
            return self.direct_store
        s = self.services.store
        assert s is not None
        return s

    @staticmethod
    def stream_path(call_sid: str) -> str:
        """The media-stream path the voice webhook's TwiML gives this call."""
        return "/twilio/media-stream/" + stream_token(AUTH_TOKEN, call_sid)

    async def post_twilio(
        self,
        path: str,
        params: dict[str, str],
        *,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
        signed_url: str | None = None,
    ) -> httpx.Response:
        url = signed_url or PUBLIC + path
        sig = sign(AUTH_TOKEN, url, params) if signature is None else signature
        all_headers = {"X-Twilio-Signature": sig} if sig else {}
        all_headers.update(headers or {})
        return await self.http.post(path, data=params, headers=all_headers)

    def peer(self, call_sid: str, **kw: object) -> TwilioPeer:
        path = self.stream_path(call_sid)
        return TwilioPeer(
            ws_url=self.base.replace("http://", "ws://") + path,
            signed_url=PUBLIC.replace("https://", "wss://") + path,
            auth_token=AUTH_TOKEN,
            call_sid=call_sid,
            custom_parameters={"call_id": call_sid, "template_id": "default"},
            **kw,  # type: ignore[arg-type]
        )

    async def incoming_call(self, call_sid: str | None = None, **params: str) -> str:
        """Have 'Twilio' ring the voice webhook; returns the CallSid."""
        call_sid = call_sid or sid("CA")
        response = await self.voice(call_sid, **params)
        assert response.status_code == 200, response.text
        return call_sid

    async def voice(self, call_sid: str, **params: str) -> httpx.Response:
        """'Twilio' rings the voice webhook for `call_sid`; its answer (TwiML)."""
        form = {
            "CallSid": call_sid,
            "AccountSid": "AC" + "0" * 32,
            "From": "+14155550123",
            "To": "+14155550100",
            "Direction": "inbound",
            "CallStatus": "ringing",
            **params,
        }
        return await self.post_twilio("/twilio/voice", form)


def settings_for(
    mongo_uri: str, db_name: str, *, max_call_seconds: int | None = None, **overrides: object
) -> Settings:
    values: dict[str, object] = {
        "mongodb_uri": mongo_uri,
        "mongodb_db": db_name,
        "public_url": PUBLIC,
        "twilio_auth_token": Secret(AUTH_TOKEN),
        "openai_api_key": Secret("sk-test"),
        # Nothing listens on the discard port: no test ever reaches a real service.
        "openai_realtime_url": "ws://127.0.0.1:9/v1/realtime",
        # The tests' webhook receivers listen on loopback.
        "webhook_allow_networks": ("127.0.0.1",),
    }
    values.update(overrides)
    settings = Settings(**values)  # type: ignore[arg-type]
    if max_call_seconds is not None:
        # MAX_CALL_SECONDS' range (120 s and up) is for the environment; whole-call tests
        # shorten the cap to a few seconds on purpose, so it is set past validation.
        settings = settings.model_copy(update={"max_call_seconds": max_call_seconds})
    return settings


@contextlib.asynccontextmanager
async def service(
    settings: Settings, svc: Services | None = None, server: ServerName = "hypercorn"
) -> AsyncIterator[Service]:
    app = create_app(settings, svc) if svc is not None else create_app(settings)
    async with running(app, server) as base, httpx.AsyncClient(base_url=base, timeout=10) as http:
        yield Service(base, app, http)
        store = services(app).store
        if store is not None:
            await store.db.client.drop_database(settings.mongodb_db)
