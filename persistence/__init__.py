"""MongoDB storage: the only package that imports pymongo.

Importing the package gives the typed records alone (`persistence.records`), which the
live call builds without any database code; the database itself is `persistence.store`,
and the embedded server `persistence.embedded`.
"""

from persistence.records import (
    STATUS_RANK,
    TERMINAL_STATUSES,
    ApiKey,
    CallFilter,
    CallOutcome,
    CallPage,
    CallRecord,
    CallStatus,
    CostLineRecord,
    CostRecord,
    Evaluation,
    Keypress,
    Latency,
    LatencyStats,
    NewCall,
    Speaker,
    StatusEvent,
    StreamClaim,
    StreamEnd,
    StreamInfo,
    StreamStatus,
    TemplateRecord,
    Turn,
)

__all__ = [
    "STATUS_RANK",
    "TERMINAL_STATUSES",
    "ApiKey",
    "CallFilter",
    "CallOutcome",
    "CallPage",
    "CallRecord",
    "CallStatus",
    "CostLineRecord",
    "CostRecord",
    "Evaluation",
    "Keypress",
    "Latency",
    "LatencyStats",
    "NewCall",
    "Speaker",
    "StatusEvent",
    "StreamClaim",
    "StreamEnd",
    "StreamInfo",
    "StreamStatus",
    "TemplateRecord",
    "Turn",
]
