"""The `templates` collection: interview templates, validated by `evaluation` before saving."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from persistence._types import Collection, Document
from persistence.records import TemplateRecord


class PhoneNumberTaken(ValueError):
    """A dialed number may route to one template only."""


def _template(doc: Document) -> TemplateRecord:
    return TemplateRecord.model_validate(doc)


class Templates:
    def __init__(self, collection: Collection) -> None:
        self._c = collection

    async def save(
        self,
        template_id: str,
        body: dict[str, Any],
        at: datetime,
        phone_numbers: list[str] | None = None,
    ) -> TemplateRecord:
        """Create or replace a template; raises PhoneNumberTaken if a number is mapped elsewhere."""
        numbers = sorted(set(phone_numbers or []))
        if numbers:
            clash = await self._c.find_one(
                {"phone_numbers": {"$in": numbers}, "template_id": {"$ne": template_id}}
            )
            if clash is not None:
                taken = sorted(set(clash["phone_numbers"]) & set(numbers))
                raise PhoneNumberTaken(
                    f"{len(taken)} number(s) already route to template {clash['template_id']!r}"
                )
        doc = {"template_id": template_id, "body": body, "updated_at": at, "phone_numbers": numbers}
        await self._c.replace_one({"template_id": template_id}, doc, upsert=True)
        return _template(doc)

    async def get(self, template_id: str) -> TemplateRecord | None:
        doc = await self._c.find_one({"template_id": template_id})
        return _template(doc) if doc is not None else None

    async def for_number(self, phone_number: str) -> TemplateRecord | None:
        doc = await self._c.find_one({"phone_numbers": phone_number})
        return _template(doc) if doc is not None else None

    async def list(self) -> list[TemplateRecord]:
        return [_template(doc) async for doc in self._c.find({}).sort("template_id", 1)]

    async def delete(self, template_id: str) -> bool:
        result = await self._c.delete_one({"template_id": template_id})
        return result.deleted_count == 1
