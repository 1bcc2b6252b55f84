"""The Quart application factory: mounts every face on one app."""

from __future__ import annotations

import gc

from quart import Quart

from service import health
from service.services import EXTENSION, Services
from service.settings import Settings
from telephony import browser_call, face, media_stream, relay_socket, twilio_webhooks
from telephony.api import mount as recruiter_api
from telephony.dialer import webhooks as dialer_webhooks
from telephony.ops import mount as ops_console

MAX_BODY_BYTES = 1 << 20


def create_app(settings: Settings, services: Services | None = None) -> Quart:
    """Build the app; pass `services` already started to own their lifetime yourself."""
    app = Quart(__name__)
    # No request this service takes is near this; larger bodies are refused unread (413).
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    owned = services is None
    svc = services if services is not None else Services(settings)
    app.extensions[EXTENSION] = svc
    face.install(app, svc.twilio_face)
    app.register_blueprint(health.bp)
    app.register_blueprint(twilio_webhooks.bp)
    recruiter_api.install(app, svc.api_face)
    ops_console.install(app, svc.ops_face)
    dialer_webhooks.install(app, svc.dialer_face)
    media_stream.install(app)
    relay_socket.install(app)
    browser_call.install(app)

    if owned:

        @app.before_serving
        async def _open() -> None:
            await svc.start()
            # What exists now (modules, schemas, the phone-number metadata, settings) lives
            # as long as the process. Frozen, it is left out of the collector's full passes,
            # which otherwise stop every call on the worker at once (a 90 ms pause at 100
            # calls, benchmarks/README.md). Garbage is collected first, so none is frozen.
            gc.collect()
            gc.freeze()

        @app.after_serving
        async def _close() -> None:
            await svc.stop()

    return app


def services(app: Quart) -> Services:
    """The services an app was built with."""
    svc: Services = app.extensions[EXTENSION]
    return svc
