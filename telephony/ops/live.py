"""/ops/live: calls in progress, each transcript growing as turns are stored, without a
reload: server-sent events from the database's change feed (see persistence.live_feed)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from quart import Blueprint, Response, render_template

from persistence.live_feed import LiveEvent, LiveFeed
from telephony.ops.context import OpsFace, ops

bp = Blueprint("ops_live", __name__, url_prefix="/ops")
KEEPALIVE_EVERY = 15  # quiet ticks (about a second each) between comment lines


def feed(face: OpsFace) -> LiveFeed:
    return LiveFeed(face.store().db, change_streams=face.change_streams, poll_s=face.live_poll_s)


def _data(event: LiveEvent) -> dict[str, object]:
    if event.turn is not None:
        t = event.turn
        return {
            "call_sid": t.call_sid,
            "seq": t.seq,
            "speaker": "Candidate" if t.speaker == "caller" else "Interviewer",
            "text": "(could not be transcribed)" if t.transcription_failed else t.text,
            "interrupted": t.interrupted,
        }
    if event.call is not None:
        c = event.call
        return {
            "call_sid": c.call_sid,
            "direction": c.direction,
            "number": c.from_masked if c.direction == "inbound" else c.to_masked,
            "template": c.template_id,
            "started": c.created_at.isoformat(),
        }
    return {"call_sid": event.call_sid}


@bp.get("/live")
async def live() -> str:
    face = ops()
    snapshot = await feed(face).snapshot(face.now())
    calls = [e.call for e in snapshot if e.call is not None]
    turns = [e.turn for e in snapshot if e.turn is not None]
    return await render_template("ops/live.html", calls=calls, turns=turns)


@bp.get("/live/events")
async def live_events() -> Response:
    face = ops()
    source = feed(face)

    async def stream() -> AsyncIterator[bytes]:
        quiet = 0
        yield b"retry: 2000\n\n"
        async for event in source.follow(face.now):
            if event is None:
                quiet += 1
                if quiet >= KEEPALIVE_EVERY:
                    quiet = 0
                    yield b": keep-alive\n\n"
                continue
            quiet = 0
            yield f"event: {event.kind}\ndata: {json.dumps(_data(event))}\n\n".encode()

    response = Response(
        stream(),
        content_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
    response.timeout = None  # open for as long as the page is
    return response
