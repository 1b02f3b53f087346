"""Bad settings end at the launcher: exit status 2 and one line on stderr, on every server.
A project that fails to import ends the server's main process, which imports it once,
before the server starts: exit status 2, its one line last after the launcher's own."""

import subprocess
from pathlib import Path

import pytest
from harness import image, readable_copy, run_to_completion
from tls import Certificates

pytestmark = pytest.mark.usefixtures("family")

# (environment, what the one line must say)
BAD_SETTINGS = {
    "port-word": ({"PORT": "abc"}, "PORT='abc' is not a TCP port"),
    "port-range": ({"PORT": "70000"}, "PORT='70000' is not a TCP port"),
    "workers-zero": ({"WEB_CONCURRENCY": "0"}, "WEB_CONCURRENCY='0' is not a worker count"),
    "workers-word": ({"WEB_CONCURRENCY": "many"}, "WEB_CONCURRENCY='many' is not a worker count"),
    "missing-module": ({"APP_MODULE": "nope.asgi:app"}, "there is no module 'nope'"),
    "unknown-server": ({"ASGI_SERVER": "tornado"}, "ASGI_SERVER='tornado' is not a server of this image"),
    "log-level": ({"LOG_LEVEL": "loud"}, "LOG_LEVEL='loud' is not a log level"),
    "graceful-timeout": ({"GRACEFUL_TIMEOUT": "-1"}, "GRACEFUL_TIMEOUT='-1' is not a number of seconds"),
    "drain-delay": ({"DRAIN_DELAY": "5s"}, "DRAIN_DELAY='5s' is not a number of seconds"),
    "access-log": ({"ACCESS_LOG": "maybe"}, "ACCESS_LOG='maybe' is not on or off"),
    "keep-alive": ({"KEEP_ALIVE": "long"}, "KEEP_ALIVE='long' is not a number of seconds"),
    "max-requests": ({"MAX_REQUESTS": "lots"}, "MAX_REQUESTS='lots' is not a count"),
    "max-worker-memory": ({"MAX_WORKER_MEMORY": "1"}, "MAX_WORKER_MEMORY='1' is not a worker's memory limit"),
    "proxy-address": ({"FORWARDED_ALLOW_IPS": "proxy.local"}, "'proxy.local' is not an IP address or network"),
    "root-path": ({"ROOT_PATH": "sub/"}, "ROOT_PATH='sub/' is not a URL path prefix"),
    "server-args": ({"SERVER_ARGS": "--name 'unclosed"}, "cannot be split like a shell"),
    "prestart-missing": ({"PRESTART": "setup.sh"}, "PRESTART='setup.sh': there is no such file"),
    "sync-threads": ({"SYNC_THREADS": "many"}, "SYNC_THREADS='many' is not a thread count"),
    "preload": ({"PRELOAD": "maybe"}, "PRELOAD='maybe' is not on or off"),
    "check-deploy": ({"DJANGO_CHECK_DEPLOY": "strict"}, "DJANGO_CHECK_DEPLOY='strict' is not a mode"),
    "healthcheck-path": ({"HEALTHCHECK_PATH": "healthz"}, "HEALTHCHECK_PATH='healthz' is not a URL path"),
    "log-format": ({"LOG_FORMAT": "xml"}, "LOG_FORMAT='xml' is not a log format"),
    "request-id-header": ({"REQUEST_ID_HEADER": "Request ID"}, "REQUEST_ID_HEADER='Request ID' is not an HTTP header"),
}
# What only some servers refuse: (server, environment, message).
REFUSED = {
    "daphne-workers": ("daphne", {"WEB_CONCURRENCY": "2"}, "daphne serves from one process"),
    "daphne-proxy-list": ("daphne", {"FORWARDED_ALLOW_IPS": "10.0.0.1"}, "cannot be honoured: daphne's"),
    "hypercorn-proxy-list": ("hypercorn", {"FORWARDED_ALLOW_IPS": "10.0.0.1"}, "cannot be honoured: hypercorn's"),
}


def run_launcher(tag: str, env: dict[str, str], *options: str) -> subprocess.CompletedProcess[str]:
    return run_to_completion(tag, *(f"--env={name}={value}" for name, value in env.items()), *options)


def assert_one_line_error(result: subprocess.CompletedProcess[str], message: str) -> None:
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("django-asgi: error: "), result.stderr
    assert message in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stdout == ""


def assert_import_error(result: subprocess.CompletedProcess[str], message: str) -> None:
    """The start-up lines, then the error: nothing from the server, which never started."""
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert lines[-1].startswith("django-asgi: error: ") and message in lines[-1], result.stderr
    assert all(line.startswith("django-asgi: ") for line in lines), result.stderr
    assert sum("error:" in line for line in lines) == 1, result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("case", sorted(BAD_SETTINGS))
def test_bad_setting_is_one_line_and_exit_2(server: str, case: str) -> None:
    env, message = BAD_SETTINGS[case]
    assert_one_line_error(run_launcher(image(f"sample-{server}"), env), message)


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_settings_a_server_cannot_honour_are_refused(case: str) -> None:
    server, env, message = REFUSED[case]
    assert_one_line_error(run_launcher(image(f"sample-{server}"), env), message)


def test_no_project_found(server: str) -> None:
    """The variant image itself has an empty /app."""
    assert_one_line_error(
        run_launcher(image(server), {}), "APP_MODULE is not set, and /app has no asgi.py and no manage.py or wsgi.py"
    )


def test_two_settings_modules_named_by_a_project_without_asgi_py(server: str, tmp_path: Path) -> None:
    """cookiecutter-django's layout: manage.py names the local settings, wsgi.py production's."""
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "__init__.py").write_text("")
    for path, settings in (("manage.py", "config.settings.local"), ("config/wsgi.py", "config.settings.production")):
        (tmp_path / path).write_text(f'import os\nos.environ.setdefault("DJANGO_SETTINGS_MODULE", "{settings}")\n')
    for path in [tmp_path, *tmp_path.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    result = run_launcher(image(server), {}, f"--volume={tmp_path}:/app:ro")
    assert_one_line_error(
        result,
        "/app has no asgi.py, and its files name 2 settings modules: config.settings.local (/app/manage.py), "
        "config.settings.production (/app/config/wsgi.py); set DJANGO_SETTINGS_MODULE to the one to serve",
    )


def test_two_projects_found(server: str, tmp_path: Path) -> None:
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "asgi.py").write_text("application = None\n")
    tmp_path.chmod(0o755)
    result = run_launcher(image(server), {}, f"--volume={tmp_path}:/app:ro")
    assert_one_line_error(result, "APP_MODULE is not set and 2 asgi.py files were found")


def test_the_base_image_says_to_pick_a_server() -> None:
    result = subprocess.run(
        ["docker", "run", "--rm", image("base")], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2
    assert result.stderr.startswith("django-asgi: error: ASGI_SERVER is not set")


def test_a_failing_prestart_stops_the_start(server: str, tmp_path: Path) -> None:
    script = tmp_path / "prestart.sh"
    script.write_text("echo checking the database >&2\nexit 3\n")
    script.chmod(0o644)
    result = run_launcher(image(f"sample-{server}"), {}, f"--volume={script}:/app/prestart.sh:ro")
    assert result.returncode == 2
    assert result.stderr.endswith("django-asgi: error: prestart script /app/prestart.sh failed with exit status 3\n")
    assert "checking the database" in result.stderr


@pytest.mark.parametrize("preload", ["1", "0"])
def test_a_broken_urlconf_stops_the_start_with_its_line(server: str, preload: str, tmp_path: Path) -> None:
    """The URLconf is imported with the app, so a broken view module is one line, not 500s;
    with PRELOAD=0 the launcher's own import says it, before any worker imports the app."""
    project = readable_copy(tmp_path)
    urls = project / "hello_django" / "urls.py"
    urls.write_text(urls.read_text() + "raise RuntimeError('broken urls')\n")
    lines = len(urls.read_text().splitlines())
    result = run_launcher(image(f"sample-{server}"), {"PRELOAD": preload}, f"--volume={project}:/app:ro")
    message = f"importing hello_django.asgi failed: RuntimeError: broken urls (at /app/hello_django/urls.py:{lines})"
    assert_import_error(result, message)


@pytest.mark.parametrize("preload", ["1", "0"])
def test_a_missing_attribute_stops_the_start_with_its_line(server: str, preload: str) -> None:
    env = {"APP_MODULE": "hello_django.asgi:missing", "PRELOAD": preload}
    assert_import_error(run_launcher(image(f"sample-{server}"), env), "has no attribute 'missing'")


def test_a_tls_key_the_user_cannot_read_is_one_line(server: str, certificates: Certificates, tmp_path: Path) -> None:
    """The usual mistake with mounted secrets: a key readable by root only."""
    key = tmp_path / "key.pem"
    key.write_bytes((certificates.directory / "key.pem").read_bytes())
    key.chmod(0o600)
    mounts = [f"--volume={certificates.directory}:/tls:ro", f"--volume={key}:/secret/key.pem:ro"]
    env = {"TLS_CERTFILE": "/tls/cert.pem", "TLS_KEYFILE": "/secret/key.pem"}
    result = run_launcher(image(f"sample-{server}"), env, *mounts)
    assert_one_line_error(result, "TLS_KEYFILE='/secret/key.pem' cannot be read by the container's user (uid 10001)")


def test_daphne_will_not_reload_over_tls(certificates: Certificates) -> None:
    result = run_launcher(image("sample-daphne"), {"RELOAD": "1"}, *certificates.docker_options())
    assert_one_line_error(result, "RELOAD=1 and TLS_CERTFILE cannot go together on daphne")
