"""gunicorn server hooks for the uvicorn image (`--config python:django_asgi.gunicorn_hooks`).

gunicorn replaces a dead worker at once and forever, unless the worker reports a boot error
itself: workers that die right after starting (a crash in a C extension at import, a
database the app cannot reach) would restart in a tight loop, thousands of times a minute.
Here, workers dying within CRASH_WINDOW seconds of their start CRASH_LIMIT times in a row
per worker slot stop the server with exit status 1, as the supervisor does for the others.
"""

import time
from typing import Any

from gunicorn.errors import HaltServer

from .supervisor import CRASH_LIMIT, CRASH_WINDOW

quick_deaths = 0


def pre_fork(server: Any, worker: Any) -> None:
    """In the arbiter, before the fork: the worker object it keeps (post_fork runs in the child)."""
    worker.django_asgi_started = time.monotonic()


def child_exit(server: Any, worker: Any) -> None:
    global quick_deaths
    lived = time.monotonic() - getattr(worker, "django_asgi_started", float("-inf"))
    quick_deaths = quick_deaths + 1 if lived < CRASH_WINDOW else 0
    if quick_deaths >= CRASH_LIMIT * server.num_workers:
        reason = f"django-asgi: error: workers died {quick_deaths} times within {CRASH_WINDOW:g} s of starting"
        raise HaltServer(reason, 1)
