"""examples/compiled/Dockerfile on a project whose requirements have no wheels: uWSGI (none
at all, links libpython) and psycopg2 (sdist only on Linux, links the system's libpq),
included from requirements.txt with `-r requirements/production.txt`. Built as README.md
says, it serves, its packages load their libraries, and nothing of the build is left."""

from collections.abc import Iterator

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
# uWSGI links libcrypt (libc6-dev stopped pulling libcrypt-dev in after trixie), psycopg2 libpq
BUILD_ARGS = {"BUILD_PACKAGES": "libcrypt-dev libpq-dev", "RUNTIME_PACKAGES": "libpq5"}
TAG = "django-asgi-compiled-test"


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The sample project with those requirements, built FROM one server's tag."""
    server = servers()[-1]
    project = readable_copy(tmp_path_factory.mktemp("compiled"))
    (project / "requirements").mkdir()
    (project / "requirements" / "production.txt").write_text(PRODUCTION)
    (project / "requirements.txt").write_text("-r requirements/production.txt\n")
    dockerfile = str(ROOT / "examples" / "compiled" / "Dockerfile")
    result = build_on_tag(project, server, "--load", "--tag", TAG, "--file", dockerfile, **BUILD_ARGS)
    assert result.returncode == 0, result.stderr[-4000:]
    yield TAG
    docker("image", "rm", "--force", TAG, check=False)


def test_it_serves(compiled: str) -> None:
    with running(compiled, "--env=DJANGO_MIGRATE=1", *LOCKED_DOWN) as container:
        assert container.get("/visits").status_code == 200
        assert_starts_clean(container.stderr())


def test_the_compiled_packages_load_their_libraries(compiled: str) -> None:
    uwsgi = run_to_completion(compiled, command=("uwsgi", "--version"))
    assert uwsgi.returncode == 0 and uwsgi.stdout.strip() == "2.0.31", uwsgi.stderr
    libpq = run_to_completion(
        compiled, command=("python", "-c", "import psycopg2; print(psycopg2.__version__, psycopg2.__libpq_version__)")
    )
    assert libpq.returncode == 0, libpq.stderr
    version, libpq_version = libpq.stdout.split(" (")[0], int(libpq.stdout.split()[-1])
    assert version == "2.9.13" and libpq_version > 0


LEFTOVERS = (
    "command -v gcc cc make; ls /var/lib/apt/lists | grep -v '^lock$' | grep -v '^partial$'; "
    "ls -d /wheels /root/.cache/pip 2>/dev/null; find / -xdev -name '*.whl' -o -xdev -perm /6000 -type f"
)


def test_nothing_of_the_build_is_left(compiled: str) -> None:
    """No compiler, apt list, pip cache, setuid file or wheel that the server's image
    itself does not have (python:X.Y-slim may ship ensurepip's wheels)."""
    found = set(run_to_completion(compiled, command=("sh", "-c", LEFTOVERS)).stdout.splitlines())
    before = set(run_to_completion(image(servers()[-1]), command=("sh", "-c", LEFTOVERS)).stdout.splitlines())
    assert found - before == set()
