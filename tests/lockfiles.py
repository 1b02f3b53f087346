"""Reading the hash-locked requirements files with `packaging`, as pip reads them."""

from functools import cache
from pathlib import Path

from harness import django_version
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from tools.locks import lock_path

ROOT = Path(__file__).resolve().parent.parent


def requirement_lines(path: Path) -> list[Requirement]:
    """Each requirement of a file, its continuation lines joined and options dropped."""
    text = path.read_text().replace("\\\n", " ")
    requirements = []
    for line in text.splitlines():
        line = line.split(" #")[0].split("--hash")[0].strip()
        if line and not line.startswith(("#", "-")):
            requirements.append(Requirement(line))
    return requirements


def image_environment(python_version: str) -> dict[str, str]:
    """Marker values of the images' Python (CPython on Linux), whatever runs the tests."""
    return {
        "python_version": python_version,
        "python_full_version": f"{python_version}.0",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "os_name": "posix",
    }


@cache
def pinned(lock: Path, python_version: str) -> dict[NormalizedName, str]:
    """name -> version of every pin in a lock that applies to the images' Python."""
    pins = {}
    for requirement in requirement_lines(lock):
        if requirement.marker and not requirement.marker.evaluate(image_environment(python_version)):
            continue
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"{lock}: {requirement} is not pinned"
        pins[canonicalize_name(requirement.name)] = specifier.version
    return pins


def top_level(image_dir: str) -> list[NormalizedName]:
    """The packages an image's requirements.in asks for by name."""
    source = ROOT / "images" / image_dir / "requirements.in"
    return [canonicalize_name(requirement.name) for requirement in requirement_lines(source)]


def lock(image_dir: str) -> Path:
    """An image's lock for the Django line under test."""
    return lock_path(image_dir, django_version())
