"""The lint stack, clean: ruff on the Python, hadolint on every Dockerfile, shellcheck on
the shell, and zizmor and check-jsonschema on the GitHub workflows (which cannot run here,
so their lint is their test)."""

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


def workflows() -> list[str]:
    return tracked(".github/workflows/*.yml")


def test_workflows_match_githubs_schema() -> None:
    assert {".github/workflows/ci.yml", ".github/workflows/release.yml"} <= set(workflows())
    result = run(BIN / "check-jsonschema", "--builtin-schema", "vendor.github-workflows", *workflows())
    assert result.returncode == 0, result.stdout + result.stderr
    result = run(BIN / "check-jsonschema", "--builtin-schema", "vendor.dependabot", ".github/dependabot.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_finds_nothing() -> None:
    """Offline: no template injection, no credentials persisted, least permissions, and
    every action pinned by commit SHA (the policy below)."""
    result = run(BIN / "zizmor", "--offline", "--no-progress", "--config", ".github/zizmor.yml", *workflows())
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_action_is_pinned_by_commit_sha() -> None:
    uses = [line.split("uses:", 1)[1].strip() for path in workflows() for line in (ROOT / path).read_text().splitlines()
            if "uses:" in line]  # fmt: skip
    assert uses
    for use in uses:
        reference = use.split("#")[0].strip().split("@", 1)[1]
        assert len(reference) == 40 and all(c in "0123456789abcdef" for c in reference), use


# What users get (the images' code, README, docs, examples) stands alone: it may point to
# nothing outside the repository, such as the developers' machine's shared folder.
USER_FACING = ("images/*", "README.md", "docs/*", "examples/*")


def test_what_users_get_points_nowhere_outside_the_repository() -> None:
    outside = "../" + "shared"  # spelt apart so that this file does not match itself
    files = [path for pattern in USER_FACING for path in tracked(pattern)]
    assert "images/base/django_asgi/servers.py" in files
    leaks = [path for path in files if outside in (ROOT / path).read_text(errors="replace")]
    assert leaks == []
