"""The OpenAPI 3.1 document at /api/v1/openapi.json: quart-schema's, limited to the API's
routes, with each operation's errors documented as problem details."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any, TypeVar

from quart_schema import OpenAPIProvider
from werkzeug.routing import Rule

from telephony.api.problems import MEDIA_TYPE, Problem

PREFIX = "/api/v1"
_ERRORS = "_api_errors"
# Every operation: a key is needed and counted, and the database must answer.
ALWAYS = (401, 429, 503)
F = TypeVar("F", bound=Callable[..., object])


def errors(*codes: int) -> Callable[[F], F]:
    """The error statuses a route answers besides 401 and 429."""

    def mark(view: F) -> F:
        setattr(view, _ERRORS, (*getattr(view, _ERRORS, ()), *codes))
        return view

    return mark


def _problem_ref() -> dict[str, Any]:
    return {"$ref": "#/components/schemas/Problem"}


class ApiDocument(OpenAPIProvider):
    def generate_rules(self) -> Iterable[Rule]:
        for rule in super().generate_rules():
            if rule.rule.startswith(PREFIX + "/") and rule.endpoint != "openapi":
                yield rule

    def build_paths(self, rule: Rule) -> tuple[dict[str, Any], dict[str, Any]]:
        paths, components = super().build_paths(rule)
        view = self._app.view_functions[rule.endpoint]
        codes = sorted({*ALWAYS, *getattr(view, _ERRORS, ())})
        for operations in paths.values():
            for operation in operations.values():
                responses = dict(operation["responses"])
                for code in codes:
                    responses[code] = {
                        "description": HTTPStatus(code).phrase,
                        "content": {MEDIA_TYPE: {"schema": _problem_ref()}},
                    }
                    if code == 429:
                        responses[code]["headers"] = {
                            "Retry-After": {
                                "description": "Seconds until the key may be used again.",
                                "schema": {"type": "integer"},
                            }
                        }
                operation["responses"] = responses
        components.update(_problem_components())
        return paths, components


def _problem_components() -> dict[str, Any]:
    schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    definitions = schema.pop("$defs", {})
    return {"Problem": schema, **definitions}
