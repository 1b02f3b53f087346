"""DRAIN_DELAY: after SIGTERM, keep serving for a while before the server stops accepting.

Load balancers that learn late that a replica is going (Kubernetes endpoints and ingresses
after SIGTERM, cloud balancers' deregistration, DNS-based discovery) keep sending it requests
for a few seconds. For DRAIN_DELAY seconds after SIGTERM the container goes on serving them,
while the image's health route answers 503 (readiness-based balancers take it out) and every
response says `Connection: close` (clients move their keep-alive connections elsewhere
before the server closes them). Then the server gets its SIGTERM and drains as without a
delay (GRACEFUL_TIMEOUT). SIGINT stops at once, as before.

The mark that the container is draining is a file (DRAINING_FILE, named to the server's
processes by DRAINING_VARIABLE), so every worker of every server sees it whatever spawned
it. Under django_asgi.supervisor (daphne, hypercorn) the supervisor waits; for the servers
that are PID 1 themselves (granian, gunicorn) the launcher execs this module, which runs the
server as its child, relays every other signal, and exits as the server does.
"""

import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

from .logs import say

DRAINING_VARIABLE = "DJANGO_ASGI_DRAINING"  # the mark's path, for the server's processes
DRAINING_FILE = "/tmp/django-asgi-draining"
RELAY_VARIABLE = "DJANGO_ASGI_RELAY"  # the relay's command and delay, from the launcher
# Signals that mean something to a server (gunicorn: HUP reloads, TTIN/TTOU add and remove
# workers, USR1 reopens logs, USR2 upgrades, QUIT stops at once), passed on as they come.
RELAYED = (
    signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGTTIN, signal.SIGTTOU, signal.SIGWINCH,
)  # fmt: skip
POLL_INTERVAL = 0.05
# Open WebSockets closed with 1001 as the stop begins (django_asgi.going_away): the directory
# where PID 1 marks the stop and each worker with WebSockets open keeps a file named by its PID.
WEBSOCKETS_VARIABLE = "DJANGO_ASGI_WEBSOCKETS"
WEBSOCKETS_DIRECTORY = "/tmp/django-asgi-websockets"
GOING_AWAY_MARK = "going-away"
CLOSE_WAIT = 1.0  # seconds PID 1 waits at most for the workers to close their WebSockets


def begin_draining(delay: int) -> None:
    """SIGTERM came: the mark every worker's health route reads, and one line."""
    path = os.environ.get(DRAINING_VARIABLE, DRAINING_FILE)
    try:
        Path(path).touch()
    except OSError as error:
        say(f"warning: cannot mark the container draining ({path}: {error.strerror}): the health route stays 200")
    say(f"SIGTERM: serving on for DRAIN_DELAY={delay} s (health route 503, Connection: close), then stopping")


def prepare_websockets_directory() -> bool:
    """At start: the directory made, a mark and files an earlier run of the same container
    left removed (`docker restart` keeps a /tmp that is no tmpfs). False where it cannot be
    (no writable /tmp): the servers then end WebSockets their own way."""
    directory = Path(WEBSOCKETS_DIRECTORY)
    try:
        directory.mkdir(mode=0o700, exist_ok=True)
        for left in directory.iterdir():
            left.unlink()
    except OSError:
        return False
    return True


def close_websockets() -> None:
    """The stop begins: the mark that has every worker close its WebSockets with 1001, and
    a wait (CLOSE_WAIT at most) until no live worker says it has any left."""
    directory = os.environ.get(WEBSOCKETS_VARIABLE)
    if not directory:
        return
    try:
        (Path(directory) / GOING_AWAY_MARK).touch()
    except OSError:
        return
    deadline = time.monotonic() + CLOSE_WAIT
    while holding_websockets(Path(directory)) and time.monotonic() < deadline:
        time.sleep(POLL_INTERVAL / 2)


def holding_websockets(directory: Path) -> bool:
    """Whether a live process says it has WebSockets open (a killed one leaves its file)."""
    try:
        names = [entry.name for entry in directory.iterdir()]
    except OSError:
        return False
    return any(name.isdigit() and Path(f"/proc/{name}").exists() for name in names)


def exit_code(status: int) -> int:
    """A child's wait status as a shell reports it: its exit code, 128 + N for signal N."""
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


class Relay:
    """PID 1 for a server that manages its own workers: the server runs as its child."""

    def __init__(self, argv: list[str], delay: int) -> None:
        self.argv, self.delay = argv, delay
        self.child = 0
        self.stop_at: float | None = None  # when the server gets its SIGTERM
        self.stopping = False

    def on_term(self, signum: int, frame: object) -> None:
        if self.stop_at is None:
            self.stop_at = time.monotonic() + self.delay
            begin_draining(self.delay)

    def relay(self, signum: int, frame: object) -> None:
        if signum == signal.SIGINT:
            self.stopping = True  # no delay: the server stops as it would without one
        if self.child:
            os.kill(self.child, signum)

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.on_term)
        for signum in (signal.SIGINT, *RELAYED):
            signal.signal(signum, self.relay)
        program = shutil.which(self.argv[0]) or self.argv[0]
        self.child = os.posix_spawn(program, [program, *self.argv[1:]], os.environ)
        while True:
            if self.stop_at is not None and not self.stopping and time.monotonic() >= self.stop_at:
                self.stopping = True
                close_websockets()
                os.kill(self.child, signal.SIGTERM)
            status = self.reap()
            if status is not None:
                return exit_code(status)
            time.sleep(POLL_INTERVAL)

    def reap(self) -> int | None:
        """Collect every exited process (PID 1 adopts the server's orphans); the server's
        wait status once it has exited."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return 0
            if pid == 0:
                return None
            if pid == self.child:
                return status


def relay_command(argv: list[str], delay: int) -> dict[str, str]:
    """What the launcher puts in the relay's environment."""
    return {RELAY_VARIABLE: json.dumps({"argv": argv, "delay": delay})}


def main() -> int:
    plan = json.loads(os.environ.pop(RELAY_VARIABLE))
    return Relay(plan["argv"], plan["delay"]).run()


if __name__ == "__main__":
    sys.exit(main())
