"""A small documentation page at /api/v1/docs, rendered here from the OpenAPI document:
no script, nothing loaded from elsewhere, so it works offline and behind any firewall."""

from __future__ import annotations

from html import escape
from typing import Any

from quart import Response, current_app
from quart_schema import hide

STYLE = (
    "body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
    "h2{margin-top:2rem;font-size:1.05rem}code{background:#f3f3f3;padding:0 .2rem}"
    ".m{display:inline-block;min-width:4.5rem;font-weight:600}"
    "table{border-collapse:collapse}td{padding:0 .8rem .1rem 0;vertical-align:top}"
)


def _operation(path: str, method: str, op: dict[str, Any]) -> str:
    params = "".join(
        f"<tr><td><code>{escape(p['name'])}</code></td><td>{escape(p['in'])}</td>"
        f"<td>{'required' if p.get('required') else ''}</td></tr>"
        for p in op.get("parameters", [])
    )
    body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
    schema = body.get("schema", {})
    ref = schema.get("$ref", "").rsplit("/", 1)[-1] or schema.get("title", "")
    codes = ", ".join(sorted(str(code) for code in op.get("responses", {})))
    return (
        f"<h2><span class=m>{escape(method.upper())}</span><code>{escape(path)}</code></h2>"
        f"<p>{escape(op.get('summary', ''))}</p>"
        f"<p>{escape(op.get('description', ''))}</p>"
        + (f"<table>{params}</table>" if params else "")
        + (f"<p>Body: <code>{escape(ref)}</code></p>" if ref else "")
        + f"<p>Answers: {escape(codes)}</p>"
    )


def render(document: dict[str, Any]) -> str:
    title = escape(document["info"]["title"])
    sections = "".join(
        _operation(path, method, op)
        for path, operations in sorted(document["paths"].items())
        for method, op in operations.items()
    )
    return (
        f"<!doctype html><html><head><meta charset=utf-8><title>{title}</title>"
        f"<style>{STYLE}</style></head><body><h1>{title}</h1>"
        "<p>Every request needs <code>Authorization: Bearer &lt;key&gt;</code>. Errors are "
        "<code>application/problem+json</code>. The full contract, with every field, is "
        '<a href="openapi.json">openapi.json</a>.</p>'
        f"{sections}</body></html>"
    )


@hide
async def docs() -> Response:
    document = current_app.extensions["QUART_SCHEMA"].openapi_provider.schema()
    return Response(render(document), content_type="text/html; charset=utf-8")
