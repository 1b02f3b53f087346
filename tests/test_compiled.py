"""examples/compiled/Dockerfile on projects whose requirements have no wheels: a pip project
with uWSGI (none at all, links libpython) and psycopg2 (sdist only on Linux, links the
system's libpq), included from requirements.txt with `-r requirements/production.txt`; and a
uv project whose lock has psycopg[c] (cookiecutter-django's shape: psycopg-c is an sdist),
exported by uv in the recipe's first stage. Built as README.md says, each serves, its
packages load their libraries, and nothing of the build is left."""

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from harness import (
    LOCKED_DOWN,
    ROOT,
    assert_starts_clean,
    build_on_tag,
    docker,
    image,
    readable_copy,
    run_to_completion,
    running,
    servers,
)

pytestmark = pytest.mark.usefixtures("family")

PRODUCTION = "uwsgi==2.0.31\npsycopg2==2.9.13\n"
# uWSGI links libcrypt (libc6-dev stopped pulling libcrypt-dev in after trixie), psycopg2 and
# psycopg-c libpq. The same for both projects, so that they share the compilers' apt layer:
# psycopg[c] alone needs only libpq-dev.
BUILD_ARGS = {"BUILD_PACKAGES": "libcrypt-dev libpq-dev", "RUNTIME_PACKAGES": "libpq5"}
RECIPE = ROOT / "examples" / "compiled" / "Dockerfile"
UV_LOCK = ROOT / "tests" / "managed" / "uv-compiled"  # pyproject.toml and uv.lock (its README)


def with_requirements_txt(project: Path) -> None:
    (project / "requirements").mkdir()
    (project / "requirements" / "production.txt").write_text(PRODUCTION)
    (project / "requirements.txt").write_text("-r requirements/production.txt\n")


def with_uv_lock(project: Path) -> None:
    for path in UV_LOCK.iterdir():
        shutil.copyfile(path, project / path.name)


@dataclass(frozen=True)
class Project:
    """A way a project names what must compile, the build arguments README gives for it,
    and what each compiled package reports from the built image: (command, expected start)."""

    name: str
    write: Callable[[Path], None]
    build_args: dict[str, str]
    reports: tuple[tuple[tuple[str, ...], str], ...]


PSYCOPG2_LINKED = "import psycopg2; print(psycopg2.__version__.split()[0], psycopg2.__libpq_version__ > 0)"
PSYCOPG_C_LINKED = "import psycopg; print(psycopg.__version__, psycopg.pq.__impl__, psycopg.pq.version() > 0)"


def python(code: str) -> tuple[str, ...]:
    return ("python", "-c", code)


PROJECTS = (
    Project(
        "requirements-txt",
        with_requirements_txt,
        BUILD_ARGS,
        (
            (("uwsgi", "--version"), "2.0.31\n"),
            (python(PSYCOPG2_LINKED), "2.9.13 True"),
        ),
    ),
    Project(
        "uv-lock",
        with_uv_lock,
        BUILD_ARGS,
        (
            # psycopg's C implementation, not the pure-Python fallback, and libpq linked
            (python(PSYCOPG_C_LINKED), "3.3.9 c True"),
            (python("import django; print(django.__version__)"), "5.2."),  # the lock's Django
        ),
    ),
)


@pytest.fixture(scope="module", params=PROJECTS, ids=[project.name for project in PROJECTS])
def compiled(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Project]]:
    """The sample project with those requirements, built FROM one server's tag."""
    spec: Project = request.param
    tag = f"django-asgi-compiled-test:{spec.name}"
    project = readable_copy(tmp_path_factory.mktemp("compiled"))
    spec.write(project)
    result = build_on_tag(project, servers()[-1], "--load", "--tag", tag, "--file", str(RECIPE), **spec.build_args)
    assert result.returncode == 0, result.stderr[-4000:]
    yield tag, spec
    docker("image", "rm", "--force", tag, check=False)


def test_it_serves(compiled: tuple[str, Project]) -> None:
    with running(compiled[0], "--env=DJANGO_MIGRATE=1", *LOCKED_DOWN) as container:
        assert container.get("/visits").status_code == 200
        assert_starts_clean(container.stderr())


def test_the_compiled_packages_load_their_libraries(compiled: tuple[str, Project]) -> None:
    tag, spec = compiled
    for command, expected in spec.reports:
        result = run_to_completion(tag, command=command)
        assert result.returncode == 0 and result.stdout.startswith(expected), (command, result.stdout, result.stderr)


LEFTOVERS = (
    "command -v gcc cc make; ls /var/lib/apt/lists | grep -v '^lock$' | grep -v '^partial$'; "
    "ls -d /wheels /root/.cache/pip 2>/dev/null; find / -xdev -name '*.whl' -o -xdev -perm /6000 -type f"
)


def test_nothing_of_the_build_is_left(compiled: tuple[str, Project]) -> None:
    """No compiler, apt list, pip cache, setuid file or wheel that the server's image
    itself does not have (python:X.Y-slim may ship ensurepip's wheels)."""
    found = set(run_to_completion(compiled[0], command=("sh", "-c", LEFTOVERS)).stdout.splitlines())
    before = set(run_to_completion(image(servers()[-1]), command=("sh", "-c", LEFTOVERS)).stdout.splitlines())
    assert found - before == set()
