"""ASGI entry point for the Procfile (`hypercorn telephony.asgi:app`), set up from the env."""

from __future__ import annotations

import os

from telephony.app import create_app
from telephony.config import load_settings
from telephony.logs import configure_logging

settings = load_settings(os.environ)
configure_logging(settings.log_level)
app = create_app(settings)
