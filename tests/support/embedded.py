"""Embedded database servers a test starts for itself and then throws away."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from persistence.embedded import EmbeddedServer


async def start_in_memory(scratch: Path) -> EmbeddedServer:
    """A throwaway in-memory server, to be `discard`ed.

    SecantusDB makes a scratch directory even for an in-memory store, and only a clean stop
    removes it; the child is started with TMPDIR pointing into `scratch` (one of pytest's
    temporary directories), so a killed server leaves nothing behind elsewhere.
    """
    server = EmbeddedServer(":memory:")
    previous = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(scratch)
    try:
        await server.start()
    finally:
        if previous is None:
            del os.environ["TMPDIR"]
        else:
            os.environ["TMPDIR"] = previous
    return server


async def discard(server: EmbeddedServer) -> None:
    """Stop a server whose data no test needs again, at once.

    A clean stop spends about 2 s in SecantusDB's shutdown (it joins its accept thread with
    a 2 s timeout); a throwaway server has nothing to flush, so it is killed instead.
    """
    if server.pid is not None and server.running:
        os.killpg(server.pid, signal.SIGKILL)  # its own process group (start_new_session)
    await server.stop()  # reaps the process
