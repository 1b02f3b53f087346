"""The per-server table: how each contract setting becomes each server's flags.

This is the only place that knows a server's command line. Every server has one entry per
setting in `SETTINGS`; adding a setting to the contract is one line in each `options`.
Facts behind the fixed flags: ../shared/docs/servers.md (and each server's `--help`).
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .config import Settings

Args = tuple[str, ...]
Option = Callable[[Settings], Args]

# The ASGI application every server loads: the user's app behind a lifespan answerer.
APP_TARGET = "django_asgi.app:application"

# The contract settings each server's table must map (to flags, or to nothing on purpose).
SETTINGS = ("bind", "workers")


def flag(*templates: str) -> Option:
    """Flags formatted from the settings, e.g. flag("--port", "{port}"); none for flag()."""
    return lambda settings: tuple(t.format_map(settings.template_values()) for t in templates)


@dataclass(frozen=True)
class Server:
    program: Args  # the command and the flags this image always passes
    options: Mapping[str, Option]  # one entry for each name in SETTINGS
    multiprocess: bool = True  # False: one process, WEB_CONCURRENCY > 1 is refused

    def command(self, settings: Settings) -> list[str]:
        argv = list(self.program)
        for name in SETTINGS:
            argv += self.options[name](settings)
        return [*argv, APP_TARGET]


SERVERS: dict[str, Server] = {
    "daphne": Server(
        program=("daphne",),
        multiprocess=False,  # daphne has no worker option: one Twisted reactor
        options={
            "bind": flag("--bind", "{host}", "--port", "{port}"),
            "workers": flag(),
        },
    ),
    "hypercorn": Server(
        # uvloop: +34% requests/s on a Django view over asyncio (servers.md)
        program=("hypercorn", "--worker-class", "uvloop"),
        options={
            "bind": flag("--bind", "{bind}"),
            "workers": flag("--workers", "{workers}"),
        },
    ),
    "uvicorn": Server(
        program=(
            "gunicorn",
            # the maintained worker; uvicorn.workers.UvicornWorker is deprecated
            "--worker-class",
            "uvicorn_worker.UvicornWorker",
            # heartbeat files in memory, and no $HOME/.gunicorn control socket (gunicorn
            # >= 25): both would need a writable root filesystem
            "--worker-tmp-dir",
            "/dev/shm",
            "--no-control-socket",
        ),
        options={
            "bind": flag("--bind", "{bind}"),
            "workers": flag("--workers", "{workers}"),
        },
    ),
    "granian": Server(
        program=(
            "granian",
            # granian's default interface, rsgi, turns every Django request into a 500;
            # asginl is ASGI without lifespan, which Django does not use
            "--interface",
            "asginl",
            # without it a dead worker stops the whole server with exit code 1
            "--respawn-failed-workers",
        ),
        options={
            "bind": flag("--host", "{host}", "--port", "{port}"),
            "workers": flag("--workers", "{workers}"),
        },
    ),
}
