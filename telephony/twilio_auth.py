"""Checks that a request really comes from Twilio, against the URL Twilio actually called."""

from __future__ import annotations

from collections.abc import Mapping

from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)
from werkzeug.datastructures import Headers

from telephony.config import Settings

HeaderMap = Mapping[str, str] | Headers


def public_base(settings: Settings, headers: HeaderMap, scheme: str) -> str:
    """Where Twilio reaches us: PUBLIC_URL (which may carry a path prefix a proxy strips),
    else `scheme://host` from the proxy's forwarded headers."""
    if settings.public_url is not None:
        return settings.public_url.rstrip("/")
    proto = headers.get("X-Forwarded-Proto", "").split(",")[0].strip() or scheme
    host = (
        headers.get("X-Forwarded-Host", "").split(",")[0].strip() or headers.get("Host", "")
    ).strip()
    return f"{proto}://{host}"


def websocket_base(http_base: str) -> str:
    """The ws(s):// form of an http(s):// base, as Twilio signs media-stream upgrades."""
    if http_base.startswith("https://"):
        return "wss://" + http_base[len("https://") :]
    if http_base.startswith("http://"):
        return "ws://" + http_base[len("http://") :]
    return http_base


class TwilioVerifier:
    """Wraps the SDK's RequestValidator, which also handles Twilio's port quirk."""

    def __init__(self, auth_token: str) -> None:
        self._validator = RequestValidator(auth_token)

    def check(self, url: str, params: object, headers: HeaderMap) -> str | None:
        """None when the signature is good; otherwise a short reason for the log."""
        signature = headers.get(SIGNATURE_HEADER)
        if not signature:
            return "missing X-Twilio-Signature"
        algorithm = get_signature_algorithm(headers.get(SIGNATURE_SETTINGS_HEADER))
        if not self._validator.validate(url, params, signature, algorithm):
            return "X-Twilio-Signature does not match"
        return None
