"""The image's own access log and request IDs: an ASGI wrapper, the same code under all four
servers (their own access logs stay off).

Every request carries an ID: the one its REQUEST_ID_HEADER brings (X-Request-ID; Fly sends
Fly-Request-Id), or one made here. It is sent back in that header, and every log record
made while the request is handled has it (a context variable: in JSON it is the record's
`request_id`; a project's text formatter shows it with django_asgi.logs.RequestIdFilter).
With ACCESS_LOG on, one entry per HTTP request when it is done and one per WebSocket when
it closes, on stdout: a combined-log-like line, or with LOG_FORMAT=json its fields under
fixed keys; the client and scheme are what the server's proxy handling
(FORWARDED_ALLOW_IPS) made of them.
"""

import asyncio
import atexit
import random
import re
import sys
import time
from collections.abc import Mapping
from typing import Any

from .config import DEFAULT_REQUEST_ID_HEADER
from .logs import entry, json_wanted, request_id, utc_second
from .wrappers import ASGIApp, Message, Receive, Scope, Send

# The `logger` of the JSON entries (they are written here, not through logging: AccessWriter).
ACCESS_LOGGER = "django_asgi.access"
# An incoming ID is kept when it is short and printable; anything else is replaced.
ACCEPTABLE_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,200}")
# The access entry's fields beyond the fixed four (time, level, logger, message).
ACCESS_FIELDS = (
    "client", "method", "path", "query", "protocol", "status", "bytes", "referer", "user_agent", "duration",
    "request_id", "scheme", "type",
)  # fmt: skip


class AccessWriter:
    """Access entries on stdout, written in batches: the entries finished in one turn of the
    event loop go out in one write when it ends (under load many per system call, alone at
    once). The entries are formatted here rather than through `logging`: a LogRecord, a
    handler's lock and a flush per request were most of the access log's cost."""

    def __init__(self) -> None:
        self.pending: list[str] = []
        self.stream: Any = None  # sys.stdout as it is when written (None), or another

    def add(self, line: str) -> None:
        self.pending.append(line)
        if len(self.pending) == 1:
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:  # no loop running here (a thread of the app's own): now
                self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        text = "\n".join(self.pending) + "\n"
        self.pending.clear()
        stream = self.stream or sys.stdout  # with LOG_FORMAT=json, jsonlogs' stream: objects pass as they are
        try:
            stream.write(text)
            stream.flush()
        except (OSError, ValueError):  # stdout closed or gone: nowhere to log
            pass


WRITER = AccessWriter()
atexit.register(WRITER.flush)


def new_id() -> str:
    """32 hex digits, like uuid4().hex, without a system call per request (random reseeds
    itself in every forked worker, so workers and replicas do not repeat each other)."""
    return f"{random.getrandbits(128):032x}"


def header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


def client_of(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "-"


def protocol_of(scope: Scope) -> str:
    return f"HTTP/{scope.get('http_version', '1.1')}"


def target_of(fields: Mapping[str, Any]) -> str:
    return fields["path"] + (f"?{fields['query']}" if fields["query"] else "")


def request_line(fields: Mapping[str, Any]) -> str:
    return f"{fields['method']} {target_of(fields)} {fields['protocol']} {fields['status']}"


def access_line(fields: Mapping[str, Any], created: float) -> str:
    """The text entry, combined-log-like, then the duration in seconds and the request ID."""
    stamp = utc_second("%d/%b/%Y:%H:%M:%S +0000", int(created))
    return (
        f'{fields["client"]} - - [{stamp}] "{fields["method"]} {target_of(fields)} {fields["protocol"]}" '
        f'{fields["status"]} {fields["bytes"]} "{fields["referer"] or "-"}" "{fields["user_agent"] or "-"}" '
        f"{fields['duration']:.6f} {fields['request_id']}"
    )


def access_object(fields: Mapping[str, Any], created: float) -> str:
    """The JSON entry: the fixed keys of every JSON line, as its message only the request
    line and status (the rest would be said twice), then the fields."""
    return entry(created, "info", ACCESS_LOGGER, request_line(fields), **fields)


class Exchange:
    """What one request's response (or one WebSocket's session) was, as it is sent."""

    def __init__(self, scope: Scope, id_header: bytes, identifier: str) -> None:
        self.websocket = scope["type"] == "websocket"
        self.status: int | None = None
        self.bytes = 0
        self.id_header, self.identifier = id_header, identifier.encode("latin-1")

    def seen(self, message: Message) -> Message:
        kind = message["type"]
        if kind == "http.response.start":
            self.status = message["status"]
            return self.with_id(message)
        if kind == "http.response.body":
            self.bytes += len(message.get("body", b""))
        elif kind == "websocket.accept":
            self.status = 101
            return self.with_id(message)
        elif kind == "websocket.send":
            self.bytes += len(message.get("bytes") or b"") + len((message.get("text") or "").encode())
        elif kind == "websocket.close" and self.status is None:
            self.status = 403  # closed before it was accepted: the handshake was refused
        return message

    def with_id(self, message: Message) -> Message:
        """A response's start (or a WebSocket's accept) with the request ID's header added."""
        return {**message, "headers": [*message.get("headers", ()), (self.id_header, self.identifier)]}


def with_request_ids(app: ASGIApp, *, access_log: bool, id_header: str = DEFAULT_REQUEST_ID_HEADER) -> ASGIApp:
    """Request IDs for every request, and the access log when `access_log` is on."""
    name = id_header.lower().encode("latin-1")
    formatted = (access_object if json_wanted() else access_line) if access_log else None

    async def application(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await app(scope, receive, send)
            return
        given = header(scope, name)
        identifier = given if ACCEPTABLE_ID.fullmatch(given) else new_id()
        exchange = Exchange(scope, name, identifier)
        token = request_id.set(identifier)
        began = time.perf_counter()

        async def send_seen(message: Message) -> None:
            await send(exchange.seen(message))

        try:
            await app(scope, receive, send_seen)
        except BaseException:
            exchange.status = exchange.status or 500
            raise
        finally:
            if formatted is not None:
                fields = access_fields(scope, exchange, identifier, time.perf_counter() - began)
                WRITER.add(formatted(fields, time.time()))
            request_id.reset(token)

    return application


def access_fields(scope: Scope, exchange: Exchange, identifier: str, duration: float) -> dict[str, Any]:
    """What one entry says, under the keys the JSON entry gives them (ACCESS_FIELDS)."""
    return {
        "client": client_of(scope),
        "method": "GET" if exchange.websocket else scope.get("method", "-"),
        "path": scope.get("path", ""),
        "query": scope.get("query_string", b"").decode("latin-1"),
        "protocol": protocol_of(scope),
        "status": exchange.status or 0,  # 0: the client went away before any response
        "bytes": exchange.bytes,
        "referer": header(scope, b"referer"),
        "user_agent": header(scope, b"user-agent"),
        "duration": round(duration, 6),
        "request_id": identifier,
        "scheme": scope.get("scheme", "ws" if exchange.websocket else "http"),
        "type": scope["type"],
    }
