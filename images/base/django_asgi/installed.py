"""The image's own packages, still as the image was built: checked at every start, before
anything is exec'd.

A project's Dockerfile can take them away without any error at build time: an exact sync
(`uv sync` without `--inexact`, `poetry sync`, `pipenv sync` followed by `pipenv clean`)
removes every package its lock does not name, the server among them, and a lock that pins
another version of a server package replaces the one the image was tested with (pip
cannot: PIP_CONSTRAINT stops it, django_asgi/constraints.py). The server would then die at
start with a traceback, and under the supervisor again and again; instead the launcher
stops with one line naming what is gone, how it most likely went, and the fix.
"""

import os
import shutil
import sys
from collections import Counter
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

from .config import ConfigError
from .constraints import CONSTRAINTS, canonical

# What the other packages' INSTALLER file says, and what most likely removed the image's.
LIKELY_CAUSE = {
    "uv": "an exact `uv sync` in the project's Dockerfile (it removes what uv.lock does not name)",
    "poetry": "`poetry sync` or `poetry install --sync` in the project's Dockerfile (it removes what poetry.lock "
    "does not name)",
}
DEFAULT_CAUSE = "a `pip uninstall`, `pipenv clean` or a sync by another tool in the project's Dockerfile"
FIX = (
    "install the project beside the image's packages, never instead of them: have the tool export the lock "
    "and pip install that (`python -m django_asgi.requirements`, as examples/managed/Dockerfile does; README: "
    "Projects managed by uv, Poetry or pipenv), or at least `uv sync --locked --inexact`"
)


def pinned(constraints: Path = CONSTRAINTS) -> dict[str, str]:
    """The image's own packages and their versions (Django is the project's to pin)."""
    if not constraints.is_file():  # outside the image (the launcher's own tests)
        return {}
    pairs = (line.split("==", 1) for line in constraints.read_text().splitlines() if "==" in line)
    return {canonical(name): version.strip() for name, version in pairs}


def installed(paths: Iterable[str]) -> dict[str, str]:
    """Every distribution on the path and its version, from the names of the `.dist-info`
    folders alone (`name-version.dist-info`): no file is read, as a start should not wait."""
    found: dict[str, str] = {}
    for entry in paths:
        try:
            folders = [item.name for item in os.scandir(entry or ".") if item.name.endswith(".dist-info")]
        except OSError:  # a zip, or a folder that is not there
            continue
        for folder in folders:
            name, _, version = folder.removesuffix(".dist-info").partition("-")
            found.setdefault(canonical(name), version)
    return found


def changes(wanted: dict[str, str], present: dict[str, str]) -> list[str]:
    """Each of the image's packages that is gone or at another version, as the error says it."""
    said = []
    for name, version in wanted.items():
        if name not in present:
            said.append(f"{name} {version} is gone")
        elif present[name] != version:
            said.append(f"{name} {version} was replaced by {present[name]}")
    return said


def likely_cause(paths: list[str]) -> str:
    """The tool that installed the project's packages (their INSTALLER file), as a cause."""
    distributions = metadata.distributions(path=paths)
    tools = Counter((distribution.read_text("INSTALLER") or "").strip().lower() for distribution in distributions)
    for tool, cause in LIKELY_CAUSE.items():
        if tools[tool]:
            return cause
    return DEFAULT_CAUSE


def check(program: str, path: str | None, constraints: Path = CONSTRAINTS) -> None:
    """Stop (ConfigError: one line, exit status 2) when the server's program or one of the
    image's packages is gone or replaced."""
    wanted = pinned(constraints)
    if not wanted:
        return
    said = changes(wanted, installed(sys.path))
    if shutil.which(program, path=path) is None:
        said.insert(0, f"the server's program {program} is gone")
    if said:
        raise ConfigError(
            f"the image's server cannot start: {'; '.join(said)}. Most likely {likely_cause(sys.path)}; {FIX}"
        )
