"""Fixtures for the whole suite: the built family, sample containers, and a toolbox.

The images are the ones `docker-bake.hcl` defines, read with `docker buildx bake --print`
(set PYTHON_VERSION=3.13 to test that line). The session builds them once with bake;
DJANGO_ASGI_SKIP_BUILD=1 reuses what is already built, for quick local iteration.
"""

import os
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from capabilities import Matrix
from harness import (
    BUILD_GROUPS,
    ROOT,
    Container,
    image,
    running,
    servers,
    toolbox_for,
)
from registry import Registry, registry_on_loopback
from tls import Certificates


@pytest.fixture(scope="session")
def family() -> None:
    """Build the default line and the test images with one bake, unless told to reuse them."""
    if os.environ.get("DJANGO_ASGI_SKIP_BUILD") == "1":
        return
    log = ROOT / ".venv" / "bake.log"
    with log.open("w") as output:
        result = subprocess.run(
            ["docker", "buildx", "bake", "--progress", "plain", *BUILD_GROUPS],
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if result.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-40:])
        pytest.fail(f"docker buildx bake failed; the end of {log}:\n{tail}", pytrace=False)


@pytest.fixture(scope="session", params=servers())
def server(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def variant_image(family: None, server: str) -> str:
    return image(server)


@pytest.fixture(scope="session")
def sample(family: None, server: str) -> Iterator[Container]:
    """The sample project served by `server`, answering on a loopback port."""
    with running(image(f"sample-{server}")) as container:
        yield container


@pytest.fixture(scope="session")
def toolbox(family: None, sample: Container) -> Iterator[Any]:
    """A toolbox in the sample container's PID and network namespaces (testinfra host)."""
    with toolbox_for(sample) as host:
        yield host


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The matrix check after every test that feeds it (a stable sort keeps the rest)."""
    items.sort(key=lambda item: item.get_closest_marker("matrix_check") is not None)


@pytest.fixture(scope="session")
def capabilities() -> Matrix:
    """What the tests observed of each server, for the README's capability matrix."""
    return Matrix()


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A CA, a server certificate for localhost/127.0.0.1 and a client certificate."""
    return Certificates.make(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A real registry (Debian's docker-registry) on a free loopback port, for pushes and pulls."""
    with registry_on_loopback(tmp_path_factory.mktemp("registry")) as running_registry:
        yield running_registry
