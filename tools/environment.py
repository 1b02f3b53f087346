"""What the developer commands need on the machine: `.venv/` made from the tests' hash-locked
requirements, and the Debian tools the tests and the benchmarks run."""

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
VENV_BIN = VENV / "bin"
TEST_LOCK = ROOT / "tests" / "requirements.txt"
STAMP = VENV / "requirements.sha256"
# Debian packages the tests run (command: package), installed when missing.
DEBIAN_TOOLS = {
    "shellcheck": "shellcheck", "curl": "curl", "h2load": "nghttp2-client", "wrk": "wrk",
    "docker-registry": "docker-registry", "cosign": "cosign",
    # `kubectl kustomize` renders examples/kubernetes: trixie's, whose kustomize is current
    "kubectl": "kubernetes-client/trixie",
}  # fmt: skip
# `docker compose` (examples/compose's tests): the plugin from Debian trixie, which
# ../shared/bin/docker-up adds to apt's sources for the engine.
COMPOSE_PLUGIN = Path("/usr/libexec/docker/cli-plugins/docker-compose")
COMPOSE_PACKAGE = "docker-compose/trixie"
POLICY = Path("/usr/sbin/policy-rc.d")


def ensure_venv() -> None:
    """(Re)create .venv when the test lock changed since it was made."""
    wanted = hashlib.sha256(TEST_LOCK.read_bytes()).hexdigest()
    if STAMP.is_file() and STAMP.read_text() == wanted:
        return
    print(f"tools: creating {VENV.relative_to(ROOT)} from {TEST_LOCK.relative_to(ROOT)}", flush=True)
    venv.create(VENV, clear=True, with_pip=True)
    pip = [str(VENV_BIN / "python"), "-m", "pip", "install", "--quiet"]
    check([*pip, "--require-hashes", "--no-deps", "-r", str(TEST_LOCK)])
    STAMP.write_text(wanted)


def ensure_debian_tools() -> None:
    missing = sorted({package for command, package in DEBIAN_TOOLS.items() if not shutil.which(command)})
    if not COMPOSE_PLUGIN.is_file():
        missing.append(COMPOSE_PACKAGE)
    if missing:
        print(f"tools: installing {' '.join(missing)} from Debian", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        check(["apt-get", "update", "-qq"], env=env)
        with no_services_started():
            check(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], env=env)


@contextmanager
def no_services_started() -> Iterator[None]:
    """Debian's policy-rc.d 101 for the install: docker-registry's package would otherwise
    start a registry on every interface's port 5000 where systemd runs; the tests start
    their own on loopback."""
    if POLICY.exists():
        yield
        return
    POLICY.write_text("#!/bin/sh\nexit 101\n")
    POLICY.chmod(0o755)
    try:
        yield
    finally:
        POLICY.unlink()


def check(command: list[str], **kwargs: object) -> None:
    """Run quietly; on failure show what the command said, and stop."""
    result = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"tools: failed ({result.returncode}): {' '.join(command)}")
