"""A project's own pins cannot replace the server: on each image, a requirements file pinning
another version of one of its server packages stops the build at that install (pip and
`uv pip`), naming the package and both versions; Django stays the project's to pin
(examples/fly and tests/corpus/locallibrary run their own Django on every server)."""

import subprocess
from pathlib import Path

import pytest
from harness import build_image, image, python_version, servers
from lockfiles import lock, pinned

pytestmark = pytest.mark.usefixtures("family")

# (server, the pin a project's requirements.txt might carry from its WSGI days)
OLD_PINS = [("uvicorn", "gunicorn", "22.0.0"), ("uvicorn", "uvicorn", "0.30.6"), ("granian", "granian", "1.7.6")]
# The project's install, as README.md gives it for pip and for uv (uv installed the way a
# Dockerfile would: pip install uv, into a directory of its own).
INSTALLERS = {
    "pip": "pip install -r /tmp/requirements.txt",
    "uv": "pip install --quiet --target /tmp/uv uv && /tmp/uv/bin/uv pip install -r /tmp/requirements.txt",
}
DOCKERFILE = """\
ARG IMAGE
FROM ${IMAGE}
USER root
COPY requirements.txt /tmp/requirements.txt
ARG INSTALL
RUN sh -c "$INSTALL"
"""


def build(tmp_path: Path, server: str, requirements: str, installer: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    (tmp_path / "requirements.txt").write_text(requirements)
    args = ("--build-arg", f"IMAGE={image(server)}", "--build-arg", f"INSTALL={INSTALLERS[installer]}")
    return build_image(tmp_path, *args, timeout=300)


@pytest.mark.parametrize("installer", sorted(INSTALLERS))
@pytest.mark.parametrize(("server", "package", "version"), OLD_PINS, ids=[f"{s}-{p}" for s, p, _ in OLD_PINS])
def test_an_old_pin_of_the_server_stops_the_build_naming_both_versions(
    tmp_path: Path, server: str, package: str, version: str, installer: str
) -> None:
    if server not in servers():
        pytest.skip(f"{server} is not in this run (ONLY_SERVERS)")
    ours = pinned(lock(server), python_version())[package]
    result = build(tmp_path, server, f"{package}=={version}\n", installer)
    assert result.returncode != 0, result.stderr[-2000:]
    if installer == "pip":
        assert f"The user requested {package}=={version}" in result.stderr
        assert f"The user requested (constraint) {package}=={ours}" in result.stderr
    else:
        assert f"{package}=={version}" in result.stderr and f"{package}=={ours}" in result.stderr
        assert "unsatisfiable" in result.stderr


@pytest.mark.parametrize("installer", sorted(INSTALLERS))
def test_a_pin_the_image_agrees_with_and_django_pins_build(tmp_path: Path, installer: str) -> None:
    server = servers()[-1]
    gunicorn_line = (
        f"gunicorn=={pinned(lock('uvicorn'), python_version())['gunicorn']}\n" if server == "uvicorn" else ""
    )
    result = build(tmp_path, server, f"{gunicorn_line}django>=5.2,<6.0\n", installer)
    assert result.returncode == 0, result.stderr[-3000:]
