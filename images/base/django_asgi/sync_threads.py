"""SYNC_THREADS: what the launcher and the workers need of django_asgi.handler without
importing Django first (it is the project's, and the app's import sets it up).

install() makes django.core.asgi.get_asgi_application() build the image's handler, before
the project's asgi.py runs `from django.core.asgi import get_asgi_application`; notices()
says at start what came of it.
"""

import inspect
from typing import Any


def lanes_supported() -> bool:
    """asgiref 3.13 added ThreadSensitiveContext(executor=...), which pins a request's
    thread-sensitive calls (Django's signals, response.close) to its lane."""
    from asgiref.sync import ThreadSensitiveContext

    return "executor" in inspect.signature(ThreadSensitiveContext).parameters


def path_info(scope: dict[str, Any]) -> str:
    """PATH_INFO as Django's ASGIRequest computes it: the path without root_path."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if root_path and (path == root_path or path.startswith(f"{root_path}/")):
        path = path[len(root_path) :]
    return path or "/"


class Installed:
    """What install() did, for the start-up notices of the process that built the app."""

    threads = 0
    unsupported = ""  # why the handler cannot be used here
    built = 0  # LanedASGIHandler instances made
    async_only: tuple[str, ...] = ()  # the project's async-only middleware, if any


def install(threads: int) -> None:
    """Make get_asgi_application() build the laned handler, before the project's asgi.py
    imports it (the name is looked up when the asgi.py runs its import)."""
    Installed.threads = threads
    if threads <= 0:
        return
    if not lanes_supported():
        Installed.unsupported = "asgiref is older than 3.13 here"
        return
    import django
    import django.core.asgi

    original = django.core.asgi.get_asgi_application

    def get_asgi_application() -> Any:
        django.setup(set_prefix=False)
        from . import handler  # Django's handler classes, once Django is set up

        Installed.async_only = tuple(handler.async_only_middleware())
        if Installed.async_only:
            return original()
        handler.use_lane_local_connections()
        Installed.built += 1
        return handler.LanedASGIHandler(threads)

    get_asgi_application.__doc__ = original.__doc__
    django.core.asgi.get_asgi_application = get_asgi_application


def notices(django_settings: Any) -> list[str]:
    """After the app's import: whether sync views run on the lanes, and what the
    databases' CONN_MAX_AGE does on each path."""
    if django_settings is None:
        return []
    threads = Installed.threads
    own_path = ""
    if threads and Installed.unsupported:
        own_path = Installed.unsupported
    elif threads and Installed.async_only:
        own_path = f"{', '.join(Installed.async_only)} cannot run synchronously"
    elif threads and not Installed.built:
        own_path = "the app was not made by django.core.asgi.get_asgi_application()"
    said = [f"SYNC_THREADS={threads}: {own_path}, so sync views take Django's own ASGI path"] if own_path else []
    on_lanes = bool(threads and not own_path)
    databases = persistent_databases(django_settings)
    return said + [conn_max_age_notice(alias, age, on_lanes, threads) for alias, age in databases]


def persistent_databases(django_settings: Any) -> list[tuple[str, object]]:
    """(alias, CONN_MAX_AGE) of each database that asks for persistent connections."""
    return [
        (alias, database.get("CONN_MAX_AGE", 0))
        for alias, database in django_settings.DATABASES.items()
        if database.get("CONN_MAX_AGE", 0) != 0
    ]


def conn_max_age_notice(alias: str, age: object, on_lanes: bool, threads: int) -> str:
    kept = "for good" if age is None else f"for {age} s"
    if on_lanes:
        return (
            f"DATABASES[{alias!r}] CONN_MAX_AGE={age}: sync views keep their thread's connection open "
            f"{kept} between requests (at most {threads} per worker, one per SYNC_THREADS thread); async "
            "views, on Django's own ASGI path, open one per request"
        )
    return (
        f"DATABASES[{alias!r}] CONN_MAX_AGE={age}: not reused under Django's own ASGI handler, which "
        "opens one per request and leaves it open until Python collects it; Django's docs advise "
        "CONN_MAX_AGE=0 under ASGI (or leave SYNC_THREADS on)"
    )
