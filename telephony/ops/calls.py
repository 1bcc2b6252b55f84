"""/ops/calls: the call log (filters, sorting, keyset pages, CSV of exactly the filtered
list) and each call's page and JSON export. Numbers are shown as stored: masked."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from typing import Any

from quart import Blueprint, Response, abort, render_template, request

from evaluation.templates import DEFAULT_TEMPLATE
from persistence.call_views import OUTCOMES, SORT_KEYS, CallRow
from telephony.ops import cursors, search_form
from telephony.ops.access import sees_costs
from telephony.ops.call_layout import scorecard, timeline, transcript
from telephony.ops.charts import bar_chart
from telephony.ops.context import ops

bp = Blueprint("ops_calls", __name__, url_prefix="/ops")
PAGE = 50
CSV_COLUMNS = (
    "call_sid",
    "created_at",
    "direction",
    "channel",
    "from",
    "to",
    "template",
    "engine",
    "status",
    "outcome",
    "answered_by",
    "duration_s",
    "score",
    "cost_usd",
)


async def _templates() -> list[str]:
    """The filter's choices: the stored templates and the built-in one."""
    stored = await ops().store().templates.list()
    return sorted({DEFAULT_TEMPLATE.template_id, *(t.template_id for t in stored)})


def cost_usd(row: CallRow) -> float | None:
    cost = row.call.cost
    if cost is None:
        return None
    return cost.total_usd if cost.total_usd is not None else cost.running_usd


@bp.get("/calls")
async def call_log() -> str:
    costs = sees_costs()
    search, errors = search_form.parse(request.args, costs=costs)
    after = None
    if cursor := request.args.get("cursor"):
        try:
            after = cursors.decode(cursor, search.sort)
        except cursors.CursorError as exc:
            errors["cursor"] = str(exc)
    views = ops().calls()
    found = await views.page(search, after, PAGE + 1, ops().now())
    rows, more = found[:PAGE], len(found) > PAGE
    next_link = None
    if more:
        last = rows[-1]
        token = cursors.encode(search.sort, last.sort_value(search.sort), last.call.call_sid)
        next_link = "?" + search_form.query_string(request.args, cursor=token)
    return await render_template(
        "ops/calls.html",
        rows=rows,
        errors=errors,
        args=request.args,
        outcomes=OUTCOMES,
        sorts=SORT_KEYS,
        templates=await _templates(),
        next_link=next_link,
        first_link="?" + search_form.query_string(request.args, cursor=None)
        if after is not None
        else None,
        csv_link="calls.csv?" + search_form.query_string(request.args, cursor=None),
        costs=costs,
        cost_usd=cost_usd,
    )


def _csv_row(row: CallRow, costs: bool) -> list[Any]:
    c = row.call
    values: list[Any] = [
        c.call_sid,
        c.created_at.isoformat(),
        c.direction,
        c.channel,
        c.from_masked,
        c.to_masked,
        c.template_id,
        row.engine,
        c.status,
        row.outcome or "",
        row.answered_by or "",
        "" if c.duration_s is None else c.duration_s,
        "" if c.report is None else c.report.score,
    ]
    if costs:
        usd = cost_usd(row)
        values.append("" if usd is None else f"{usd:.6f}")
    return values


@bp.get("/calls.csv")
async def call_log_csv() -> Response:
    """Every call the filters find, in the page's order, not only the page on screen."""
    costs = sees_costs()
    search, errors = search_form.parse(request.args, costs=costs)
    if errors:
        abort(400, "; ".join(f"{k}: {v}" for k, v in errors.items()))
    columns = CSV_COLUMNS if costs else CSV_COLUMNS[:-1]
    views = ops().calls()  # the body is sent after the request's context has gone

    async def lines() -> AsyncIterator[bytes]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(columns)
        async for row in views.each(search):
            writer.writerow(_csv_row(row, costs))
            if buffer.tell() > 16_384:
                yield buffer.getvalue().encode()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue().encode()

    return Response(
        lines(),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="calls.csv"'},
    )


async def _found(call_sid: str) -> CallRow:
    row = await ops().calls().get(call_sid)
    if row is None:
        abort(404, f"No call {call_sid}.")
    return row


@bp.get("/calls/<call_sid>")
async def call_page(call_sid: str) -> str:
    row = await _found(call_sid)
    store = ops().store()
    call = row.call
    start = call.stream.started_at if call.stream else call.timings.get("stream_started")
    lines = transcript(
        await store.turns.for_call(call_sid), await store.evaluations.for_call(call_sid), start
    )
    replies = [
        (f"#{line.turn.seq}", line.turn.latency_ms)
        for line in lines
        if line.turn.speaker == "assistant" and line.turn.latency_ms is not None
    ]
    stats = call.latency.model if call.latency else None
    marks = [
        (name, value)
        for name, value in (
            ("p50", stats.p50_ms if stats else None),
            ("p95", stats.p95_ms if stats else None),
        )
        if value is not None
    ]
    chart = (
        bar_chart("Reply latency per turn", replies, unit=" ms", marks=marks) if replies else None
    )
    return await render_template(
        "ops/call.html",
        row=row,
        call=call,
        lines=lines,
        timeline=timeline(call),
        card=scorecard(call.report, lines) if call.report else None,
        chart=chart,
        replies=replies,
        costs=sees_costs(),
        cost_usd=cost_usd(row),
    )


@bp.get("/calls/<call_sid>.json")
async def call_json(call_sid: str) -> Response:
    row = await _found(call_sid)
    store = ops().store()
    call = row.call.model_dump(mode="json", exclude=None if sees_costs() else {"cost"})
    body = {
        "call": {**call, "outcome": row.outcome, "engine": row.engine},
        "turns": [t.model_dump(mode="json") for t in await store.turns.for_call(call_sid)],
        "evaluations": [
            e.model_dump(mode="json") for e in await store.evaluations.for_call(call_sid)
        ],
        "audio": "No audio is ever stored.",
    }
    return Response(
        json.dumps(body, indent=2),
        content_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{call_sid}.json"'},
    )
