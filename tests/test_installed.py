"""The launcher's check that the image's own packages are still there, as built, without
Docker (django_asgi/installed.py); test_bad_input runs it in each server's image."""

from pathlib import Path

import pytest

from django_asgi import installed
from django_asgi.config import ConfigError


def site(tmp_path: Path, *folders: str, installer: str = "pip") -> Path:
    """A site-packages folder with the given `.dist-info` folders (each with METADATA)."""
    packages = tmp_path / "site-packages"
    for folder in folders:
        info = packages / folder
        info.mkdir(parents=True)
        name, version = folder.removesuffix(".dist-info").split("-")
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        (info / "INSTALLER").write_text(f"{installer}\n")
    return packages


def constraints(tmp_path: Path, *pins: str) -> Path:
    path = tmp_path / "constraints.txt"
    path.write_text("".join(f"{pin}\n" for pin in pins))
    return path


def test_the_dist_info_folders_name_what_is_installed(tmp_path: Path) -> None:
    packages = site(tmp_path, "granian-2.8.7.dist-info", "uvicorn_worker-0.4.0.dist-info")
    found = installed.installed([str(packages), str(tmp_path / "not-there")])
    assert found == {"granian": "2.8.7", "uvicorn-worker": "0.4.0"}


def test_gone_and_replaced_packages_are_said() -> None:
    wanted = {"gunicorn": "27.0.1", "uvicorn": "0.54.0", "h11": "0.16.0"}
    said = installed.changes(wanted, {"gunicorn": "22.0.0", "h11": "0.16.0"})
    assert said == ["gunicorn 27.0.1 was replaced by 22.0.0", "uvicorn 0.54.0 is gone"]


def test_everything_in_place_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    packages = site(tmp_path, "granian-2.8.7.dist-info")
    monkeypatch.setattr("sys.path", [str(packages)])
    installed.check("sh", None, constraints(tmp_path, "granian==2.8.7"))


def test_outside_the_image_nothing_is_checked(tmp_path: Path) -> None:
    installed.check("no-such-program", None, tmp_path / "no-constraints.txt")


@pytest.mark.parametrize(
    ("installer", "cause"), [("uv", "an exact `uv sync`"), ("poetry", "`poetry sync`"), ("pip", "a `pip uninstall`")]
)
def test_a_removed_server_is_one_line_with_its_cause_and_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, installer: str, cause: str
) -> None:
    """The project's packages' installer tells what most likely removed the image's."""
    packages = site(tmp_path, "django-5.2.9.dist-info", installer=installer)
    monkeypatch.setattr("sys.path", [str(packages)])
    with pytest.raises(ConfigError) as raised:
        installed.check("granian", str(tmp_path), constraints(tmp_path, "granian==2.8.7", "servestatic==3.1.0"))
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(
        "the image's server cannot start: the server's program granian is gone; granian 2.8.7 is gone; "
        "servestatic 3.1.0 is gone. Most likely "
    )
    assert cause in message and "uv sync --locked --inexact" in message
