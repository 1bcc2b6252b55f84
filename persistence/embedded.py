"""The embedded MongoDB-compatible server used when no MONGODB_URI is configured.

SecantusDB is GPL-licensed, so it only ever runs as a child process that we speak
the wire protocol to; nothing here imports it.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import os
import signal
import socket
import sys
from pathlib import Path

from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

log = logging.getLogger(__name__)


class EmbeddedServerError(RuntimeError):
    """The embedded server could not be started; the message says why and what to do."""


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_file(storage_path: Path) -> Path:
    """Where a running embedded server says which loopback port it answers on."""
    return storage_path.parent / "embedded-db.port"


async def running_uri(storage_path: Path) -> str | None:
    """The URI of an embedded server another process runs on `storage_path`, if one
    answers; None otherwise (none was started, or it is gone and left its file behind)."""
    try:
        port = int(port_file(storage_path.resolve()).read_text().strip())
    except (OSError, ValueError):
        return None
    uri = f"mongodb://127.0.0.1:{port}/?directConnection=true"
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        uri, serverSelectionTimeoutMS=500, connectTimeoutMS=500
    )
    try:
        await client.admin.command("ping")
    except PyMongoError:
        return None
    finally:
        await client.close()
    return uri


class EmbeddedServer:
    """A `secantusd-py` child process on a free loopback port, data under `storage_path`.

    Pass ":memory:" as storage_path for a throwaway server (tests).
    """

    def __init__(self, storage_path: Path | str, *, start_timeout: float = 30.0) -> None:
        self.storage_path = storage_path
        self.start_timeout = start_timeout
        self.port = 0
        self._process: asyncio.subprocess.Process | None = None
        self._log_path: Path | None = None
        self._port_file: Path | None = None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    async def start(self) -> str:
        """Start the server and wait until it answers ping; returns its URI."""
        if importlib.util.find_spec("secantus") is None:
            raise EmbeddedServerError(
                "MONGODB_URI is not set and the embedded server (SecantusDB) is not installed: "
                "install the 'embedded' extra (pip install 'voice-interview[embedded]') "
                "or set MONGODB_URI"
            )
        if self.storage_path != ":memory:":
            # Absolute: the child runs in another working directory.
            path = Path(self.storage_path).resolve()
            self.storage_path = path
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise EmbeddedServerError(
                    f"cannot create the embedded database directory {path}: {exc.strerror}"
                ) from None
            self._log_path = path.parent / "embedded-db.log"
            self._port_file = port_file(path)
        self.port = free_loopback_port()
        args = [
            sys.executable,
            "-m",
            "secantus",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--storage-path",
            str(self.storage_path),
            "--log-level",
            "WARNING",
        ]
        output = (
            open(self._log_path, "ab")  # noqa: SIM115 - handed to the child, closed below
            if self._log_path is not None
            else asyncio.subprocess.DEVNULL
        )
        try:
            self._process = await asyncio.create_subprocess_exec(
                *args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=output,
                stderr=output,
                # Its own process group: a Ctrl-C aimed at us must not kill it
                # before we have closed our connections.
                start_new_session=True,
                # A stray secantusd.toml in the working directory must not apply.
                cwd=str(self._log_path.parent) if self._log_path else None,
            )
        finally:
            if not isinstance(output, int):
                output.close()
        await self._wait_until_ready()
        if self._port_file is not None:
            # Lets a one-off command (`api-key create` beside `serve`) use this server.
            self._port_file.write_text(f"{self.port}\n")
        return self.uri

    async def _wait_until_ready(self) -> None:
        assert self._process is not None
        client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
            self.uri, serverSelectionTimeoutMS=500, connectTimeoutMS=500
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.start_timeout
        try:
            while True:
                if self._process.returncode is not None:
                    raise EmbeddedServerError(self._exit_reason())
                try:
                    await client.admin.command("ping")
                    return
                except PyMongoError:
                    pass
                if loop.time() > deadline:
                    await self.stop()
                    raise EmbeddedServerError(
                        f"the embedded database did not answer within {self.start_timeout:.0f} s"
                        f"{self._log_hint()}"
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._process.wait(), 0.1)
        finally:
            await client.close()

    def _log_hint(self) -> str:
        return f"; see {self._log_path}" if self._log_path else ""

    def _exit_reason(self) -> str:
        tail = ""
        if self._log_path is not None and self._log_path.exists():
            lines = self._log_path.read_text(errors="replace").strip().splitlines()
            tail = lines[-1] if lines else ""
        if "busy" in tail.lower() or "lock" in tail.lower():
            return (
                f"the embedded database directory {self.storage_path} is in use by another "
                "process (is another voice-interview running with the same DATA_DIR?)"
            )
        detail = f": {tail}" if tail else ""
        return f"the embedded database exited at start-up{detail}{self._log_hint()}"

    async def stop(self, timeout: float = 10.0) -> None:
        """Ask the server to shut down cleanly (SIGTERM), and kill it if it will not."""
        if self._port_file is not None:
            self._port_file.unlink(missing_ok=True)
        process = self._process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), timeout)
        except TimeoutError:
            log.warning("embedded database did not stop within %.0f s; killing it", timeout)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
