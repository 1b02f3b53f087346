"""The image's ASGI wrappers around the user's application, the same on every server."""

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

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
    from servestatic import ServeStaticASGI

    from .static import UNHASHED_MAX_AGE

    async def asgi3(scope: Scope, receive: Receive, send: Send) -> None:
        """`app` as a coroutine function: ServeStatic (asgiref's guarantee_single_callable)
        takes a plain function returning an awaitable, as granian's proxy-header wrapper is,
        for an ASGI 2 app and calls it with the scope alone."""
        await app(scope, receive, send)

    return ServeStaticASGI(asgi3, root=root, prefix=prefix, max_age=UNHASHED_MAX_AGE)
