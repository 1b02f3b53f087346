"""Process supervision for the servers whose own falls short (docs/servers.md):
daphne is one process that never drains, and hypercorn with two or more workers kills the
requests in flight on SIGTERM and never replaces a dead worker.

The launcher execs this module as PID 1 with a plan. It opens the listening sockets once and
starts the server's processes on them (inherited as file descriptors LISTEN_FD and QUIC_FD),
so the port never closes while a process is replaced: connections wait in the backlog.
The TCP socket is shared; QUIC gets one UDP socket per process slot, all bound to the port
with SO_REUSEPORT, because a QUIC connection lives in one process: on a shared UDP socket a
datagram goes to whichever process reads first, and one that lacks the connection drops it.
The kernel sends every datagram of a client address to the same socket of the group, and a
replaced process takes over its slot's socket, so the group never changes.
With PRELOAD (the plan's `preload`), the supervisor imports the app once (django_asgi.app:
one line and exit status 2 if the project cannot be imported) and forks each process, which
runs the server's command line in the forked interpreter; without it, each process is a
fresh interpreter that imports the app itself.
A process that dies is replaced; on SIGTERM (once DRAIN_DELAY has passed: django_asgi/drain.py)
or SIGINT every process is told to drain, the supervisor stops listening, waits up to
GRACEFUL_TIMEOUT (plus a moment to exit), and only then kills what is left. Processes
dying again and again right after starting end the container with exit status 1 instead
of restarting forever.
"""

import contextlib
import json
import os
import shutil
import signal
import socket
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .drain import begin_draining, close_websockets
from .logs import say

PLAN_VARIABLE = "DJANGO_ASGI_PLAN"
LISTEN_FD = 3  # the TCP listening socket, in every supervised process
QUIC_FD = 4  # the UDP socket for QUIC, where the plan asks for one
BACKLOG = 2048
EXIT_MARGIN = 2.0  # seconds a drained process gets to exit after GRACEFUL_TIMEOUT
CRASH_WINDOW = 10.0  # a process that dies within this many seconds of starting...
CRASH_LIMIT = 5  # ...this many times in a row is a crash loop
POLL_INTERVAL = 0.1


@dataclass(frozen=True)
class Plan:
    command: list[str]
    processes: int
    host: str
    port: int
    graceful_timeout: int
    sockets: list[str] = field(default_factory=lambda: ["tcp"])  # "tcp", "udp": opened here
    preload: bool = False  # import the app here and fork the processes, instead of spawning them
    drain_delay: int = 0  # seconds of serving on after SIGTERM (django_asgi/drain.py)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str) -> "Plan":
        return cls(**json.loads(raw))


def open_socket(host: str, port: int, kind: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if kind == "udp":
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)  # one per slot, one port
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)  # "::" takes IPv4 too
    sock.bind((host, port))
    if kind == "tcp":
        sock.listen(BACKLOG)
    return sock


def slot_sockets(plan: Plan, tcp: socket.socket | None) -> dict[int, socket.socket]:
    """A process slot's inherited sockets by file descriptor: the shared TCP one, its own UDP one."""
    sockets = {LISTEN_FD: tcp} if tcp else {}
    if "udp" in plan.sockets:
        sockets[QUIC_FD] = open_socket(plan.host, plan.port, "udp")
    return sockets


def describe_exit(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"


class Supervisor:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        # per slot: the file descriptors its process inherits (the same TCP socket for all)
        tcp = open_socket(plan.host, plan.port, "tcp") if "tcp" in plan.sockets else None
        self.slots = [slot_sockets(plan, tcp) for _ in range(plan.processes)]
        self.sockets = list({id(sock): sock for slot in self.slots for sock in slot.values()}.values())
        self.file_actions = [
            [(os.POSIX_SPAWN_DUP2, sock.fileno(), fd) for fd, sock in slot.items()] for slot in self.slots
        ]
        # the program by its full path, so that ps shows which python it is
        self.argv = [shutil.which(plan.command[0]) or plan.command[0], *plan.command[1:]]
        self.children: dict[int, tuple[float, int]] = {}  # pid: when it started, its slot
        self.quick_deaths = 0
        self.stop_deadline: float | None = None
        self.drain_until: float | None = None  # SIGTERM came: stop once DRAIN_DELAY has passed

    def start_process(self, slot: int) -> None:
        if self.plan.preload:
            pid = os.fork()
            if pid == 0:
                os._exit(self.serve_in_child(slot))  # never returns to the supervisor's loop
        else:
            pid = os.posix_spawn(self.argv[0], self.argv, os.environ, file_actions=self.file_actions[slot])
        self.children[pid] = (time.monotonic(), slot)

    def serve_in_child(self, slot: int) -> int:
        """In a forked process: its slot's sockets at the file descriptors the command names,
        the signals' default handling back (the server installs its own), then the server."""
        try:
            for fd, sock in self.slots[slot].items():
                os.dup2(sock.fileno(), fd)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            return run_in_process(self.plan.command)
        except BaseException:  # a child must never fall back into the supervisor's loop
            import traceback

            traceback.print_exc()
            return 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()

    def drain(self, signum: int, frame: object) -> None:
        """SIGTERM: serve on for DRAIN_DELAY (the health route at 503), then stop."""
        if not self.plan.drain_delay:
            self.stop(signum, frame)
        elif self.drain_until is None:
            self.drain_until = time.monotonic() + self.plan.drain_delay
            begin_draining(self.plan.drain_delay)

    def stop(self, signum: int, frame: object) -> None:
        """Every process drains, its WebSockets closed with 1001 first (SIGINT: at once); the
        port closes once none of them listens any more."""
        if self.stop_deadline is not None:
            return
        self.stop_deadline = time.monotonic() + self.plan.graceful_timeout + EXIT_MARGIN
        if signum == signal.SIGTERM:
            close_websockets()  # within the same budget: docker stop's 10 s still hold it
        for sock in self.sockets:
            sock.close()
        self.signal_children(signal.SIGTERM)

    def signal_children(self, signum: int) -> None:
        for pid in self.children:
            with contextlib.suppress(ProcessLookupError):  # already gone
                os.kill(pid, signum)

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.drain)
        signal.signal(signal.SIGINT, self.stop)
        command = self.plan.command
        program = command[2] if command[:2] == ["python", "-m"] else Path(command[0]).name
        say(f"supervising {self.plan.processes} {program} process(es) on {self.plan.host}:{self.plan.port}")
        for slot in range(self.plan.processes):
            self.start_process(slot)
        while self.children:
            if self.drain_until is not None and self.stop_deadline is None and time.monotonic() >= self.drain_until:
                self.stop(signal.SIGTERM, None)
            if self.stop_deadline is not None and time.monotonic() > self.stop_deadline:
                say(f"GRACEFUL_TIMEOUT passed: killing {len(self.children)} process(es) still running")
                self.signal_children(signal.SIGKILL)
                self.stop_deadline = float("inf")
            if not self.reap():
                time.sleep(POLL_INTERVAL)
            if self.quick_deaths >= CRASH_LIMIT:
                say(f"error: the server's processes died {CRASH_LIMIT} times within {CRASH_WINDOW:g} s of starting")
                self.signal_children(signal.SIGKILL)
                return 1
        return 0

    def reap(self) -> bool:
        """Collect one exited child, if any, and replace it unless stopping."""
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return False
        if pid == 0:
            return False
        child = self.children.pop(pid, None)
        if child is None or self.stop_deadline is not None:
            return True  # an orphan PID 1 inherited, or a process done draining
        started, slot = child
        crashed = os.WIFSIGNALED(status) or os.waitstatus_to_exitcode(status) != 0
        lived = time.monotonic() - started
        self.quick_deaths = self.quick_deaths + 1 if crashed and lived < CRASH_WINDOW else 0
        say(f"process {pid} ended ({describe_exit(status)}) after {lived:.1f} s; starting another")
        self.start_process(slot)
        return True


def run_in_process(command: list[str]) -> int:
    """A command line (`program ...` for a console script, `python -m module ...`) run in this
    interpreter, as its own process would run it; its exit status."""
    import importlib.metadata  # here: the launcher imports this module for its constants
    import runpy

    try:
        if command[:2] == ["python", "-m"]:
            sys.argv = [command[2], *command[3:]]
            runpy.run_module(command[2], run_name="__main__", alter_sys=True)
            return 0
        sys.argv = list(command)
        (script,) = importlib.metadata.entry_points(group="console_scripts", name=Path(command[0]).name)
        status = script.load()()
    except SystemExit as done:
        status = done.code
    if status is None or isinstance(status, int):
        return status or 0
    print(status, file=sys.stderr)
    return 1


def main() -> int:
    plan = Plan.from_json(os.environ.pop(PLAN_VARIABLE))
    supervisor = Supervisor(plan)  # the port opens first: connections wait during the import
    if plan.preload:
        import django_asgi.app  # noqa: F401 (one line and exit status 2 if the project fails)
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main())
