"""A project's requirements as one requirements.txt, for a Dockerfile stage to install.

    python -m django_asgi.requirements /tmp/project /tmp/requirements
    python -m django_asgi.requirements /tmp/project/requirements.txt /tmp/requirements

Given the project's directory, its lock is the source of truth: a uv.lock, poetry.lock or
Pipfile.lock is exported, with hashes, by its own tool (installed from the image's hash-locked
/opt/django-asgi/tools/<tool>.txt into a virtualenv of its own and removed after), each
refusing a lock that no longer matches pyproject.toml or Pipfile; without one, requirements.txt
is followed. A requirements file's `-r other.txt` and `-c constraints.txt` (also
`--requirement`, `--constraint`) are followed, relative to the file that names them, and
copied with their paths relative to the first file's directory. Either way DESTINATION gets a
requirements.txt. examples/managed/Dockerfile and examples/compiled/Dockerfile run this in a
stage of its own, so that editing the project's code installs nothing again. A missing file,
one outside the project, two locks, or a lock its tool refuses is one line and exit status 2.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

INCLUDE = re.compile(r"^\s*(?:-r|-c|--requirement|--constraint)(?:\s*=\s*|\s+)(\S+)")
TOOL_LOCKS = Path(__file__).resolve().parent.parent / "tools"  # /opt/django-asgi/tools
REQUIREMENTS = "requirements.txt"
# The image's pins are for its own virtualenv, not the tool's: the final stage's install
# applies them, naming both versions where a lock disagrees.
IMAGE_CONSTRAINTS = ("PIP_CONSTRAINT", "UV_CONSTRAINT")


class RequirementsError(Exception):
    """A project's requirements cannot be read; the message is one line."""


@dataclass(frozen=True)
class Lock:
    """A lock file and the commands of its tool that check it and print it as requirements."""

    file: str
    tool: str
    check: tuple[str, ...] | None
    export: tuple[str, ...]  # prints the requirements, with hashes, on stdout

    def refused(self) -> str:
        return f"{self.tool} refused {self.file} (its message is above): lock again with {self.tool} and commit it"


LOCKS = (
    Lock("uv.lock", "uv", None, ("export", "--locked", "--no-dev", "--no-emit-project", "--format=requirements-txt")),
    Lock("poetry.lock", "poetry", ("check", "--lock"), ("export", "--only", "main")),
    Lock("Pipfile.lock", "pipenv", ("verify",), ("requirements", "--hash")),
)


def included_files(first: Path) -> list[Path]:
    """`first` and every file it includes, each once, in the order they are named."""
    root, found, pending = first.parent.resolve(), [], [first]
    while pending:
        path = pending.pop(0)
        if not path.is_file():
            raise RequirementsError(f"{path} does not exist (named {'by an -r/-c line' if found else 'to install'})")
        resolved = path.resolve()
        if not resolved.is_relative_to(root):
            raise RequirementsError(f"{path} is outside the project's directory {root}")
        if resolved in found:
            continue
        found.append(resolved)
        for line in path.read_text().splitlines():
            match = INCLUDE.match(line)
            if match:
                pending.append(path.parent / match.group(1))
    return found


def copy(first: Path, destination: Path) -> list[Path]:
    root = first.parent.resolve()
    copied = []
    for path in included_files(first):
        target = destination / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        copied.append(target)
    return copied


def lock_of(project: Path) -> Lock | None:
    """The project's one lock, None when it has none (then its requirements.txt counts)."""
    if not project.is_dir():
        raise RequirementsError(f"{project} is not a directory")
    found = [lock for lock in LOCKS if (project / lock.file).is_file()]
    if len(found) > 1:
        names = " and ".join(lock.file for lock in found)
        raise RequirementsError(f"{project} has {names}: keep the one your project is managed with")
    return found[0] if found else None


def tool_environment() -> dict[str, str]:
    """The stage's environment less the image's pins; uv never downloads a Python of its own."""
    kept = {name: value for name, value in os.environ.items() if name not in IMAGE_CONSTRAINTS}
    return kept | {"UV_PYTHON_DOWNLOADS": "never"}


def install_tool(tool: str, into: Path) -> Path:
    """The tool's hash-locked packages in a virtualenv of their own; its bin directory."""
    lock = TOOL_LOCKS / f"{tool}.txt"
    # the image's pip installs into it (no pip of its own), without bytecode: it is thrown away
    pip = [sys.executable, "-m", "pip", "--python", str(into / "bin" / "python"), "install", "--quiet"]
    pip += ["--no-compile", "--require-hashes", "--no-deps"]
    try:
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(into)], check=True)
        subprocess.run([*pip, "-r", str(lock)], check=True, env=tool_environment())
    except subprocess.CalledProcessError:
        raise RequirementsError(f"installing {tool} from {lock} failed (pip's message is above)") from None
    return into / "bin"


def export(project: Path, lock: Lock, destination: Path) -> Path:
    """The lock as requirements.txt in `destination`, by its own tool."""
    with tempfile.TemporaryDirectory(prefix=f"{lock.tool}-") as tools:
        program = str(install_tool(lock.tool, Path(tools)) / lock.tool)
        run = {"cwd": project, "env": tool_environment(), "check": False}
        if lock.check and subprocess.run([program, *lock.check], **run).returncode != 0:
            raise RequirementsError(lock.refused())
        exported = subprocess.run([program, *lock.export], stdout=subprocess.PIPE, text=True, **run)
        if exported.returncode != 0:
            raise RequirementsError(lock.refused())
    destination.mkdir(parents=True, exist_ok=True)
    target = destination / REQUIREMENTS
    target.write_text(exported.stdout)
    return target


def requirements_of(source: Path, destination: Path) -> tuple[str, list[Path]]:
    """What was read (a lock or requirements files) and the files written into `destination`."""
    if not source.is_dir():
        return source.name, copy(source, destination)
    lock = lock_of(source)
    if lock:
        return f"{lock.file}, exported by {lock.tool}", [export(source, lock, destination)]
    if not (source / REQUIREMENTS).is_file():
        raise RequirementsError(f"{source} has no {', '.join(lock.file for lock in LOCKS)} or {REQUIREMENTS}")
    return REQUIREMENTS, copy(source / REQUIREMENTS, destination)


def main(argv: Sequence[str]) -> int:
    if len(argv) != 2:
        usage = "usage: python -m django_asgi.requirements PROJECT_DIRECTORY|REQUIREMENTS_TXT DESTINATION"
        print(usage, file=sys.stderr)
        return 2
    try:
        read, written = requirements_of(Path(argv[0]), Path(argv[1]))
    except RequirementsError as error:
        print(f"django_asgi.requirements: error: {error}", file=sys.stderr)
        return 2
    print(f"django_asgi.requirements: from {read}: {', '.join(str(path) for path in written)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
