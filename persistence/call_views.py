"""The call log as the ops console reads it: outcomes, filters, sorts and keyset pages.

Beside `persistence.call_log` (the recruiter API's): the console filters on more (cost,
duration, the number's last four digits, the engine, an outcome that folds together the
status, the answering-machine verdict and why a call was turned away) and sorts on more
than the time, so its queries live here.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal, get_args

from persistence._types import Collection, Database, Document
from persistence.queries import both, bounds, on_channel
from persistence.records import CallRecord, Channel, Record

Outcome = Literal["completed", "no-answer", "busy", "voicemail", "failed", "unavailable"]
OUTCOMES: Final[tuple[Outcome, ...]] = get_args(Outcome)
SortKey = Literal["newest", "oldest", "score", "cost", "duration"]
SORT_KEYS: Final[tuple[SortKey, ...]] = get_args(SortKey)
# Twilio's AnsweredBy values that mean no person took the call (the dialer stores the
# verdict as `amd.answered_by`).
MACHINE: Final = (
    "machine_start",
    "machine_end_beep",
    "machine_end_silence",
    "machine_end_other",
    "fax",
)
SORTS: Final[dict[SortKey, tuple[str, int]]] = {
    "newest": ("created_at", -1),
    "oldest": ("created_at", 1),
    "score": ("report.score", -1),
    "cost": ("cost.total_usd", -1),
    "duration": ("duration_s", -1),
}
MAX_PAGE = 200
# What `CallSearch.matches` reads of each call.
_FILTERED: Final = [
    "call_sid",
    "created_at",
    "status",
    "completion",
    "unavailable_reason",
    "amd.answered_by",
    "direction",
    "channel",
    "template_id",
    "engines",
    "report.score",
    "cost.total_usd",
    "duration_s",
    "from_masked",
    "to_masked",
]
# The newest-first page's first slice of time, widened fourfold while it finds too few calls;
# past the last span it reads without a lower bound.
FIRST_SPAN = timedelta(hours=1)
LAST_SPAN = timedelta(days=3 * 365)
# Read this many calls with under one in fifty matching, and the database filters the rest.
RARE_AFTER = 2000
_LAST4 = re.compile(r"^\d{4}$")

ANSWERED_BY = "amd.answered_by"
_PERSON: Document = {"unavailable_reason": None, ANSWERED_BY: {"$nin": list(MACHINE)}}
OUTCOME_QUERIES: Final[dict[Outcome, Document]] = {
    "unavailable": {"unavailable_reason": {"$ne": None}},
    "voicemail": {"unavailable_reason": None, ANSWERED_BY: {"$in": list(MACHINE)}},
    "busy": {**_PERSON, "status": "busy"},
    "no-answer": {**_PERSON, "status": "no-answer"},
    "failed": {
        **_PERSON,
        "$or": [{"status": {"$in": ["failed", "canceled"]}}, {"completion": "failed"}],
    },
    "completed": {**_PERSON, "status": "completed", "completion": {"$ne": "failed"}},
}


def answered_by(doc: Document) -> str | None:
    """Twilio's machine-detection verdict on the call, as the dialer stored it."""
    amd = doc.get("amd")
    verdict = amd.get("answered_by") if isinstance(amd, dict) else None
    return verdict if isinstance(verdict, str) else None


def outcome_of(doc: Document) -> Outcome | None:
    """The same classification as OUTCOME_QUERIES, for one document; None while the call
    has not ended."""
    if doc.get("unavailable_reason") is not None:
        return "unavailable"
    if answered_by(doc) in MACHINE:
        return "voicemail"
    status = doc.get("status")
    if status in ("busy", "no-answer"):
        return "busy" if status == "busy" else "no-answer"
    if status in ("failed", "canceled") or doc.get("completion") == "failed":
        return "failed"
    if status == "completed":
        return "completed"
    return None


def engine_of(doc: Document) -> str:
    """The engine that ran the call last; calls from before engines were recorded ran on
    the Realtime API."""
    engines = doc.get("engines") or []
    last = engines[-1] if engines and isinstance(engines[-1], dict) else {}
    return str(last.get("engine", "realtime"))


class CallSearch(Record):
    """What the call log is narrowed to; every field optional."""

    created_from: datetime | None = None
    created_to: datetime | None = None
    outcome: Outcome | None = None
    direction: Literal["inbound", "outbound"] | None = None
    channel: Channel | None = None
    template_id: str | None = None
    engine: Literal["realtime", "relay"] | None = None
    min_score: float | None = None
    max_score: float | None = None
    min_cost: float | None = None
    max_cost: float | None = None
    min_duration: int | None = None
    max_duration: int | None = None
    last4: str | None = None
    sort: SortKey = "newest"

    def query(self, *, before: datetime | None = None) -> Document:
        """The filter, flat where it can be; `before` narrows the time further."""
        parts: list[Document] = []
        if self.outcome is not None:
            parts.append(OUTCOME_QUERIES[self.outcome])
        for field, value in (("direction", self.direction), ("template_id", self.template_id)):
            if value is not None:
                parts.append({field: value})
        if channel := on_channel(self.channel):
            parts.append(channel)
        if self.engine == "relay":
            parts.append({"engines.engine": "relay"})
        elif self.engine == "realtime":
            parts.append({"engines.engine": {"$ne": "relay"}})  # no part of it on the relay
        for field, low, high in (
            ("created_at", self.created_from, self.created_to),
            ("report.score", self.min_score, self.max_score),
            ("cost.total_usd", self.min_cost, self.max_cost),
            ("duration_s", self.min_duration, self.max_duration),
        ):
            if range_ := bounds(low, high, upper="$lt" if field == "created_at" else "$lte"):
                parts.append({field: range_})
        if before is not None:
            parts.append({"created_at": {"$lt": before}})
        if self.last4 is not None:
            if not _LAST4.match(self.last4):
                raise ValueError("last4 must be four digits")
            ends = {"$regex": self.last4 + "$"}
            parts.append({"$or": [{"from_masked": ends}, {"to_masked": ends}]})
        field, _ = SORTS[self.sort]
        if field != "created_at":  # a call without the value has no place in that order
            parts.append({field: {"$ne": None}})
        return flatten(parts)

    def narrowing(self) -> Document:
        """One equality the filter implies that an index on (field, created_at) serves, to
        read fewer calls per slice of time: the status of an unanswered call first (few
        calls have it), then the template, the status of a completed one, the direction."""
        status = {"busy": "busy", "no-answer": "no-answer", "completed": "completed"}.get(
            self.outcome or ""
        )
        if status in ("busy", "no-answer"):
            return {"status": status}
        for field, value in (
            ("template_id", self.template_id),
            ("status", status),
            ("direction", self.direction),
        ):
            if value is not None:
                return {field: value}
        return {}

    def matches(self, doc: Document) -> bool:
        """The same filter as `query()`, on one document already read (see `page`)."""
        if self.outcome is not None and outcome_of(doc) != self.outcome:
            return False
        if self.direction is not None and doc.get("direction") != self.direction:
            return False
        if self.template_id is not None and doc.get("template_id") != self.template_id:
            return False
        if self.channel is not None and doc.get("channel", "phone") != self.channel:
            return False
        if self.engine is not None:
            relay = any(
                isinstance(e, dict) and e.get("engine") == "relay" for e in doc.get("engines") or []
            )
            if relay != (self.engine == "relay"):
                return False
        at = doc.get("created_at")
        if self.created_from is not None and not (at is not None and at >= self.created_from):
            return False
        if self.created_to is not None and not (at is not None and at < self.created_to):
            return False
        for path, low, high in (
            ("report.score", self.min_score, self.max_score),
            ("cost.total_usd", self.min_cost, self.max_cost),
            ("duration_s", self.min_duration, self.max_duration),
        ):
            value = _get(doc, path)
            if (low is not None or high is not None) and not isinstance(value, int | float):
                return False
            if (low is not None and value < low) or (high is not None and value > high):
                return False
        if self.last4 is not None and not any(
            str(doc.get(f, "")).endswith(self.last4) for f in ("from_masked", "to_masked")
        ):
            return False
        field, _ = SORTS[self.sort]
        return field == "created_at" or _get(doc, field) is not None


def _get(doc: Document, path: str) -> Any:
    value: Any = doc
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _operators(cond: Any) -> bool:
    return isinstance(cond, dict) and bool(cond) and all(k.startswith("$") for k in cond)


def flatten(parts: list[Document]) -> Document:
    """The parts as one flat filter, operators on one field merged, with `$and` only for
    what cannot merge: a query planner may overlook an index behind `$and` or `$or` (the
    embedded server does, and then reads every call)."""
    flat: Document = {}
    rest: list[Document] = []
    for part in parts:
        for key, cond in part.items():
            old: Any = flat.get(key)
            if key not in flat:
                flat[key] = cond
            elif _operators(old) and _operators(cond) and not set(old) & set(cond):
                flat[key] = {**old, **cond}
            else:
                rest.append({key: cond})
    return {"$and": [flat, *rest]} if rest else flat


@dataclass(frozen=True, slots=True)
class CallRow:
    """A call as the console lists it: the typed record, and what it derives from the
    document."""

    call: CallRecord
    outcome: Outcome | None
    engine: str
    answered_by: str | None

    @classmethod
    def from_doc(cls, doc: Document) -> CallRow:
        return cls(
            call=CallRecord.model_validate(doc),
            outcome=outcome_of(doc),
            engine=engine_of(doc),
            answered_by=answered_by(doc),
        )

    def sort_value(self, sort: SortKey) -> Any:
        """The row's value in the page's order, for the next page's cursor."""
        return _get(self.call.model_dump(), SORTS[sort][0])


def _next_span(wanted: int, found: int, scanned: int, covered: timedelta) -> timedelta:
    """How far further back to read for `wanted` more calls, judged by how many calls per
    hour were read so far and how many of them matched (a quarter more, for luck); four
    times as far again while nothing has matched yet."""
    if not found or not scanned:
        return covered * 3
    per_second = scanned / covered.total_seconds()
    seconds = wanted * scanned / found / per_second * 1.25
    return min(covered * 3, max(FIRST_SPAN / 4, timedelta(seconds=seconds)))


def _after(sort: SortKey, position: tuple[Any, str] | None) -> Document:
    if position is None:
        return {}
    field, direction = SORTS[sort]
    value, call_sid = position
    op = "$lt" if direction < 0 else "$gt"
    return {"$or": [{field: {op: value}}, {field: value, "call_sid": {op: call_sid}}]}


class CallViews:
    def __init__(self, db: Database, *, rare_after: int = RARE_AFTER) -> None:
        self._calls: Collection = db["calls"]
        self._rare_after = rare_after

    async def page(
        self,
        search: CallSearch,
        after: tuple[Any, str] | None,
        limit: int,
        now: datetime | None = None,
    ) -> list[CallRow]:
        """One page in the search's order, after a (value, call_sid) position; ask for one
        more than a page to learn whether another follows.

        Newest first, the usual order, walks back through time a slice at a time (each
        slice four times the last), reading only the fields the filters need through the
        time index and filtering here, until the page is full; then reads those calls
        whole. A planner that serves a filter with an index only when the index covers
        every filtered field (the embedded server's) would otherwise read every call."""
        if not 1 <= limit <= MAX_PAGE + 1:
            raise ValueError(f"limit must be between 1 and {MAX_PAGE + 1}")
        if search.sort != "newest" or search.last4 is not None:  # the database filters
            query = both(search.query(), _after(search.sort, after))
            return await self._find(query, search, limit)
        top: datetime | None = after[0] if after is not None else search.created_to
        upper: Document = {} if top is None else {("$lte" if after else "$lt"): top}
        start = top or now or datetime.now(UTC)
        span, covered, scanned = FIRST_SPAN, timedelta(0), 0
        picked: list[Document] = []
        while True:
            floor = start - covered - span
            last = covered + span > LAST_SPAN or (
                search.created_from is not None and floor <= search.created_from
            )
            window = dict(upper)
            if not last:
                window["$gte"] = floor
            query = {**search.narrowing(), **({"created_at": window} if window else {})}
            cursor = self._calls.find(query, _FILTERED)
            async for doc in cursor.sort([("created_at", -1), ("call_sid", -1)]):
                scanned += 1
                if search.matches(doc) and (
                    after is None or doc["created_at"] < top or doc["call_sid"] < after[1]
                ):
                    picked.append(doc)
                    if len(picked) == limit:
                        break
            await cursor.close()
            covered += span
            if last or len(picked) >= limit:
                break
            if scanned >= self._rare_after and len(picked) * 50 < scanned:
                # Rare matches: the database filters the rest faster than reading it here.
                rest = self._calls.find(search.query(before=floor), _FILTERED)
                rest = rest.sort([("created_at", -1), ("call_sid", -1)])
                picked += await rest.limit(limit - len(picked)).to_list()
                break
            upper = {"$lt": floor}
            span = _next_span(limit - len(picked), len(picked), scanned, covered)
        if not picked:
            return []
        full = {
            doc["call_sid"]: doc
            async for doc in self._calls.find(
                {"call_sid": {"$in": [d["call_sid"] for d in picked]}}
            )
        }
        return [CallRow.from_doc(full[d["call_sid"]]) for d in picked if d["call_sid"] in full]

    async def _find(self, query: Document, search: CallSearch, limit: int) -> list[CallRow]:
        field, direction = SORTS[search.sort]
        cursor = self._calls.find(query).sort([(field, direction), ("call_sid", direction)])
        return [CallRow.from_doc(doc) async for doc in cursor.limit(limit)]

    async def each(self, search: CallSearch) -> AsyncIterator[CallRow]:
        """Every call the search finds, in its order (the CSV export)."""
        field, direction = SORTS[search.sort]
        cursor = self._calls.find(search.query()).sort(
            [(field, direction), ("call_sid", direction)]
        )
        async for doc in cursor.batch_size(500):
            yield CallRow.from_doc(doc)

    async def get(self, call_sid: str) -> CallRow | None:
        doc = await self._calls.find_one({"call_sid": call_sid})
        return CallRow.from_doc(doc) if doc is not None else None
