"""The image's log lines, one format on every server: django-asgi's own lines, the JSON form
of a record (LOG_FORMAT=json: django_asgi.jsonlogs makes every line one), and the ID of the
request being handled (django_asgi.accesslog sets it) in every record made meanwhile.
Imported at interpreter start with LOG_FORMAT=json: the standard library only.
"""

import contextvars
import functools
import json
import logging
import os
import sys
import time
from typing import Any

LAUNCHER_LOGGER = "django_asgi"
# The line prefixes django-asgi's own lines use, and the level each one means.
SAID_LEVELS = {"error: ": "error", "warning: ": "warning", "check: ": "warning"}

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("django_asgi_request_id", default="")


def say(line: str, *, stream: Any = None) -> None:
    """One of django-asgi's own lines on stderr: `django-asgi: ...`, or with LOG_FORMAT=json
    one object (its level from the line's prefix: error, warning, check)."""
    out = stream or sys.stderr
    if json_wanted():
        level = next((lvl for prefix, lvl in SAID_LEVELS.items() if line.startswith(prefix)), "info")
        out.write(entry(time.time(), level, LAUNCHER_LOGGER, line) + "\n")
    else:
        out.write(f"django-asgi: {line}\n")
    out.flush()


def json_wanted() -> bool:
    return os.environ.get("LOG_FORMAT", "").strip().lower() == "json"


@functools.lru_cache(maxsize=8)
def utc_second(form: str, second: int) -> str:
    """A second in UTC as time.strftime writes it: formatted once a second, not once a line
    (the access log stamps every request)."""
    return time.strftime(form, time.gmtime(second))


def rfc3339(created: float) -> str:
    """UTC with milliseconds: 2026-12-02T15:00:00.123Z."""
    return f"{utc_second('%Y-%m-%dT%H:%M:%S', int(created))}.{int(created % 1 * 1000):03d}Z"


def entry(created: float, level: str, logger: str, message: str, **fields: object) -> str:
    """One JSON log object: the fixed keys first, then the fields."""
    return json.dumps(
        {"time": rfc3339(created), "level": level, "logger": logger, "message": message, **fields},
        default=str, ensure_ascii=False,
    )  # fmt: skip


# Attributes every LogRecord has: what is left of a record's __dict__ are its `extra` fields.
RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """A record as one JSON object: time, level, logger, message, then request_id (the
    record's own, or that of the request being handled: formatting runs in the context of
    the log call) and the record's extra fields; an exception (and a stack) as a field,
    never lines of its own."""

    def format(self, record: logging.LogRecord) -> str:
        current = request_id.get()
        fields: dict[str, object] = {"request_id": current} if current else {}
        fields.update(
            (key, value)
            for key, value in vars(record).items()
            if key not in RECORD_ATTRIBUTES and not key.startswith("_")
        )
        if fields.get("request_id") == "-":  # RequestIdFilter's mark for "no request" (a text handler's)
            del fields["request_id"]
        if record.exc_info:
            fields["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            fields["exception"] = record.exc_text
        if record.stack_info:
            fields["stack"] = self.formatStack(record.stack_info)
        return entry(record.created, record.levelname.lower(), record.name, record.getMessage(), **fields)


class RequestIdFilter(logging.Filter):
    """For a project's own text formatters: `"filters": {"request_id": {"()":
    "django_asgi.logs.RequestIdFilter"}}` on a handler makes %(request_id)s the ID of the
    request being handled ("-" outside one). A record that has one already keeps it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", ""):
            record.request_id = request_id.get() or "-"
        return True
