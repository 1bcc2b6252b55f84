"""MongoDB storage: the only package that imports pymongo."""

from persistence.embedded import EmbeddedServer, EmbeddedServerError
from persistence.models import (
    STATUS_RANK,
    TERMINAL_STATUSES,
    ApiKey,
    CallFilter,
    CallPage,
    CallRecord,
    Direction,
    Evaluation,
    NewCall,
    ScheduledCall,
    Speaker,
    StatusEvent,
    TemplateRecord,
    Turn,
)
from persistence.store import Store, StoreUnavailable

__all__ = [
    "STATUS_RANK",
    "TERMINAL_STATUSES",
    "ApiKey",
    "CallFilter",
    "CallPage",
    "CallRecord",
    "Direction",
    "EmbeddedServer",
    "EmbeddedServerError",
    "Evaluation",
    "NewCall",
    "ScheduledCall",
    "Speaker",
    "StatusEvent",
    "Store",
    "StoreUnavailable",
    "TemplateRecord",
    "Turn",
]
