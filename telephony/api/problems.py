"""RFC 9457 problem details: every error under /api/v1 is `application/problem+json` with
`title`, `status` and `detail`, and a 422 lists each field's problem by its path."""

from __future__ import annotations

import json
from collections.abc import Sequence
from http import HTTPStatus

from pydantic import BaseModel, Field, ValidationError
from quart import Response

from evaluation.problems import FieldProblem, field_problems

MEDIA_TYPE = "application/problem+json"


class FieldError(BaseModel):
    """One invalid field: its path in the request (`candidate.phone`, `items[3].window.start`,
    `query.limit`, `header.Idempotency-Key`) and what is wrong with it."""

    path: str
    message: str


class Problem(BaseModel):
    """An error, as RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = Field(
        default=None, description="Present on 422: every invalid field."
    )


class ApiError(Exception):
    """Raised by handlers; answered as a problem."""

    def __init__(
        self,
        status: int,
        detail: str,
        errors: Sequence[FieldProblem] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = list(errors)
        self.headers = headers or {}


def invalid(path: str, message: str) -> ApiError:
    return ApiError(422, "The request has invalid fields.", [FieldProblem(path, message)])


def from_validation(exc: ValidationError, root: str = "") -> list[FieldProblem]:
    problems = field_problems(exc, root=root)
    return [p if p.path else FieldProblem(root or "body", p.message) for p in problems]


def problem_body(status: int, detail: str, errors: Sequence[FieldProblem] = ()) -> Problem:
    return Problem(
        title=HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        errors=[FieldError(path=p.path, message=p.message) for p in errors] if errors else None,
    )


def problem_response(
    status: int,
    detail: str,
    errors: Sequence[FieldProblem] = (),
    headers: dict[str, str] | None = None,
) -> Response:
    body = problem_body(status, detail, errors).model_dump(mode="json", exclude_none=True)
    response = Response(json.dumps(body), status=status, content_type=MEDIA_TYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response
