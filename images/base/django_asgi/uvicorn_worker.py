"""The uvicorn image's gunicorn worker: the maintained uvicorn_worker.UvicornWorker, with
uvloop, and h11 as the HTTP parser rather than httptools. httptools puts no limit on the
size of request headers (a 200 KB header is read and served); h11 answers anything over
16 KB with a 4xx, as every other server of the family does; open WebSockets closed with
1001 as a worker stops, as on every server. Only in the uvicorn image."""

import asyncio
import socket
import sys
from typing import Any, ClassVar

from gunicorn.arbiter import Arbiter
from uvicorn.server import Server
from uvicorn_worker import UvicornWorker

from .going_away import this_process
from .memory import ThisProcess


class UvloopH11Worker(UvicornWorker):
    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {"loop": "uvloop", "http": "h11"}

    async def _serve(self) -> None:
        """UvicornWorker's, and the worker can stop accepting connections before it stops
        (MAX_WORKER_MEMORY: django_asgi/memory.py)."""
        self.config.app = self.wsgi
        server = GoingAwayServer(config=self.config)
        loop = asyncio.get_running_loop()
        ThisProcess.stop_accepting.append(lambda: loop.call_soon_threadsafe(stop_listening, server))
        self._install_sigquit_handler()
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)


class GoingAwayServer(Server):
    """uvicorn's server, which closes open WebSockets with 1012 as its shutdown begins: the
    image's 1001 first (django_asgi.going_away), whoever is PID 1."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await this_process().go_away()
        await super().shutdown(sockets=sockets)


def stop_listening(server: Server) -> None:
    for listening in getattr(server, "servers", []):
        listening.close()
