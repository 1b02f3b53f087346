"""MAX_WORKER_MEMORY: a worker whose memory has grown over the limit is replaced, drained first.

Each worker process watches its own resident memory (RSS, /proc/self/statm) from a thread
it starts at its first request (after the fork: with PRELOAD the app is built in the
server's main process, which serves nothing). Over the limit at MEMORY_SAMPLES samples in
a row, a second apart, the worker says one line and stops accepting connections: the other
workers take the new ones from the listening socket they share (with no other, they wait
in its backlog). For CLOSE_NOTICE seconds it answers the connections it has with
`Connection: close`, so that keep-alive clients (a proxy in front among them) take their
next request elsewhere, and a connection it accepted just before sends its request. Then
it sends itself SIGTERM, the server's own graceful stop of one process (the requests in
flight finish), and its server starts another in its place: gunicorn's arbiter for the
uvicorn worker, django_asgi.supervisor for daphne and hypercorn. A server's graceful stop
closes at once a connection that has no request in progress: without the notice, the
requests on their way to this worker at that moment would be lost.

granian replaces its workers itself (--workers-max-rss, sampled as often): starts a new one,
then stops the old. There the watch only says its line and answers with `Connection: close`
until granian stops the worker (granian's workers listen on sockets of their own, which the
watch cannot close).

A worker already over the limit at its first request is not watched: its successor would
start as big, and be replaced in turn, forever. It says so once instead.
"""

import asyncio
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from .config import MEMORY_SAMPLE_SECONDS, MEMORY_SAMPLES
from .logs import say
from .wrappers import ASGIApp, Receive, Scope, Send, closing_connection

CLOSE_NOTICE = 1.0  # seconds of `Connection: close` before the worker stops
MIB = 1024 * 1024
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
STATM = Path("/proc/self/statm")  # sizes in pages: the second is the resident set


def rss_mib() -> float:
    """This process's resident memory, in MiB."""
    return int(STATM.read_bytes().split()[1]) * PAGE_SIZE / MIB


def stop_this_process() -> None:
    os.kill(os.getpid(), signal.SIGTERM)


class ThisProcess:
    """What the server's own code in a worker process tells its watch, each callable safe to
    call from the watch's thread: how to stop accepting connections (django_asgi.daphne,
    django_asgi.uvicorn_worker, and hypercorn's servers by record_asyncio_servers), and
    what to do just before stopping (django_asgi.gunicorn_hooks marks the worker recycled)."""

    stop_accepting: ClassVar[list[Callable[[], None]]] = []
    before_stopping: ClassVar[list[Callable[[], None]]] = []


class Watch:
    """One worker process's watch over its memory: `recycling` once it is over the limit.
    `stop`: None where the server stops the worker itself (granian)."""

    def __init__(
        self,
        limit_mib: int,
        stop: Callable[[], None] | None = stop_this_process,
        read_rss: Callable[[], float] = rss_mib,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limit_mib, self.stop, self.read_rss, self.sleep = limit_mib, stop, read_rss, sleep
        self.recycling = False

    def run(self) -> None:
        """Sample until the limit is passed for good, then recycle; return at once for a
        worker already over the limit."""
        first = self.read_rss()
        if first > self.limit_mib:
            say(
                f"warning: worker {os.getpid()} uses {first:.0f} MiB at its first request, over "
                f"MAX_WORKER_MEMORY={self.limit_mib}: a new worker would be as big; raise the limit"
            )
            return
        over = 0
        while over < MEMORY_SAMPLES:
            self.sleep(MEMORY_SAMPLE_SECONDS)
            rss = self.read_rss()
            over = over + 1 if rss > self.limit_mib else 0
        self.recycle(rss)

    def recycle(self, rss: float) -> None:
        say(
            f"worker {os.getpid()} uses {rss:.0f} MiB, over MAX_WORKER_MEMORY={self.limit_mib}: "
            "replacing it (drained first)"
        )
        if self.stop is None:
            self.recycling = True  # until the server stops the process
            return
        for stop_accepting in ThisProcess.stop_accepting:
            stop_accepting()
        self.recycling = True
        self.sleep(CLOSE_NOTICE)
        for tell in ThisProcess.before_stopping:
            tell()
        self.stop()


class Watcher:
    """The watch of the process it runs in, started at the process's first request: a
    process forked from one that had one starts its own."""

    def __init__(self, limit_mib: int, stop: Callable[[], None] | None) -> None:
        self.limit_mib, self.stop = limit_mib, stop
        self.pid = 0
        self.watch = Watch(limit_mib, stop)

    def current(self) -> Watch:
        if self.pid != os.getpid():
            self.pid = os.getpid()
            self.watch = Watch(self.limit_mib, self.stop)
            threading.Thread(target=self.watch.run, name="django-asgi-memory", daemon=True).start()
        return self.watch


def record_asyncio_servers() -> None:
    """Every server asyncio.start_server makes in this process (hypercorn's listening ones)
    can stop accepting. Done where the app is built: before hypercorn starts its servers,
    in the process it runs in or the one it is forked from."""
    start_server = asyncio.start_server
    if getattr(start_server, "records_servers", False):
        return

    async def recorded(*args: Any, **kwargs: Any) -> asyncio.Server:
        server = await start_server(*args, **kwargs)
        loop = asyncio.get_running_loop()
        ThisProcess.stop_accepting.append(lambda: loop.call_soon_threadsafe(server.close))
        return server

    recorded.records_servers = True  # type: ignore[attr-defined]
    asyncio.start_server = recorded  # type: ignore[assignment]


def with_memory_limit(app: ASGIApp, limit_mib: int, server_stops_it: bool = False) -> ASGIApp:
    """`app`, in a worker that watches its memory and, over `limit_mib`, stops accepting
    connections and answers with `Connection: close` until it stops to be replaced
    (`server_stops_it`: the server stops it, having started another)."""
    record_asyncio_servers()
    watcher = Watcher(limit_mib, None if server_stops_it else stop_this_process)

    async def application(scope: Scope, receive: Receive, send: Send) -> None:
        if watcher.current().recycling and scope["type"] == "http":
            send = closing_connection(send)
        await app(scope, receive, send)

    return application
