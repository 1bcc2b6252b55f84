"""Faults a test can plan on the OpenAI Realtime peer, per connection, before they happen:
a TCP abort or a half-open freeze just as connection N is about to send an event type,
and responses that end `failed` (or `incomplete`) without output.

`RealtimePeer.drop_before` is one fault for whichever connection sends the event first;
a plan here names the connection, so a reconnection can be made to fail too, at the
moment its replay is being heard."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from tests.support.openai import PeerConnection, billing
from tests.support.openai import responses as peer_responses
from tests.support.openai.protocol import Json
from tests.support.openai.records import Gone, PeerResponse


@dataclass
class FaultPlan:
    drops: dict[int, str] = field(default_factory=dict)  # connection index -> event type
    freezes: dict[int, str] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)  # statuses of the next responses
    stalls: int = 0  # the next responses are created, then never produce anything
    voice_confirmed: str | None = None  # session.updated confirms this voice instead
    happened: list[tuple[int, str, str]] = field(default_factory=list)  # (conn, fault, event)


def install(monkeypatch: pytest.MonkeyPatch, plan: FaultPlan) -> FaultPlan:
    send = PeerConnection.send
    run = peer_responses.run

    async def faulty_send(self: PeerConnection, event: Json) -> None:
        kind = event.get("type")
        if kind == "session.updated" and plan.voice_confirmed is not None:
            session = json.loads(json.dumps(event["session"]))
            session["audio"]["output"]["voice"] = plan.voice_confirmed
            event = {**event, "session": session}
        if not self.closed and not self.frozen:
            if plan.drops.get(self.index) == kind:
                del plan.drops[self.index]
                plan.happened.append((self.index, "drop", str(kind)))
                self.closed = True
                self.ws.transport.abort()
                self.peer.changed.notify()
                raise Gone
            if plan.freezes.get(self.index) == kind:
                del plan.freezes[self.index]
                plan.happened.append((self.index, "freeze", str(kind)))
                self.freeze()
                raise Gone
        await send(self, event)

    async def failing_run(conn: PeerConnection, resp: PeerResponse) -> None:
        if plan.stalls > 0:
            plan.stalls -= 1
            plan.happened.append((conn.index, "stall", resp.id))
            await resp.wake.wait()  # until cancelled; the socket itself stays healthy
            await run(conn, resp)
            return
        if not plan.failures:
            await run(conn, resp)
            return
        status = plan.failures.pop(0)
        try:
            resp.status = status
            resp.status_details = (
                {"type": "failed", "error": {"type": "server_error", "code": None}}
                if status == "failed"
                else {"type": "incomplete", "reason": "content_filter"}
            )
            resp.usage = billing.usage(resp.input_segments, conn.last_segments, 0, 0)
            conn.last_segments = resp.input_segments
            conn.usages.append(resp.usage)
            conn.active = None
            done = {"type": "response.done", "response": peer_responses.response_object(conn, resp)}
            await conn.send(done)
        except Gone:
            pass
        finally:
            if conn.active is resp:
                conn.active = None

    monkeypatch.setattr(PeerConnection, "send", faulty_send)
    monkeypatch.setattr(peer_responses, "run", failing_run)
    return plan
