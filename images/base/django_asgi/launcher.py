"""The image's command: read the runtime contract, check the app, exec the server.

The server replaces this process (`exec`), so it is the container's main process and
receives `docker stop`'s SIGTERM itself. Bad settings end here, before any server starts,
with one line on stderr and exit status 2.
"""

import argparse
import json
import os
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import appmodule, config, sync_threads
from .config import (
    TARGET_VARIABLE,
    USER_SETTINGS_VARIABLE,
    WRAPPING_VARIABLE,
    AppTarget,
    ConfigError,
    Settings,
)
from .cpus import available_cpus
from .servers import SERVERS, SETTINGS, Server
from .static import StaticFiles, configured_settings, media_notices
from .static import plan as static_plan
from .supervisor import PLAN_VARIABLE, Plan

EXIT_BAD_SETTINGS = 2
# Every variable of the contract, to tell which ones the user set.
CONTRACT_VARIABLES = frozenset(
    {variable for variables in SETTINGS.values() for variable in variables}
    | {
        "APP_MODULE",
        "ROOT_PATH",
        "SERVER_ARGS",
        "PRESTART",
        "DJANGO_MIGRATE",
        "DJANGO_COLLECTSTATIC",
        "SERVE_STATIC",
        "HEALTHCHECK_PATH",
        "SYNC_THREADS",
    }
)


@dataclass(frozen=True)
class Launch:
    """What to exec: the server's argv and the environment additions it needs."""

    settings: Settings
    argv: list[str]
    environment: dict[str, str]
    notices: list[str]
    plan: Plan | None = None  # run under django_asgi.supervisor
    static: StaticFiles | None = None


def main(args: Sequence[str] | None = None) -> int:
    options = parse_arguments(args)
    try:
        launch = prepare(os.environ, Path.cwd())
        say(summary(launch.settings, launch.static))
        for notice in launch.notices:
            say(f"notice: {notice}")
        if options.print:
            if launch.plan:
                say(f"supervised: django_asgi.supervisor runs {launch.plan.processes} of the command below")
            print(shlex.join(launch.argv))
            return 0
        run_before_start(launch)
    except ConfigError as error:
        say(f"error: {error}")
        return EXIT_BAD_SETTINGS
    environment = {**os.environ, **launch.environment}
    if launch.plan:
        # a fresh, small interpreter as PID 1: this one has imported the whole app
        say(f"exec the supervisor for {launch.plan.processes} of: {shlex.join(launch.argv)}")
        environment[PLAN_VARIABLE] = launch.plan.to_json()
        os.execve(sys.executable, [sys.executable, "-m", "django_asgi.supervisor"], environment)
    say(f"exec {shlex.join(launch.argv)}")
    os.execvpe(launch.argv[0], launch.argv, environment)


def say(line: str) -> None:
    print(f"django-asgi: {line}", file=sys.stderr, flush=True)


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
    settings, server = read_settings(env, app_dir)
    argv = server.command(settings)  # may refuse a setting the server cannot honour
    sync_threads.install(settings.sync_threads)  # as the workers do (django_asgi.app)
    appmodule.load(settings.app)
    django_settings = configured_settings()
    static, static_notices = static_plan(settings, django_settings)
    environment = server_environment(env, settings, server, static)
    notices = [
        *server.notices(settings),
        *static_notices,
        *media_notices(django_settings),
        *sync_threads.notices(django_settings),
    ]
    return Launch(settings, argv, environment, notices, server.plan(settings), static)


def read_settings(env: Mapping[str, str], app_dir: Path) -> tuple[Settings, Server]:
    name, server = select_server(env)
    workers, workers_origin = config.read_workers(
        env, cpus=available_cpus(), multiprocess=server.multiprocess, server=name
    )
    settings = Settings(
        server=name,
        host=config.read_host(env),
        port=config.read_port(env),
        workers=workers,
        workers_origin=workers_origin,
        log_level=config.read_log_level(env),
        access_log=config.read_flag(env, "ACCESS_LOG", default=False),
        forwarded_allow_ips=config.read_forwarded_allow_ips(env),
        root_path=config.read_root_path(env),
        graceful_timeout=config.read_seconds(env, "GRACEFUL_TIMEOUT", default=config.DEFAULT_GRACEFUL_TIMEOUT),
        keep_alive=config.read_seconds(env, "KEEP_ALIVE", default=config.DEFAULT_KEEP_ALIVE),
        max_requests=config.read_count(env, "MAX_REQUESTS"),
        sync_threads=config.read_sync_threads(env),
        reload=config.read_flag(env, "RELOAD", default=False),
        server_args=config.read_server_args(env),
        migrate=config.read_flag(env, "DJANGO_MIGRATE", default=False),
        collectstatic=config.read_flag(env, "DJANGO_COLLECTSTATIC", default=False),
        serve_static=config.read_flag(env, "SERVE_STATIC", default=True),
        prestart=config.read_prestart(env, app_dir),
        tls=config.read_tls(env, app_dir),
        healthcheck_path=config.read_healthcheck_path(env),
        explicit=frozenset(name for name in CONTRACT_VARIABLES if env.get(name, "").strip()),
        app=appmodule.resolve(env, app_dir),
    )
    return settings, server


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


def server_environment(
    env: Mapping[str, str], settings: Settings, server: Server, static: StaticFiles | None = None
) -> dict[str, str]:
    """What the server's processes need to build the same wrapped app: the app's root first
    on PYTHONPATH, the target, its wrapping, and the settings module it configured."""
    return {
        "PYTHONPATH": python_path(env, settings.app),
        TARGET_VARIABLE: str(settings.app),
        WRAPPING_VARIABLE: json.dumps(
            {
                "root_path": settings.root_path,
                "middleware": [[m.factory, dict(m.kwargs)] for m in server.middleware(settings)],
                "static": static.to_wrapping() if static else None,
                "healthcheck_path": settings.healthcheck_path,
                "sync_threads": settings.sync_threads,
            }
        ),
        # the app's import set it (asgi.py's setdefault); runserver needs it by name
        USER_SETTINGS_VARIABLE: settings.app.settings_module or os.environ.get("DJANGO_SETTINGS_MODULE", ""),
        # Django's standard application (no asgi.py) is told its settings
        **({"DJANGO_SETTINGS_MODULE": settings.app.settings_module} if settings.app.settings_module else {}),
    }


def python_path(env: Mapping[str, str], target: AppTarget) -> str:
    path = [str(target.root), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    return os.pathsep.join(dict.fromkeys(path))


def run_before_start(launch: Launch) -> None:
    """Prestart script, then migrate, then collectstatic: once, before any worker starts."""
    settings = launch.settings
    if settings.prestart:
        run_prestart(settings.prestart, {**os.environ, **launch.environment})
    if settings.migrate:
        manage("DJANGO_MIGRATE", "migrate", interactive=False)
    if settings.collectstatic:
        manage("DJANGO_COLLECTSTATIC", "collectstatic", interactive=False, verbosity=0)


def run_prestart(script: Path, env: Mapping[str, str]) -> None:
    say(f"running prestart script {script}")
    command = [str(script)] if os.access(script, os.X_OK) else ["sh", str(script)]
    status = subprocess.run(command, env=env, check=False).returncode
    if status != 0:
        raise ConfigError(f"prestart script {script} failed with exit status {status}")


def manage(variable: str, command: str, **options: object) -> None:
    """A Django management command in this process (the app import configured Django)."""
    from django.core.management import call_command
    from django.db import connections

    say(f"{variable}=1: running {command}")
    try:
        call_command(command, **options)
    except Exception as error:  # a broken database, migration or STATIC_ROOT: one line, then exit
        raise ConfigError(f"{variable}=1: {command} failed: {error}") from None
    finally:
        connections.close_all()  # no database handle may leak into the server


def tls_mode(settings: Settings) -> str:
    if not settings.tls:
        return "off"
    return "on, client certificates required" if settings.tls.client_ca else "on"


def summary(settings: Settings, static: StaticFiles | None = None) -> str:
    """The resolved settings in one line, logged at every start and by --print."""
    s = settings
    workers = f"{s.workers} worker{'s' if s.workers != 1 else ''} ({s.workers_origin})"
    proxies = ",".join(s.forwarded_allow_ips) or "none"
    before = [
        step
        for step, on in (("prestart", s.prestart), ("migrate", s.migrate), ("collectstatic", s.collectstatic))
        if on
    ]
    return (
        f"{s.server} serving {s.app.describe()} on {s.bind}, {workers}; log_level={s.log_level} "
        f"access_log={'on' if s.access_log else 'off'} forwarded_allow_ips={proxies} "
        f"root_path={s.root_path or '/'} graceful_timeout={s.graceful_timeout}s keep_alive={s.keep_alive}s "
        f"max_requests={s.max_requests or 'off'} sync_threads={s.sync_threads or 'off'} "
        f"reload={'on' if s.reload else 'off'} tls={tls_mode(s)} "
        f"static={static.describe() if static else 'off'} "
        f"before start: {', '.join(before) or 'nothing'}"
    )
