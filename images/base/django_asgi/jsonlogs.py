"""LOG_FORMAT=json: every line a process of the image writes on stdout and stderr is one JSON
object with the keys time (RFC 3339, UTC), level, logger and message, plus fields.

Installed at interpreter start in every Python process of the virtualenv (the launcher, the
supervisor, the server and its workers, manage.py commands) by the .pth file that puts the
launcher on the path (django_asgi.logstart), before any server configures its logging:

- every logging.StreamHandler formats its records as JSON (django_asgi.logs.JsonFormatter),
  whatever formatter the server, Django's LOGGING or the project gave it: the servers' own
  start-up, worker and error lines, `django.request`'s tracebacks (one object, the traceback
  in `exception`), the project's loggers;
- warnings go through logging (py.warnings), an uncaught exception is one object;
- anything else written to sys.stdout or sys.stderr (print, a library's direct write) is
  wrapped line by line: {"logger": "stdout" | "stderr", "message": the line}.
"""

import io
import logging
import sys
import threading
import time
from types import TracebackType
from typing import Any

from .logs import JsonFormatter, entry

FORMATTER = JsonFormatter()
# What a wrapped raw line's level is on each stream.
STREAM_LEVELS = {"stdout": "info", "stderr": "error"}


def format_as_json(handler: logging.Handler, record: logging.LogRecord) -> str:
    return FORMATTER.format(record)


class JsonLines(io.TextIOBase):
    """A text stream whose every line comes out as one JSON object (lines that are JSON
    objects already pass as they are), written through to the real stream."""

    def __init__(self, stream: Any, name: str) -> None:
        super().__init__()
        self.stream, self.name, self.pending = stream, name, ""
        self.lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self.lock:
            self.pending += text
            *lines, self.pending = self.pending.split("\n")
            if lines:  # one write for them all (the access log writes its entries in batches)
                self.stream.write("".join(self.as_json(line) + "\n" for line in lines))
        return len(text)

    def as_json(self, line: str) -> str:
        if line.startswith("{") and line.endswith("}"):
            return line
        return entry(time.time(), STREAM_LEVELS[self.name], self.name, line)

    def flush(self) -> None:
        self.stream.flush()

    def close(self) -> None:
        self.flush_pending()
        super().close()

    def flush_pending(self) -> None:
        with self.lock:
            if self.pending:
                self.stream.write(self.as_json(self.pending) + "\n")
                self.pending = ""
        self.stream.flush()

    def fileno(self) -> int:
        return self.stream.fileno()

    def isatty(self) -> bool:
        return self.stream.isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self.stream.encoding

    @property
    def buffer(self) -> Any:
        return self.stream.buffer


def log_uncaught(kind: type[BaseException], value: BaseException, traceback: TracebackType | None) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, value, traceback)
        return
    logging.getLogger("django_asgi").critical("uncaught exception", exc_info=(kind, value, traceback))


def log_uncaught_in_thread(arguments: Any) -> None:
    if arguments.exc_type is SystemExit:
        return
    logging.getLogger("django_asgi").critical(
        f"uncaught exception in thread {arguments.thread.name if arguments.thread else '?'}",
        exc_info=(arguments.exc_type, arguments.exc_value, arguments.exc_traceback),
    )


def install() -> None:
    """Make this process's output JSON (idempotent)."""
    if isinstance(sys.stderr, JsonLines):
        return
    logging.StreamHandler.format = format_as_json  # type: ignore[method-assign]
    if sys.stdout is not None:
        sys.stdout = JsonLines(sys.stdout, "stdout")
    if sys.stderr is not None:
        sys.stderr = JsonLines(sys.stderr, "stderr")
    logging.captureWarnings(True)
    sys.excepthook = log_uncaught
    threading.excepthook = log_uncaught_in_thread
