"""How each setting's value is checked: the validators the settings' fields are built from,
each saying in one line what was wanted and never quoting a secret."""

from __future__ import annotations

import ipaddress
import re
from decimal import Decimal
from typing import Any, Protocol, get_args
from urllib.parse import urlsplit

from pydantic import AfterValidator, ValidationError, ValidatorFunctionWrapHandler, WrapValidator
from pydantic_core import PydanticCustomError

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


class _Revealing(Protocol):
    def reveal(self) -> str: ...


def invalid(message: str, got: str = "") -> PydanticCustomError:
    # The value goes in as context, never into the template, so braces in it stay text.
    return PydanticCustomError("invalid_setting", message, {"got": got})


def worded(message: str) -> WrapValidator:
    """pydantic checks the value; this says in one line what was wanted.

    `{got}` in the message shows the value as given; the messages for account SIDs and
    phone numbers leave it out.
    """

    def check(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(value)
        except ValidationError:
            raise invalid(message, repr(value)) from None

    return WrapValidator(check)


def one_of(choices: Any, *, upper: bool = False) -> WrapValidator:
    """A Literal's choices, case-insensitive as people type them (LOG_LEVEL=debug)."""
    options: tuple[str, ...] = get_args(choices)
    message = f"must be one of {', '.join(options)}, got {{got}}"

    def check(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        normal = value
        if isinstance(value, str):
            normal = value.upper() if upper else value.lower()
        try:
            return handler(normal)
        except ValidationError:
            raise invalid(message, repr(value)) from None

    return WrapValidator(check)


def any_case(choices: Any) -> WrapValidator:
    """A Literal's choices as spelled there, whatever case they are typed in."""
    options: tuple[str, ...] = get_args(choices)
    by_lower = {option.lower(): option for option in options}
    message = f"must be one of {', '.join(options)}, got {{got}}"

    def check(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        normal = by_lower.get(value.lower(), value) if isinstance(value, str) else value
        try:
            return handler(normal)
        except ValidationError:
            raise invalid(message, repr(value)) from None

    return WrapValidator(check)


def between(low: int, high: int, *, what: str = "a whole number", hint: str = "") -> WrapValidator:
    """A closed range; a value outside it is reported as the number it parsed to."""
    note = f" ({hint})" if hint else ""

    def check(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            number = handler(value)
        except ValidationError:
            raise invalid(f"must be {what}{note}, got {{got}}", repr(value)) from None
        if number is not None and not low <= number <= high:
            raise invalid(f"must be between {low} and {high}{note}, got {{got}}", str(number))
        return number

    return WrapValidator(check)


def boolean(value: Any, handler: ValidatorFunctionWrapHandler) -> bool:
    if isinstance(value, str):
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
    try:
        result: bool = handler(value)
    except ValidationError:
        raise invalid("must be true or false, got {got}", repr(value)) from None
    return result


def positive_amount(value: Any, handler: ValidatorFunctionWrapHandler) -> Decimal:
    try:
        amount: Decimal = handler(value)
    except ValidationError:
        raise invalid("must be an amount in dollars, got {got}", repr(value)) from None
    if not amount.is_finite() or amount <= 0:
        raise invalid("must be a positive amount, got {got}", repr(value))
    return amount


def url(*schemes: str) -> AfterValidator:
    """An absolute URL that paths are appended to, hence no query, fragment or final '/'."""
    wrong = f"must be a {'/'.join(schemes)} URL with a host, got {{got}}"

    def check(value: str | None) -> str | None:
        if value is None:
            return None
        try:
            parts = urlsplit(value)
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in schemes or not parts.netloc:
            raise invalid(wrong, repr(value))
        if parts.query or parts.fragment:
            raise invalid("must not carry a query string or fragment, got {got}", repr(value))
        return value.rstrip("/")

    return AfterValidator(check)


def mongodb_uri(value: str | None) -> str | None:
    if value is not None and not value.startswith(("mongodb://", "mongodb+srv://")):
        # The URI may hold a password: name the problem, not the value.
        raise invalid("must start with mongodb:// or mongodb+srv://")
    return value


def secret_rule(pattern: str, message: str) -> AfterValidator:
    """A secret's shape; the message never quotes the value."""
    compiled = re.compile(pattern)

    def check(value: _Revealing | None) -> _Revealing | None:
        if value is not None and not compiled.fullmatch(value.reveal()):
            raise invalid(message)
        return value

    return AfterValidator(check)


def addresses(value: Any, handler: ValidatorFunctionWrapHandler) -> tuple[str, ...]:
    """Comma-separated IP addresses or networks, or `*` for any (uvicorn's convention)."""
    items = value.split(",") if isinstance(value, str) else value
    try:
        entries = tuple(str(item).strip() for item in items if str(item).strip())
        for entry in entries:
            if entry != "*":
                ipaddress.ip_network(entry, strict=False)
    except (TypeError, ValueError):
        raise invalid(
            "must be IP addresses or networks separated by commas, or *, got {got}", repr(value)
        ) from None
    result: tuple[str, ...] = handler(entries)
    return result


_HOURS = re.compile(r"([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)")


def calling_hours(value: Any, handler: ValidatorFunctionWrapHandler) -> tuple[str, str]:
    """ "HH:MM-HH:MM" inside 08:00-21:00 (US calling hours, applied everywhere): a setting
    may narrow the hours the dialer calls in, never widen them."""
    text = "-".join(value) if isinstance(value, tuple | list) else str(value).strip()
    if not _HOURS.fullmatch(text):
        raise invalid("must be local hours such as 09:00-18:00, got {got}", repr(value))
    start, end = text.split("-")
    if not "08:00" <= start < end <= "21:00":
        raise invalid(
            "must lie within 08:00-21:00 with the start before the end, got {got}", repr(value)
        )
    result: tuple[str, str] = handler((start, end))
    return result
