"""Mounts the recruiter API on an app: its blueprints, the OpenAPI document, and errors as
problem details everywhere under /api/v1."""

from __future__ import annotations

import logging

from quart import Blueprint, Quart, Response, request
from quart_schema import QuartSchema, RequestSchemaValidationError
from quart_schema.validation import QuerystringValidationError, RequestHeadersValidationError
from werkzeug.exceptions import HTTPException

from persistence.store import DatabaseError, StoreUnavailable
from telephony.api import calls, docs_page, interviews, templates, webhooks
from telephony.api.auth import authenticate
from telephony.api.context import ApiFace
from telephony.api.context import install as install_face
from telephony.api.openapi import PREFIX, ApiDocument
from telephony.api.problems import ApiError, from_validation, problem_response

log = logging.getLogger(__name__)
BLUEPRINTS: tuple[Blueprint, ...] = (interviews.bp, templates.bp, calls.bp, webhooks.bp)
OPENAPI_PATH = PREFIX + "/openapi.json"
_DETAIL = {
    400: "The body is not valid JSON.",
    404: "No such resource.",
    405: "This method is not allowed here.",
    413: "The body is over 1 MiB.",
}


def install(app: Quart, face: ApiFace) -> None:
    install_face(app, face)
    QuartSchema(
        app,
        openapi_path=OPENAPI_PATH,
        # Their pages load scripts from CDNs; docs_page is served instead.
        redoc_ui_path=None,
        scalar_ui_path=None,
        swagger_ui_path=None,
        info={"title": "voice-interview recruiter API", "version": "1"},
        security_schemes={"bearer": {"type": "http", "scheme": "bearer"}},
        security=[{"bearer": []}],
        openapi_provider_class=ApiDocument,
    )
    for bp in BLUEPRINTS:
        app.register_blueprint(bp)
    app.add_url_rule(PREFIX + "/docs", "api_docs", docs_page.docs)
    app.register_error_handler(404, _unrouted)
    app.register_error_handler(405, _unrouted)


async def _api_error(error: ApiError) -> Response:
    return problem_response(error.status, error.detail, error.errors, error.headers)


async def _invalid(error: RequestSchemaValidationError) -> Response:
    root = ""
    if isinstance(error, QuerystringValidationError):
        root = "query"
    elif isinstance(error, RequestHeadersValidationError):
        root = "header"
    cause = error.validation_error
    if hasattr(cause, "errors"):
        problems = from_validation(cause, root=root)  # type: ignore[arg-type]
    else:
        return problem_response(422, f"The request is not valid: {cause}")
    return problem_response(422, "The request has invalid fields.", problems)


async def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    return problem_response(status, _DETAIL.get(status, error.description or ""))


async def _unrouted(error: HTTPException) -> Response | HTTPException:
    if request.path == PREFIX or request.path.startswith(PREFIX + "/"):
        return await _http_error(error)
    return error


async def _unavailable(error: Exception) -> Response:
    log.error("recruiter API: database unavailable on %s (%s)", request.path, type(error).__name__)
    return problem_response(503, "The database is unavailable; try again shortly.")


async def _failure(error: Exception) -> Response:
    log.exception("recruiter API failed on %s %s", request.method, request.path)
    return problem_response(500, "Internal error.")


# Once, at import: a blueprint is set up before any app registers it, and many apps (tests
# start several) register the same blueprints.
for _bp in BLUEPRINTS:
    _bp.before_request(authenticate)
    _bp.register_error_handler(ApiError, _api_error)
    _bp.register_error_handler(RequestSchemaValidationError, _invalid)
    _bp.register_error_handler(HTTPException, _http_error)
    _bp.register_error_handler(StoreUnavailable, _unavailable)
    _bp.register_error_handler(DatabaseError, _unavailable)
    _bp.register_error_handler(Exception, _failure)
