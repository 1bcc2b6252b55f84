"""The call log's filter form: query-string fields to a `CallSearch`, each bad field named,
and back to a query string for the next page and the CSV link."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from pydantic import ValidationError

from persistence.call_views import CallSearch

FIELDS = (
    "from",
    "to",
    "outcome",
    "direction",
    "channel",
    "template",
    "engine",
    "min_score",
    "max_score",
    "min_cost",
    "max_cost",
    "min_duration",
    "max_duration",
    "last4",
    "sort",
)
COST_FIELDS = ("min_cost", "max_cost")
_RENAMED = {"template": "template_id"}


def _day(text: str, *, end: bool) -> datetime:
    """A date field (UTC days); the end date is inclusive."""
    day = date.fromisoformat(text)
    at = datetime.combine(day, time(0), UTC)
    return at + timedelta(days=1) if end else at


def parse(args: Mapping[str, str], *, costs: bool) -> tuple[CallSearch, dict[str, str]]:
    """The search the form asks for, and a message per field it could not use (those
    fields are left out of the search rather than failing the page)."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name in FIELDS:
        text = (args.get(name) or "").strip()
        if not text or (name in COST_FIELDS and not costs):
            continue
        if name in ("from", "to"):
            try:
                values["created_" + name] = _day(text, end=name == "to")
            except ValueError:
                errors[name] = "a date such as 2026-11-30"
            continue
        values[_RENAMED.get(name, name)] = text
    while True:
        try:
            search = CallSearch.model_validate(values)
            search.query()
        except ValidationError as exc:
            for error in exc.errors():
                field = str(error["loc"][0]) if error["loc"] else "form"
                form_name = {v: k for k, v in _RENAMED.items()}.get(field, field)
                errors[form_name] = error["msg"]
                values.pop(field, None)
            continue
        except ValueError as exc:  # last4's shape
            errors["last4"] = str(exc)
            values.pop("last4", None)
            continue
        return search, errors


def query_string(args: Mapping[str, str], **changes: str | None) -> str:
    """The form's fields as they were sent, with `changes` applied (None removes one)."""
    kept = {k: args[k] for k in (*FIELDS, "cursor") if args.get(k)}
    for key, value in changes.items():
        if value is None:
            kept.pop(key, None)
        else:
            kept[key] = value
    return urlencode(kept)
