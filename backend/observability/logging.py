"""Structured logs: one JSON object per line on stderr, carrying the request id.

Configured once per process: by `create_app` for the API (every uvicorn worker) and by
Celery's `setup_logging` signal for the worker and beat. Uvicorn's and Celery's own
loggers are routed through the same handler, so every line a process prints has the
same shape and can be shipped as is.
"""

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, Literal

from backend.request_context import current_request

LogFormat = Literal["json", "text"]

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
    # Uvicorn's copy of the message with terminal colour codes.
    "color_message",
}

# A safety net, not the guarantee (that is: never log them; tests/deploy grep for it).
# Tessera's own credential shapes: JWTs, and opaque secrets `<kind>_<tenant hex>_<b64url>`.
_SECRETS = re.compile(
    r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+"
    r"|\b[a-z]{2,4}_[0-9a-f]{32}_[A-Za-z0-9_-]{43}"
)
_REDACTED = "[redacted]"

# Loggers that install their own handlers; cleared so their records reach ours.
_ADOPTED = ("uvicorn", "uvicorn.error", "uvicorn.access", "celery", "celery.task")
# Loggers that print SQL with its parameters (hashes, emails) when enabled for INFO.
_QUIET = ("sqlalchemy.engine", "sqlalchemy.pool")


def redact(text: str) -> str:
    """`text` with anything shaped like a Tessera token or key replaced."""
    return _SECRETS.sub(_REDACTED, text)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, message, request_id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        context = current_request.get()
        if context is not None:
            entry["request_id"] = context.request_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, int | float | bool) else redact(str(value))
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """For a terminal: a plain line, still with the request id and still redacted."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-5s [%(name)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = redact(super().format(record))
        context = current_request.get()
        return f"{line} request_id={context.request_id}" if context else line


class _TesseraHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler this module installed, so configuring twice replaces it."""


def configure_logging(level: str = "INFO", fmt: LogFormat = "json") -> None:
    """Send every log record of this process to stderr in `fmt`, from `level` up."""
    handler = _TesseraHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for existing in [h for h in root.handlers if isinstance(h, _TesseraHandler)]:
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in _ADOPTED:
        adopted = logging.getLogger(name)
        adopted.handlers.clear()
        adopted.propagate = True
    for name in _QUIET:
        quiet = logging.getLogger(name)
        if quiet.level == logging.NOTSET:
            quiet.setLevel(logging.WARNING)
