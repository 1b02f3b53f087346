"""gunicorn server hooks for the uvicorn image (`--config python:django_asgi.gunicorn_hooks`).

gunicorn replaces a dead worker at once and forever, unless the worker reports a boot error
itself: workers that die right after starting (a crash in a C extension at import, a
database the app cannot reach) would restart in a tight loop, thousands of times a minute.
Here, workers dying within CRASH_WINDOW seconds of their start CRASH_LIMIT times in a row
per worker slot stop the server with exit status 1, as the supervisor does for the others.
A worker that stopped to be replaced for its memory (MAX_WORKER_MEMORY, django_asgi.memory)
did not die: it says so to the arbiter on a byte of memory they share, as gunicorn tells
hooks nothing of how a worker ended.
"""

import mmap
import time
from typing import Any

from gunicorn.errors import HaltServer

from . import memory
from .supervisor import CRASH_LIMIT, CRASH_WINDOW

quick_deaths = 0
RECYCLED = b"\x01"


def pre_fork(server: Any, worker: Any) -> None:
    """In the arbiter, before the fork: on the worker object it keeps (post_fork runs in the
    child), when it started and the byte the worker marks when it is recycled."""
    worker.django_asgi_started = time.monotonic()
    worker.django_asgi_recycled = mmap.mmap(-1, 1)  # anonymous and shared across the fork


def post_fork(server: Any, worker: Any) -> None:
    """In the worker: its recycling marks the shared byte."""
    mark = worker.django_asgi_recycled
    memory.ThisProcess.before_stopping.append(lambda: mark.write(RECYCLED))


def child_exit(server: Any, worker: Any) -> None:
    global quick_deaths
    lived = time.monotonic() - getattr(worker, "django_asgi_started", float("-inf"))
    recycled = recycled_worker(worker)
    quick_deaths = quick_deaths + 1 if lived < CRASH_WINDOW and not recycled else 0
    if quick_deaths >= CRASH_LIMIT * server.num_workers:
        reason = f"django-asgi: error: workers died {quick_deaths} times within {CRASH_WINDOW:g} s of starting"
        raise HaltServer(reason, 1)


def recycled_worker(worker: Any) -> bool:
    """Whether the worker marked itself recycled; the shared byte is released either way."""
    mark = getattr(worker, "django_asgi_recycled", None)
    if mark is None:
        return False
    recycled = mark[:1] == RECYCLED
    mark.close()
    return recycled
