"""A loopback stand-in for wss://api.openai.com/v1/realtime: the handshake the API checks
(path, model, bearer key, no beta header), one PeerConnection per accepted socket, and the
faults a test can cause (a dropped socket, an expired session, refused connections)."""

from __future__ import annotations

import json
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from tests.support.openai.connection import PeerConnection
from tests.support.openai.protocol import AudioFormat
from tests.support.openai.script import Script
from tests.support.waiting import Changes


class RealtimePeer:
    """A loopback stand-in for wss://api.openai.com/v1/realtime.

    `changed` is notified whenever anything it records changes (a handshake, a connection,
    an event either way, an error, a close): wait on it with `eventually`.
    """

    def __init__(
        self,
        *,
        api_key: str = "sk-test",
        model: str = "gpt-realtime-2.1",
        audio_format: AudioFormat = "pcm16",
        realtime_factor: float = 4.0,
        response_latency_ms: float = 0.0,
        script: Script | None = None,
        deltas_after_cancel: int = 0,
    ) -> None:
        self.api_key = api_key
        self.model = model
        self.audio_format: AudioFormat = audio_format
        self.realtime_factor = realtime_factor
        self.response_latency_ms = response_latency_ms
        # The real API may still deliver a few deltas of a response it has just cancelled
        # (generated before the cancel took effect); the client must drop them.
        self.deltas_after_cancel = deltas_after_cancel
        self.script = script or Script()
        self.errors: list[str] = []
        self.notes: list[str] = []
        self.connections: list[PeerConnection] = []
        self.handshakes: list[tuple[int, str]] = []  # (HTTP status, path) of every upgrade
        self.refuse_connections = False
        # The current connection dies (TCP abort) as it is about to send this event type.
        self.drop_before: str | None = None
        self.url = ""
        self.changed = Changes()
        self._server: Server | None = None

    async def __aenter__(self) -> RealtimePeer:
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            0,
            process_request=self._process_request,
            max_size=16 * 2**20,
        )
        port = next(iter(self._server.sockets)).getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}/v1/realtime"
        return self

    async def __aexit__(self, *exc: object) -> None:
        for conn in self.connections:
            if conn.frozen:  # a half-open socket would hold up the server's closing
                conn.ws.transport.abort()
            await conn.stop_tasks()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for conn in self.connections:
            conn.closed = True
            await conn.stop_tasks()
        self.changed.notify()

    @property
    def current(self) -> PeerConnection:
        """The newest connection that is still open."""
        for conn in reversed(self.connections):
            if not conn.closed:
                return conn
        raise RuntimeError("no open connection")

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        try:
            return self._check_handshake(connection, request)
        finally:
            self.changed.notify()

    def _check_handshake(self, connection: ServerConnection, request: Request) -> Response | None:
        def reject(status: HTTPStatus, why: str, *, record: bool = True) -> Response:
            self.handshakes.append((status.value, request.path))
            if record:
                self.errors.append(f"handshake {status.value}: {why}")
            else:
                self.notes.append(f"handshake {status.value}: {why}")
            body = json.dumps({"error": {"type": "invalid_request_error", "message": why}})
            return connection.respond(status, body + "\n")

        if self.refuse_connections:
            return reject(HTTPStatus.SERVICE_UNAVAILABLE, "refusing connections", record=False)
        parts = urlsplit(request.path)
        if parts.path != "/v1/realtime":
            return reject(HTTPStatus.NOT_FOUND, f"unknown path {parts.path!r}")
        models = parse_qs(parts.query).get("model", [])
        if models != [self.model]:
            return reject(HTTPStatus.BAD_REQUEST, f"model query {models!r} != [{self.model!r}]")
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            got = "missing" if "Authorization" not in request.headers else "wrong"
            return reject(HTTPStatus.UNAUTHORIZED, f"{got} Authorization bearer key")
        if "OpenAI-Beta" in request.headers:
            return reject(
                HTTPStatus.BAD_REQUEST,
                f"OpenAI-Beta: {request.headers['OpenAI-Beta']} selects the retired beta shape",
            )
        self.handshakes.append((101, request.path))
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        conn = PeerConnection(self, ws, len(self.connections))
        self.connections.append(conn)
        self.changed.notify()
        await conn.run()

    async def drop(self, code: int | None = None) -> None:
        """Kill the current connection mid-call: TCP abort, or a close frame with `code`."""
        conn = self.current
        conn.closed = True
        if code is None:
            conn.ws.transport.abort()
        else:
            await conn.ws.close(code, "peer dropped the connection")
        self.changed.notify()
        await conn.stop_tasks()

    async def expire(self) -> None:
        await self.current.expire()

    def freeze(self) -> None:
        """The current connection goes half-open (see PeerConnection.freeze)."""
        self.current.freeze()
