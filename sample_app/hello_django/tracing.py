"""A stand-in for what Sentry's and OpenTelemetry's ASGI middleware do in a project's
asgi.py: a context variable set around each request (their scope, their span), which the
views must see, sync and async alike, whatever path the image gives the request."""

from contextvars import ContextVar

from .websocket import ASGIApp, Receive, Scope, Send

TRACE_HEADER = b"x-trace-id"
current_trace: ContextVar[str] = ContextVar("current_trace", default="")


def with_trace_context(app: ASGIApp) -> ASGIApp:
    async def application(scope: Scope, receive: Receive, send: Send) -> None:
        trace = dict(scope.get("headers", [])).get(TRACE_HEADER, b"").decode("latin-1")
        token = current_trace.set(trace)
        try:
            await app(scope, receive, send)
        finally:
            current_trace.reset(token)

    return application
