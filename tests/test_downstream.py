"""A second project on the images, as users bring theirs: examples/fly (its own settings
module, requirements with another Django and psycopg's binary wheel, a template, static
files collected at build time) on every server, its fly.toml held to the image's contract,
and examples/compose's development loop."""

import json
import os
import re
import shlex
import subprocess
import tomllib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import (
    ROOT,
    Container,
    assert_starts_clean,
    eventually,
    image,
    inspect_image,
    readable_copy,
    remove_container,
    run_to_completion,
    running,
    servers,
    start_container,
)
from lockfiles import pinned
from packaging.utils import canonicalize_name
from registry import Registry, pulled_from

from bench.run import free_loopback_port
from bench.setups import NAIVE_COMMANDS
from django_asgi.config import DEFAULT_PORT, read_seconds
from django_asgi.launcher import CONTRACT_VARIABLES
from django_asgi.supervisor import EXIT_MARGIN
from tools.locks import OLDEST_IMAGE_PYTHON

EXAMPLE = ROOT / "examples" / "fly"
COMPOSE = ROOT / "examples" / "compose" / "compose.yaml"
FLY = tomllib.loads((EXAMPLE / "fly.toml").read_text())
FLY_CHECK = FLY["http_service"]["checks"][0]
# As README's `fly secrets set` makes it (secrets.token_urlsafe(50)): Django's checks want 50
# characters or more.
SECRETS = ("--env=DJANGO_SECRET_KEY=fly-secrets-would-hold-a-random-one-of-67-characters-not-this",)
HASHED_CSS = re.compile(r'href="(/static/notes/style\.[0-9a-f]{12}\.css)"')
YEAR = 365 * 24 * 3600


def fly_env() -> list[str]:
    return [f"--env={name}={value}" for name, value in FLY["env"].items()]


def fly_host() -> dict[str, str]:
    """What Fly's checker and its proxy send: the app's public host name."""
    return {"Host": FLY["http_service"]["checks"][0]["headers"]["Host"]}


def fly_proxy() -> dict[str, str]:
    """What Fly's proxy sends with every request: the host name, and the scheme it was asked
    over (https: fly.toml's force_https redirects the rest before they reach the app)."""
    return {**fly_host(), "X-Forwarded-Proto": "https"}


def database(directory: Path) -> tuple[str, ...]:
    """SQLite in a host directory the image's user can write: the release command and the
    app share it, as they share DATABASE_URL's PostgreSQL on Fly."""
    directory.chmod(0o777)
    return (f"--volume={directory}:/data", "--env=DATABASE_URL=sqlite:////data/notes.sqlite3")


def release(tag: str, *options: str) -> subprocess.CompletedProcess[str]:
    command = shlex.split(FLY["deploy"]["release_command"])
    return run_to_completion(tag, *fly_env(), *SECRETS, *options, command=command)


def released_database(tag: str, directory: Path) -> tuple[str, ...]:
    """A database the release command migrated, as every Fly deploy starts from."""
    data = database(directory)
    released = release(tag, *data)
    assert released.returncode == 0, released.stderr[-1500:]
    return data


@pytest.fixture(scope="module")
def deployed(
    family: None, server: str, registry: Registry, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Container]:
    """The example on `server` as Fly runs it: `fly deploy --image` pulls the image from a
    registry, runs the release command, then the app with fly.toml's environment and a
    secret, answering its health check."""
    with pulled_from(registry, image(f"example-{server}"), f"fly/notes-{server}") as tag:
        data = released_database(tag, tmp_path_factory.mktemp("data"))
        with running(tag, *fly_env(), *SECRETS, *data, headers=fly_proxy()) as container:
            yield container


# ---- the project on every server ------------------------------------------------------


def test_the_page_renders_its_template_with_hashed_static_files(deployed: Container) -> None:
    page = deployed.get("/")
    assert page.status_code == 200 and "<h1>Notes</h1>" in page.text, page.text[:300]
    stylesheet = HASHED_CSS.search(page.text)
    assert stylesheet, "the template should link the collected, hashed stylesheet"
    hashed = deployed.get(stylesheet.group(1))
    assert hashed.status_code == 200 and hashed.headers["content-type"].startswith("text/css")
    cache = hashed.headers["cache-control"]
    assert "immutable" in cache and int(re.search(r"max-age=(\d+)", cache).group(1)) >= YEAR, cache
    unhashed = deployed.get("/static/notes/style.css")
    assert unhashed.status_code == 200 and unhashed.text == hashed.text
    assert unhashed.headers["cache-control"] == "max-age=60, public"


def test_the_project_runs_its_own_django_and_psycopg(deployed: Container) -> None:
    """The project's lock wins inside the image: its Django line, not the image's."""
    versions = deployed.get("/versions").json()
    lock = pinned(EXAMPLE / "requirements.txt", OLDEST_IMAGE_PYTHON)
    assert versions["django"] == lock[canonicalize_name("django")]
    assert versions["psycopg"] == lock[canonicalize_name("psycopg")]
    assert versions["libpq"] > 0, "psycopg's binary wheel brings libpq"


def test_the_health_check_answers_as_fly_asks(deployed: Container) -> None:
    check = FLY_CHECK
    response = deployed.get(check["path"], headers=check["headers"])
    assert response.status_code == 200 and response.json()["status"] == "ok"
    assert deployed.get(check["path"], headers={"Host": "elsewhere.example"}).status_code == 400


def test_it_starts_with_no_deployment_finding(deployed: Container) -> None:
    """Production-grade settings: Django's deployment checks find nothing, DEBUG is off."""
    assert_starts_clean(deployed.stderr())


def test_https_only_except_the_health_check(deployed: Container) -> None:
    """Plain HTTP is redirected (as fly.toml's force_https does before it) and HTTPS answers
    carry HSTS; the platform's health checks, which reach the machine over plain HTTP, are not."""
    plain = deployed.get("/", headers=fly_host(), follow_redirects=False)
    assert plain.status_code == 301 and plain.headers["location"] == f"https://{fly_host()['Host']}/"
    hsts = deployed.get("/").headers["strict-transport-security"]
    assert hsts == "max-age=31536000; includeSubDomains; preload"
    assert deployed.get(FLY_CHECK["path"], headers=FLY_CHECK["headers"]).status_code == 200


def test_the_app_cannot_change_its_packages_or_code(deployed: Container) -> None:
    host = deployed.host
    assert host.check_output("id -u") == "10001"
    for directory in ("/opt/venv/lib", "/app", "/app/staticfiles"):
        assert host.run(f"touch {directory}/written-at-run-time").rc != 0, directory


# ---- the release command and the static switch (one server) ---------------------------


def test_the_release_command_migrates_a_database_the_app_then_serves(family: None, tmp_path: Path) -> None:
    tag = image(f"example-{servers()[-1]}")
    data = database(tmp_path)
    container = start_container(tag, *fly_env(), *SECRETS, *data, headers=fly_proxy())
    try:
        eventually(lambda: reachable(container, "/healthz") == 503, "the health check failing before migrations")
        released = release(tag, *data)
        assert released.returncode == 0, released.stderr[-1500:]
        assert "Applying notes.0001_initial... OK" in released.stdout
        assert container.get("/healthz").status_code == 200
    finally:
        remove_container(container.id)


def reachable(container: Container, path: str) -> int | None:
    response = container.answer(path)
    return response.status_code if response else None


def text_of(container: Container, path: str) -> str:
    response = container.answer(path)
    return response.text if response else ""


def test_serve_static_off_leaves_static_urls_to_the_app(family: None, tmp_path: Path) -> None:
    tag = image(f"example-{servers()[-1]}")
    options = (*fly_env(), *SECRETS, *released_database(tag, tmp_path), "--env=SERVE_STATIC=0")
    with running(tag, *options, headers=fly_proxy()) as container:
        assert container.get("/static/notes/style.css").status_code == 404
        assert "static=off" in container.stderr()


# ---- fly.toml against the image's contract ----------------------------------------------


def test_fly_sends_traffic_to_the_images_port() -> None:
    assert FLY["http_service"]["internal_port"] == DEFAULT_PORT
    assert f"{DEFAULT_PORT}/tcp" in inspect_image(image("granian"))["Config"]["ExposedPorts"]


def test_fly_stops_machines_the_way_the_image_drains() -> None:
    """SIGTERM (Fly's default SIGINT makes gunicorn quit at once), and a kill_timeout that
    covers GRACEFUL_TIMEOUT plus the supervisor's margin."""
    assert FLY["kill_signal"] == "SIGTERM"
    graceful = read_seconds(FLY["env"], "GRACEFUL_TIMEOUT", default=0)
    assert FLY["kill_timeout"] >= graceful + EXIT_MARGIN, (FLY["kill_timeout"], graceful)


def test_fly_env_names_only_what_the_image_or_the_project_reads() -> None:
    """A typo in fly.toml's [env] would be silently ignored: every name must be the image's
    contract or a variable the project's settings read."""
    settings = (EXAMPLE / "config" / "settings.py").read_text()
    for name in FLY["env"]:
        assert name in CONTRACT_VARIABLES | {"HEALTHCHECK_PATH", "DJANGO_SETTINGS_MODULE"} or f'"{name}"' in settings


def test_fly_checks_the_route_dockers_healthcheck_checks() -> None:
    assert [check["path"] for check in FLY["http_service"]["checks"]] == [FLY["env"]["HEALTHCHECK_PATH"]]


def test_fly_limits_concurrency_by_requests() -> None:
    concurrency = FLY["http_service"]["concurrency"]
    assert concurrency["type"] == "requests" and 0 < concurrency["soft_limit"] < concurrency["hard_limit"]


def test_fly_builds_the_documented_dockerfile() -> None:
    assert (EXAMPLE / FLY["build"]["dockerfile"]).is_file()
    dockerfile = (EXAMPLE / "Dockerfile").read_text()
    assert dockerfile.rstrip().endswith("USER ${APP_UID}"), "the final image must run as the image's user"


# ---- examples/compose: the development loop ---------------------------------------------


def compose(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", "compose", "--file", str(COMPOSE), *args],
        capture_output=True, text=True, check=False, timeout=300, env={**os.environ, **(env or {})},
    )  # fmt: skip


@pytest.mark.parametrize("profile", [(), ("--profile", "postgres")], ids=["sqlite", "postgres"])
def test_compose_file_is_valid(profile: tuple[str, ...]) -> None:
    result = compose(*profile, "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    assert set(services) == ({"app", "db"} if profile else {"app"})
    assert services["app"]["environment"]["RELOAD"] == "1"


@pytest.fixture
def compose_project(family: None, tmp_path: Path) -> Iterator[tuple[dict[str, str], Path]]:
    source = readable_copy(tmp_path, EXAMPLE)
    env = {
        "COMPOSE_PROJECT_NAME": f"django-asgi-test-{uuid.uuid4().hex[:8]}",
        "APP_IMAGE": image(f"example-{servers()[-1]}"),
        "APP_SOURCE": str(source),
        "APP_PORT": str(free_loopback_port()),
    }
    try:
        yield env, source
    finally:
        compose("down", "--volumes", "--timeout", "1", env=env)


def test_compose_serves_the_bind_mounted_source_and_reloads_it(compose_project) -> None:
    env, source = compose_project
    started = compose("up", "--detach", "--no-build", "app", env=env)
    assert started.returncode == 0, started.stderr
    app = Container(id="compose", url=f"http://127.0.0.1:{env['APP_PORT']}")
    eventually(lambda: reachable(app, "/") == 200, "the development server answering", timeout=60)
    assert app.get("/static/notes/style.css").status_code == 200, "DEBUG serves the apps' static files"
    template = source / "notes" / "templates" / "notes" / "index.html"
    template.write_text(template.read_text().replace("<h1>Notes</h1>", "<h1>Edited notes</h1>"))
    eventually(lambda: "<h1>Edited notes</h1>" in text_of(app, "/"), "the edited template served")
    view = source / "notes" / "views.py"
    view.write_text(view.read_text().replace('"status": "ok"', '"status": "reloaded"'))
    eventually(lambda: '"status": "reloaded"' in text_of(app, "/healthz"), "the edited view reloaded")
    logs = compose("logs", "app", env=env).stdout
    assert "reload=on" in logs and "check_deploy=off" in logs, logs[-1000:]
    assert "django-asgi: warning: " not in logs, "DEBUG on is no news in development"


# ---- docs/migrating.md ------------------------------------------------------------------


@pytest.mark.parametrize("server", sorted(NAIVE_COMMANDS))
def test_the_migration_guide_starts_from_the_benchmarked_command_lines(server: str) -> None:
    """docs/migrating.md and the benchmarks compare against the same hand-written lines."""
    guide = (ROOT / "docs" / "migrating.md").read_text()
    assert f"```\n{NAIVE_COMMANDS[server]}\n```" in guide
    assert f"Use `org/django-asgi:{server}`" in guide
