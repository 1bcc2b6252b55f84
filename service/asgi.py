"""ASGI entry point for the Procfile (`hypercorn service.asgi:app`), set up from the env."""

from __future__ import annotations

import logging
import os

from service.app import create_app
from service.logs import configure_logging
from service.settings import load_settings

settings = load_settings(os.environ)
configure_logging(settings.log_level)
for warning in settings.model_warnings():
    logging.getLogger("voice_interview").warning("%s", warning)
app = create_app(settings)
