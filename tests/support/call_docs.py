"""Call documents made up in bulk, shaped as the service stores them: every outcome the
console knows, scores, costs, durations and numbers spread out, and pairs of calls sharing
a creation time (the pages' tie-break)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

KINDS: list[dict[str, Any]] = [
    {"status": "completed", "completion": "completed"},
    {"status": "busy"},
    {"status": "no-answer"},
    {"status": "completed", "amd": {"answered_by": "machine_end_beep"}},
    {"status": "failed"},
    {"status": "completed", "completion": "failed"},
    {"status": "completed", "unavailable_reason": "busy: 40 calls in progress"},
]


def call_doc(i: int, t0: datetime, *, every: timedelta = timedelta(minutes=1)) -> dict[str, Any]:
    kind = KINDS[i % len(KINDS)]
    doc: dict[str, Any] = {
        "call_sid": f"CA{i:032x}",
        "direction": "inbound" if i % 2 else "outbound",
        "from_masked": f"+*******{i % 10000:04d}",
        "to_masked": "+*******0100",
        "template_id": "backend" if i % 3 else "default",
        "created_at": t0 + every * (i // 2),
        "updated_at": t0,
        "status_rank": 4,
        "status_history": [],
        "timings": {},
        "duration_s": 30 + i % 900,
        **kind,
    }
    if kind.get("completion") == "completed":
        doc["timings"] = {"stream_started": doc["created_at"]}
        doc["report"] = {
            "template_id": doc["template_id"],
            "score": float(i % 100),
            "questions": [],
            "questions_answered": 0,
            "completion": "completed",
            "end_reason": None,
            "summary": None,
            "interruptions": 0,
            "reconnects": 0,
            "duration_s": 1.0,
        }
        doc["cost"] = {"total_usd": round(0.01 * (i % 997), 4), "lines": {}}
    return doc
