"""Open WebSockets closed with 1001 (going away) when the server stops, the same on every server.

Left to themselves the servers end open WebSockets at a stop each their own way (measured on
the images: daphne holds them until GRACEFUL_TIMEOUT, then drops the connection; hypercorn
closes them with 1011, internal error, at GRACEFUL_TIMEOUT; uvicorn with 1012 at once; granian
drops them at once): a client cannot tell a deploy from a crash, and some wait out the grace
period first. Here every WebSocket the app has accepted is closed with 1001 as the stop begins
(after DRAIN_DELAY), so that clients reconnect at once, to a replica that stays. The app then
gets its `websocket.disconnect` as from a client that left; what it sends afterwards goes
nowhere. A WebSocket accepted after that is closed with 1001 at once.

The stop begins in PID 1 (django_asgi.supervisor for daphne and hypercorn, django_asgi.drain
for granian and gunicorn with DRAIN_DELAY: drain.close_websockets): it writes the going-away
mark in the directory WEBSOCKETS_VARIABLE names, waits until no worker with WebSockets is left
(at most drain.CLOSE_WAIT), then tells the server to stop. A worker process keeps a file named
by its PID in that directory while it has WebSockets open, and looks for the mark every
POLL_INTERVAL meanwhile. Where the server is PID 1 (granian, and gunicorn, with DRAIN_DELAY=0)
and when one worker is replaced, each worker closes its own as its stop begins: the uvicorn
worker as its server's shutdown begins (django_asgi.uvicorn_worker), granian's workers at
their SIGTERM (granian_workers_close_websockets_first), and a worker MAX_WORKER_MEMORY replaces
before its watch stops it (django_asgi.memory's ThisProcess.before_stopping).
"""

import asyncio
import contextlib
import os
import signal
from pathlib import Path
from typing import Any

from .drain import CLOSE_WAIT, GOING_AWAY_MARK, WEBSOCKETS_VARIABLE
from .memory import ThisProcess
from .wrappers import ASGIApp, Message, Receive, Scope, Send

GOING_AWAY = 1001
POLL_INTERVAL = 0.1


class Session:
    """One WebSocket: whether the app accepted it, and whether it is closed."""

    __slots__ = ("accepted", "closed", "process", "send")

    def __init__(self, send: Send, process: "Process") -> None:
        self.send, self.process = send, process
        self.accepted = self.closed = False

    async def sending(self, message: Message) -> None:
        """The app's `send`, until the connection is closed."""
        if self.closed:
            return  # closed here (going away): the app's later messages go nowhere
        kind = message["type"]
        if kind == "websocket.close":
            self.closed = True
        await self.send(message)
        if kind == "websocket.accept":
            self.accepted = True
            if self.process.gone:
                await self.go_away()

    async def go_away(self) -> None:
        if self.accepted and not self.closed:
            self.closed = True
            with contextlib.suppress(Exception):  # the client may have gone already
                await self.send({"type": "websocket.close", "code": GOING_AWAY})


class Process:
    """This process's open WebSockets, and its watch for the going-away mark while any is."""

    def __init__(self, directory: str) -> None:
        self.directory = Path(directory) if directory else None
        self.pid = os.getpid()
        self.sessions: set[Session] = set()
        self.gone = False
        self.watching: asyncio.Task[None] | None = None
        self.told_the_watch = False  # MAX_WORKER_MEMORY's watch closes them before a recycle

    def open(self, send: Send) -> Session:
        session = Session(send, self)
        self.sessions.add(session)
        if not self.told_the_watch:
            self.told_the_watch = True
            loop = asyncio.get_running_loop()
            ThisProcess.before_stopping.append(lambda: self.go_away_from_a_thread(loop))
        if self.directory and not self.gone and (self.watching is None or self.watching.done()):
            self.watching = asyncio.get_running_loop().create_task(self.watch(self.directory))
        return session

    def close(self, session: Session) -> None:
        self.sessions.discard(session)

    async def go_away(self) -> None:
        """Every accepted WebSocket of this process closed with 1001, and any accepted later;
        CLOSE_WAIT at most for the clients' answers (a server may wait for them)."""
        self.gone = True
        closing = [asyncio.ensure_future(session.go_away()) for session in list(self.sessions)]
        if closing:
            await asyncio.wait(closing, timeout=CLOSE_WAIT)

    def go_away_from_a_thread(self, loop: asyncio.AbstractEventLoop) -> None:
        """From MAX_WORKER_MEMORY's watch, before the worker stops itself to be replaced."""
        if self.pid == os.getpid() and self.sessions:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self.go_away(), loop).result(timeout=CLOSE_WAIT + 1)

    async def watch(self, directory: Path) -> None:
        holding = directory / str(self.pid)
        with contextlib.suppress(OSError):
            holding.touch()
        try:
            while self.sessions and not self.gone:
                if (directory / GOING_AWAY_MARK).exists():
                    await self.go_away()
                    await asyncio.sleep(POLL_INTERVAL)  # the close frames on their way out
                    break
                await asyncio.sleep(POLL_INTERVAL)
        finally:
            with contextlib.suppress(OSError):
                holding.unlink(missing_ok=True)


_process: Process | None = None


def this_process() -> Process:
    """This process's WebSockets (a worker forked from another starts with none)."""
    global _process
    if _process is None or _process.pid != os.getpid():
        _process = Process(os.environ.get(WEBSOCKETS_VARIABLE, ""))
    return _process


def with_going_away(app: ASGIApp) -> ASGIApp:
    """`app`, its WebSockets closed with 1001 as the server stops."""

    async def application(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await app(scope, receive, send)
            return
        process = this_process()
        session = process.open(send)
        try:
            await app(scope, receive, session.sending)
        finally:
            process.close(session)

    return application


def granian_workers_close_websockets_first() -> None:
    """granian's ASGI workers stop serving, and drop every WebSocket without a close frame, as
    soon as SIGTERM sets their stop signal (granian._signals.set_loop_signals): here SIGTERM
    has them closed with 1001 first (CLOSE_WAIT at most), then sets it. Done before granian
    starts its workers: in the process they are forked from (PRELOAD) or in each."""
    import granian._signals as signals

    original = signals.set_loop_signals
    if getattr(original, "closes_websockets_first", False):
        return

    def set_loop_signals(loop: asyncio.AbstractEventLoop) -> Any:
        stop = original(loop)

        async def close_then_stop() -> None:
            try:
                await this_process().go_away()
            finally:
                stop.set()

        def on_term(signum: int, frame: object) -> None:
            loop.create_task(close_then_stop())

        with contextlib.suppress(NotImplementedError):  # granian's own handler stays
            loop.add_signal_handler(signal.SIGTERM, on_term, signal.SIGTERM, None)
        return stop

    set_loop_signals.closes_websockets_first = True  # type: ignore[attr-defined]
    signals.set_loop_signals = set_loop_signals
