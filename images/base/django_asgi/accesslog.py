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

import logging
import re
import sys
import time
import uuid
from collections.abc import Mapping
from typing import Any

from .config import DEFAULT_REQUEST_ID_HEADER
from .logs import json_wanted, request_id
from .wrappers import ASGIApp, Message, Receive, Scope, Send

ACCESS_LOGGER = "django_asgi.access"
# An incoming ID is kept when it is short and printable; anything else is replaced.
ACCEPTABLE_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,200}")
# The access entry's fields beyond the fixed four (time, level, logger, message).
ACCESS_FIELDS = (
    "client", "method", "path", "query", "protocol", "status", "bytes", "referer", "user_agent", "duration",
    "request_id", "scheme", "type",
)  # fmt: skip


def access_logger() -> logging.Logger:
    """The access log's logger, on stdout (JSON there too with LOG_FORMAT=json)."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not getattr(logger, "django_asgi_configured", False):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
        logger.django_asgi_configured = True  # type: ignore[attr-defined]
    return logger


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
    stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(created))
    target = target_of(fields)
    return (
        f'{fields["client"]} - - [{stamp}] "{fields["method"]} {target} {fields["protocol"]}" '
        f'{fields["status"]} {fields["bytes"]} "{fields["referer"] or "-"}" "{fields["user_agent"] or "-"}" '
        f"{fields['duration']:.6f} {fields['request_id']}"
    )


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
    logger = access_logger() if access_log else None
    in_json = json_wanted()

    async def application(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await app(scope, receive, send)
            return
        given = header(scope, name)
        identifier = given if ACCEPTABLE_ID.fullmatch(given) else uuid.uuid4().hex
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
            if logger is not None:
                log_access(logger, scope, exchange, identifier, time.perf_counter() - began, in_json)
            request_id.reset(token)

    return application


def log_access(
    logger: logging.Logger, scope: Scope, exchange: Exchange, identifier: str, duration: float, in_json: bool
) -> None:
    """One entry: in text the combined-log-like line; in JSON the fields, and as its message
    only the request line and status (the rest would be said twice in every entry)."""
    fields = {
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
    message = request_line(fields) if in_json else access_line(fields, time.time())
    logger.info(message, extra=fields)
