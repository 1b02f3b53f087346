"""Projects managed by uv, Poetry or pipenv: README's recipe (examples/managed/Dockerfile) on
the sample project with each tool's lock (tests/managed/<tool>/, made by the tool itself: its
README says how), built FROM each server's tag, run locked down, serving a page and its
static file with the lock's Django; and uv's own Docker guide (an exact `uv sync` into the
image's virtualenv, which removes the server) stopping at start with its one line."""

import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import (
    LOCKED_DOWN,
    ROOT,
    assert_starts_clean,
    build_on_tag,
    docker,
    readable_copy,
    run_to_completion,
    running,
    servers,
)

pytestmark = pytest.mark.usefixtures("family")

LOCKS = ROOT / "tests" / "managed"
RECIPE = ROOT / "examples" / "managed" / "Dockerfile"
STYLESHEET = ROOT / "sample_app" / "hello" / "static" / "hello" / "hello.css"
LEFT_TOOLS = "command -v uv poetry pipenv; ls -d /tools /lock 2>/dev/null"
LOCKED_DJANGO = "5.2."  # every lock pins Django 5.2 LTS, not the image's line
TOOLS = ("uv", "poetry", "pipenv")
# Every tool, and every server's tag under one of them: the recipe differs between tags only
# by FROM, so one build per server (not each tool on each: 12 builds) shows it works on every
# tag, and each tool's export on one of them.
BUILDS = [(TOOLS[index % len(TOOLS)], server) for index, server in enumerate(servers())]
GUIDE_SERVER = "uvicorn"  # two packages: gunicorn and its uvicorn worker
# uv's Docker guide, as a new user follows it on top of the image.
UV_GUIDE = """FROM {image}
USER root
RUN pip install uv==0.13.9
ENV UV_PROJECT_ENVIRONMENT=/opt/venv
WORKDIR /app
COPY pyproject.toml uv.lock /app/
RUN uv sync --locked --no-dev --no-install-project
COPY . /app
USER 10001
"""


def managed_project(tmp_path: Path, tool: str) -> Path:
    """The sample project with the tool's files, collecting its static files into /app."""
    project = readable_copy(tmp_path)
    for path in (LOCKS / tool).iterdir():
        shutil.copy(path, project / path.name)
        (project / path.name).chmod(0o644)
    settings = project / "hello_django" / "settings.py"
    settings.write_text(settings.read_text().replace('"/tmp/static"', '"/app/staticfiles"'))
    return project


def build(project: Path, tag: str, server: str, *options: str) -> float:
    began = time.monotonic()
    result = build_on_tag(project, server, "--load", "--tag", tag, *options)
    assert result.returncode == 0, result.stderr[-4000:]
    return time.monotonic() - began


@pytest.fixture(scope="module", params=BUILDS, ids=[f"{tool}-{server}" for tool, server in BUILDS])
def managed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tool, server = request.param
    tag = f"django-asgi-test-managed:{tool}-{server}-{uuid.uuid4().hex[:8]}"
    project = managed_project(tmp_path_factory.mktemp(f"managed-{tool}"), tool)
    seconds = build(project, tag, server, "--file", str(RECIPE))
    print(f"{tool} on {server}: built in {seconds:.1f} s")  # the figures README and the note give
    yield tag
    docker("image", "rm", "--force", tag, check=False)


def test_the_locked_project_serves_locked_down(managed: str) -> None:
    with running(managed, "--env=DJANGO_MIGRATE=1", *LOCKED_DOWN) as container:
        assert container.get("/").status_code == 200
        static = container.get("/static/hello/hello.css")
        assert (
            static.status_code == 200
            and static.content == (ROOT / "sample_app/hello/static/hello/hello.css").read_bytes()
        )
        assert_starts_clean(container.stderr())


def test_the_locks_django_wins_and_no_tool_is_left(managed: str) -> None:
    found = run_to_completion(
        managed,
        command=(
            "sh",
            "-c",
            "python -c 'import django; print(django.__version__)'; command -v uv poetry pipenv; ls -d /tools",
        ),
    )
    assert found.stdout.startswith(LOCKED_DJANGO) and found.stdout.count("\n") == 1, found.stdout + found.stderr


def test_uvs_own_docker_guide_stops_in_one_line(tmp_path: Path) -> None:
    """Its exact sync removes every package uv.lock does not name, the server among them: the
    build succeeds, then the start (and --print) stops at once with one line saying so. On the
    server that is two packages (gunicorn and its uvicorn worker), so both must be named; the
    check is the launcher's, the same on every server (tests/test_installed.py)."""
    server = GUIDE_SERVER
    if server not in servers():
        pytest.skip(f"ONLY_SERVERS leaves out {server}")
    project = managed_project(tmp_path, "uv")
    (project / "Dockerfile").write_text(UV_GUIDE.format(image=f"org/django-asgi:{server}"))
    tag = f"django-asgi-test-exact-sync:{server}-{uuid.uuid4().hex[:8]}"
    build(project, tag, server)
    try:
        for command in ((), ("django-asgi", "--print")):
            result = run_to_completion(tag, command=command)
            assert result.returncode == 2 and result.stdout == "", result.stderr
            (line,) = result.stderr.splitlines()
            assert line.startswith("django-asgi: error: the image's server cannot start: "), line
            assert " is gone" in line and "Most likely an exact `uv sync`" in line, line
            assert "uv sync --locked --inexact" in line, line
            assert "gunicorn " in line and "uvicorn " in line, line
    finally:
        docker("image", "rm", "--force", tag, check=False)
