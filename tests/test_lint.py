"""The lint stack, clean: ruff on the Python, hadolint on every Dockerfile, shellcheck on
the shell, and the locks in step with their sources."""

import subprocess
import sys
from pathlib import Path

import pytest
from harness import ROOT

BIN = Path(sys.executable).parent


def run(*command: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(part) for part in command], cwd=ROOT, capture_output=True, text=True, check=False)


def tracked(pattern: str) -> list[str]:
    """Files git knows (tracked or new, not ignored) matching a pathspec."""
    listed = run("git", "ls-files", "--cached", "--others", "--exclude-standard", "--", pattern)
    return [path for path in listed.stdout.splitlines() if (ROOT / path).exists()]


@pytest.mark.parametrize("command", [("check",), ("format", "--check")])
def test_ruff(command: tuple[str, ...]) -> None:
    result = run(BIN / "ruff", *command, ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint() -> None:
    dockerfiles = tracked("*Dockerfile")
    assert "images/base/Dockerfile" in dockerfiles
    result = run(BIN / "hadolint", *dockerfiles)
    assert result.returncode == 0, result.stdout + result.stderr


def test_shellcheck() -> None:
    scripts = [".ci/run"]
    result = run("shellcheck", *scripts)
    assert result.returncode == 0, result.stdout + result.stderr
