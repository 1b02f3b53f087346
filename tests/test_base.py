"""What the base image promises, checked on every variant (each inherits all of it).

The image's configuration comes from `docker image inspect`; what is inside comes from
testinfra's docker:// backend on a running sample container of that variant.
"""

import json
import shlex

import pytest
from harness import Container, inspect_image, python_version
from lockfiles import lock, pinned, top_level

APP_UID = 10001
VENV = "/opt/venv"

pytestmark = pytest.mark.usefixtures("family")


@pytest.fixture(scope="session")
def config(variant_image: str) -> dict:
    return inspect_image(variant_image)["Config"]


def test_runs_as_a_numeric_non_root_user(config: dict, sample: Container) -> None:
    """Kubernetes runAsNonRoot can only verify a numeric USER."""
    assert config["User"] == str(APP_UID)
    assert sample.host.user().uid == APP_UID
    assert sample.host.user().name == "django"


def test_image_defaults(config: dict, server: str) -> None:
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["PYTHONUNBUFFERED"] == "1" and env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PATH"].startswith(f"{VENV}/bin:")
    assert env["ASGI_SERVER"] == server
    assert config["WorkingDir"] == "/app"
    assert config["ExposedPorts"] == {"8000/tcp": {}}
    assert config["Cmd"] == ["django-asgi"]


def test_python_is_the_bake_version(sample: Container) -> None:
    version = sample.host.check_output("python -c 'import sys; print(\"%d.%d\" % sys.version_info[:2])'")
    assert version == python_version()
    assert sample.host.check_output("command -v python") == f"{VENV}/bin/python"


def installed_distributions(sample: Container) -> dict[str, str]:
    script = (
        "import json, importlib.metadata as m; "
        "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
    )
    raw = json.loads(sample.host.check_output(f"python -c {shlex.quote(script)}"))
    return {name.lower().replace("_", "-").replace(".", "-"): version for name, version in raw.items()}


def test_installed_packages_are_exactly_the_locked_ones(sample: Container, server: str) -> None:
    """Django from the base's lock, the server from its own, and nothing unlocked but pip."""
    locked = pinned(lock("base"), python_version()) | pinned(lock(server), python_version())
    installed = installed_distributions(sample)
    installed.pop("pip")
    assert installed == locked
    for name in top_level("base") + top_level(server):
        assert name in installed, f"{name} from requirements.in is not installed"


def test_django_imports_and_the_launcher_is_on_path(sample: Container) -> None:
    sample.host.check_output("python -c 'import django, django_asgi.launcher'")
    assert sample.host.exists("django-asgi")


def test_bytecode_is_precompiled(sample: Container) -> None:
    tag = sample.host.check_output("python -c 'import sys; print(sys.implementation.cache_tag)'")
    site = sample.host.check_output("python -c 'import sysconfig; print(sysconfig.get_path(\"purelib\"))'")
    for module in ("django/__init__", "django/core/handlers/asgi"):
        path, name = module.rsplit("/", 1)
        assert sample.host.file(f"{site}/{path}/__pycache__/{name}.{tag}.pyc").exists, module
    assert sample.host.file(f"/opt/django-asgi/django_asgi/__pycache__/launcher.{tag}.pyc").exists


def test_the_app_user_cannot_change_the_code(sample: Container) -> None:
    for path in (VENV, f"{VENV}/bin", "/opt/django-asgi", "/app"):
        assert sample.host.file(path).user == "root", path
        assert sample.host.run(f"test -w {path}").rc != 0, f"{path} is writable by the app user"


def test_no_compilers_no_curl_no_caches(sample: Container) -> None:
    for command in ("gcc", "cc", "make", "curl", "wget"):
        assert not sample.host.exists(command), command
    assert not sample.root.file("/root/.cache/pip").exists
    # what the family adds (the base Python's own ensurepip wheels are not ours to judge)
    ours = "/opt /app /root /home /tmp"
    assert sample.root.check_output(f"find {ours} -name '*.whl' -o -name .git -o -name .cache") == ""


def test_the_project_is_where_the_launcher_looks(sample: Container) -> None:
    """The sample is in /app, and the launcher finds hello_django/asgi.py there by itself."""
    assert sample.host.file("/app/manage.py").exists
    assert sample.host.file("/app/hello_django/asgi.py").exists
    result = sample.host.run("django-asgi --print")
    assert result.rc == 0, result.stderr
    assert "serving hello_django.asgi:application on 0.0.0.0:8000" in result.stderr
