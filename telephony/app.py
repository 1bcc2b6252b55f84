"""The Quart application factory."""

from __future__ import annotations

from quart import Quart

from telephony import health, interview, media_stream, twilio_webhooks
from telephony.config import Settings
from telephony.services import EXTENSION, Services


def create_app(settings: Settings, services: Services | None = None) -> Quart:
    """Build the app; pass `services` already started to own their lifetime yourself."""
    app = Quart(__name__)
    owned = services is None
    svc = services if services is not None else Services(settings)
    app.extensions[EXTENSION] = svc
    interview.install(svc)
    app.register_blueprint(health.bp)
    app.register_blueprint(twilio_webhooks.bp)
    media_stream.install(app)

    if owned:

        @app.before_serving
        async def _open() -> None:
            await svc.start()

        @app.after_serving
        async def _close() -> None:
            await svc.stop()

    return app
