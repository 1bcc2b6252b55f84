"""What the ops console needs from the rest of the service, installed on the app by the
composition root (which the console never imports)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from quart import Quart, current_app

from persistence.call_views import CallViews
from persistence.console_sessions import ConsoleSessions
from persistence.store import Store, opened

EXTENSION = "ops_console"


@dataclass(frozen=True, slots=True)
class OpsFace:
    open_store: Callable[[], Store | None]
    """The database once start-up has opened it."""
    clock: Callable[[], datetime]
    idle: timedelta
    """A session unused this long is over (OPS_IDLE_MINUTES)."""
    secure_cookies: bool
    """The service is reached over https (PUBLIC_URL), so cookies say Secure."""
    live_poll_s: float
    """How often the live page's feed asks the database when change streams are missing."""
    change_streams: bool = True
    """False: poll even where the database has change streams."""
    _secret: list[str] = field(default_factory=list)

    def store(self) -> Store:
        return opened(self.open_store())

    def now(self) -> datetime:
        """The time, to the millisecond MongoDB keeps, so a stored time reads back equal."""
        at = self.clock()
        return at.replace(microsecond=at.microsecond // 1000 * 1000)

    def sessions(self) -> ConsoleSessions:
        return ConsoleSessions(self.store().db)

    def calls(self) -> CallViews:
        return CallViews(self.store().db)

    async def cookie_secret(self) -> str:
        """Read once per worker; every worker reads the same one."""
        if not self._secret:
            self._secret.append(await self.sessions().cookie_secret())
        return self._secret[0]


def install(app: Quart, face: OpsFace) -> None:
    app.extensions[EXTENSION] = face


def ops() -> OpsFace:
    found: OpsFace = current_app.extensions[EXTENSION]
    return found
