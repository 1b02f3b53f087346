"""Answering the ASGI lifespan scope for an application that rejects it, as Django does.

Django raises on the lifespan scope, so hypercorn logs "Lifespan error" and the uvicorn
worker "lifespan unsupported" at every start. Answering it here makes every server quiet.
"""

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def with_lifespan(app: ASGIApp) -> ASGIApp:
    """`app` for HTTP and WebSocket; lifespan startup and shutdown acknowledged here."""

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
