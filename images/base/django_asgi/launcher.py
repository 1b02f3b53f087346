"""The image's command: read the runtime contract, check the app, exec the server.

The server replaces this process (`exec`), so it is the container's main process and
receives `docker stop`'s SIGTERM itself. Bad settings end here, before any server starts,
with one line on stderr and exit status 2.
"""

import argparse
import os
import shlex
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import appmodule, config
from .config import TARGET_VARIABLE, ConfigError, Settings
from .cpus import available_cpus
from .servers import SERVERS, Server

EXIT_BAD_SETTINGS = 2


@dataclass(frozen=True)
class Launch:
    """What to exec: the server's argv and the environment additions it needs."""

    settings: Settings
    argv: list[str]
    environment: dict[str, str]


def main(args: Sequence[str] | None = None) -> int:
    options = parse_arguments(args)
    try:
        launch = prepare(os.environ, Path.cwd())
        print(f"django-asgi: {summary(launch.settings)}", file=sys.stderr, flush=True)
        if options.print:
            print(shlex.join(launch.argv))
            return 0
        if launch.settings.migrate:
            migrate()
    except ConfigError as error:
        print(f"django-asgi: error: {error}", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    print(f"django-asgi: exec {shlex.join(launch.argv)}", file=sys.stderr, flush=True)
    os.execvpe(launch.argv[0], launch.argv, {**os.environ, **launch.environment})


def parse_arguments(args: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="django-asgi",
        description="Start the image's ASGI server for the Django project in the working "
        "directory, configured by environment variables (see the README's table).",
    )
    parser.add_argument(
        "--print",
        action="store_true",
        help="check the settings and the app, print the server command line, and exit",
    )
    return parser.parse_args(args)


def prepare(env: Mapping[str, str], app_dir: Path) -> Launch:
    """Validate every setting, cheapest first, then import the app once to check it."""
    name, server = select_server(env)
    workers, workers_origin = config.read_workers(
        env, cpus=available_cpus(), multiprocess=server.multiprocess, server=name
    )
    port, host = config.read_port(env), config.read_host(env)
    migrate = config.read_flag(env, "DJANGO_MIGRATE", default=False)
    target = appmodule.resolve(env, app_dir)
    appmodule.load(target)
    settings = Settings(name, target, host, port, workers, workers_origin, migrate)
    return Launch(settings, server.command(settings), server_environment(env, target))


def select_server(env: Mapping[str, str]) -> tuple[str, Server]:
    name = env.get("ASGI_SERVER", "").strip()
    known = ", ".join(sorted(SERVERS))
    if not name:
        raise ConfigError(
            f"ASGI_SERVER is not set: use a server image (:{known.replace(', ', ', :')}) "
            f"or set ASGI_SERVER to one of {known}"
        )
    if name not in SERVERS:
        raise ConfigError(f"ASGI_SERVER={name!r} is not a server of this image: use one of {known}")
    return name, SERVERS[name]


def server_environment(env: Mapping[str, str], target: config.AppTarget) -> dict[str, str]:
    """The app's root goes first on PYTHONPATH so every server and worker imports it alike."""
    path = [str(target.root), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    return {"PYTHONPATH": os.pathsep.join(dict.fromkeys(path)), TARGET_VARIABLE: str(target)}


def migrate() -> None:
    """DJANGO_MIGRATE=1: apply migrations once, before any worker starts."""
    from django.core.management import call_command
    from django.db import connections

    print("django-asgi: DJANGO_MIGRATE is on: running migrate", file=sys.stderr, flush=True)
    try:
        call_command("migrate", interactive=False, verbosity=1)
    except Exception as error:  # a broken database or migration: one line, then exit
        raise ConfigError(f"DJANGO_MIGRATE=1: migrate failed: {error}") from None
    finally:
        connections.close_all()  # no database handle may leak into the server


def summary(settings: Settings) -> str:
    """The resolved settings in one line, logged at every start and by --print."""
    s = settings
    workers = f"{s.workers} worker{'s' if s.workers != 1 else ''} ({s.workers_origin})"
    migrate = "migrate first" if s.migrate else "no migrate"
    return f"{s.server} serving {s.app} on {s.bind}, {workers}, {migrate}"
