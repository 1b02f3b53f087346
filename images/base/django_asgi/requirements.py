"""Copy a project's requirements file and every file it includes, for a Dockerfile stage.

    python -m django_asgi.requirements /src/requirements.txt /tmp/requirements

`-r other.txt` and `-c constraints.txt` (also `--requirement`, `--constraint`) are followed,
relative to the file that names them, and copied with their paths relative to the first
file's directory. examples/compiled/Dockerfile copies only these into the stage that builds
wheels, so that editing the project's code does not rebuild them. A missing file, or one
outside the project, is one line and exit status 2.
"""

import re
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

INCLUDE = re.compile(r"^\s*(?:-r|-c|--requirement|--constraint)(?:\s*=\s*|\s+)(\S+)")


class RequirementsError(Exception):
    """A requirements file cannot be followed; the message is one line."""


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


def main(argv: Sequence[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m django_asgi.requirements REQUIREMENTS_TXT DESTINATION", file=sys.stderr)
        return 2
    try:
        copied = copy(Path(argv[0]), Path(argv[1]))
    except RequirementsError as error:
        print(f"django_asgi.requirements: error: {error}", file=sys.stderr)
        return 2
    print(f"django_asgi.requirements: {', '.join(str(path) for path in copied)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
