"""Building the application every server is given (django_asgi.app): the project's own,
imported once, inside the image's wrappers, and what to say about it at start.

Innermost first: the user's app, static files, ROOT_PATH, request IDs and the access log,
the server's own middleware (proxy headers), the lifespan answerer, and the image's health
route outermost. Before the import,
Django's get_asgi_application() is made to build the image's handler (django_asgi.handler:
sync views on SYNC_THREADS threads), so that the project's asgi.py wraps it as it wraps
Django's. The launcher builds it too when it must import the project before the server
starts (`--print`, PRELOAD=0, RELOAD, DJANGO_MIGRATE, DJANGO_COLLECTSTATIC).
"""

import asyncio
import importlib
import time
from dataclasses import asdict
from typing import Any

from . import appmodule, channel_layers, safety, static, sync_threads
from .accesslog import with_request_ids
from .config import DEFAULT_REQUEST_ID_HEADER, AppTarget, ConfigError
from .going_away import with_going_away
from .wrappers import ASGIApp, with_health, with_lifespan, with_root_path, with_static_files


def load(dotted: str) -> Any:
    module, _, attribute = dotted.partition(":")
    return getattr(importlib.import_module(module), attribute)


def build(target: AppTarget, wrapping: dict[str, Any], *, examine: bool) -> tuple[ASGIApp, list[str]]:
    """The wrapped app, and the start-up lines about it; ConfigError (one line) when the
    project cannot be imported. `examine`: this process says the lines, so it runs the
    deployment checks too (django_asgi.safety), and refuses to start where they ask it to."""
    began = time.monotonic()
    sync_threads.install(wrapping.get("sync_threads", 0))
    app = appmodule.load(target)
    imported = time.monotonic() - began
    django_settings = static.configured_settings()
    examined = safety.Examined("deployment checks: not run here")
    if examine:
        examined = safety.examine(
            django_settings,
            check_deploy=wrapping.get("check_deploy", "warn"),
            development=wrapping.get("development", False),
        )
    served, static_notices = static.plan(static.StaticOptions(**wrapping.get("static", {})), django_settings)
    close_database_connections(django_settings)
    notices = [
        *static_notices,
        *static.media_notices(django_settings),
        *sync_threads.notices(django_settings),
        *channel_layers.notices(django_settings, wrapping.get("workers", 1)),
    ]
    said = (
        f"imported {target.describe()} in {imported:.2f} s; {examined.summary}; "
        f"static={served.describe() if served else 'off'}"
    )
    lines = [said, *examined.lines, *(f"notice: {notice}" for notice in notices)]
    if examined.refusal:
        raise ConfigError(examined.refusal, before=tuple(lines))
    return wrapped(app, wrapping, served), lines


def wrapped(app: ASGIApp, wrapping: dict[str, Any], served: static.StaticFiles | None) -> ASGIApp:
    """The project's app inside the image's wrappers, innermost first. The request IDs and
    the access log see every request the project and the static files answer (and the
    image's 1001 to a WebSocket as the server stops: django_asgi.going_away), inside the
    server's own middleware (proxy headers: the client and scheme they make), outside what
    the project's asgi.py wraps around Django; the image's health route is not logged."""
    if served:
        app = with_static_files(app, **asdict(served))
    if wrapping.get("root_path"):
        app = with_root_path(app, wrapping["root_path"])
    app = with_going_away(app)
    app = with_request_ids(
        app,
        access_log=wrapping.get("access_log", False),
        id_header=wrapping.get("request_id_header", DEFAULT_REQUEST_ID_HEADER),
    )
    for factory, kwargs in wrapping.get("middleware", []):
        app = load(factory)(app, **kwargs)
    return with_health(with_lifespan(app), wrapping.get("healthcheck_path", ""))


def close_database_connections(django_settings: Any) -> None:
    """A connection the project's import opened must not be shared by forked workers. (A
    server that imports the app inside its event loop, as uvicorn's reloader does, forks
    nothing from there, and Django refuses the sync call.)"""
    if django_settings is None or running_loop():
        return
    from django.db import connections

    connections.close_all()


def running_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
