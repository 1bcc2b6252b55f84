"""The template a call uses: the stored one, or the built-in default when it is missing or
no longer valid (a call is never refused for its template)."""

from __future__ import annotations

import logging

from evaluation.templates import DEFAULT_TEMPLATE, Template, TemplateError, parse_template
from persistence.store import Store

log = logging.getLogger(__name__)


async def load_template(store: Store, template_id: str) -> Template:
    if template_id != DEFAULT_TEMPLATE.template_id:
        record = await store.templates.get(template_id)
        if record is not None:
            try:
                return parse_template(record.body)
            except TemplateError as exc:
                log.error("template %r is invalid (%s); using the default", template_id, exc)
        else:
            log.warning("template %r not found; using the default", template_id)
    return DEFAULT_TEMPLATE
