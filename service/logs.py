"""One JSON object per log line, with phone numbers masked before anything is written."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from telephony.privacy import mask_phones_in

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def _mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return mask_phones_in(value)
    if isinstance(value, dict):
        return {k: _mask_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask_value(v) for v in value]
    return value


class PhoneMaskFilter(logging.Filter):
    """Masks numbers in the message, its arguments and `extra` fields, keeping the last 4."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask_phones_in(record.getMessage())
        record.args = None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD:
                setattr(record, key, _mask_value(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_phones_in(record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    """Structured lines that log shippers parse without regexes."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in entry and key != "color_message":
                entry[key] = value
        if record.exc_text:
            entry["exc"] = record.exc_text
        elif record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(level: str, stream: TextIO | None = None) -> logging.Handler:
    """Route every logger (ours, Hypercorn's, pymongo's) through one masked JSON handler."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(PhoneMaskFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Servers started from the command line (the Procfile) install their own plain-text
    # handlers; send their lines through ours instead.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "hypercorn.error"):
        server_log = logging.getLogger(name)
        for old in list(server_log.handlers):
            server_log.removeHandler(old)
        server_log.propagate = True
    # Driver chatter is rarely useful and can be very loud at DEBUG.
    logging.getLogger("pymongo").setLevel(max(logging.INFO, logging.getLevelName(level)))
    return handler
