"""Checks that a request really comes from Twilio, against the URL Twilio actually called."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Mapping

from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)
from werkzeug.datastructures import Headers

HeaderMap = Mapping[str, str] | Headers


class ProxyTrust:
    """Which clients may say, in X-Forwarded-Proto/Host, which URL they were called at
    (FORWARDED_ALLOW_IPS, after uvicorn's --forwarded-allow-ips). Trusting anyone would let
    a signature captured for another app on the same Twilio account replay here."""

    def __init__(self, allowed: tuple[str, ...]) -> None:
        self._any = "*" in allowed
        self._networks = [ipaddress.ip_network(a, strict=False) for a in allowed if a != "*"]

    def trusts(self, client_ip: str | None) -> bool:
        if self._any:
            return True
        try:
            address = ipaddress.ip_address(client_ip or "")
        except ValueError:
            return False
        return any(address in network for network in self._networks)


UNKNOWN_BASE = (
    "PUBLIC_URL is not set and the request did not come through a proxy in FORWARDED_ALLOW_IPS"
)


def public_base(
    public_url: str | None, headers: HeaderMap, scheme: str, *, forwarded: bool
) -> str | None:
    """Where Twilio reaches us: PUBLIC_URL (which may carry a path prefix a proxy strips),
    else `scheme://host` as a trusted proxy (`forwarded`) passed it on. None from any other
    client: its Host header is its own choice, and with it a signature captured for another
    app on the same Twilio account would check out here."""
    if public_url is not None:
        return public_url.rstrip("/")
    if not forwarded:
        return None
    proto = headers.get("X-Forwarded-Proto", "").split(",")[0].strip()
    host = headers.get("X-Forwarded-Host", "").split(",")[0].strip()
    return f"{proto or scheme}://{(host or headers.get('Host', '')).strip()}"


def websocket_base(http_base: str) -> str:
    """The ws(s):// form of an http(s):// base, as Twilio signs media-stream upgrades."""
    if http_base.startswith("https://"):
        return "wss://" + http_base[len("https://") :]
    if http_base.startswith("http://"):
        return "ws://" + http_base[len("http://") :]
    return http_base


def stream_token(auth_token: str, call_sid: str) -> str:
    """The per-call last segment of a media-stream URL.

    Twilio signs a WebSocket upgrade over its URL alone, so with one fixed URL every
    stream would carry the same signature forever, and anyone who saw it once could
    open streams. With a token derived from the call, each call's URL (and signature)
    differs, and a stream can only be for the call its URL was issued to."""
    digest = hmac.new(auth_token.encode(), b"media-stream:" + call_sid.encode(), hashlib.sha256)
    return digest.hexdigest()[:32]


def relay_token(auth_token: str, call_sid: str) -> str:
    """The per-call last segment of a ConversationRelay URL: the media stream's scheme, for
    another purpose, so one URL cannot be replayed as the other."""
    digest = hmac.new(
        auth_token.encode(), b"conversation-relay:" + call_sid.encode(), hashlib.sha256
    )
    return digest.hexdigest()[:32]


class TwilioVerifier:
    """Wraps the SDK's RequestValidator, which also handles Twilio's port quirk."""

    def __init__(self, auth_token: str) -> None:
        self._validator = RequestValidator(auth_token)
        self._auth_token = auth_token

    def stream_token(self, call_sid: str) -> str:
        return stream_token(self._auth_token, call_sid)

    def relay_token(self, call_sid: str) -> str:
        return relay_token(self._auth_token, call_sid)

    def check(self, url: str, params: object, headers: HeaderMap) -> str | None:
        """None when the signature is good; otherwise a short reason for the log."""
        signature = headers.get(SIGNATURE_HEADER)
        if not signature:
            return "missing X-Twilio-Signature"
        algorithm = get_signature_algorithm(headers.get(SIGNATURE_SETTINGS_HEADER))
        try:
            valid = self._validator.validate(url, params, signature, algorithm)
        except ValueError:  # an unparseable URL (a Host with a bad port): nothing Twilio signed
            return "the request's URL cannot be parsed"
        if not valid:
            return "X-Twilio-Signature does not match"
        return None
