"""The server's log: one JSON object per line (or plain text in a terminal), every line logged while a
request is handled carrying its request id, principal and GraphQL operation."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

from loyalty.observability.context import current_request

LogFormat = Literal["json", "text", "auto"]

# What every LogRecord has; anything else on a record came from ``extra=`` and is written as a field.
# (uvicorn's ``color_message`` is its message with terminal colours: not for a log line.)
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "color_message",
}
_TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s"


class RequestContextFilter(logging.Filter):
    """Adds the current request's id, principal and operation to each record (when there is one,
    and unless the record was given its own)."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = current_request()
        fields = record.__dict__
        if request is not None:
            fields.setdefault("request_id", request.request_id)
            fields.setdefault("principal", request.principal)
            if request.operation is not None:
                fields.setdefault("operation", request.operation)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, the request's fields,
    any ``extra=`` fields, and the exception's traceback as one string."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in line:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(line, default=str).decode()


class _TextFormatter(logging.Formatter):
    """Plain text for a person at a terminal: the request id in brackets when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        record.__dict__.setdefault("request_id", "-")
        return super().format(record)


def configure_logging(log_format: LogFormat = "auto", level: str = "INFO") -> None:
    """Send every logger's records to stderr in ``log_format`` (``auto``: text when stderr is a terminal,
    JSON otherwise), replacing the handler an earlier call installed. Uvicorn's loggers propagate here."""
    if log_format == "auto":
        log_format = "text" if sys.stderr.isatty() else "json"
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestContextFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else _TextFormatter(_TEXT_FORMAT))
    handler.set_name("loyalty")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "loyalty"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # loyalty.access writes one line per request
    logging.getLogger("alembic").setLevel(logging.WARNING)  # its plugins announce themselves at start
