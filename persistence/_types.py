"""Aliases for the pymongo types the repositories share."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

Document = dict[str, Any]
Collection = AsyncCollection[Document]
Database = AsyncDatabase[Document]
