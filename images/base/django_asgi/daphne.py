"""daphne, draining on SIGTERM: `python -m django_asgi.daphne` takes daphne's own options.

daphne stops its reactor at SIGTERM and cancels every request in flight. This runs daphne's
command line with a server that instead stops listening, lets the requests in flight finish
(up to GRACEFUL_TIMEOUT seconds, as the other servers do), and then stops. Only in the
daphne image: it imports daphne and Twisted.
"""

import os
import signal
import socket
import sys
import time
from typing import Any

import daphne.server
from daphne.cli import CommandLineInterface
from daphne.server import Server
from daphne.ws_protocol import WebSocketProtocol
from twisted.internet import reactor
from twisted.internet.endpoints import AdoptedStreamServerEndpoint, serverFromString
from twisted.web.http import HTTPChannel

from .config import DEFAULT_GRACEFUL_TIMEOUT, read_seconds
from .memory import ThisProcess

DRAIN_POLL_SECONDS = 0.1


def server_from_string(reactor: Any, description: str) -> Any:
    """Twisted's endpoint strings, plus `fd:fileno=N:domain=INET|INET6` for a listening socket
    inherited from the supervisor (Twisted dropped its own `fd:` parser)."""
    kind, _, rest = description.partition(":")
    if kind != "fd":
        return serverFromString(reactor, description)
    fields = dict(part.split("=", 1) for part in rest.split(":"))
    return AdoptedStreamServerEndpoint(reactor, int(fields["fileno"]), getattr(socket, f"AF_{fields['domain']}"))


daphne.server.serverFromString = server_from_string  # daphne's Server resolves its endpoints with it


def refuse_long_line(channel: HTTPChannel, line: bytes) -> None:
    """A request line or header over 16 KiB: 400, as Twisted answers too many headers,
    instead of LineReceiver's default of closing without a word."""
    channel._respondToBadRequestAndDisconnect()


HTTPChannel.lineLengthExceeded = refuse_long_line  # type: ignore[method-assign]

# Close codes RFC 6455 lets a server send that autobahn's sendClose refuses (it takes 1000 and
# 3000-4999 only, the codes of its own applications): daphne raised on an ASGI app's
# `websocket.close` with 1001 (going away: django_asgi.going_away), 1008 (policy violation)
# or 1011 (internal error), which every other server sends.
SERVER_CLOSE_CODES = frozenset({1001, 1002, 1003, 1007, 1008, 1009, 1011, 1012, 1013, 1014})


def server_close(protocol: WebSocketProtocol, code: int | None = None) -> None:
    """daphne's serverClose, with the codes of SERVER_CLOSE_CODES sent as they are."""
    if code in SERVER_CLOSE_CODES:
        protocol.sendCloseFrame(code=code, isReply=False)
    else:
        protocol.sendClose(code=1000 if code is None else code)


WebSocketProtocol.serverClose = server_close  # type: ignore[method-assign]


class DrainingServer(Server):
    """daphne's Server with a graceful SIGTERM/SIGINT in place of Twisted's."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **{**kwargs, "signal_handlers": False})
        self.ports: list[Any] = []
        self.drain_deadline: float | None = None
        self.graceful_timeout = read_seconds(os.environ, "GRACEFUL_TIMEOUT", default=DEFAULT_GRACEFUL_TIMEOUT)

    def run(self) -> None:
        reactor.callWhenRunning(self.install_signal_handlers)
        super().run()

    def install_signal_handlers(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: reactor.callFromThread(self.drain))

    def listen_success(self, port: Any) -> None:
        self.ports.append(port)
        # MAX_WORKER_MEMORY: the process stops accepting before it drains (django_asgi/memory.py)
        ThisProcess.stop_accepting.append(lambda: reactor.callFromThread(port.stopListening))
        super().listen_success(port)

    def drain(self) -> None:
        if self.drain_deadline is not None:
            return
        self.drain_deadline = time.monotonic() + self.graceful_timeout
        for port in self.ports:
            port.stopListening()
        self.stop_when_idle()

    def busy(self) -> int:
        """Requests (and WebSockets) whose application has not finished."""
        return sum(
            1
            for details in self.connections.values()
            if details.get("application_instance") is not None and not details["application_instance"].done()
        )

    def stop_when_idle(self) -> None:
        assert self.drain_deadline is not None
        if self.busy() and time.monotonic() < self.drain_deadline:
            reactor.callLater(DRAIN_POLL_SECONDS, self.stop_when_idle)
        else:
            self.stop()


class DrainingCommandLine(CommandLineInterface):
    server_class = DrainingServer


if __name__ == "__main__":
    sys.exit(DrainingCommandLine.entrypoint())
