"""ASGI entry point for the Procfile (`hypercorn service.asgi:app`), set up from the env."""

from __future__ import annotations

import os

from service.app import create_app
from service.logs import configure_logging
from service.settings import load_settings

settings = load_settings(os.environ)
configure_logging(settings.log_level)
app = create_app(settings)
