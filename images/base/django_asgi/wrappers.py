"""The image's ASGI wrappers around the user's application, the same on every server."""

import os
from collections.abc import Awaitable, Callable, MutableMapping
from functools import cache
from pathlib import Path
from typing import Any

from .config import HEALTH_PATH, PROBE_HEADER
from .drain import DRAINING_VARIABLE
from .static import configured_settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def with_lifespan(app: ASGIApp) -> ASGIApp:
    """`app` for HTTP and WebSocket; lifespan startup and shutdown acknowledged here.

    Django raises on the lifespan scope, so hypercorn logs "Lifespan error" and the uvicorn
    worker "lifespan unsupported" at every start; answered here, every server is quiet."""

    async def application(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await answer_lifespan(receive, send)
        else:
            await app(scope, receive, send)

    return application


async def answer_lifespan(receive: Receive, send: Send) -> None:
    """Acknowledge startup and shutdown; Django has nothing to run at either."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def with_health(app: ASGIApp, probe_path: str = "") -> ASGIApp:
    """The image's health route, HEALTH_PATH, answered here and never passed on: the
    HEALTHCHECK proves the server and its worker answer HTTP without reaching the project
    (no DisallowedHost for a Host outside ALLOWED_HOSTS, no log line, no error event, no
    query). Kubernetes probes can use it too, whatever Host they send.

    A request to the project's own probe_path (HEALTHCHECK_PATH) that carries the probe's
    PROBE_HEADER is passed on with a Host that ALLOWED_HOSTS accepts, so the project's
    health view is asked as it would be through its domain.

    With DRAIN_DELAY, once SIGTERM has marked the container draining (django_asgi/drain.py),
    the health route answers 503 and every other response says `Connection: close`."""
    probe_header = PROBE_HEADER.encode()
    mark = os.environ.get(DRAINING_VARIABLE)
    draining = Path(mark).exists if mark else lambda: False

    async def application(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if scope["path"] == HEALTH_PATH and scope["method"] in ("GET", "HEAD"):
                await answer_health(send, with_body=scope["method"] == "GET", draining=draining())
                return
            if draining():
                send = closing_connection(send)
            if probe_path and scope["path"] == probe_path and any(k == probe_header for k, _ in scope["headers"]):
                host = allowed_host()
                if host:
                    headers = [(k, v) for k, v in scope["headers"] if k != b"host"]
                    scope = {**scope, "headers": [(b"host", host.encode()), *headers]}
        await app(scope, receive, send)

    return application


async def answer_health(send: Send, with_body: bool, draining: bool = False) -> None:
    body = b"draining\n" if draining else b"ok\n"
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        *([(b"connection", b"close")] if draining else []),
    ]
    await send({"type": "http.response.start", "status": 503 if draining else 200, "headers": headers})
    await send({"type": "http.response.body", "body": body if with_body else b""})


def closing_connection(send: Send) -> Send:
    """`send` with `Connection: close` on the response: the client opens its next request's
    connection anew, to a replica that is not going away."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
            message = {**message, "headers": [*headers, (b"connection", b"close")]}
        await send(message)

    return sending


@cache
def allowed_host() -> str:
    """A host name Django's ALLOWED_HOSTS accepts: its first name (`.example.com` stands for
    example.com and its subdomains), localhost for `*` or for DEBUG's empty list; "" when
    Django is not configured in this process."""
    settings = configured_settings()
    if settings is None:
        return ""
    names = [name for name in settings.ALLOWED_HOSTS if name != "*"]
    return names[0].removeprefix(".") if names else "localhost"


def with_root_path(app: ASGIApp, root_path: str) -> ASGIApp:
    """ROOT_PATH: the URL prefix a proxy mounts the app on, as ASGI's root_path. ASGI's
    `path` includes the prefix; a proxy that strips it gets it put back, so Django sees the
    same request either way and builds URLs with the prefix. Done here rather than with each
    server's flag, as their meanings differ."""

    async def application(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            path = scope["path"]
            if path != root_path and not path.startswith(f"{root_path}/"):
                path = root_path + path
            scope = {**scope, "root_path": root_path, "path": path}
        await app(scope, receive, send)

    return application


def with_lowercase_header_names(app: ASGIApp) -> ASGIApp:
    """Response header names in lower case, as HTTP/2 and HTTP/3 require and ASGI asks.

    Django sends `Content-Type`; hypercorn passes names through to HTTP/3 unchanged, and
    HTTP/3 clients (aioquic, browsers) then drop the connection with H3_MESSAGE_ERROR."""

    async def application(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return

        async def send_lowercase(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [(name.lower(), value) for name, value in message["headers"]]}
            await send(message)

        await app(scope, receive, send_lowercase)

    return application


def with_static_files(app: ASGIApp, mode: str, prefix: str, root: str = "") -> ASGIApp:
    """The project's static files before the app (see django_asgi.static)."""
    if mode == "finders":
        from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

        return ASGIStaticFilesHandler(app)

    async def asgi3(scope: Scope, receive: Receive, send: Send) -> None:
        """`app` as a coroutine function: ServeStatic (asgiref's guarantee_single_callable)
        takes a plain function returning an awaitable, as granian's proxy-header wrapper is,
        for an ASGI 2 app and calls it with the scope alone."""
        await app(scope, receive, send)

    found: list[ASGIApp] = []

    def files() -> ASGIApp:
        if not found:
            from servestatic import ServeStaticASGI

            from .static import UNHASHED_MAX_AGE

            found.append(ServeStaticASGI(asgi3, root=root, prefix=prefix, max_age=UNHASHED_MAX_AGE))
        return found[0]

    async def application(scope: Scope, receive: Receive, send: Send) -> None:
        """ServeStatic reads STATIC_ROOT at the first request under the prefix, in each worker:
        not at start, where the first page would wait for it (a fifth of a second for the 435
        files of a Wagtail site, measured in bench/: the cold start's whole difference from a
        bare server command)."""
        if scope["type"] == "http" and scope["path"].startswith(prefix):
            await files()(scope, receive, send)
        else:
            await app(scope, receive, send)

    return application
