"""Sync views at WSGI speed, inside Django's own ASGI handler (SYNC_THREADS).

Django's ASGIHandler runs a sync view's request as a string of thread hops: every
MiddlewareMixin middleware's process_request and process_response, the view, the
request_started and request_finished signals, each through sync_to_async, on a thread made
for that one request (asgiref's ThreadSensitiveContext). Under load the hops and the
threads fight the event loop for the GIL: on a real project's pages that path ran at
0.8-0.9x `gunicorn project.wsgi`, and this one at 1.2-1.6x (docs/benchmarks.md). In-process,
without a server, one such page took 9.4 ms through Django's ASGI handler, 5.8 ms through
this one and 4.2 ms through WSGIHandler: what is left is the three hops (request_started,
the chain, response.close) and the ASGI request's own work.

This handler is Django's, with one change for a request whose view is sync: it gets one of
SYNC_THREADS persistent threads (a lane) for its whole life, and Django's sync middleware
chain, the one WSGIHandler runs, is called in that thread in one hop. Everything else is
Django's ASGI code: the request object and its META, the body, the signals, sending the
response, streaming, disconnects. Async views (and every request while an async-only
middleware is installed) take Django's own path unchanged.

It is what `django.core.asgi.get_asgi_application()` returns in the image's workers, so the
project's asgi.py still wraps it: Channels' ProtocolTypeRouter, Sentry and OpenTelemetry
middleware see every request, and their context variables reach the view.

Database connections on a lane belong to its thread, as under a WSGI server's threads: the
project's CONN_MAX_AGE keeps one open between requests (at most SYNC_THREADS per worker
and database), and Django's signals close it when it is too old or broken.
"""

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

from asgiref.sync import ThreadSensitiveContext, iscoroutinefunction, sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.base import BaseHandler
from django.db import connections
from django.urls import Resolver404, resolve
from django.utils.module_loading import import_string

from .sync_threads import path_info

# True in a request task that holds a lane: get_response_async then takes the sync chain.
ON_LANE: ContextVar[bool] = ContextVar("django_asgi_on_lane", default=False)
LANE_THREAD_PREFIX = "django-asgi-sync"
_lane_thread = threading.local()


def async_only_middleware() -> list[str]:
    """The project's middleware that cannot run synchronously: with one installed, every
    request stays on Django's own path (the sync chain would adapt it back)."""
    return [path for path in settings.MIDDLEWARE if not getattr(import_string(path), "sync_capable", True)]


@lru_cache(maxsize=4096)
def view_is_sync(path_info: str) -> bool:
    """Whether ROOT_URLCONF sends this path to a sync view; a 404 is rendered synchronously
    too. A middleware that changes request.urlconf can make this guess wrong: both paths
    serve every view correctly, only the speed differs."""
    try:
        match = resolve(path_info)
    except Resolver404:
        return True
    return not iscoroutinefunction(match.func)


class Lane:
    """One persistent thread for sync requests, one request at a time."""

    def __init__(self, index: int) -> None:
        self.executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=f"{LANE_THREAD_PREFIX}-{index}", initializer=mark_lane_thread
        )


def mark_lane_thread() -> None:
    _lane_thread.active = True


def in_lane_thread() -> bool:
    return getattr(_lane_thread, "active", False)


class LaneLocalConnections:
    """Django's connection storage (an asgiref Local, one per request context under ASGI),
    made thread-local in the lanes' threads: a lane's connection outlives its request, as a
    WSGI thread's does, and CONN_MAX_AGE means what it means under WSGI. Elsewhere (async
    views, the async ORM) Django's own storage, untouched."""

    def __init__(self, original: object) -> None:
        object.__setattr__(self, "_original", original)
        object.__setattr__(self, "_per_thread", threading.local())

    def _storage(self) -> object:
        return self._per_thread if in_lane_thread() else self._original

    def __getattr__(self, name: str) -> Any:
        return getattr(self._storage(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._storage(), name, value)

    def __delattr__(self, name: str) -> None:
        delattr(self._storage(), name)


def use_lane_local_connections() -> None:
    if not isinstance(connections._connections, LaneLocalConnections):
        connections._connections = LaneLocalConnections(connections._connections)


class SyncChain(BaseHandler):
    """Django's sync middleware chain, as WSGIHandler loads it."""

    def __init__(self) -> None:
        super().__init__()
        self.load_middleware(is_async=False)


class LanedASGIHandler(ASGIHandler):
    """Django's ASGIHandler, with sync views on lanes (see the module's docstring)."""

    def __init__(self, threads: int) -> None:
        super().__init__()
        self.sync_chain = SyncChain()
        # last in, first out: a quiet worker keeps using one thread and its connection
        self.lanes: asyncio.LifoQueue[Lane] = asyncio.LifoQueue()
        for index in reversed(range(threads)):
            self.lanes.put_nowait(Lane(index))

    async def __call__(self, scope: Any, receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "http" or not view_is_sync(path_info(scope)):
            await super().__call__(scope, receive, send)
            return
        lane = await self.lanes.get()
        token = ON_LANE.set(True)
        try:
            # Django's own __call__ inside: its ThreadSensitiveContext() finds this one
            async with ThreadSensitiveContext(executor=lane.executor):
                await super().__call__(scope, receive, send)
        finally:
            ON_LANE.reset(token)
            self.lanes.put_nowait(lane)

    async def get_response_async(self, request: Any) -> Any:
        """Django's chain for the request: on a lane, the sync one (WSGIHandler's), in one
        hop to the lane's thread. (Django 5.0+ calls this from run_get_response, 4.2 from
        handle; both then set what ASGI responses need.)"""
        if not ON_LANE.get():
            return await super().get_response_async(request)
        return await sync_to_async(self.sync_chain.get_response, thread_sensitive=True)(request)
