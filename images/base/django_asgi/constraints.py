"""The image's own packages, pinned for every later `pip install` and `uv pip install`.

A project's requirements often pin gunicorn, uvicorn or another server package from its WSGI
days. With `pip install --no-deps` that pin would silently replace the server this image
was built and tested with, and the container would fail at start (gunicorn 22 does not know
`--no-control-socket`). The images set PIP_CONSTRAINT and UV_CONSTRAINT to CONSTRAINTS,
which pins the installed version of every package the image's requirements.in files name
(Django excepted: it is the project's to pin), so such a pin stops the build at that
install, naming the package and both versions. The Dockerfiles run, for each layer:

    python -m django_asgi.constraints requirements.in
"""

import re
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

CONSTRAINTS = Path("/opt/django-asgi/constraints.txt")
# Packages an image installs that a project may pin as it likes.
PROJECTS_OWN = frozenset({"django"})
REQUIREMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def canonical(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def names_in(requirements_in: str) -> list[str]:
    """The packages a requirements.in asks for, without extras, versions or comments."""
    names = []
    for line in requirements_in.splitlines():
        match = REQUIREMENT_NAME.match(line.split("#", 1)[0].strip())
        if match and canonical(match.group()) not in PROJECTS_OWN:
            names.append(canonical(match.group()))
    return list(dict.fromkeys(names))


def pins(names: Sequence[str]) -> list[str]:
    """`name==version` of each installed package (every name must be installed)."""
    try:
        return [f"{name}=={version(name)}" for name in names]
    except PackageNotFoundError as error:
        raise SystemExit(f"django_asgi.constraints: {error.name} is named but not installed") from None


def add(requirements_in: Path, constraints: Path = CONSTRAINTS) -> list[str]:
    """Append the pins of one image layer's requirements.in; return them."""
    added = pins(names_in(requirements_in.read_text()))
    existing = constraints.read_text().splitlines() if constraints.is_file() else []
    constraints.write_text("".join(f"{line}\n" for line in dict.fromkeys([*existing, *added])))
    return added


def main(argv: Sequence[str]) -> int:
    for source in argv:
        print(f"django_asgi.constraints: pinned {', '.join(add(Path(source)))}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
