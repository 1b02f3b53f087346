"""Sync views, as most Django projects write them. The image serves them on its own threads
(SYNC_THREADS, django_asgi/handler.py); the tests compare what comes back with Django's own
ASGI path (SYNC_THREADS=0) on these."""

import gc
import hashlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.core.signals import request_finished, request_started
from django.db import connection
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse

from hello_django.tracing import current_trace

from .models import Visit

MAX_BUSY_SECONDS = 10.0
MAX_LEAK_KIB = 1024
# What /leak keeps for good: the process's memory only grows (tests/test_memory.py).
leaked: list[bytes] = []
STYLESHEET = Path(__file__).resolve().parent / "static" / "hello" / "hello.css"


class Counters:
    """What this worker process has seen: signals sent, sync requests in flight at once."""

    lock = threading.Lock()
    started = 0
    finished = 0
    in_flight = 0
    most_in_flight = 0


def count_started(**kwargs: object) -> None:
    with Counters.lock:
        Counters.started += 1


def count_finished(**kwargs: object) -> None:
    with Counters.lock:
        Counters.finished += 1


request_started.connect(count_started)
request_finished.connect(count_finished)


def request_facts(request: HttpRequest) -> dict[str, object]:
    """What a view relies on from the request: its META, as both paths must build it."""
    meta = request.META
    return {
        "method": request.method,
        "path": request.path,
        "path_info": request.path_info,
        "script_name": meta.get("SCRIPT_NAME", ""),
        "query": request.GET.dict(),
        "client": meta.get("REMOTE_ADDR"),
        "scheme": request.scheme,
        "secure": request.is_secure(),
        "host": request.get_host(),
        "protocol": meta.get("SERVER_PROTOCOL"),
        "content_type": meta.get("CONTENT_TYPE", ""),
        "cookies": request.COOKIES,
        "user_agent": meta.get("HTTP_USER_AGENT", ""),
        "custom_header": meta.get("HTTP_X_CUSTOM", ""),
        "absolute_uri": request.build_absolute_uri(),
        "trace": current_trace.get(),  # set by asgi.py's middleware around Django
    }


def echo(request: HttpRequest) -> JsonResponse:
    """The request's facts, a cookie set and a header added."""
    response = JsonResponse(request_facts(request))
    response.set_cookie("flavour", "sync", max_age=60, httponly=True, samesite="Lax")
    response["X-Echo"] = "sync"
    return response


def upload(request: HttpRequest) -> JsonResponse:
    """A POST's form fields, and each uploaded file's size and SHA-256 (multipart bodies)."""
    files = {
        name: {"name": each.name, "size": each.size, "sha256": hashlib.sha256(each.read()).hexdigest()}
        for name, each in request.FILES.items()
    }
    body = {"fields": request.POST.dict(), "files": files}
    if not request.FILES and not request.POST:
        body["raw_sha256"] = hashlib.sha256(request.body).hexdigest()
    return JsonResponse(body)


def stream(request: HttpRequest) -> StreamingHttpResponse:
    """A streaming response from a sync generator."""

    def lines() -> Iterator[bytes]:
        for number in range(5):
            yield f"line {number}\n".encode()

    return StreamingHttpResponse(lines(), content_type="text/plain")


def stylesheet(request: HttpRequest) -> FileResponse:
    """A file response, with the headers Django sets for it."""
    return FileResponse(STYLESHEET.open("rb"), filename="hello.css")


def failure(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a sync view that fails on purpose")


def busy(request: HttpRequest) -> JsonResponse:
    """Block a thread for ?seconds=N (at most 10) and say how many sync requests this worker
    has run at once, and on which thread."""
    try:
        seconds = float(request.GET.get("seconds", "0"))
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= MAX_BUSY_SECONDS:
        return JsonResponse({"error": f"seconds must be from 0 to {MAX_BUSY_SECONDS:g}"}, status=400)
    with Counters.lock:
        Counters.in_flight += 1
        Counters.most_in_flight = max(Counters.most_in_flight, Counters.in_flight)
    try:
        time.sleep(seconds)
    finally:
        with Counters.lock:
            Counters.in_flight -= 1
    return JsonResponse(
        {
            "thread": threading.current_thread().name,
            "pid": os.getpid(),
            "most_in_flight": Counters.most_in_flight,
            # a view without a query: the connections other requests left open
            "open_connections": open_database_files() if connection.vendor == "sqlite" else None,
        }
    )


def database(request: HttpRequest) -> JsonResponse:
    """A write and a read through the sync ORM; which connection and thread served it, how
    many SQLite connections this worker holds open, and the signals it has sent."""
    visit = Visit.objects.create(path=request.path)
    return JsonResponse(
        {
            "visit": visit.pk,
            "visits": Visit.objects.count(),
            "connection": id(connection.connection),
            "thread": threading.current_thread().name,
            "pid": os.getpid(),
            "open_connections": open_database_files() if connection.vendor == "sqlite" else None,
            "backend_pid": backend_pid() if connection.vendor == "postgresql" else None,
            "started": Counters.started,
            "finished": Counters.finished,
        }
    )


def backend_pid() -> int:
    """PostgreSQL's process for this connection: the same one across requests means the
    connection was reused."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def open_database_files() -> int:
    """The file descriptors this process holds on the SQLite database: the connections it
    keeps (after a garbage collection: a connection nothing refers to any more is not kept,
    and Python closes it)."""
    gc.collect()
    database_file = Path(settings.DATABASES["default"]["NAME"]).resolve()
    count = 0
    for fd in Path("/proc/self/fd").iterdir():
        try:
            count += fd.readlink() == database_file
        except OSError:
            continue
    return count


def leak(request: HttpRequest) -> JsonResponse:
    """Keep ?kib=N KiB (at most 1024) for the life of the process, as a cache that is never
    emptied does, and say which process holds how much. A sync view: most projects' views,
    and so most leaks, are sync (they run on the image's threads: the memory is the process's
    all the same). Only tests/test_memory.py asks it, of a container of its own."""
    try:
        kib = int(request.GET.get("kib", "0"))
    except ValueError:
        kib = -1
    if not 0 <= kib <= MAX_LEAK_KIB:
        return JsonResponse({"error": f"kib must be from 0 to {MAX_LEAK_KIB}"}, status=400)
    leaked.append(os.urandom(1024) * kib)  # written, so the pages are resident
    return JsonResponse({"pid": os.getpid(), "leaked_kib": sum(len(chunk) for chunk in leaked) // 1024})
