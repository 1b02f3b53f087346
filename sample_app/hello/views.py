"""The sample's async views, as a Django project written for ASGI has them (sync_views.py
has the sync ones most projects have)."""

import asyncio
import logging
import os
import platform
import sys
import threading
from pathlib import Path

import django
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse

from .models import Visit
from .sync_views import request_facts

MAX_SLEEP_SECONDS = 60.0
logger = logging.getLogger(__name__)
# The servers' packages: which of them this process runs (a process forked by the image's
# supervisor has the supervisor's command line).
SERVER_MODULES = ("daphne", "hypercorn", "gunicorn", "uvicorn", "granian")
# The process that imported the project: the server's main process where it forks its
# workers with the app (PRELOAD), else each worker.
IMPORTED_IN = os.getpid()


def command_line(pid: int) -> list[str]:
    raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def parent_pid(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("PPid:"):
            return int(line.split()[1])
    return 0


def program_name(argv: list[str]) -> str | None:
    """What a Python process runs: `gunicorn` for `/opt/venv/bin/python /opt/venv/bin/gunicorn
    ...` (how the kernel runs a script with a shebang), `django_asgi.daphne` for `python -m
    django_asgi.daphne ...`; None for `python -c ...` (a spawned worker) or no Python."""
    if len(argv) < 2 or not Path(argv[0]).name.startswith("python"):
        return None
    if argv[1] == "-m" and len(argv) > 2:
        return argv[2]
    return None if argv[1].startswith("-") else Path(argv[1]).name


def serving_program() -> str | None:
    """The program that started this worker: the nearest Python program above it (a
    supervisor further up is not the server)."""
    pid = os.getpid()
    while pid > 0:
        try:
            argv = command_line(pid)
        except OSError:
            break
        if program := program_name(argv):
            return program
        pid = parent_pid(pid)
    return None


async def index(request: HttpRequest) -> JsonResponse:
    """Who answered: the image's server, the program serving, and the versions under it."""
    scope = getattr(request, "scope", {})
    return JsonResponse(
        {
            "message": "Hello from Django over ASGI",
            "server": os.environ.get("ASGI_SERVER"),
            "program": serving_program(),
            "server_modules": sorted(name for name in SERVER_MODULES if name in sys.modules),
            "pid": os.getpid(),
            "imported_in": IMPORTED_IN,
            "client": request.META.get("REMOTE_ADDR"),
            "scheme": request.scheme,
            "path": request.path,
            "script_name": request.META.get("SCRIPT_NAME", ""),
            "asgi": scope.get("asgi", {}),
            "http_version": scope.get("http_version"),
            "python": platform.python_version(),
            "django": django.get_version(),
        }
    )


async def healthz(request: HttpRequest) -> HttpResponse:
    """Healthy when the app can use its database: a query through the async ORM."""
    try:
        await Visit.objects.aexists()
    except DatabaseError as error:
        return HttpResponse(f"database: {error}", status=503, content_type="text/plain")
    return HttpResponse("ok", content_type="text/plain")


async def visits(request: HttpRequest) -> JsonResponse:
    """Write one row and read the count back through the async ORM."""
    visit = await Visit.objects.acreate(path=request.path)
    return JsonResponse({"visit": visit.pk, "visits": await Visit.objects.acount()})


async def slow(request: HttpRequest) -> JsonResponse:
    """Answer after ?seconds=N (at most 60): a request to keep in flight during shutdown."""
    try:
        seconds = float(request.GET.get("seconds", "1"))
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= MAX_SLEEP_SECONDS:
        return JsonResponse({"error": f"seconds must be from 0 to {MAX_SLEEP_SECONDS:g}"}, status=400)
    await asyncio.sleep(seconds)
    return JsonResponse({"slept": seconds})


async def logged(request: HttpRequest) -> JsonResponse:
    """Log one line through the project's own logger: it carries the request's ID
    (tests/test_logs.py), as any log call made while a request is handled does."""
    logger.warning("the logged view was asked", extra={"view": "logged"})
    return JsonResponse({"logged": True})


async def echo(request: HttpRequest) -> JsonResponse:
    """sync_views.echo's facts from an async view: the same request, Django's ASGI path."""
    response = JsonResponse({**request_facts(request), "thread": threading.current_thread().name})
    response.set_cookie("flavour", "async", max_age=60, httponly=True, samesite="Lax")
    response["X-Echo"] = "async"
    return response
