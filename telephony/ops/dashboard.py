"""/ops: the dashboard, per UTC day, as server-drawn charts with the numbers in a table."""

from __future__ import annotations

from quart import Blueprint, render_template, request

from persistence.daily_stats import daily
from telephony.ops.access import sees_costs
from telephony.ops.charts import bar_chart
from telephony.ops.context import ops

bp = Blueprint("ops_dashboard", __name__, url_prefix="/ops")
RANGES = (7, 14, 30, 90)


def _percent(value: float | None) -> float | None:
    return None if value is None else round(100 * value, 1)


@bp.get("/")
async def dashboard() -> str:
    wanted = request.args.get("days", "14")
    days = next((d for d in RANGES if str(d) == wanted), 14)
    face = ops()
    stats = await daily(face.store().db, face.now().date(), days)
    label = [d.day.strftime("%m-%d") for d in stats]
    series: list[tuple[str, list[float | None], str]] = [
        ("Calls per day", [float(d.calls) for d in stats], ""),
        ("Answer rate (%)", [_percent(d.answer_rate) for d in stats], "%"),
        (
            "Completion rate of answered calls (%)",
            [_percent(d.completion_rate) for d in stats],
            "%",
        ),
        ("Average score", [d.average_score for d in stats], ""),
        ("Reply latency p95 (ms)", [d.p95_ms for d in stats], " ms"),
    ]
    charts = [
        (title, bar_chart(title, list(zip(label, values, strict=True)), unit=unit))
        for title, values, unit in series
    ]
    templates = sorted({t for d in stats for t in d.cost_per_completed()})
    verdicts = sorted({v for d in stats for v in d.verdicts})
    return await render_template(
        "ops/dashboard.html",
        stats=stats,
        days=days,
        ranges=RANGES,
        charts=charts,
        costs=sees_costs(),
        templates=templates,
        verdicts=verdicts,
        percent=_percent,
    )
