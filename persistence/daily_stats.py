"""The dashboard's figures per UTC day: calls, answer and completion rates, average score,
cost per completed interview per template, reply latency, and answering-machine verdicts.

Worked out here from one projected read of the days' calls, with the same outcome rules
as the call log, so a day's figures and its filtered call list always agree. Latency
figures are over the calls' own p50 and p95 (the median of the p50s, the 95th percentile
of the p95s), which are what the call records keep.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from persistence._types import Database, Document
from persistence.call_views import answered_by, outcome_of

FIELDS = {
    "created_at": 1,
    "status": 1,
    "completion": 1,
    "unavailable_reason": 1,
    "amd.answered_by": 1,
    "template_id": 1,
    "timings.stream_started": 1,
    "report.score": 1,
    "cost.total_usd": 1,
    "latency.model": 1,
}


@dataclass
class Day:
    day: date
    calls: int = 0
    answered: int = 0
    completed: int = 0
    scores: list[float] = field(default_factory=list)
    p50s: list[float] = field(default_factory=list)
    p95s: list[float] = field(default_factory=list)
    verdicts: Counter[str] = field(default_factory=Counter)
    cost_by_template: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    completed_by_template: Counter[str] = field(default_factory=Counter)

    @property
    def answer_rate(self) -> float | None:
        return self.answered / self.calls if self.calls else None

    @property
    def completion_rate(self) -> float | None:
        return self.completed / self.answered if self.answered else None

    @property
    def average_score(self) -> float | None:
        return round(statistics.fmean(self.scores), 1) if self.scores else None

    @property
    def p50_ms(self) -> float | None:
        return round(statistics.median(self.p50s), 1) if self.p50s else None

    @property
    def p95_ms(self) -> float | None:
        if len(self.p95s) < 2:
            return self.p95s[0] if self.p95s else None
        return round(statistics.quantiles(self.p95s, n=20, method="inclusive")[-1], 1)

    def cost_per_completed(self) -> dict[str, float | None]:
        """USD spent on a template's calls that day over its completed interviews."""
        templates = set(self.cost_by_template) | set(self.completed_by_template)
        return {
            t: (self.cost_by_template[t] / self.completed_by_template[t])
            if self.completed_by_template[t]
            else None
            for t in sorted(templates)
        }


def _add(day: Day, doc: Document) -> None:
    day.calls += 1
    outcome = outcome_of(doc)
    if (verdict := answered_by(doc)) is not None:
        day.verdicts[verdict] += 1
    answered = outcome not in ("unavailable", "voicemail", "busy", "no-answer") and bool(
        (doc.get("timings") or {}).get("stream_started")
    )
    template = str(doc.get("template_id", ""))
    cost = (doc.get("cost") or {}).get("total_usd")
    if isinstance(cost, int | float):
        day.cost_by_template[template] += cost
    if not answered:
        return
    day.answered += 1
    if doc.get("completion") == "completed":
        day.completed += 1
        day.completed_by_template[template] += 1
        score = (doc.get("report") or {}).get("score")
        if isinstance(score, int | float):
            day.scores.append(float(score))
    model = (doc.get("latency") or {}).get("model") or {}
    if isinstance(model.get("p50_ms"), int | float):
        day.p50s.append(float(model["p50_ms"]))
    if isinstance(model.get("p95_ms"), int | float):
        day.p95s.append(float(model["p95_ms"]))


async def daily(db: Database, last_day: date, days: int) -> list[Day]:
    """The `days` UTC days up to and including `last_day`, oldest first, empty ones too."""
    first = last_day - timedelta(days=days - 1)
    start = datetime.combine(first, time(0), UTC)
    end = datetime.combine(last_day + timedelta(days=1), time(0), UTC)
    by_day = {first + timedelta(days=i): Day(first + timedelta(days=i)) for i in range(days)}
    cursor = db["calls"].find({"created_at": {"$gte": start, "$lt": end}}, FIELDS)
    async for doc in cursor.batch_size(1000):
        at: datetime = doc["created_at"]
        _add(by_day[at.astimezone(UTC).date()], doc)
    return list(by_day.values())
