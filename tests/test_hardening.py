"""Production lock-down on every server: read-only root, no capabilities, no privilege
gain, any UID; nothing setuid; nothing secret or left over in any layer; a HEALTHCHECK
without curl; an app that cannot import ends the container instead of looping."""

import io
import json
import re
import subprocess
import tarfile
import time
from pathlib import Path

import pytest
from harness import (
    LOCKED_DOWN,
    Container,
    docker,
    eventually,
    flavours,
    image,
    index,
    inspect_image,
    readable_copy,
    run_to_completion,
    serving,
)

pytestmark = pytest.mark.usefixtures("family")


@pytest.mark.parametrize("user", [None, "12345:0"], ids=["image-user", "arbitrary-uid"])
def test_serves_locked_down(server: str, user: str | None) -> None:
    """As the image's user, and as an arbitrary UID in group 0 (OpenShift's way)."""
    options = [*LOCKED_DOWN, *([f"--user={user}"] if user else [])]
    with serving(server, *options) as container:
        assert index(container)["server"] == server
        assert container.get("/visits").status_code == 200  # SQLite in the /tmp tmpfs
        uid = docker("exec", container.id, "python", "-c", "import os; print(os.getuid())").strip()
        assert uid == (user.split(":")[0] if user else "10001")


def test_nothing_is_setuid_or_setgid(sample: Container) -> None:
    found = sample.root.check_output("find / -xdev -perm /6000 -type f")
    assert found == ""


# Paths no layer may hold: VCS data, build and package caches, keys and secrets.
FORBIDDEN = re.compile(
    r"(^|/)(\.git|\.hg|\.svn)(/|$)|^root/\.cache/|(^|/)\.cache/pip/|^var/lib/apt/lists/.+"
    r"|(^|/)(id_rsa|id_ed25519|\.netrc|\.pypirc|\.env)$|\.(pem|key)$"
)
# Certificates every Python/TLS install ships (CA bundles, test data) are not secrets.
ALLOWED_PEMS = re.compile(r"(^|/)certifi/cacert\.pem$|/(tests?|test_data)/|^etc/ssl/certs/|^usr/share/ca-certificates/")


def layer_files(tags: list[str]) -> dict[str, list[str]]:
    """Every non-empty file of every layer (not just the final view) of the images, by layer blob."""
    saved = subprocess.run(["docker", "save", *tags], capture_output=True, check=True, timeout=600).stdout
    files: dict[str, list[str]] = {}
    with tarfile.open(fileobj=io.BytesIO(saved)) as archive:
        for member in archive.getmembers():
            if not member.name.startswith("blobs/") or not member.isfile():
                continue
            blob = archive.extractfile(member)
            assert blob is not None
            data = blob.read()
            try:
                with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as layer:
                    # files with content: not directories, links, or apt's empty lock file
                    files[member.name] = [entry.name for entry in layer if entry.isfile() and entry.size > 0]
            except tarfile.ReadError:
                continue  # a manifest or config, not a layer
    return files


def test_no_layer_holds_secrets_vcs_data_or_caches() -> None:
    files = layer_files([image(flavour) for flavour in flavours()])
    assert len(files) > 5
    leaks = [
        f"{blob}: {name}"
        for blob, names in files.items()
        for name in names
        if FORBIDDEN.search(name) and not ALLOWED_PEMS.search(name)
    ]
    assert leaks == []


def test_build_commands_carry_no_secrets() -> None:
    for flavour in flavours():
        history = docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", image(flavour))
        assert not re.search(r"(?i)(password|secret|token|api_key)=", history), flavour


# HEALTHCHECK


def health(container: Container) -> str:
    return json.loads(docker("inspect", "--format", "{{json .State.Health}}", container.id))["Status"]


def wait_for_health(container: Container, wanted: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while health(container) != wanted and time.monotonic() < deadline:
        time.sleep(0.5)
    assert health(container) == wanted, docker("inspect", "--format", "{{json .State.Health}}", container.id)


def test_healthcheck_is_the_launchers_probe() -> None:
    check = inspect_image(image("base"))["Config"]["Healthcheck"]
    assert check["Test"] == ["CMD", "python", "-m", "django_asgi.healthcheck"]


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_healthy_without_a_health_route(server: str, tls: bool, certificates) -> None:
    """The default probe asks the image's own route: a project without /healthz is healthy."""
    options = [*(certificates.docker_options() if tls else []), "--health-start-interval=1s"]
    with serving(server, *options, tls=certificates.client_context() if tls else None) as container:
        wait_for_health(container, "healthy")


def test_unhealthy_when_the_health_route_fails(server: str) -> None:
    """HEALTHCHECK_PATH=/healthz queries the database: removing it breaks the app."""
    options = ["--env=HEALTHCHECK_PATH=/healthz", "--health-interval=0.5s", "--health-start-interval=0.5s"]
    with serving(server, *options) as container:
        wait_for_health(container, "healthy")
        docker("exec", container.id, "rm", "/tmp/hello_django.sqlite3")
        wait_for_health(container, "unhealthy", timeout=30)


EXAMPLE_COM = ("--env=DJANGO_ALLOWED_HOSTS=example.com", "--env=DJANGO_DEBUG=1")
PROBES = ("--health-interval=0.5s", "--health-start-interval=0.5s")  # four probes in two seconds
DISALLOWED = re.compile(r"DisallowedHost|Invalid HTTP_HOST|Traceback|Not Found")


def probes_seen(container: Container) -> int:
    return len(json.loads(docker("inspect", "--format", "{{json .State.Health}}", container.id))["Log"])


@pytest.mark.parametrize("healthcheck_path", ["", "/healthz"], ids=["default", "HEALTHCHECK_PATH"])
def test_probes_of_a_project_that_allows_only_its_domain_are_silent(server: str, healthcheck_path: str) -> None:
    """ALLOWED_HOSTS = ["example.com"] with DEBUG on: healthy, and not one DisallowedHost or
    traceback after several probes (the default one never reaches Django; the one of
    HEALTHCHECK_PATH is given a Host that ALLOWED_HOSTS takes)."""
    options = [*EXAMPLE_COM, *PROBES, f"--env=HEALTHCHECK_PATH={healthcheck_path}"]
    with serving(server, *options, headers={"Host": "example.com"}) as container:
        wait_for_health(container, "healthy")
        eventually(lambda: probes_seen(container) >= 4, "four probes")
        assert health(container) == "healthy"
        assert not DISALLOWED.search(container.logs()), container.logs()
        # the check above can see what it looks for: a request with a foreign Host is logged
        assert container.get("/", headers={"Host": "localhost"}).status_code == 400
        eventually(lambda: bool(DISALLOWED.search(container.logs())), "Django's DisallowedHost line")


# Crash loop


def test_an_app_that_raises_at_import_ends_the_container(server: str, tmp_path: Path) -> None:
    project = readable_copy(tmp_path)
    settings = project / "hello_django" / "settings.py"
    settings.write_text(settings.read_text() + "\nraise RuntimeError('no database configured')\n")
    result = run_to_completion(image(f"sample-{server}"), f"--volume={project}:/app:ro")
    assert result.returncode == 2, result.stderr
    assert "RuntimeError: no database configured" in result.stderr.strip().splitlines()[-1]


def test_workers_that_die_at_start_end_the_container(server: str, tmp_path: Path) -> None:
    """An app that imports in the launcher's check but kills every server process that
    loads it: the container ends, it does not restart them forever. (With PRELOAD, the
    default, the server's main process imports it before any worker, and dies with it.)"""
    project = readable_copy(tmp_path)
    asgi = project / "hello_django" / "asgi.py"
    asgi.write_text(
        "import os, sys\n"
        "if os.path.basename(sys.argv[0]) != 'django-asgi':  # not the launcher's check\n"
        "    os._exit(7)  # like a crash in a C extension, in every server process\n" + asgi.read_text()
    )
    result = run_to_completion(image(f"sample-{server}"), "--env=PRELOAD=0", f"--volume={project}:/app:ro", timeout=120)
    assert result.returncode != 0, result.stderr[-2000:]


@pytest.mark.parametrize(
    ("path", "leak"),
    [("app/.git/config", True), ("root/.cache/pip/http/x", True), ("app/deploy/id_rsa", True),
     ("app/tls/server.key", True), ("var/lib/apt/lists/deb.debian.org_dists", True),
     ("opt/venv/lib/python3.14/site-packages/certifi/cacert.pem", False), ("app/manage.py", False)],
)  # fmt: skip
def test_the_leak_patterns(path: str, leak: bool) -> None:
    assert bool(FORBIDDEN.search(path) and not ALLOWED_PEMS.search(path)) is leak
