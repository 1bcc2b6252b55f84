"""/api/v1/templates: interview templates, validated as `voice-interview save-template`
validates them (the same model)."""

from __future__ import annotations

from typing import Any

from quart import Blueprint
from quart_schema import validate_request, validate_response

from evaluation.templates import Template, TemplateError, parse_template, template_to_dict
from persistence.records import TemplateRecord
from telephony.api.auth import needs
from telephony.api.context import api
from telephony.api.openapi import errors
from telephony.api.problems import ApiError, invalid
from telephony.api.schemas import Deleted, TemplateList, TemplateOut

bp = Blueprint("templates", __name__, url_prefix="/api/v1")


def render(record: TemplateRecord) -> TemplateOut:
    try:
        template, problems = parse_template(record.body), []
    except TemplateError as exc:  # stored before a rule it breaks was added
        template, problems = None, exc.problems
    return TemplateOut(
        template_id=record.template_id,
        template=template,
        problems=problems,
        phone_numbers=record.phone_numbers,
        updated_at=record.updated_at,
    )


async def _found(template_id: str) -> TemplateRecord:
    record = await api().store().templates.get(template_id)
    if record is None:
        raise ApiError(404, f"No template {template_id!r}.")
    return record


@bp.get("/templates")
@validate_response(TemplateList, 200)
@needs("read")
async def list_templates() -> TemplateList:
    """Every stored template."""
    return TemplateList(items=[render(r) for r in await api().store().templates.list()])


@bp.post("/templates")
@validate_request(Template)
@validate_response(TemplateOut, 201)
@errors(400, 403, 409, 413, 422)
@needs("write")
async def create_template(data: Template) -> Any:
    """Store a new template; 409 if its template_id is taken."""
    store = api().store()
    if await store.templates.get(data.template_id) is not None:
        raise ApiError(409, f"Template {data.template_id!r} exists; PUT replaces it.")
    record = await store.templates.save(data.template_id, template_to_dict(data), api().now())
    return render(record), 201


@bp.get("/templates/<template_id>")
@validate_response(TemplateOut, 200)
@errors(404)
@needs("read")
async def get_template(template_id: str) -> TemplateOut:
    """One template."""
    return render(await _found(template_id))


@bp.put("/templates/<template_id>")
@validate_request(Template)
@validate_response(TemplateOut, 200)
@errors(400, 403, 404, 413, 422)
@needs("write")
async def replace_template(template_id: str, data: Template) -> TemplateOut:
    """Replace a stored template; its inbound numbers stay routed to it."""
    existing = await _found(template_id)
    if data.template_id != template_id:
        raise invalid("template_id", "must match the template id in the path")
    record = (
        await api()
        .store()
        .templates.save(template_id, template_to_dict(data), api().now(), existing.phone_numbers)
    )
    return render(record)


@bp.delete("/templates/<template_id>")
@validate_response(Deleted, 200)
@errors(403, 404, 409)
@needs("write")
async def delete_template(template_id: str) -> Deleted:
    """Delete a template; 409 while a scheduled interview uses it."""
    await _found(template_id)
    store = api().store()
    if await store.interviews.template_in_use(template_id):
        raise ApiError(409, f"Template {template_id!r} is used by a scheduled interview.")
    await store.templates.delete(template_id)
    return Deleted(id=template_id, deleted=True)
