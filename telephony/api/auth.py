"""API keys: `Authorization: Bearer vi_<id>_<secret>`, stored only as a SHA-256 hash.

A key has one scope. `ops` reads; `recruiter` and `admin` also write. Requests are
counted per key in MongoDB, so the limit holds across workers.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Final, Literal, TypeVar

from quart import current_app, g, request

from persistence.records import ApiKey
from telephony.api.context import api
from telephony.api.problems import ApiError

Scope = Literal["recruiter", "ops", "admin"]
SCOPES: Final[tuple[Scope, ...]] = ("recruiter", "ops", "admin")
Access = Literal["read", "write"]
GRANTS: Final[dict[Access, frozenset[str]]] = {
    "read": frozenset(SCOPES),
    "write": frozenset({"recruiter", "admin"}),
}
PREFIX = "vi_"
WINDOW = timedelta(minutes=1)
_ACCESS = "_api_access"

F = TypeVar("F", bound=Callable[..., object])


def new_key() -> tuple[str, str, str]:
    """A fresh key: (the key, shown once; its public id; the hash to store)."""
    key_id = secrets.token_hex(6)
    key = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    return key, key_id, hash_key(key)


def hash_key(key: str) -> str:
    # The key is 256 random bits: a plain hash cannot be reversed or guessed.
    return hashlib.sha256(key.encode()).hexdigest()


def needs(access: Access) -> Callable[[F], F]:
    """What a route requires of the key's scope."""

    def mark(view: F) -> F:
        setattr(view, _ACCESS, access)
        return view

    return mark


def window_start(now: datetime) -> datetime:
    seconds = int(now.timestamp())
    return datetime.fromtimestamp(seconds - seconds % int(WINDOW.total_seconds()), UTC)


async def authenticate() -> None:
    """Before every API request: 401 without a valid key, 429 over its rate, 403 when its
    scope does not allow the route."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(
            401,
            "An API key is required: Authorization: Bearer <key>.",
            headers={"WWW-Authenticate": 'Bearer realm="voice-interview"'},
        )
    face = api()
    store = face.store()
    key = await store.api_keys.find_active(hash_key(token.strip()))
    if key is None:
        raise ApiError(
            401,
            "The API key is not valid or has been revoked.",
            headers={"WWW-Authenticate": 'Bearer realm="voice-interview", error="invalid_token"'},
        )
    g.api_key = key
    now = face.clock()
    start = window_start(now)
    count = await store.rate_counters.hit(key.key_id or key.key_hash[:12], start, WINDOW)
    if count > face.rate_limit:
        wait = max(1, math.ceil((start + WINDOW - now).total_seconds()))
        raise ApiError(
            429,
            f"Over {face.rate_limit} requests a minute for this key; retry in {wait} s.",
            headers={"Retry-After": str(wait)},
        )
    view = current_app.view_functions.get(request.endpoint or "")
    access: Access = getattr(view, _ACCESS, "write")
    if not GRANTS[access] & set(key.scopes):
        raise ApiError(403, f"This key's scope ({', '.join(key.scopes)}) cannot {access} here.")


def current_key() -> ApiKey:
    key: ApiKey = g.api_key
    return key
