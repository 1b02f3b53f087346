"""A WebSocket echo route in raw ASGI, routed before Django (Django has no WebSocket
handling of its own).

Raw ASGI rather than Channels: the sample exists to prove each server's WebSocket support,
and twenty lines of ASGI do that with nothing installed; a real app with groups, auth and
a channel layer would add Channels the same way, in asgi.py.

Every message comes back as it came (text as text, bytes as bytes). The text message
`close <code>` makes the server close the connection with that code instead.
"""

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

ECHO_PATH = "/ws/echo"
CLOSE_COMMAND = "close "


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Accept the connection, then answer every message with itself until the client closes."""
    if (await receive())["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text is not None and text.startswith(CLOSE_COMMAND):
            await send({"type": "websocket.close", "code": int(text.removeprefix(CLOSE_COMMAND))})
            return
        if text is not None:
            await send({"type": "websocket.send", "text": text})
        else:
            await send({"type": "websocket.send", "bytes": message.get("bytes") or b""})


def route_websockets(django_app: ASGIApp) -> ASGIApp:
    """Django's app with the echo route in front: WebSocket connections to ECHO_PATH (under
    the root path, if any) are echoed, other WebSockets are refused, the rest is Django's."""

    async def application(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await django_app(scope, receive, send)
        elif scope["path"].removeprefix(scope.get("root_path", "")) == ECHO_PATH:
            await echo(scope, receive, send)
        else:
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 4404})

    return application
