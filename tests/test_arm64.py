"""Opt-in (`python3 -m tools test -m arm64`, about 10 minutes under QEMU): the default line
built for linux/arm64 with bake, and the sample project served by every flavour under
emulation. Needs arm64 base images: DOCKER_UP_PLATFORMS="linux/amd64 linux/arm64"
DOCKER_UP_PYTHONS=3.14 ../shared/bin/docker-up. Its images get names of their own, so the
amd64 images the rest of the suite uses are left alone."""

import json
import os
import subprocess

import httpx
import pytest
from harness import ROOT, docker, flavours, remove_container, start_container

pytestmark = pytest.mark.arm64

ARM64_IMAGE_NAME = "org/django-asgi-arm64"
ARM64_SAMPLE_NAME = "django-asgi-sample-arm64"
EMULATED_READY_TIMEOUT = 300.0


@pytest.fixture(scope="module")
def arm64_line() -> dict[str, str]:
    """Bake the default line and the samples for linux/arm64; flavour -> sample tag."""
    env = {**os.environ, "IMAGE_NAME": ARM64_IMAGE_NAME, "SAMPLE_NAME": ARM64_SAMPLE_NAME}
    command = ["docker", "buildx", "bake", "default", "sample", "--set", "*.platform=linux/arm64", "--load"]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    printed = subprocess.run(
        ["docker", "buildx", "bake", "--print", "sample"], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout
    targets = json.loads(printed)["target"]
    return {flavour: targets[f"sample-{flavour}"]["tags"][0] for flavour in flavours()}


@pytest.mark.parametrize("flavour", flavours())
def test_serves_on_arm64(arm64_line: dict[str, str], flavour: str) -> None:
    container = start_container(arm64_line[flavour], "--platform=linux/arm64")
    try:
        machine = docker("exec", container.id, "python", "-c", "import platform; print(platform.machine())")
        assert machine.strip() == "aarch64"
        response = None
        for _ in range(int(EMULATED_READY_TIMEOUT)):
            try:
                response = httpx.get(container.url + "/", timeout=5)
                break
            except httpx.TransportError:
                subprocess.run(["sleep", "1"], check=True)
        assert response is not None and response.status_code == 200, container.logs()[-2000:]
        assert response.json()["server"] in flavour
    finally:
        remove_container(container.id)
