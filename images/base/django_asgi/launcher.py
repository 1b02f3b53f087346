"""The image's command: read the runtime contract, check the app, exec the server.

The server replaces this process (`exec`), so it is the container's main process and
receives `docker stop`'s SIGTERM itself. Bad settings end here, before any server starts,
with one line on stderr and exit status 2. The project itself is not imported here unless
something before the server needs it (`--print`, PRELOAD=0, RELOAD, DJANGO_MIGRATE,
DJANGO_COLLECTSTATIC): the server's main process imports it once (django_asgi.app), so a
start costs one import of the project, as the bare server command does.
"""

import json
import os
import shlex
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from . import appmodule, config, drain, installed, logs, safety
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
from .static import StaticOptions
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
        "DRAIN_DELAY",
        "DJANGO_MIGRATE",
        "DJANGO_COLLECTSTATIC",
        "SERVE_STATIC",
        "HEALTHCHECK_PATH",
        "SYNC_THREADS",
        "PRELOAD",
        "DJANGO_CHECK_DEPLOY",
        "LOG_FORMAT",
        "REQUEST_ID_HEADER",
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
    warnings: tuple[str, ...] = ()  # said before any import (django_asgi.safety)


def main(args: Sequence[str] | None = None) -> int:
    options = parse_arguments(args)
    try:
        launch = prepare(os.environ, Path.cwd())
        say(summary(launch.settings))
        for line in [*launch.warnings, *(f"notice: {notice}" for notice in launch.notices)]:
            say(line)
        if options.print or imports_before_start(launch.settings):
            import_here(launch)
        if options.print:
            if launch.plan:
                say(f"supervised: django_asgi.supervisor runs {launch.plan.processes} of the command below")
            elif launch.settings.drain_delay:
                delay = launch.settings.drain_delay
                say(f"relayed: django_asgi.drain runs the command below, its SIGTERM {delay} s late")
            print(shlex.join(launch.argv))
            return 0
        run_before_start(launch)
    except ConfigError as error:
        for line in error.before:
            say(line)
        say(f"error: {error}")
        return EXIT_BAD_SETTINGS
    environment = {**os.environ, **launch.environment}
    if launch.plan:
        # a fresh interpreter as PID 1, which imports the app once and forks its processes
        say(f"exec the supervisor for {launch.plan.processes} of: {shlex.join(launch.argv)}")
        environment[PLAN_VARIABLE] = launch.plan.to_json()
        os.execve(sys.executable, [sys.executable, "-m", "django_asgi.supervisor"], environment)
    if launch.settings.drain_delay:
        # PID 1 holds SIGTERM for DRAIN_DELAY while the server, its child, serves on
        say(f"exec the drain relay for: {shlex.join(launch.argv)}")
        environment.update(drain.relay_command(launch.argv, launch.settings.drain_delay))
        os.execve(sys.executable, [sys.executable, "-m", "django_asgi.drain"], environment)
    say(f"exec {shlex.join(launch.argv)}")
    # the program by its full path, so that ps shows which python it is
    program = shutil.which(launch.argv[0], path=environment.get("PATH")) or launch.argv[0]
    os.execve(program, [program, *launch.argv[1:]], environment)


def say(line: str) -> None:
    logs.say(line)


@dataclass(frozen=True)
class Options:
    print: bool = False


def parse_arguments(args: Sequence[str] | None) -> Options:
    args = sys.argv[1:] if args is None else args
    if not args:
        return Options()  # the image's CMD: no parser to import and build
    import argparse

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
    return Options(print=parser.parse_args(args).print)


def prepare(env: Mapping[str, str], app_dir: Path) -> Launch:
    """Validate every setting, cheapest first, that the server and the image's packages are
    still installed as built (django_asgi/installed.py), and that the app's module exists."""
    settings, server = read_settings(env, app_dir)
    argv = server.command(settings)  # may refuse a setting the server cannot honour
    installed.check(argv[0], env.get("PATH"))  # the server still there, as the image was built
    appmodule.check(settings.app)
    check_drain_mark(settings)
    environment = server_environment(env, settings, server)
    plan = server.plan(settings)
    if (plan or settings.drain_delay) and drain.prepare_websockets_directory():
        # PID 1 is the image's: it has open WebSockets closed with 1001 before the server stops
        environment[drain.WEBSOCKETS_VARIABLE] = drain.WEBSOCKETS_DIRECTORY
    warnings = development_settings(env, settings)
    return Launch(settings, argv, environment, server.notices(settings), plan, warnings)


def check_drain_mark(settings: Settings) -> None:
    """DRAIN_DELAY marks the container draining in /tmp; a mark left by an earlier run of
    the same container (`docker restart` keeps a /tmp that is no tmpfs) is removed."""
    if not settings.drain_delay:
        return
    mark = Path(drain.DRAINING_FILE)
    if not os.access(mark.parent, os.W_OK):
        raise ConfigError(
            f"DRAIN_DELAY={settings.drain_delay} marks the container draining in {mark.parent}, which is not "
            f"writable by uid {os.getuid()}: mount one (docker run --tmpfs /tmp; an emptyDir on Kubernetes)"
        )
    mark.unlink(missing_ok=True)


def development_settings(env: Mapping[str, str], settings: Settings) -> tuple[str, ...]:
    """Development settings a project file's default chose because DJANGO_SETTINGS_MODULE
    is unset (cookiecutter-django's asgi.py names config.settings.local): said unless RELOAD."""
    if settings.reload or env.get(appmodule.SETTINGS_VARIABLE, "").strip():
        return ()
    module, origin = appmodule.settings_default(settings.app)
    warning = safety.development_settings(module, origin) if module else ""
    return (warning,) if warning else ()


def imports_before_start(settings: Settings) -> bool:
    """Whether the project is imported here too: without PRELOAD every worker imports it, so
    a broken project is said here once; migrate and collectstatic run in this process. The
    process that imports first says what it found and runs the deployment checks."""
    return not settings.preloading or settings.migrate or settings.collectstatic


def import_here(launch: Launch) -> None:
    """Build the app as the server's process would (its one-line errors included), and say
    what was found: the server's processes then do not say it again."""
    from .building import build

    _, lines = build(launch.settings.app, json.loads(launch.environment[WRAPPING_VARIABLE]), examine=True)
    for line in lines:
        say(line)


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
        log_format=config.read_log_format(env),
        request_id_header=config.read_request_id_header(env),
        forwarded_allow_ips=config.read_forwarded_allow_ips(env),
        root_path=config.read_root_path(env),
        graceful_timeout=config.read_seconds(env, "GRACEFUL_TIMEOUT", default=config.DEFAULT_GRACEFUL_TIMEOUT),
        drain_delay=config.read_seconds(env, "DRAIN_DELAY", default=config.DEFAULT_DRAIN_DELAY),
        keep_alive=config.read_seconds(env, "KEEP_ALIVE", default=config.DEFAULT_KEEP_ALIVE),
        max_requests=config.read_count(env, "MAX_REQUESTS"),
        max_worker_memory=config.read_worker_memory(env),
        sync_threads=config.read_sync_threads(env),
        reload=config.read_flag(env, "RELOAD", default=False),
        preload=config.read_flag(env, "PRELOAD", default=True),
        check_deploy=config.read_check_deploy(env, reload=config.read_flag(env, "RELOAD", default=False)),
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


def server_environment(env: Mapping[str, str], settings: Settings, server: Server) -> dict[str, str]:
    """What the server's processes need to build the wrapped app: the app's root first on
    PYTHONPATH, the target, its wrapping, and the settings module it configured."""
    return {
        "PYTHONPATH": python_path(env, settings.app),
        TARGET_VARIABLE: settings.app.to_json(),
        WRAPPING_VARIABLE: json.dumps(
            {
                "root_path": settings.root_path,
                "access_log": settings.access_log,
                "request_id_header": settings.request_id_header,
                "middleware": [[m.factory, dict(m.kwargs)] for m in server.middleware(settings)],
                "static": asdict(StaticOptions.of(settings)),
                "healthcheck_path": settings.healthcheck_path,
                "sync_threads": settings.sync_threads,
                "workers": settings.workers,  # for what the start says about Channels' layers
                "check_deploy": settings.check_deploy,
                "development": settings.reload,
                # the launcher says them where it imports the app before the server starts
                "say_findings": not imports_before_start(settings),
            }
        ),
        **({drain.DRAINING_VARIABLE: drain.DRAINING_FILE} if settings.drain_delay else {}),
        # runserver needs it by name (RELOAD on daphne): as the asgi.py's import would set it
        USER_SETTINGS_VARIABLE: settings.app.settings_module
        or env.get("DJANGO_SETTINGS_MODULE", "").strip()
        or appmodule.settings_named_by(settings.app),
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
        from .migration_lock import one_migrate_at_a_time

        with one_migrate_at_a_time():  # replicas that start together: one after the other
            manage("DJANGO_MIGRATE", "migrate", interactive=False)
    if settings.collectstatic:
        manage("DJANGO_COLLECTSTATIC", "collectstatic", interactive=False, verbosity=0)


def run_prestart(script: Path, env: Mapping[str, str]) -> None:
    say(f"running prestart script {script}")
    command = [str(script)] if os.access(script, os.X_OK) else ["sh", str(script)]
    import subprocess

    status = subprocess.run(command, env=env, check=False).returncode
    if status != 0:
        raise ConfigError(f"prestart script {script} failed with exit status {status}")


def manage(variable: str, command: str, **options: object) -> None:
    """A Django management command in this process (import_here configured Django)."""
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


def summary(settings: Settings) -> str:
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
        f"access_log={'on' if s.access_log else 'off'} log_format={s.log_format} forwarded_allow_ips={proxies} "
        f"root_path={s.root_path or '/'} graceful_timeout={s.graceful_timeout}s drain_delay={s.drain_delay}s "
        f"keep_alive={s.keep_alive}s "
        f"max_requests={s.max_requests or 'off'} "
        f"max_worker_memory={f'{s.max_worker_memory}MiB' if s.max_worker_memory else 'off'} "
        f"sync_threads={s.sync_threads or 'off'} "
        f"reload={'on' if s.reload else 'off'} preload={'on' if s.preloading else 'off'} "
        f"check_deploy={s.check_deploy} tls={tls_mode(s)} "
        f"before start: {', '.join(before) or 'nothing'}"
    )
