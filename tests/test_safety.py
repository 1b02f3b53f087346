"""Production safety at start, on every server: Django's deployment checks (what `manage.py
check --deploy` finds) said once, one line per finding, by the process that imports the
project; DEBUG on said in a line of its own; DJANGO_CHECK_DEPLOY=fail refusing to start;
settings taken from a development module's default said before any import."""

import re
from pathlib import Path

import pytest
from harness import Container, assert_starts_clean, image, readable_copy, run_to_completion, running

from django_asgi.config import HEALTH_PATH

pytestmark = pytest.mark.usefixtures("family")

# What Django's deployment checks find in `django-admin startproject`'s settings: no HSTS, no
# HTTPS redirect, a django-insecure- key, insecure session and CSRF cookies, DEBUG on, no
# ALLOWED_HOSTS.
STARTPROJECT_FINDINGS = {f"security.W{number:03}" for number in (4, 8, 9, 12, 16, 18, 20)}
FINDING = re.compile(r"^django-asgi: check: ([a-z_]+\.[WEC]\d{3}) \S.*$", re.M)
SUMMARY = re.compile(r"; deployment checks: (\d+ findings?|none found) in \d+\.\d\d s; ", re.M)
DEBUG_WARNING = "django-asgi: warning: DEBUG is on: "
PRINT = ["django-asgi", "--print"]


def startproject(server: str) -> str:
    return image(f"startproject-{server}")


def findings(stderr: str) -> list[str]:
    return FINDING.findall(stderr)


def test_startprojects_defaults_are_said_once_and_it_still_serves(server: str) -> None:
    """Each finding once, however many workers serve, and the DEBUG line of its own."""
    with running(startproject(server), ready=HEALTH_PATH) as container:
        page = container.get("/")
        assert page.status_code == 200 and "The install worked successfully!" in page.text
        stderr = container.stderr()
    said = findings(stderr)
    assert set(said) >= STARTPROJECT_FINDINGS, stderr
    assert len(said) == len(set(said)), stderr
    assert SUMMARY.findall(stderr) == [f"{len(said)} findings"], stderr
    assert stderr.count(DEBUG_WARNING) == 1, stderr
    assert "Traceback" not in stderr


def test_check_deploy_fail_refuses_to_start_listing_each_finding(server: str) -> None:
    result = run_to_completion(startproject(server), "--env=DJANGO_CHECK_DEPLOY=fail")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert all(line.startswith("django-asgi: ") for line in lines), result.stderr
    said = findings(result.stderr)
    assert set(said) >= STARTPROJECT_FINDINGS and len(said) == len(set(said)), result.stderr
    assert lines[-1].startswith(
        f"django-asgi: error: DJANGO_CHECK_DEPLOY=fail: {len(said)} deployment check findings (above): "
    ), result.stderr


def test_check_deploy_off_runs_no_checks_but_debug_is_still_said(server: str) -> None:
    result = run_to_completion(startproject(server), "--env=DJANGO_CHECK_DEPLOY=off", command=PRINT)
    assert result.returncode == 0, result.stderr
    assert findings(result.stderr) == [] and "; deployment checks: off; " in result.stderr
    assert result.stderr.count(DEBUG_WARNING) == 1, result.stderr


def test_the_sample_project_starts_with_nothing_to_report(sample: Container) -> None:
    assert_starts_clean(sample.stderr())


def test_settings_from_a_development_default_are_said(server: str, tmp_path: Path) -> None:
    """cookiecutter-django's shape: asgi.py defaults to the local settings, DEBUG on."""
    project = readable_copy(tmp_path)
    (project / "hello_django" / "local.py").write_text("from .settings import *  # noqa: F403\nDEBUG = True\n")
    asgi = project / "hello_django" / "asgi.py"
    asgi.write_text(asgi.read_text().replace('"hello_django.settings"', '"hello_django.local"'))
    mounted = (f"--volume={project}:/app:ro",)
    result = run_to_completion(image(f"sample-{server}"), *mounted, command=PRINT)
    assert result.returncode == 0, result.stderr
    assert (
        "django-asgi: warning: the settings are hello_django.local, the default /app/hello_django/asgi.py names, "
        "which looks like development settings: set DJANGO_SETTINGS_MODULE to your production settings module\n"
    ) in result.stderr
    assert result.stderr.count(DEBUG_WARNING) == 1 and "security.W018" in findings(result.stderr)
    given = run_to_completion(
        image(f"sample-{server}"), *mounted, "--env=DJANGO_SETTINGS_MODULE=hello_django.settings",
        command=PRINT,
    )  # fmt: skip
    assert given.returncode == 0 and "django-asgi: warning: " not in given.stderr, given.stderr
