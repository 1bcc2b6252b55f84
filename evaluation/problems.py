"""Validation problems as "field.path: message" lines, one per problem.

Untrusted data (templates, tool arguments, prices, settings, API bodies) is
validated with pydantic, and whoever sent it fixes it from these lines: a
recruiter, an operator or the model itself. So every problem names the field
it is about, in the path syntax people write (questions[0].key_points), and
its message says what is expected in plain words, without pydantic's links.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence, Sized
from typing import Any, NamedTuple

from pydantic import ValidationError, ValidatorFunctionWrapHandler, WrapValidator
from pydantic_core import ErrorDetails, PydanticCustomError


class FieldProblem(NamedTuple):
    """One problem: the field path ("" for the whole input) and what is wrong there."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


def field_path(loc: Sequence[int | str], *, root: str = "") -> str:
    """("questions", 0, "key_points") -> "questions[0].key_points", under `root` if given."""
    path = root
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def _ctx(error: ErrorDetails, key: str) -> Any:
    return error.get("ctx", {}).get(key)


_FIXED = {
    "missing": "required",
    "extra_forbidden": "unknown field",
    "string_type": "must be a string",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "decimal_type": "must be a number",
    "decimal_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "set_type": "must be a list",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "date_type": "must be a date like 2026-01-01",
    "date_parsing": "must be a date like 2026-01-01",
    "date_from_datetime_parsing": "must be a date like 2026-01-01",
    "none_required": "must be null",
}

_FROM_CONTEXT: dict[str, Callable[[ErrorDetails], str]] = {
    "string_too_short": lambda e: (
        "must be a non-empty string"
        if _ctx(e, "min_length") == 1
        else f"must be at least {_ctx(e, 'min_length')} characters"
    ),
    "string_too_long": lambda e: f"must be at most {_ctx(e, 'max_length')} characters",
    "too_short": lambda e: (
        "must be a non-empty list"
        if _ctx(e, "min_length") == 1
        else f"must have at least {_ctx(e, 'min_length')} entries"
    ),
    "too_long": lambda e: f"must have at most {_ctx(e, 'max_length')} entries",
    "greater_than": lambda e: f"must be > {_ctx(e, 'gt')}",
    "greater_than_equal": lambda e: f"must be >= {_ctx(e, 'ge')}",
    "less_than": lambda e: f"must be < {_ctx(e, 'lt')}",
    "less_than_equal": lambda e: f"must be <= {_ctx(e, 'le')}",
    "literal_error": lambda e: f"must be one of: {_ctx(e, 'expected')}",
    "value_error": lambda e: str(_ctx(e, "error")),
    "json_invalid": lambda e: f"not valid JSON ({_ctx(e, 'error')})",
}


def error_message(error: ErrorDetails) -> str:
    """A plain-words message for one pydantic error; custom errors keep their own."""
    kind = error["type"]
    if kind in _FIXED:
        return _FIXED[kind]
    if kind in _FROM_CONTEXT:
        return _FROM_CONTEXT[kind](error)
    return error["msg"]


def _echo(error: ErrorDetails) -> bool:
    """A tuple too short only because some of its items failed (pydantic counts the
    valid ones): those items are reported on their own."""
    given = error.get("input")
    minimum = _ctx(error, "min_length")
    return (
        error["type"] == "too_short"
        and isinstance(given, Sized)
        and isinstance(minimum, int)
        and len(given) >= minimum
    )


def field_problems(exc: ValidationError, *, root: str = "") -> list[FieldProblem]:
    """Every problem in `exc`, in pydantic's order (fields as declared, unknown ones last)."""
    return [
        FieldProblem(field_path(e["loc"], root=root), error_message(e))
        for e in exc.errors()
        if not _echo(e)
    ]


def problem_lines(exc: ValidationError, *, root: str = "") -> list[str]:
    """Every problem in `exc` as a "field.path: message" line."""
    return [str(p) for p in field_problems(exc, root=root)]


def explained(message: str, *, show_input: bool = False) -> WrapValidator:
    """Replace whatever the wrapped type reports with one message that says what it wants.

    For fields whose constraints read better together ("a whole number from 60
    to 7200") than as pydantic's separate errors. `show_input` appends "; got <value>".
    """

    def check(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(value)
        except ValidationError:
            if show_input:
                raise PydanticCustomError(
                    "invalid", message + "; got {got}", {"got": repr(value)}
                ) from None
            raise PydanticCustomError("invalid", message) from None

    return WrapValidator(check)
