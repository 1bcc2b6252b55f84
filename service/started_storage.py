"""The database and its durable writer as the call engines reach them: both exist only
once the app has started, and no session is opened before that."""

from __future__ import annotations

from collections.abc import Callable

from persistence.durable_writer import DurableWriter
from persistence.store import Store, opened


class StartedStorage:
    def __init__(
        self,
        open_store: Callable[[], Store | None],
        open_writer: Callable[[], DurableWriter | None],
    ) -> None:
        self._open_store = open_store
        self._open_writer = open_writer

    def store(self) -> Store:
        return opened(self._open_store())

    def writer(self) -> DurableWriter:
        return opened(self._open_writer())

    def writer_if_open(self) -> DurableWriter | None:
        """For work that may outlive the app (a primed session closing at shutdown)."""
        return self._open_writer()
