"""Unit tests of the launcher as the base image ships it (images/base/django_asgi): no Docker."""

import asyncio
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import trustme
from cryptography.hazmat.primitives import serialization

from django_asgi import (
    appmodule,
    channel_layers,
    config,
    constraints,
    cpus,
    drain,
    launcher,
    memory,
    requirements,
    safety,
    servers,
    static,
    supervisor,
    sync_threads,
    wrappers,
)
from django_asgi.config import AppTarget, ConfigError, Settings
from django_asgi.wrappers import with_health, with_lifespan, with_lowercase_header_names, with_root_path

APP = AppTarget("mysite.asgi", "application", Path("/app"))
ROOT = Path(__file__).resolve().parent.parent


def settings(server: str = "granian", **values: object) -> Settings:
    values.setdefault("workers", 2 if servers.SERVERS[server].multiprocess else 1)
    return Settings(server, APP, **values)  # type: ignore[arg-type]


# ---- the per-server table ---------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(servers.SERVERS))
def test_every_server_maps_every_setting(name: str) -> None:
    assert set(servers.SERVERS[name].options) == set(servers.SETTINGS)


DEFAULT_COMMANDS = {
    "daphne": "python -m django_asgi.daphne --endpoint fd:fileno=3:domain=INET --verbosity 1 --access-log /dev/null",
    "hypercorn": "hypercorn --worker-class uvloop --bind fd://3 --workers 0 --log-level info "
    "--graceful-timeout 8 --keep-alive 5",
    "uvicorn": "gunicorn --worker-class django_asgi.uvicorn_worker.UvloopH11Worker --worker-tmp-dir /dev/shm "
    "--no-control-socket --config python:django_asgi.gunicorn_hooks --preload --bind 0.0.0.0:8000 --workers 2 "
    "--log-level info "
    "--forwarded-allow-ips '' --graceful-timeout 8 --keep-alive 5",
    "granian": "python -m django_asgi.granian --interface asginl --respawn-failed-workers --http1-buffer-size 65536 "
    "--preload --host 0.0.0.0 "
    "--port 8000 --workers 2 "
    "--log-level info --no-access-log --workers-kill-timeout 8",
}


def command_line(name: str, **values: object) -> str:
    return shlex.join(servers.SERVERS[name].command(settings(name, **values)))


@pytest.mark.parametrize("name", sorted(DEFAULT_COMMANDS))
def test_default_command_lines(name: str) -> None:
    assert command_line(name) == f"{DEFAULT_COMMANDS[name]} {servers.APP_TARGET}"


def test_the_table_covers_exactly_the_expected_servers() -> None:
    assert set(servers.SERVERS) == set(DEFAULT_COMMANDS)


# Each setting, changed from its default, on each server: what must appear in its command.
CHANGED = {
    "port": ({"port": 9000}, {"uvicorn": "--bind 0.0.0.0:9000", "granian": "--port 9000"}),
    "workers": ({"workers": 3}, {"uvicorn": "--workers 3", "granian": "--workers 3"}),
    "log_level": ({"log_level": "debug"}, {"daphne": "--verbosity 2", "hypercorn": "--log-level debug",
                                           "uvicorn": "--log-level debug", "granian": "--log-level debug"}),
    "forwarded": ({"forwarded_allow_ips": ("*",)}, {"daphne": "--proxy-headers",
                                                    "uvicorn": "--forwarded-allow-ips '*'"}),
    "graceful_timeout": ({"graceful_timeout": 3}, {"hypercorn": "--graceful-timeout 3",
                                                   "uvicorn": "--graceful-timeout 3",
                                                   "granian": "--workers-kill-timeout 3"}),
    "keep_alive": ({"keep_alive": 0}, {"hypercorn": "--keep-alive 0", "uvicorn": "--keep-alive 0",
                                       "granian": "--no-http1-keep-alive"}),
    "max_requests": ({"max_requests": 1000}, {"hypercorn": "--max-requests 1000 --max-requests-jitter 100",
                                              "uvicorn": "--max-requests 1000 --max-requests-jitter 100"}),
    "max_worker_memory": ({"max_worker_memory": 256},
                          {"granian": "--workers-max-rss 256 --rss-sample-interval 1 --rss-samples 2"}),
    "reload": ({"reload": True}, {"hypercorn": "--reload", "uvicorn": "--reload", "granian": "--reload"}),
    "server_args": ({"server_args": ("--backlog", "64")}, {name: "--backlog 64" for name in DEFAULT_COMMANDS}),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(DEFAULT_COMMANDS))
@pytest.mark.parametrize("setting", sorted(CHANGED))
def test_each_setting_reaches_each_server(name: str, setting: str) -> None:
    values, expected = CHANGED[setting]
    line = command_line(name, **values)
    if name in expected:
        assert f" {expected[name]} " in line
    if not (name == "daphne" and setting == "reload"):  # runserver takes no app argument
        assert line.endswith(servers.APP_TARGET)


@pytest.mark.parametrize("name", sorted(DEFAULT_COMMANDS))
def test_the_access_log_is_the_images_own_never_the_servers(name: str) -> None:
    """ACCESS_LOG turns on django_asgi.accesslog in the app's wrapping; every server's own
    access log stays off (daphne's is sent to /dev/null, as it would write one from -v 1)."""
    assert command_line(name, access_log=True) == command_line(name, access_log=False)
    assert command_line(name, reload=True, access_log=True) == command_line(name, reload=True, access_log=False)


def test_server_args_come_last_before_the_app() -> None:
    assert command_line("granian", server_args=("--backlog", "64")).endswith(f"--backlog 64 {servers.APP_TARGET}")


def test_uvicorn_reloads_with_its_own_reloader_not_gunicorns() -> None:
    assert command_line("uvicorn", reload=True, access_log=False) == (
        "uvicorn --reload --http h11 --host 0.0.0.0 --port 8000 --log-level info --no-access-log "
        "--forwarded-allow-ips '' django_asgi.app:application"
    )


def test_daphne_reloads_with_djangos_runserver() -> None:
    assert (
        command_line("daphne", reload=True)
        == "python -m django runserver --settings django_asgi.runserver 0.0.0.0:8000"
    )
    assert command_line("daphne", reload=True, host="::") == (
        "python -m django runserver --settings django_asgi.runserver -6 '[::]:8000'"
    )


@pytest.mark.parametrize(
    ("name", "ips", "factory", "kwargs"),
    [
        ("granian", ("10.0.0.0/8",), "granian.utils.proxies:wrap_asgi_with_proxy_headers",
         {"trusted_hosts": ["10.0.0.0/8"]}),
        ("hypercorn", ("*",), "hypercorn.middleware:ProxyFixMiddleware", {"mode": "legacy", "trusted_hops": 1}),
    ],
)  # fmt: skip
def test_proxy_middleware(name: str, ips: tuple[str, ...], factory: str, kwargs: dict) -> None:
    middleware = servers.SERVERS[name].middleware(settings(name, forwarded_allow_ips=ips))
    assert middleware == [servers.Middleware(factory, kwargs)]
    assert servers.SERVERS[name].middleware(settings(name)) == []


@pytest.mark.parametrize("name", ["daphne", "hypercorn"])
def test_proxy_lists_are_refused_where_only_any_proxy_can_be_trusted(name: str) -> None:
    with pytest.raises(ConfigError, match=rf"^FORWARDED_ALLOW_IPS='10.0.0.1' cannot be honoured: {name}'s"):
        servers.SERVERS[name].command(settings(name, forwarded_allow_ips=("10.0.0.1",)))


def test_notices_only_for_settings_the_user_set() -> None:
    daphne = servers.SERVERS["daphne"]
    assert daphne.notices(settings("daphne", max_requests=100)) == []
    notices = daphne.notices(settings("daphne", max_requests=100, explicit=frozenset({"MAX_REQUESTS"})))
    assert notices == ["MAX_REQUESTS: daphne is one process and never recycles it"]
    granian = servers.SERVERS["granian"]
    assert granian.notices(settings("granian", max_requests=100, explicit=frozenset({"MAX_REQUESTS"})))


@pytest.mark.parametrize(
    ("host", "bind"), [("0.0.0.0", "0.0.0.0:9000"), ("::", "[::]:9000"), ("localhost", "localhost:9000")]
)
def test_bind_brackets_ipv6(host: str, bind: str) -> None:
    assert settings(host=host, port=9000).bind == bind


def test_wrapping_root_path() -> None:
    seen: list[dict] = []

    async def app(scope, receive, send) -> None:
        seen.append(scope)

    wrapped = with_root_path(app, "/sub")
    for path in ("/x", "/sub/x", "/sub", "/subway"):
        asyncio.run(wrapped({"type": "http", "path": path}, None, None))
    asyncio.run(wrapped({"type": "lifespan"}, None, None))
    assert [scope.get("path") for scope in seen] == ["/sub/x", "/sub/x", "/sub", "/sub/subway", None]
    assert [scope.get("root_path") for scope in seen] == ["/sub"] * 4 + [None]


# ---- reading the environment ------------------------------------------------------------


@pytest.mark.parametrize(("raw", "port"), [(None, 8000), ("", 8000), ("1", 1), ("65535", 65535), (" 80 ", 80)])
def test_port(raw: str | None, port: int) -> None:
    env = {} if raw is None else {"PORT": raw}
    assert config.read_port(env) == port


@pytest.mark.parametrize("raw", ["abc", "0", "70000", "-1", "8000.5", "80 80"])
def test_bad_port_is_one_line_naming_it(raw: str) -> None:
    with pytest.raises(ConfigError) as error:
        config.read_port({"PORT": raw})
    message = str(error.value)
    assert message.startswith(f"PORT={raw.strip()!r}") and "1 to 65535" in message
    assert "\n" not in message


@pytest.mark.parametrize(("raw", "host"), [(None, "0.0.0.0"), ("::", "::"), ("[::1]", "::1"), ("web", "web")])
def test_host(raw: str | None, host: str) -> None:
    env = {} if raw is None else {"HOST": raw}
    assert config.read_host(env) == host


@pytest.mark.parametrize("raw", ["not a host", "-bad", "a/b"])
def test_bad_host(raw: str) -> None:
    with pytest.raises(ConfigError, match=r"^HOST="):
        config.read_host({"HOST": raw})


def test_workers_default_to_available_cpus() -> None:
    assert config.read_workers({}, cpus=3, multiprocess=True, server="granian") == (3, "3 CPUs available")


def test_workers_from_web_concurrency() -> None:
    env = {"WEB_CONCURRENCY": "5"}
    assert config.read_workers(env, cpus=1, multiprocess=True, server="granian") == (5, "WEB_CONCURRENCY")


def test_one_process_server_defaults_to_one_worker_whatever_the_cpus() -> None:
    workers, _ = config.read_workers({}, cpus=8, multiprocess=False, server="daphne")
    assert workers == 1


def test_one_process_server_refuses_more_workers() -> None:
    with pytest.raises(ConfigError, match=r"^WEB_CONCURRENCY='4' cannot be honoured: daphne serves from one"):
        config.read_workers({"WEB_CONCURRENCY": "4"}, cpus=8, multiprocess=False, server="daphne")


@pytest.mark.parametrize("raw", ["0", "many", "-2", "1.5", "257"])
def test_bad_worker_counts(raw: str) -> None:
    with pytest.raises(ConfigError, match=rf"^WEB_CONCURRENCY={raw!r} is not a worker count: .* 1 to 256"):
        config.read_workers({"WEB_CONCURRENCY": raw}, cpus=2, multiprocess=True, server="granian")


@pytest.mark.parametrize(("raw", "value"), [("1", True), ("on", True), ("TRUE", True), ("0", False), ("no", False)])
def test_flags(raw: str, value: bool) -> None:
    assert config.read_flag({"DJANGO_MIGRATE": raw}, "DJANGO_MIGRATE", default=not value) is value


@pytest.mark.parametrize("default", [True, False])
def test_an_empty_flag_is_its_default(default: bool) -> None:
    assert config.read_flag({"ACCESS_LOG": " "}, "ACCESS_LOG", default=default) is default


def test_bad_flag() -> None:
    with pytest.raises(ConfigError, match=r"^ACCESS_LOG='maybe' is not on or off"):
        config.read_flag({"ACCESS_LOG": "maybe"}, "ACCESS_LOG", default=True)


@pytest.mark.parametrize("raw", ["loud", "verbose", "5"])
def test_bad_log_level(raw: str) -> None:
    with pytest.raises(ConfigError, match=rf"^LOG_LEVEL={raw!r} is not a log level: use one of critical, error"):
        config.read_log_level({"LOG_LEVEL": raw})


def test_log_level_is_case_blind() -> None:
    assert config.read_log_level({"LOG_LEVEL": "WARNING"}) == "warning"


@pytest.mark.parametrize("raw", ["-1", "ten", "3601", "1.5"])
def test_bad_seconds(raw: str) -> None:
    with pytest.raises(ConfigError, match=rf"^GRACEFUL_TIMEOUT={raw!r} is not a number of seconds: .*0 to 3600"):
        config.read_seconds({"GRACEFUL_TIMEOUT": raw}, "GRACEFUL_TIMEOUT", default=8)


def test_seconds_default_and_zero() -> None:
    assert config.read_seconds({}, "KEEP_ALIVE", default=5) == 5
    assert config.read_seconds({"KEEP_ALIVE": "0"}, "KEEP_ALIVE", default=5) == 0


@pytest.mark.parametrize(
    ("raw", "ips"),
    [("", ()), ("*", ("*",)), ("10.0.0.0/8, 127.0.0.1", ("10.0.0.0/8", "127.0.0.1")), ("::1", ("::1",))],
)
def test_forwarded_allow_ips(raw: str, ips: tuple[str, ...]) -> None:
    assert config.read_forwarded_allow_ips({"FORWARDED_ALLOW_IPS": raw}) == ips


@pytest.mark.parametrize("raw", ["proxy.local", "10.0.0.0/33", "*,10.0.0.1"])
def test_bad_forwarded_allow_ips(raw: str) -> None:
    with pytest.raises(ConfigError, match=r"^FORWARDED_ALLOW_IPS=.* is not an IP address or network"):
        config.read_forwarded_allow_ips({"FORWARDED_ALLOW_IPS": raw})


@pytest.mark.parametrize(("raw", "ok"), [("/app", True), ("/a/b", True), ("", True), ("app", False), ("/app/", False)])
def test_root_path(raw: str, ok: bool) -> None:
    if ok:
        assert config.read_root_path({"ROOT_PATH": raw}) == raw
    else:
        with pytest.raises(ConfigError, match=r"^ROOT_PATH=.* is not a URL path prefix"):
            config.read_root_path({"ROOT_PATH": raw})


def test_server_args_split_like_a_shell() -> None:
    assert config.read_server_args({"SERVER_ARGS": "--backlog 64 --name 'a b'"}) == (
        "--backlog",
        "64",
        "--name",
        "a b",
    )
    with pytest.raises(ConfigError, match=r"^SERVER_ARGS=.* cannot be split like a shell"):
        config.read_server_args({"SERVER_ARGS": "--name 'a b"})


def test_bad_count() -> None:
    with pytest.raises(ConfigError, match=r"^MAX_REQUESTS='lots' is not a count"):
        config.read_count({"MAX_REQUESTS": "lots"}, "MAX_REQUESTS")


def test_prestart(tmp_path: Path) -> None:
    assert config.read_prestart({}, tmp_path) is None
    (tmp_path / "prestart.sh").write_text("true\n")
    assert config.read_prestart({}, tmp_path) == tmp_path / "prestart.sh"
    assert config.read_prestart({"PRESTART": "prestart.sh"}, tmp_path) == tmp_path / "prestart.sh"
    with pytest.raises(ConfigError, match=r"^PRESTART='setup.sh': there is no such file"):
        config.read_prestart({"PRESTART": "setup.sh"}, tmp_path)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "ASGI_SERVER is not set"),
        (
            {"ASGI_SERVER": "tornado"},
            "ASGI_SERVER='tornado' is not a server of this image: use one of daphne",
        ),
    ],
)
def test_unknown_server(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=f"^{message}"):
        launcher.select_server(env)


# ---- CPUs from cgroups ------------------------------------------------------------------


@pytest.mark.parametrize(("cpu_max", "quota"), [("max 100000", None), ("150000 100000", 1.5), ("50000 100000", 0.5)])
def test_cgroup_v2_quota(tmp_path: Path, cpu_max: str, quota: float | None) -> None:
    (tmp_path / "cpu.max").write_text(cpu_max + "\n")
    assert cpus.cgroup_cpu_quota(tmp_path) == quota


@pytest.mark.parametrize(("quota_us", "quota"), [("-1", None), ("200000", 2.0)])
def test_cgroup_v1_quota(tmp_path: Path, quota_us: str, quota: float | None) -> None:
    controller = tmp_path / "cpu,cpuacct"
    controller.mkdir()
    (controller / "cpu.cfs_quota_us").write_text(quota_us)
    (controller / "cpu.cfs_period_us").write_text("100000")
    assert cpus.cgroup_cpu_quota(tmp_path) == quota


def test_no_cgroup_files_means_no_quota(tmp_path: Path) -> None:
    assert cpus.cgroup_cpu_quota(tmp_path) is None


@pytest.mark.parametrize(("cpu_max", "expected"), [("50000 100000", 1), ("100000 100000", 1), ("150000 100000", 2)])
def test_available_cpus_rounds_a_quota_up_within_affinity(tmp_path: Path, cpu_max: str, expected: int) -> None:
    (tmp_path / "cpu.max").write_text(cpu_max)
    assert cpus.available_cpus(tmp_path) == min(expected, len(__import__("os").sched_getaffinity(0)))


# ---- finding and loading the application ------------------------------------------------


def make_project(root: Path, package: str = "mysite", body: str = "application = lambda *a: None\n") -> Path:
    (root / package).mkdir(parents=True)
    (root / package / "__init__.py").write_text("")
    (root / package / "asgi.py").write_text(body)
    return root / package / "asgi.py"


def test_discovers_the_one_asgi_py(tmp_path: Path) -> None:
    make_project(tmp_path)
    assert appmodule.resolve({}, tmp_path) == AppTarget("mysite.asgi", "application", tmp_path)


def test_discovers_a_src_layout(tmp_path: Path) -> None:
    make_project(tmp_path / "src")
    assert appmodule.resolve({}, tmp_path) == AppTarget("mysite.asgi", "application", tmp_path / "src")


def test_ignores_asgi_py_in_dependencies_and_hidden_dirs(tmp_path: Path) -> None:
    make_project(tmp_path)
    make_project(tmp_path / "node_modules" / "x")
    make_project(tmp_path / ".venv" / "lib")
    assert appmodule.resolve({}, tmp_path).module == "mysite.asgi"


def test_no_project_at_all(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^APP_MODULE is not set, and .* has no asgi.py and no manage.py or wsgi.py"):
        appmodule.resolve({}, tmp_path)


SETDEFAULT = 'import os\nos.environ.setdefault("DJANGO_SETTINGS_MODULE", "{}")\n'


def make_wsgi_project(root: Path, settings_module: str = "mysite.settings", manage: str | None = None) -> Path:
    """A project as startproject made it before Django 3.0: manage.py and mysite/wsgi.py."""
    package = root / settings_module.split(".")[0]
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "settings.py").write_text("")
    (package / "wsgi.py").write_text(SETDEFAULT.format(settings_module) + "application = None\n")
    (root / "manage.py").write_text(SETDEFAULT.format(manage or settings_module))
    return package


def standard(root: Path, settings_module: str, origin: str) -> AppTarget:
    return AppTarget("django_asgi.standard", "application", root, settings_module=settings_module, origin=origin)


def test_no_asgi_py_serves_djangos_application_for_the_declared_settings(tmp_path: Path) -> None:
    make_wsgi_project(tmp_path)
    target = appmodule.resolve({}, tmp_path)
    assert target == standard(tmp_path, "mysite.settings", str(tmp_path / "manage.py"))
    assert target.describe() == (
        f"Django's ASGI application for mysite.settings (no asgi.py; settings from {tmp_path / 'manage.py'})"
    )


def test_no_asgi_py_and_only_a_wsgi_py_in_a_src_layout(tmp_path: Path) -> None:
    make_wsgi_project(tmp_path / "src")
    (tmp_path / "src" / "manage.py").unlink()
    wsgi = tmp_path / "src" / "mysite" / "wsgi.py"
    assert appmodule.resolve({}, tmp_path) == standard(tmp_path / "src", "mysite.settings", str(wsgi))


def test_the_environment_names_the_settings_before_the_files(tmp_path: Path) -> None:
    make_wsgi_project(tmp_path, manage="mysite.other")
    env = {"DJANGO_SETTINGS_MODULE": "mysite.settings"}
    assert appmodule.resolve(env, tmp_path) == standard(tmp_path, "mysite.settings", "DJANGO_SETTINGS_MODULE")


def test_two_settings_modules_in_the_files_are_one_line_naming_both(tmp_path: Path) -> None:
    make_wsgi_project(tmp_path, "config.settings.production", manage="config.settings.local")
    with pytest.raises(ConfigError) as error:
        appmodule.resolve({}, tmp_path)
    message = str(error.value)
    assert "\n" not in message and "2 settings modules" in message
    assert f"config.settings.local ({tmp_path / 'manage.py'})" in message
    assert f"config.settings.production ({tmp_path / 'config' / 'wsgi.py'})" in message
    assert message.endswith("set DJANGO_SETTINGS_MODULE to the one to serve")


@pytest.mark.parametrize(
    "source",
    [
        'from os import environ\nenviron.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")\n',
        'import os\nos.environ["DJANGO_SETTINGS_MODULE"] = "mysite.settings"\n',
        'import os\n\ndef main():\n    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")\n',
    ],
)
def test_the_settings_module_is_read_from_the_usual_spellings(tmp_path: Path, source: str) -> None:
    make_wsgi_project(tmp_path)
    (tmp_path / "manage.py").write_text(source)
    assert appmodule.resolve({}, tmp_path).settings_module == "mysite.settings"


def test_files_are_read_never_run(tmp_path: Path) -> None:
    make_wsgi_project(tmp_path)
    marker = tmp_path / "ran"
    (tmp_path / "manage.py").write_text(
        f"open({str(marker)!r}, 'w')\n" + SETDEFAULT.format("mysite.settings") + "raise SystemExit(3)\n"
    )
    assert appmodule.resolve({}, tmp_path).settings_module == "mysite.settings"
    assert not marker.exists()


@pytest.mark.parametrize(
    ("settings_module", "message"),
    [
        ("gone.settings", "='gone.settings' (from DJANGO_SETTINGS_MODULE): there is no such module under"),
        ("not a module", "='not a module' is not a dotted module name"),
    ],
)
def test_a_settings_module_that_is_not_there(tmp_path: Path, settings_module: str, message: str) -> None:
    with pytest.raises(ConfigError, match="^DJANGO_SETTINGS_MODULE" + re.escape(message)):
        appmodule.resolve({"DJANGO_SETTINGS_MODULE": settings_module}, tmp_path)


def test_an_asgi_py_keeps_winning_over_the_standard_application(tmp_path: Path) -> None:
    make_wsgi_project(tmp_path)
    (tmp_path / "mysite" / "asgi.py").write_text("application = None\n")
    assert appmodule.resolve({}, tmp_path) == AppTarget("mysite.asgi", "application", tmp_path)
    assert appmodule.resolve({"APP_MODULE": "x:y"}, tmp_path) == AppTarget("x", "y", tmp_path)


@pytest.fixture
def clean_imports():
    """Loading puts a project on sys.path and in sys.modules: undo both."""
    path, modules = list(sys.path), set(sys.modules)
    yield
    sys.path[:] = path
    for name in set(sys.modules) - modules:
        del sys.modules[name]


@pytest.mark.usefixtures("clean_imports")
def test_load_the_application(tmp_path: Path) -> None:
    make_project(tmp_path, "loadable")
    assert callable(appmodule.load(AppTarget("loadable.asgi", "application", tmp_path)))


@pytest.mark.usefixtures("clean_imports")
@pytest.mark.parametrize(
    ("module", "attribute", "message"),
    [
        ("nope.asgi", "app", "APP_MODULE='nope.asgi:app': there is no module 'nope' under"),
        ("broken.missing", "application", "there is no module 'broken.missing'"),
        ("broken.asgi", "missing", "module broken.asgi has no attribute 'missing'"),
        ("broken.asgi", "number", "'number' is a int, not an ASGI application"),
    ],
)
def test_load_failures_are_one_line(tmp_path: Path, module: str, attribute: str, message: str) -> None:
    make_project(tmp_path, "broken", "application = None\nnumber = 3\n")
    with pytest.raises(ConfigError) as error:
        appmodule.load(AppTarget(module, attribute, tmp_path))
    assert message in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("module", "message"),
    [
        ("nope.asgi", "APP_MODULE='nope.asgi:application': there is no module 'nope' under"),
        ("checked.missing", "there is no module 'checked.missing' under"),
    ],
)
def test_check_finds_a_missing_module_without_importing(tmp_path: Path, module: str, message: str) -> None:
    make_project(tmp_path, "checked", "raise RuntimeError('the check ran the code')\n")
    (tmp_path / "checked" / "__init__.py").write_text("raise RuntimeError('the check ran the package')\n")
    with pytest.raises(ConfigError, match=re.escape(message)):
        appmodule.check(AppTarget(module, "application", tmp_path))


def test_check_passes_the_project_namespace_packages_and_installed_modules(tmp_path: Path) -> None:
    make_project(tmp_path, "checked", "raise RuntimeError('the check ran the code')\n")
    (tmp_path / "spaced" / "inner").mkdir(parents=True)
    (tmp_path / "spaced" / "inner" / "asgi.py").write_text("raise RuntimeError('the check ran the code')\n")
    for module in ("checked.asgi", "spaced.inner.asgi", appmodule.STANDARD_APPLICATION):
        appmodule.check(AppTarget(module, "application", tmp_path))
    assert "checked" not in sys.modules and "spaced" not in sys.modules


@pytest.mark.usefixtures("clean_imports")
def test_an_app_that_raises_at_import_names_the_error_and_its_line(tmp_path: Path) -> None:
    asgi = make_project(tmp_path, "raising", "import os\nraise RuntimeError('no database')\n")
    with pytest.raises(ConfigError) as error:
        appmodule.load(AppTarget("raising.asgi", "application", tmp_path))
    assert str(error.value) == f"importing raising.asgi failed: RuntimeError: no database (at {asgi}:2)"


@pytest.mark.usefixtures("clean_imports")
def test_a_missing_dependency_is_not_mistaken_for_a_missing_app(tmp_path: Path) -> None:
    make_project(tmp_path, "needy", "import not_installed_anywhere\n")
    with pytest.raises(ConfigError, match=r"^importing needy.asgi failed: ModuleNotFoundError: No module named"):
        appmodule.load(AppTarget("needy.asgi", "application", tmp_path))


def test_server_environment_puts_the_app_root_first_once() -> None:
    env = launcher.server_environment({"PYTHONPATH": "/lib:/app"}, settings("granian"), servers.SERVERS["granian"])
    assert env["PYTHONPATH"] == "/app:/lib"
    assert AppTarget.from_json(env[config.TARGET_VARIABLE]) == APP


def test_the_target_reaches_the_server_whole() -> None:
    standard = AppTarget(
        appmodule.STANDARD_APPLICATION, "application", Path("/app/src"), "config.settings", "/app/manage.py"
    )
    assert AppTarget.from_json(standard.to_json()) == standard


@pytest.mark.parametrize(
    ("preload", "reload", "migrate", "says"),
    [(True, False, False, True), (False, False, False, False), (True, True, False, False), (True, False, True, False)],
)
def test_server_environment_describes_the_wrapping(preload: bool, reload: bool, migrate: bool, says: bool) -> None:
    """The server's process plans the static files from these; it says what it found (and
    runs the deployment checks) unless the launcher did: it imports the app itself where
    every worker imports it, and to migrate."""
    chosen = settings(
        "granian", root_path="/app", forwarded_allow_ips=("10.0.0.1",), preload=preload, reload=reload,
        migrate=migrate, access_log=True, request_id_header="Fly-Request-Id",
    )  # fmt: skip
    env = launcher.server_environment({}, chosen, servers.SERVERS["granian"])
    assert json.loads(env[config.WRAPPING_VARIABLE]) == {
        "root_path": "/app",
        "access_log": True,
        "request_id_header": "Fly-Request-Id",
        "middleware": [["granian.utils.proxies:wrap_asgi_with_proxy_headers", {"trusted_hosts": ["10.0.0.1"]}]],
        "static": {"serve_static": True, "collectstatic": False, "root_path": "/app"},
        "healthcheck_path": "",
        "sync_threads": config.DEFAULT_SYNC_THREADS,
        "workers": chosen.workers,
        "check_deploy": "warn",
        "development": reload,
        "say_findings": says,
    }
    assert launcher.imports_before_start(chosen) is not says


@pytest.mark.usefixtures("clean_imports")
def test_read_settings_marks_what_the_user_set(tmp_path: Path) -> None:
    make_project(tmp_path, "marked")
    env = {"ASGI_SERVER": "granian", "MAX_REQUESTS": "10", "KEEP_ALIVE": "", "LOG_LEVEL": "debug"}
    chosen, _ = launcher.read_settings(env, tmp_path)
    assert chosen.explicit == {"MAX_REQUESTS", "LOG_LEVEL"}
    assert (chosen.max_requests, chosen.log_level, chosen.keep_alive) == (10, "debug", 5)
    assert chosen.app == AppTarget("marked.asgi", "application", tmp_path)


# ---- the lifespan answerer --------------------------------------------------------------


def test_lifespan_is_answered_and_http_passed_through() -> None:
    seen: list[str] = []

    async def django_like(scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            raise ValueError("Django can only handle ASGI/HTTP connections, not lifespan.")
        seen.append(scope["type"])

    async def run() -> list[dict]:
        app = with_lifespan(django_like)
        inbox = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
        sent: list[dict] = []

        async def receive() -> dict:
            return inbox.pop(0)

        async def send(message: dict) -> None:
            sent.append(message)

        await app({"type": "lifespan"}, receive, send)
        await app({"type": "http"}, receive, send)
        return sent

    sent = asyncio.run(run())
    assert sent == [{"type": "lifespan.startup.complete"}, {"type": "lifespan.shutdown.complete"}]
    assert seen == ["http"]


# ---- the image's health route -----------------------------------------------------------


def call(app, scope: dict) -> list[dict]:
    """What an ASGI app sends for one request without a body."""
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def http_scope(path: str, method: str = "GET", headers: tuple = ()) -> dict:
    return {"type": "http", "path": path, "method": method, "headers": [(b"host", b"localhost"), *headers]}


def recording_app(seen: list[dict]):
    async def app(scope, receive, send) -> None:
        seen.append(scope)
        await send({"type": "http.response.start", "status": 404, "headers": []})

    return app


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_the_health_route_is_answered_without_reaching_the_app(method: str) -> None:
    seen: list[dict] = []
    sent = call(with_health(recording_app(seen)), http_scope(config.HEALTH_PATH, method))
    assert seen == []
    assert sent[0]["status"] == 200 and (b"cache-control", b"no-store") in sent[0]["headers"]
    assert sent[1]["body"] == (b"ok\n" if method == "GET" else b"")


@pytest.mark.parametrize(
    "scope", [http_scope("/-/health/"), http_scope(config.HEALTH_PATH, "POST"), http_scope("/healthz")]
)
def test_every_other_request_reaches_the_app_unchanged(scope: dict) -> None:
    seen: list[dict] = []
    call(with_health(recording_app(seen), "/healthz"), scope)
    assert seen == [scope]


@pytest.mark.parametrize(
    ("allowed", "host"),
    [(["example.com", "www.example.com"], b"example.com"), ([".example.com"], b"example.com"), (["*"], b"localhost"),
     ([], b"localhost")],
)  # fmt: skip
def test_the_probe_of_healthcheck_path_gets_a_host_allowed_hosts_takes(monkeypatch, allowed, host) -> None:
    monkeypatch.setitem(sys.modules, "django", SimpleNamespace())
    monkeypatch.setitem(
        sys.modules, "django.conf", SimpleNamespace(settings=SimpleNamespace(configured=True, ALLOWED_HOSTS=allowed))
    )
    wrappers.allowed_host.cache_clear()
    seen: list[dict] = []
    probe = (config.PROBE_HEADER.encode(), b"1")
    call(with_health(recording_app(seen), "/healthz"), http_scope("/healthz", headers=(probe,)))
    call(with_health(recording_app(seen), "/healthz"), http_scope("/other", headers=(probe,)))
    wrappers.allowed_host.cache_clear()
    assert [h for k, h in seen[0]["headers"] if k == b"host"] == [host]
    assert [h for k, h in seen[1]["headers"] if k == b"host"] == [b"localhost"]  # only HEALTHCHECK_PATH


def test_while_draining_the_health_route_says_503_and_responses_close(monkeypatch, tmp_path: Path) -> None:
    mark = tmp_path / "draining"
    monkeypatch.setenv(drain.DRAINING_VARIABLE, str(mark))
    seen: list[dict] = []
    app = with_health(recording_app(seen))
    assert call(app, http_scope(config.HEALTH_PATH))[0]["status"] == 200
    assert (b"connection", b"close") not in call(app, http_scope("/"))[0]["headers"]
    mark.touch()
    health = call(app, http_scope(config.HEALTH_PATH))
    assert health[0]["status"] == 503 and health[1]["body"] == b"draining\n"
    assert call(app, http_scope("/"))[0]["headers"] == [(b"connection", b"close")]
    assert len(seen) == 2  # the app still serves


RELAYED_SERVER = """
import pathlib, signal, sys, time
told = pathlib.Path(sys.argv[1])
signal.signal(signal.SIGTERM, lambda *_: (told.touch(), sys.exit(3)))
while True:
    time.sleep(0.05)
"""


def test_the_relay_holds_sigterm_for_the_delay_then_exits_as_the_server(tmp_path: Path) -> None:
    """The mark first, the server's SIGTERM only after it; the relay's exit status is the server's."""
    mark, told = tmp_path / "draining", tmp_path / "told"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "images" / "base"),
        drain.DRAINING_VARIABLE: str(mark),
        **drain.relay_command([sys.executable, "-c", RELAYED_SERVER, str(told)], 2),
    }
    relay = subprocess.Popen([sys.executable, "-m", "django_asgi.drain"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)  # the server started; not a timing assertion: the order below is
        relay.send_signal(signal.SIGTERM)
        wait_for(mark.exists)
        assert not told.exists()
        assert relay.wait(timeout=30) == 3 and told.exists()
        assert "SIGTERM: serving on for DRAIN_DELAY=2 s" in relay.stderr.read()
    finally:
        relay.kill()
        relay.wait()


def wait_for(check, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not within the timeout"
        time.sleep(0.02)


def test_drain_delay_needs_a_writable_tmp(monkeypatch) -> None:
    monkeypatch.setattr(launcher.os, "access", lambda path, mode: False)
    with pytest.raises(ConfigError, match=r"^DRAIN_DELAY=5 marks the container draining in /tmp, which is not "):
        launcher.check_drain_mark(settings("granian", drain_delay=5))
    launcher.check_drain_mark(settings("granian"))  # no delay, no mark


def test_healthcheck_path_must_be_a_path() -> None:
    assert config.read_healthcheck_path({"HEALTHCHECK_PATH": " /healthz "}) == "/healthz"
    with pytest.raises(ConfigError, match=r"^HEALTHCHECK_PATH='healthz' is not a URL path"):
        config.read_healthcheck_path({"HEALTHCHECK_PATH": "healthz"})


# ---- the image's own pins against the project's ------------------------------------------


def test_the_pinned_names_are_the_requirements_in_names_less_django() -> None:
    text = "# servers\ndjango\nTwisted[tls,http2]  # with TLS\nuvicorn_worker>=0.4\n\ngranian[reload]\ntwisted\n"
    assert constraints.names_in(text) == ["twisted", "uvicorn-worker", "granian"]


def test_each_layer_adds_the_installed_versions(tmp_path: Path) -> None:
    first, second, pins = tmp_path / "base.in", tmp_path / "server.in", tmp_path / "constraints.txt"
    first.write_text("pytest\n")
    second.write_text("pytest\nhttpx\n")
    constraints.add(first, pins)
    constraints.add(second, pins)
    import httpx

    assert pins.read_text() == f"pytest=={pytest.__version__}\nhttpx=={httpx.__version__}\n"


def test_a_named_package_that_is_not_installed_stops_the_build(tmp_path: Path) -> None:
    (tmp_path / "r.in").write_text("not-installed-anywhere\n")
    with pytest.raises(SystemExit, match="not-installed-anywhere is named but not installed"):
        constraints.add(tmp_path / "r.in", tmp_path / "c.txt")


def test_every_image_requirements_in_names_installable_packages() -> None:
    """What each image pins for the project: its requirements.in's packages, all in its lock."""
    for source in sorted((ROOT / "images").glob("*/requirements.in")):
        locked = {
            constraints.canonical(line.split("==")[0])
            for line in (source.parent / "requirements-django6.1.txt").read_text().splitlines()
            if "==" in line and not line.startswith(" ")
        }
        assert set(constraints.names_in(source.read_text())) <= locked, source


# ---- requirements files for the compiled example ----------------------------------------


def test_requirements_and_the_files_they_include_are_copied(tmp_path: Path) -> None:
    project, out = tmp_path / "project", tmp_path / "out"
    (project / "requirements").mkdir(parents=True)
    (project / "requirements.txt").write_text("-r requirements/production.txt\n--constraint=constraints.txt\n")
    (project / "requirements" / "production.txt").write_text("--requirement base.txt\nuwsgi\n")
    (project / "requirements" / "base.txt").write_text("django\n-r production.txt\n")  # a cycle, followed once
    (project / "constraints.txt").write_text("django<6\n")
    (project / "code.py").write_text("")
    requirements.copy(project / "requirements.txt", out)
    copied = sorted(str(path.relative_to(out)) for path in out.rglob("*") if path.is_file())
    assert copied == ["constraints.txt", "requirements.txt", "requirements/base.txt", "requirements/production.txt"]


@pytest.mark.parametrize(
    ("lines", "message"),
    [("-r missing.txt\n", "missing.txt does not exist"), ("-r ../outside.txt\n", "is outside the project's directory")],
)
def test_a_missing_or_outside_include_is_one_line(tmp_path: Path, lines: str, message: str, capsys) -> None:
    (tmp_path / "outside.txt").write_text("")
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "requirements.txt").write_text(lines)
    assert requirements.main([str(tmp_path / "project" / "requirements.txt"), str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1


@pytest.mark.parametrize(
    ("files", "read"),
    [
        (["requirements.txt"], "requirements.txt"),
        (["requirements.txt", "poetry.lock", "pyproject.toml"], "poetry.lock"),  # the lock is the truth
        (["uv.lock", "pyproject.toml"], "uv.lock"),
        (["Pipfile", "Pipfile.lock"], "Pipfile.lock"),
    ],
)
def test_a_projects_lock_or_else_its_requirements_txt_is_read(tmp_path: Path, files: list[str], read: str) -> None:
    for name in files:
        (tmp_path / name).write_text("")
    lock = requirements.lock_of(tmp_path)
    assert (lock.file if lock else "requirements.txt") == read


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (["uv.lock", "poetry.lock"], "has uv.lock and poetry.lock: keep the one your project is managed with"),
        (["pyproject.toml"], "has no uv.lock, poetry.lock, Pipfile.lock or requirements.txt"),
    ],
)
def test_two_locks_or_none_is_one_line(tmp_path: Path, files: list[str], message: str, capsys) -> None:
    (tmp_path / "project").mkdir()
    for name in files:
        (tmp_path / "project" / name).write_text("")
    assert requirements.main([str(tmp_path / "project"), str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1, error


def test_a_projects_requirements_txt_is_followed_from_its_directory(tmp_path: Path) -> None:
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "requirements.txt").write_text("-r base.txt\n")
    (tmp_path / "project" / "base.txt").write_text("django\n")
    assert requirements.main([str(tmp_path / "project"), str(tmp_path / "out")]) == 0
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["base.txt", "requirements.txt"]


def test_every_lock_has_its_tools_hash_locked_in_the_image() -> None:
    for lock in requirements.LOCKS:
        pinned = (ROOT / "images" / "base" / "tools" / f"{lock.tool}.txt").read_text()
        assert f"\n{lock.tool}==" in pinned and "--hash=sha256:" in pinned, lock.tool


# ---- Channels' layers ---------------------------------------------------------------------

IN_MEMORY = {"BACKEND": "channels.layers.InMemoryChannelLayer"}
REDIS = {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [("redis", 6379)]}}


def test_an_in_memory_layer_under_several_workers_is_one_notice() -> None:
    (notice,) = channel_layers.notices(SimpleNamespace(CHANNEL_LAYERS={"default": IN_MEMORY, "other": REDIS}), 4)
    assert notice.startswith("CHANNEL_LAYERS['default'] is channels.layers.InMemoryChannelLayer"), notice
    assert "4 worker processes" in notice and "channels_redis" in notice and "WEB_CONCURRENCY=1" in notice


@pytest.mark.parametrize(
    ("layers", "workers"),
    [({"default": IN_MEMORY}, 1), ({"default": REDIS}, 4), (None, 4), ({}, 4)],
    ids=["one-worker", "redis", "no-setting", "empty"],
)
def test_other_layers_or_one_worker_say_nothing(layers: dict | None, workers: int) -> None:
    django_settings = SimpleNamespace(**({} if layers is None else {"CHANNEL_LAYERS": layers}))
    assert channel_layers.notices(django_settings, workers) == []
    assert channel_layers.notices(None, workers) == []


# ---- media files ---------------------------------------------------------------------------


def test_a_writable_or_unset_media_root_says_nothing(tmp_path: Path) -> None:
    assert static.media_notices(SimpleNamespace(MEDIA_ROOT=str(tmp_path / "media"))) == []
    assert static.media_notices(SimpleNamespace(MEDIA_ROOT="")) == []
    assert static.media_notices(None) == []


# ---- TLS ---------------------------------------------------------------------------------

TLS = config.Tls(Path("/tls/cert.pem"), Path("/tls/key.pem"))
MUTUAL_TLS = config.Tls(Path("/tls/cert.pem"), Path("/tls/key.pem"), Path("/tls/ca.pem"))
TLS_FLAGS = {
    "daphne": "--endpoint ssl:port=8000:interface=0.0.0.0:privateKey=/tls/key.pem:certKey=/tls/cert.pem",
    "hypercorn": "--certfile /tls/cert.pem --keyfile /tls/key.pem",
    "uvicorn": "--certfile /tls/cert.pem --keyfile /tls/key.pem",
    "granian": "--ssl-certificate /tls/cert.pem --ssl-keyfile /tls/key.pem --ssl-protocol-min tls1.2",
}
CLIENT_CA_FLAGS = {
    "hypercorn": "--ca-certs /tls/ca.pem --cert-reqs 2",
    "uvicorn": "--ca-certs /tls/ca.pem --cert-reqs 2",
    "granian": "--ssl-ca /tls/ca.pem --ssl-client-verify",
}


@pytest.mark.parametrize("name", sorted(TLS_FLAGS))
def test_tls_reaches_each_server(name: str) -> None:
    line = command_line(name, tls=TLS)
    assert f" {TLS_FLAGS[name]} " in line
    assert "--bind 0.0.0.0 --port" not in line  # daphne: the endpoint replaces the plain bind


@pytest.mark.parametrize("name", sorted(CLIENT_CA_FLAGS))
def test_client_certificates_reach_each_server_that_can_require_them(name: str) -> None:
    assert f" {CLIENT_CA_FLAGS[name]} " in command_line(name, tls=MUTUAL_TLS)


def test_daphne_refuses_client_certificates_and_runserver_with_tls() -> None:
    with pytest.raises(ConfigError, match=r"^TLS_CLIENT_CA cannot be honoured: daphne's TLS endpoint"):
        command_line("daphne", tls=MUTUAL_TLS)
    with pytest.raises(ConfigError, match=r"^RELOAD=1 and TLS_CERTFILE cannot go together on daphne"):
        command_line("daphne", tls=TLS, reload=True)


def test_uvicorn_reloader_serves_tls_too() -> None:
    line = command_line("uvicorn", tls=MUTUAL_TLS, reload=True)
    assert line.startswith("uvicorn --reload ")
    assert (
        " --ssl-certfile /tls/cert.pem --ssl-keyfile /tls/key.pem --ssl-ca-certs /tls/ca.pem --ssl-cert-reqs 2 " in line
    )


def test_twisted_endpoint_escapes_colons_and_equals() -> None:
    tls = config.Tls(Path("/tls/a:b=c.pem"), Path("/tls/key.pem"))
    line = command_line("daphne", tls=tls, host="::")
    assert r"ssl:port=8000:interface=\:\::privateKey=/tls/key.pem:certKey=/tls/a\:b\=c.pem" in line


@pytest.mark.parametrize("quic", [True, False])
def test_hypercorn_serves_http3_beside_tls_where_aioquic_is_installed(monkeypatch, quic: bool) -> None:
    monkeypatch.setattr(servers, "quic_installed", lambda: quic)
    hypercorn = servers.SERVERS["hypercorn"]
    assert ("--quic-bind fd://4" in command_line("hypercorn", tls=TLS)) is quic
    assert ("--quic-bind 0.0.0.0:8000" in command_line("hypercorn", tls=TLS, reload=True)) is quic
    lowercase = servers.Middleware("django_asgi.wrappers:with_lowercase_header_names", {})
    assert (lowercase in hypercorn.middleware(settings("hypercorn", tls=TLS))) is quic
    assert "--quic-bind" not in command_line("hypercorn")  # QUIC needs a certificate


def test_lowercase_header_names() -> None:
    async def app(scope: dict, receive: object, send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"Content-Type", b"text/HTML")]})

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(with_lowercase_header_names(app)({"type": "http"}, None, send))
    assert sent[0]["headers"] == [(b"content-type", b"text/HTML")]


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost")
    leaf.private_key_pem.write_to_path(str(directory / "key.pem"))
    leaf.cert_chain_pems[0].write_to_path(str(directory / "cert.pem"))
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    trustme.CA().issue_cert("localhost").private_key_pem.write_to_path(str(directory / "other-key.pem"))
    (directory / "encrypted-key.pem").write_bytes(
        serialization.load_pem_private_key(leaf.private_key_pem.bytes(), None).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    return directory


def test_read_tls(tls_files: Path) -> None:
    assert config.read_tls({}, tls_files) is None
    env = {"TLS_CERTFILE": "cert.pem", "TLS_KEYFILE": str(tls_files / "key.pem")}
    assert config.read_tls(env, tls_files) == config.Tls(tls_files / "cert.pem", tls_files / "key.pem")
    mutual = config.read_tls({**env, "TLS_CLIENT_CA": "ca.pem"}, tls_files)
    assert mutual and mutual.client_ca == tls_files / "ca.pem"


BAD_TLS = {
    "certificate-alone": ({"TLS_CERTFILE": "cert.pem"}, r"^TLS_CERTFILE set without TLS_KEYFILE: HTTPS needs both"),
    "key-alone": ({"TLS_KEYFILE": "key.pem"}, r"^TLS_KEYFILE set without TLS_CERTFILE"),
    "client-ca-alone": ({"TLS_CLIENT_CA": "ca.pem"}, r"^TLS_CLIENT_CA set without TLS_CERTFILE"),
    "no-such-file": ({"TLS_CERTFILE": "nope.pem", "TLS_KEYFILE": "key.pem"},
                     r"^TLS_CERTFILE='nope.pem': there is no such file$"),
    "wrong-key": ({"TLS_CERTFILE": "cert.pem", "TLS_KEYFILE": "other-key.pem"},
                  r"are not a PEM certificate and its unencrypted private key \(key values mismatch\)$"),
    "encrypted-key": ({"TLS_CERTFILE": "cert.pem", "TLS_KEYFILE": "encrypted-key.pem"},
                      r"are not a PEM certificate and its unencrypted private key"),
    "key-as-certificate": ({"TLS_CERTFILE": "key.pem", "TLS_KEYFILE": "key.pem"},
                           r"are not a PEM certificate and its unencrypted private key"),
    "bad-client-ca": ({"TLS_CERTFILE": "cert.pem", "TLS_KEYFILE": "key.pem", "TLS_CLIENT_CA": "key.pem"},
                      r"^TLS_CLIENT_CA='.*key.pem' is not a PEM bundle of CA certificates"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD_TLS))
def test_bad_tls_settings(tls_files: Path, case: str) -> None:
    env, message = BAD_TLS[case]
    with pytest.raises(ConfigError, match=message) as error:
        config.read_tls(env, tls_files)
    assert "\n" not in str(error.value)


# ---- supervision -------------------------------------------------------------------------


def test_daphne_and_hypercorn_run_under_the_supervisor_with_its_sockets(monkeypatch) -> None:
    """The supervisor opens the port (and QUIC's) and starts `workers` single-process servers."""
    monkeypatch.setattr(servers, "quic_installed", lambda: True)
    hypercorn = servers.SERVERS["hypercorn"]
    plan = hypercorn.plan(settings("hypercorn", workers=3, port=9000, graceful_timeout=5))
    assert plan is not None
    assert (plan.processes, plan.port, plan.graceful_timeout, plan.sockets) == (3, 9000, 5, ["tcp"])
    assert plan.command == hypercorn.command(settings("hypercorn", workers=3, port=9000, graceful_timeout=5))
    assert hypercorn.plan(settings("hypercorn", tls=TLS)).sockets == ["tcp", "udp"]
    daphne = servers.SERVERS["daphne"]
    assert daphne.plan(settings("daphne")).sockets == ["tcp"]
    assert daphne.plan(settings("daphne", tls=TLS)).sockets == []  # Twisted's TLS endpoint binds itself


@pytest.mark.parametrize("name", sorted(DEFAULT_COMMANDS))
def test_reload_and_self_managing_servers_are_not_supervised(name: str) -> None:
    server = servers.SERVERS[name]
    assert server.plan(settings(name, reload=True)) is None
    assert (server.plan(settings(name)) is None) is (name in ("uvicorn", "granian"))


def test_hypercorn_reload_keeps_its_own_processes() -> None:
    line = command_line("hypercorn", reload=True)
    assert " --bind 0.0.0.0:8000 --workers 2 " in line and "fd://" not in line


def test_daphne_endpoint_on_ipv6() -> None:
    assert " --endpoint fd:fileno=3:domain=INET6 " in command_line("daphne", host="::")


def test_each_supervised_process_keeps_its_own_quic_socket_on_the_shared_port(monkeypatch) -> None:
    """One TCP socket for all processes; a UDP socket per slot, all on the one port
    (SO_REUSEPORT), and a replaced process gets its predecessor's."""
    spawned: list[tuple[int, list]] = []

    def posix_spawn(path: str, argv: list[str], env: object, file_actions: list) -> int:
        spawned.append((len(spawned) + 100, file_actions))
        return spawned[-1][0]

    monkeypatch.setattr(supervisor.os, "posix_spawn", posix_spawn)
    free_port = unused_port()
    plan = supervisor.Plan(["hypercorn"], 3, "127.0.0.1", free_port, 8, ["tcp", "udp"])
    chief = supervisor.Supervisor(plan)
    try:
        fds = [dict((target, source) for _, source, target in actions) for actions in chief.file_actions]
        assert len({slot[supervisor.LISTEN_FD] for slot in fds}) == 1
        assert len({slot[supervisor.QUIC_FD] for slot in fds}) == 3
        assert {sock.getsockname()[1] for sock in chief.sockets} == {free_port}
        for slot in range(3):
            chief.start_process(slot)
        monkeypatch.setattr(supervisor.os, "waitpid", lambda pid, options: (101, 0))
        assert chief.reap()
        assert spawned[-1][1] == spawned[1][1]  # pid 101 ran in slot 1; its successor does too
    finally:
        for sock in chief.sockets:
            sock.close()


def unused_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


FORKED_COMMANDS = [(["python", "-m", "json.tool", "--bad-option"], 2), (["pip", "-V"], 0)]


@pytest.mark.parametrize(("command", "status"), FORKED_COMMANDS)
def test_a_forked_process_runs_its_command_line_here(command: list[str], status: int, monkeypatch) -> None:
    """As the program would: `python -m` by runpy, a console script by its entry point, and
    its exit status."""
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    assert supervisor.run_in_process(command) == status


def test_a_command_that_cannot_run_raises_for_the_forked_child_to_print(monkeypatch) -> None:
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    with pytest.raises(ImportError):
        supervisor.run_in_process(["python", "-m", "this_module_is_not_there"])


def test_plan_round_trips_through_the_environment() -> None:
    plan = supervisor.Plan(["hypercorn", "--bind", "fd://3"], 2, "0.0.0.0", 8000, 8, ["tcp", "udp"])
    assert supervisor.Plan.from_json(plan.to_json()) == plan


# ---- static files ------------------------------------------------------------------------


def django_settings(**values: object) -> SimpleNamespace:
    """What static.plan reads of Django's settings, for a project with staticfiles."""
    defaults = {
        "INSTALLED_APPS": ["django.contrib.staticfiles"], "STATIC_URL": "static/", "STATIC_ROOT": None, "DEBUG": False,
    }  # fmt: skip
    return SimpleNamespace(**{**defaults, **values})


def test_collected_static_files_are_served_at_static_url(tmp_path: Path) -> None:
    planned, notices = static.plan(settings(), django_settings(STATIC_ROOT=tmp_path))
    assert planned == static.StaticFiles("collected", "/static/", str(tmp_path)) and notices == []


def test_a_relative_static_url_lives_under_root_path(tmp_path: Path) -> None:
    planned, _ = static.plan(settings(root_path="/shop"), django_settings(STATIC_ROOT=tmp_path))
    assert planned is not None and planned.prefix == "/shop/static/"
    planned, _ = static.plan(settings(root_path="/shop"), django_settings(STATIC_ROOT=tmp_path, STATIC_URL="/assets/"))
    assert planned is not None and planned.prefix == "/assets/"


@pytest.mark.parametrize("url", ["https://cdn.example.com/static/", "//cdn.example.com/static/", ""])
def test_static_files_on_another_host_are_left_to_it(tmp_path: Path, url: str) -> None:
    assert static.plan(settings(), django_settings(STATIC_ROOT=tmp_path, STATIC_URL=url)) == (None, [])


def test_no_static_files_without_staticfiles_or_when_turned_off(tmp_path: Path) -> None:
    assert static.plan(settings(), django_settings(STATIC_ROOT=tmp_path, INSTALLED_APPS=[])) == (None, [])
    assert static.plan(settings(serve_static=False), django_settings(STATIC_ROOT=tmp_path)) == (None, [])
    assert static.plan(settings(), None) == (None, [])


def test_a_missing_static_root_is_a_notice_unless_collectstatic_runs_first(tmp_path: Path) -> None:
    missing = tmp_path / "staticfiles"
    planned, notices = static.plan(settings(), django_settings(STATIC_ROOT=missing))
    assert planned is None and notices == [
        f"STATIC_ROOT {missing} does not exist: run collectstatic when building the image "
        "(or set DJANGO_COLLECTSTATIC=1); static files are not served"
    ]
    planned, notices = static.plan(settings(collectstatic=True), django_settings(STATIC_ROOT=missing))
    assert planned == static.StaticFiles("collected", "/static/", str(missing)) and notices == []
    assert static.plan(settings(), django_settings())[1] == [
        "STATIC_ROOT is not set in the Django settings: static files are not served"
    ]


def test_debug_serves_the_apps_static_files_as_runserver_does() -> None:
    planned, _ = static.plan(settings(), django_settings(DEBUG=True))
    assert planned == static.StaticFiles("finders", "/static/")


def test_serve_static_is_a_flag() -> None:
    with pytest.raises(ConfigError, match="SERVE_STATIC"):
        config.read_flag({"SERVE_STATIC": "maybe"}, "SERVE_STATIC", default=True)


# ---- SYNC_THREADS (django_asgi/sync_threads.py) ------------------------------------------


def test_sync_threads_default_off_and_counts() -> None:
    assert config.read_sync_threads({}) == config.DEFAULT_SYNC_THREADS
    assert config.read_sync_threads({"SYNC_THREADS": "0"}) == 0
    assert config.read_sync_threads({"SYNC_THREADS": " 16 "}) == 16


@pytest.mark.parametrize("raw", ["-1", "two", "1.5", "257"])
def test_bad_sync_threads(raw: str) -> None:
    with pytest.raises(ConfigError, match=rf"^SYNC_THREADS='{re.escape(raw)}' is not a thread count"):
        config.read_sync_threads({"SYNC_THREADS": raw})


@pytest.mark.parametrize(
    ("path", "root_path", "path_info"),
    [("/a/b", "", "/a/b"), ("/sub/a", "/sub", "/a"), ("/sub", "/sub", "/"), ("/subway/a", "/sub", "/subway/a")],
)
def test_path_info_is_djangos(path: str, root_path: str, path_info: str) -> None:
    assert sync_threads.path_info({"path": path, "root_path": root_path}) == path_info


def with_databases(**databases: dict[str, object]) -> SimpleNamespace:
    """What notices() reads of Django's settings."""
    return SimpleNamespace(DATABASES=databases or {"default": {"ENGINE": "django.db.backends.sqlite3"}})


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> type[sync_threads.Installed]:
    """A clean record of install(), as after an app import that made the image's handler."""
    for name, value in {"threads": 4, "unsupported": "", "built": 1, "async_only": ()}.items():
        monkeypatch.setattr(sync_threads.Installed, name, value)
    return sync_threads.Installed


def test_nothing_to_say_with_the_handler_built_and_no_persistent_connections(installed: type) -> None:
    assert sync_threads.notices(with_databases()) == []
    assert sync_threads.notices(None) == []


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        ({"async_only": ("pkg.Middleware",)}, "pkg.Middleware cannot run synchronously"),
        ({"built": 0}, "the app was not made by django.core.asgi.get_asgi_application()"),
        ({"unsupported": "asgiref is older than 3.13 here"}, "asgiref is older than 3.13 here"),
    ],
)
def test_why_sync_views_stay_on_djangos_path_is_said(
    installed: type, monkeypatch: pytest.MonkeyPatch, state: dict[str, object], reason: str
) -> None:
    for name, value in state.items():
        monkeypatch.setattr(installed, name, value)
    assert sync_threads.notices(with_databases()) == [
        f"SYNC_THREADS=4: {reason}, so sync views take Django's own ASGI path"
    ]


def test_conn_max_age_is_said_per_database_and_path(installed: type, monkeypatch: pytest.MonkeyPatch) -> None:
    databases = {"default": {"CONN_MAX_AGE": 600}, "replica": {"CONN_MAX_AGE": None}, "other": {}}
    on_lanes = sync_threads.notices(with_databases(**databases))
    assert [line.split(":")[0] for line in on_lanes] == [
        "DATABASES['default'] CONN_MAX_AGE=600",
        "DATABASES['replica'] CONN_MAX_AGE=None",
    ]
    assert "open for 600 s between requests (at most 4 per worker" in on_lanes[0]
    assert "open for good between requests" in on_lanes[1]
    monkeypatch.setattr(installed, "threads", 0)
    assert "not reused under Django's own ASGI handler" in sync_threads.notices(with_databases(**databases))[0]


# ---- production safety at start (django_asgi/safety.py) ----------------------------------


@pytest.mark.parametrize(("reload", "mode"), [(False, "warn"), (True, "off")])
def test_deployment_checks_warn_by_default_and_are_off_for_development(reload: bool, mode: str) -> None:
    assert config.read_check_deploy({}, reload=reload) == mode
    assert config.read_check_deploy({"DJANGO_CHECK_DEPLOY": " FAIL "}, reload=reload) == "fail"


def test_a_bad_check_deploy_mode_is_one_line() -> None:
    with pytest.raises(ConfigError, match=r"^DJANGO_CHECK_DEPLOY='strict' is not a mode: use warn .*fail .*off"):
        config.read_check_deploy({"DJANGO_CHECK_DEPLOY": "strict"}, reload=False)


def check_message(**values: object) -> SimpleNamespace:
    """What safety reads of a django.core.checks.CheckMessage."""
    defaults = {"level": 30, "id": "security.W018", "msg": "You should not have DEBUG set to True in deployment."}
    message = SimpleNamespace(**{"hint": None, "obj": None, **defaults, **values})
    message.is_silenced = lambda: False
    return message


def test_a_finding_is_one_line_with_its_id_object_and_hint() -> None:
    said = safety.finding(check_message())
    assert said == "check: security.W018 You should not have DEBUG set to True in deployment."
    model = SimpleNamespace(_meta=SimpleNamespace(label="notes.Note"))
    spread = check_message(id="fields.E304", msg="Reverse accessor\n  clashes.", hint="Add\trelated_name.", obj=model)
    assert safety.finding(spread) == "check: fields.E304 (notes.Note) Reverse accessor clashes. HINT: Add related_name."


def examined(monkeypatch: pytest.MonkeyPatch, findings: list[str], **kwargs: object) -> safety.Examined:
    monkeypatch.setattr(safety, "deployment_findings", lambda: findings)
    options = {"check_deploy": "warn", "development": False, **kwargs}
    return safety.examine(django_settings(DEBUG=options.pop("debug", False)), **options)  # type: ignore[arg-type]


def test_findings_are_said_and_only_fail_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    found = ["check: security.W004 HSTS", "check: security.W008 SSL"]
    warned = examined(monkeypatch, found)
    assert warned.lines == tuple(found) and not warned.refusal
    assert re.fullmatch(r"deployment checks: 2 findings in \d+\.\d\d s", warned.summary)
    failed = examined(monkeypatch, found, check_deploy="fail")
    assert failed.lines == tuple(found)
    assert failed.refusal.startswith("DJANGO_CHECK_DEPLOY=fail: 2 deployment check findings (above): fix them")
    clean = examined(monkeypatch, [], check_deploy="fail")
    assert not clean.refusal and clean.summary.startswith("deployment checks: none found in ")


def test_debug_on_is_a_line_of_its_own_unless_developing(monkeypatch: pytest.MonkeyPatch) -> None:
    debug = examined(monkeypatch, [], check_deploy="off", debug=True)
    assert debug.summary == "deployment checks: off"
    assert len(debug.lines) == 1 and debug.lines[0].startswith("warning: DEBUG is on: ")
    assert examined(monkeypatch, [], check_deploy="off", debug=True, development=True).lines == ()
    assert safety.examine(None, check_deploy="fail", development=False) == safety.Examined(
        "deployment checks: not a Django application"
    )


@pytest.mark.parametrize(
    ("module", "development"),
    [
        ("config.settings.local", True),
        ("mysite.settings_dev", True),
        ("test_settings", True),
        ("config.settings.Development", True),
        ("config.settings.production", False),
        ("mysite.settings", False),
        ("localflavor.settings", False),
    ],
)
def test_development_settings_are_told_by_the_modules_last_part(module: str, development: bool) -> None:
    said = safety.development_settings(module, "/app/config/asgi.py")
    assert bool(said) is development
    if development:
        assert said == (
            f"warning: the settings are {module}, the default /app/config/asgi.py names, which looks like "
            "development settings: set DJANGO_SETTINGS_MODULE to your production settings module"
        )


COOKIECUTTER_ASGI = 'import os\nos.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")\n'


@pytest.mark.parametrize(
    ("env", "warned"),
    [
        ({}, True),
        ({"DJANGO_SETTINGS_MODULE": "config.settings.production"}, False),
        ({"RELOAD": "1"}, False),
    ],
)
def test_a_development_default_in_asgi_py_is_said_before_any_import(tmp_path: Path, env: dict, warned: bool) -> None:
    asgi = make_project(tmp_path, "config", COOKIECUTTER_ASGI)
    (tmp_path / "config" / "settings").mkdir()
    for name in ("__init__", "local", "production"):
        (tmp_path / "config" / "settings" / f"{name}.py").write_text("")
    launch = launcher.prepare({"ASGI_SERVER": "granian", **env}, tmp_path)
    expected = (safety.development_settings("config.settings.local", str(asgi)),) if warned else ()
    assert launch.warnings == expected


def test_a_development_default_in_manage_py_is_said_too(tmp_path: Path) -> None:
    (tmp_path / "mysite").mkdir()
    (tmp_path / "mysite" / "__init__.py").write_text("")
    (tmp_path / "mysite" / "dev.py").write_text("")
    manage = tmp_path / "manage.py"
    manage.write_text('import os\nos.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.dev")\n')
    launch = launcher.prepare({"ASGI_SERVER": "granian"}, tmp_path)
    assert launch.warnings == (safety.development_settings("mysite.dev", str(manage)),)


def test_the_startup_line_says_the_check_mode() -> None:
    assert " check_deploy=fail " in launcher.summary(settings(check_deploy="fail"))


# ---- MAX_WORKER_MEMORY (django_asgi/memory.py) --------------------------------------------


@pytest.mark.parametrize(("raw", "mib"), [(None, 0), ("", 0), ("0", 0), (" 512 ", 512), ("64", 64)])
def test_max_worker_memory_in_mib(raw: str | None, mib: int) -> None:
    assert config.read_worker_memory({} if raw is None else {"MAX_WORKER_MEMORY": raw}) == mib


@pytest.mark.parametrize("raw", ["1", "63", "512M", "1.5", "-1", "lots"])
def test_bad_max_worker_memory(raw: str) -> None:
    """A unit mistaken (1 meant as GiB) or a limit under an idle worker's size: one line."""
    with pytest.raises(ConfigError, match=rf"^MAX_WORKER_MEMORY='{re.escape(raw)}' is not a worker's memory limit: "
                       rf"use a whole number of MiB from {config.MIN_WORKER_MEMORY} \(an idle worker"):  # fmt: skip
        config.read_worker_memory({"MAX_WORKER_MEMORY": raw})


@pytest.mark.parametrize("name", sorted(DEFAULT_COMMANDS))
def test_max_worker_memory_is_the_images_watch_in_every_worker(name: str) -> None:
    """granian replaces the worker itself (its flags in CHANGED), the watch only closing its
    connections meanwhile; the other servers' workers stop themselves for their server to
    replace. Not with RELOAD, which says so."""
    server = servers.SERVERS[name]
    stopped_by_granian = {"server_stops_it": True} if name == "granian" else {}
    assert server.middleware(settings(name, max_worker_memory=256)) == [
        servers.Middleware("django_asgi.memory:with_memory_limit", {"limit_mib": 256, **stopped_by_granian})
    ]
    assert server.middleware(settings(name)) == []
    developing = settings(name, max_worker_memory=256, reload=True, explicit=frozenset({"MAX_WORKER_MEMORY"}))
    assert server.middleware(developing) == []
    assert server.notices(developing) == [
        "MAX_WORKER_MEMORY: not with RELOAD: the reloader's process is never replaced"
    ]


def test_daphne_with_tls_refuses_max_worker_memory() -> None:
    """Twisted's TLS endpoint binds the port in daphne's process: replacing it would close the port."""
    with pytest.raises(ConfigError, match=r"^MAX_WORKER_MEMORY cannot be honoured with TLS on daphne"):
        servers.SERVERS["daphne"].command(settings("daphne", max_worker_memory=256, tls=TLS))


@pytest.fixture
def this_process(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What the server's code told the watch, recorded in order with what the watch does."""
    events: list[str] = []
    monkeypatch.setattr(memory.ThisProcess, "stop_accepting", [lambda: events.append("stop accepting")])
    monkeypatch.setattr(memory.ThisProcess, "before_stopping", [lambda: events.append("marked recycled")])
    return events


def watched(events: list[str], readings: list[float], *, server_stops_it: bool = False) -> memory.Watch:
    """A watch over a process whose RSS reads `readings` in turn, its sleeps and stop recorded."""
    rss = iter(readings)
    watch = memory.Watch(
        256,
        stop=None if server_stops_it else lambda: events.append("SIGTERM"),
        read_rss=lambda: next(rss),
        sleep=lambda seconds: events.append(f"sleep {seconds:g}{' closing' if watch.recycling else ''}"),
    )
    return watch


def test_a_worker_over_the_limit_twice_in_a_row_stops_accepting_closes_and_stops(this_process, capsys) -> None:
    """A peak once is no leak; then over twice: one line, no more new connections, a
    second of `Connection: close`, the mark, SIGTERM."""
    watch = watched(this_process, [100, 300, 100, 300, 301])
    watch.run()
    assert this_process == [
        *["sleep 1"] * 4, "stop accepting", "sleep 1 closing", "marked recycled", "SIGTERM",
    ]  # fmt: skip
    assert capsys.readouterr().err == (
        f"django-asgi: worker {os.getpid()} uses 301 MiB, over MAX_WORKER_MEMORY=256: replacing it (drained first)\n"
    )


def test_a_worker_over_the_limit_at_its_first_request_is_left_alone(this_process, capsys) -> None:
    """Its successor would be as big: replacing it would never end."""
    watch = watched(this_process, [300])
    watch.run()
    assert this_process == [] and not watch.recycling
    assert capsys.readouterr().err == (
        f"django-asgi: warning: worker {os.getpid()} uses 300 MiB at its first request, over "
        "MAX_WORKER_MEMORY=256: a new worker would be as big; raise the limit\n"
    )


def test_on_granian_the_watch_only_closes_connections_until_granian_stops_the_worker(this_process, capsys) -> None:
    watch = watched(this_process, [100, 300, 300], server_stops_it=True)
    watch.run()
    assert this_process == ["sleep 1", "sleep 1"] and watch.recycling
    assert "over MAX_WORKER_MEMORY=256: replacing it (drained first)" in capsys.readouterr().err


@pytest.fixture
def started_watches(monkeypatch: pytest.MonkeyPatch) -> list[memory.Watch]:
    """The watches whose threads would have started, recorded instead."""
    started: list[memory.Watch] = []

    class Thread:
        def __init__(self, target, name: str, daemon: bool) -> None:
            self.watch = target.__self__

        def start(self) -> None:
            started.append(self.watch)

    monkeypatch.setattr(memory.threading, "Thread", Thread)
    return started


def test_every_process_watches_itself_from_its_first_request_and_closes_while_recycling(
    monkeypatch, started_watches
) -> None:
    """The app is built before the fork (PRELOAD): each process starts its own watch."""
    app = memory.with_memory_limit(recording_app([]), 256)
    assert started_watches == []  # nothing watched where the app is built
    assert call(app, http_scope("/"))[0]["headers"] == []
    assert call(app, http_scope("/"))[0]["headers"] == []
    (first,) = started_watches
    first.recycling = True  # its thread found the worker over the limit
    assert call(app, http_scope("/"))[0]["headers"] == [(b"connection", b"close")]
    forked = os.getpid() + 1
    monkeypatch.setattr(memory.os, "getpid", lambda: forked)  # a worker forked from this process
    assert call(app, http_scope("/"))[0]["headers"] == []
    assert len(started_watches) == 2 and not started_watches[1].recycling


def test_hypercorns_listening_servers_stop_accepting_from_the_watchs_thread(monkeypatch, this_process) -> None:
    monkeypatch.setattr(asyncio, "start_server", asyncio.start_server)  # put back afterwards
    monkeypatch.setattr(memory.ThisProcess, "stop_accepting", [])
    memory.record_asyncio_servers()
    memory.record_asyncio_servers()  # once is enough

    async def serve_then_stop_accepting() -> bool:
        server = await asyncio.start_server(lambda reader, writer: None, "127.0.0.1", 0)
        (stop_accepting,) = memory.ThisProcess.stop_accepting
        await asyncio.to_thread(stop_accepting)
        await asyncio.sleep(0)  # the loop runs what the thread asked of it
        return server.is_serving()

    assert asyncio.run(serve_then_stop_accepting()) is False


def test_gunicorn_counts_a_recycled_worker_as_no_crash(monkeypatch, this_process) -> None:
    """Workers replaced for their memory within 10 s of starting, again and again, never
    halt the arbiter; workers that die do (gunicorn's errors module stands in here)."""

    class HaltServerError(Exception):
        def __init__(self, reason: str, exit_status: int = 1) -> None:
            super().__init__(reason)

    monkeypatch.setitem(sys.modules, "gunicorn", SimpleNamespace())
    monkeypatch.setitem(sys.modules, "gunicorn.errors", SimpleNamespace(HaltServer=HaltServerError))
    monkeypatch.delitem(sys.modules, "django_asgi.gunicorn_hooks", raising=False)
    from django_asgi import gunicorn_hooks

    arbiter = SimpleNamespace(num_workers=1)

    def one_worker(*, recycled: bool) -> None:
        worker = SimpleNamespace()
        gunicorn_hooks.pre_fork(arbiter, worker)  # in the arbiter
        gunicorn_hooks.post_fork(arbiter, worker)  # in the worker
        if recycled:
            memory.ThisProcess.before_stopping[-1]()  # the watch, before its SIGTERM
        gunicorn_hooks.child_exit(arbiter, worker)  # in the arbiter
        assert worker.django_asgi_recycled.closed

    for _ in range(3 * supervisor.CRASH_LIMIT):
        one_worker(recycled=True)
    for _ in range(supervisor.CRASH_LIMIT - 1):
        one_worker(recycled=False)
    with pytest.raises(HaltServerError, match="workers died 5 times within 10 s of starting"):
        one_worker(recycled=False)


def test_the_supervisor_counts_a_process_done_draining_as_no_crash(monkeypatch) -> None:
    """A process that drained and exited 0 (as one replaced for its memory does) is replaced
    however young; one that dies young CRASH_LIMIT times in a row ends the container."""
    pids = iter(range(100, 200))
    monkeypatch.setattr(supervisor.os, "posix_spawn", lambda *args, **kwargs: next(pids))
    monkeypatch.setattr(supervisor, "say", lambda line: None)
    chief = supervisor.Supervisor(supervisor.Plan(["hypercorn"], 1, "127.0.0.1", unused_port(), 8))
    try:
        chief.start_process(0)
        exits = [(0, 0)] * 10 + [(256, deaths) for deaths in range(1, supervisor.CRASH_LIMIT + 1)]  # 256: exit 1
        for status, quick_deaths in exits:
            (pid,) = chief.children
            monkeypatch.setattr(supervisor.os, "waitpid", lambda wanted, options, pid=pid, status=status: (pid, status))
            assert chief.reap()
            assert chief.quick_deaths == quick_deaths
    finally:
        for sock in chief.sockets:
            sock.close()
