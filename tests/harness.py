"""The image family as the tests see it: bake's definition, docker, and containers."""

import json
import os
import re
import shutil
import ssl
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
import testinfra

ROOT = Path(__file__).resolve().parent.parent
BUILD_GROUPS = ("default", "test")
# Bake variables a user may set in the environment (docker-bake.hcl's `variable` blocks
# that shape tags and versions).
BAKE_VARIABLES = (
    "IMAGE_NAME", "PYTHON_VERSION", "DJANGO_VERSION", "DEFAULT_PYTHON_VERSION", "DEFAULT_DJANGO_VERSION", "BUILD_DATE",
    "ONLY_SERVERS",
)  # fmt: skip
READY_TIMEOUT = 60.0  # seconds a container may take to answer /healthz
# `docker run` as production should: read-only root, /tmp the only writable place, no
# capabilities, no privilege gain.
LOCKED_DOWN = ("--read-only", "--tmpfs=/tmp", "--cap-drop=ALL", "--security-opt=no-new-privileges")
ECHO = "/ws/echo"  # the sample's WebSocket echo route


@cache
def bake_definition(*groups: str, overrides: bool = True) -> dict[str, Any]:
    """The resolved bake file (the default line and the test images unless other groups
    are named): groups and targets with their tags, args and contexts. overrides=False:
    as written, without the bake variables set in the environment."""
    env = None if overrides else {k: v for k, v in os.environ.items() if k not in BAKE_VARIABLES}
    output = docker("buildx", "bake", "--print", *(groups or BUILD_GROUPS), env=env)
    return json.loads(output)


def bake_target(name: str) -> dict[str, Any]:
    return bake_definition()["target"][name]


def line(definition: dict[str, Any] | None = None) -> tuple[str, str]:
    """(Python, Django) of a definition's default group (the line under test, which
    PYTHON_VERSION and DJANGO_VERSION choose, unless another definition is given)."""
    definition = definition or bake_definition()
    base = next(name for name in definition["group"]["default"]["targets"] if name.startswith("base-"))
    args = definition["target"][base]["args"]
    return args["PYTHON_VERSION"], args["DJANGO_VERSION"]


def cell(flavour: str, python: str | None = None, django: str | None = None) -> str:
    """The bake target of a flavour (or "base") on a line, the tested line by default."""
    python, django = python or line()[0], django or line()[1]
    return f"{flavour}-py{python.replace('.', '-')}-django{django.replace('.', '-')}"


def flavours() -> list[str]:
    """Every variant image, the servers and the extra flavours (hypercorn-h3): each has a
    sample target `sample-<flavour>`."""
    return [name.removeprefix("sample-") for name in bake_definition()["group"]["sample"]["targets"]]


def parent_of(flavour: str) -> str:
    """The flavour (or "base") a variant builds on, from its `parent` context."""
    parent = bake_target(cell(flavour))["contexts"]["parent"].removeprefix("target:")
    return parent.removesuffix(cell(""))


def servers() -> list[str]:
    """The servers: the flavours built on the base, in the order bake lists them."""
    return [flavour for flavour in flavours() if parent_of(flavour) == "base"]


def restricted_to() -> str:
    """ONLY_SERVERS, when the family under test is restricted to some servers (CI's
    per-server jobs): tests that judge the whole family then have nothing to judge."""
    return os.environ.get("ONLY_SERVERS", "")


def python_version() -> str:
    return line()[0]


def django_version() -> str:
    return line()[1]


def http3_flavour(server: str) -> str | None:
    """The flavour that adds HTTP/3 to a server (<server>-h3), if the family has one."""
    return f"{server}-h3" if f"{server}-h3" in flavours() else None


def image(target: str) -> str:
    """The tag naming an image of the tested line: a flavour, "base", or a test target
    (sample-<flavour>, toolbox). A cell's first tag is its always-present full one."""
    name = target if target in bake_definition()["target"] else cell(target)
    return bake_target(name)["tags"][0]


def docker(*args: str, check: bool = True, timeout: float = 600, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False, env=env, cwd=ROOT
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result.stdout


def inspect_image(tag: str) -> dict[str, Any]:
    return json.loads(docker("image", "inspect", tag))[0]


@dataclass
class Container:
    """A running container of an image, published on a loopback port (and, for QUIC, the
    same container port over UDP)."""

    id: str
    url: str
    tls: ssl.SSLContext | None = None  # how a client trusts it, when it serves https
    udp_port: int | None = None
    headers: dict[str, str] | None = None  # sent with every get(): a Host that ALLOWED_HOSTS takes

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def websocket_url(self, path: str = ECHO) -> str:
        """ws:// (wss:// when it serves https) to `path`."""
        return self.url.replace("http", "ws", 1) + path

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        defaults = {"timeout": 10, "verify": self.tls or True, "headers": self.headers}
        return httpx.get(self.url + path, **{**defaults, **kwargs})

    def answer(self, path: str, timeout: float = 2) -> httpx.Response | None:
        """The response, or None while the server is not listening (starting, reloading)."""
        try:
            return self.get(path, timeout=timeout)
        except httpx.TransportError:
            return None

    @property
    def host(self) -> Any:
        """testinfra's view from inside, as the image's own user."""
        return testinfra.get_host(f"docker://{self.id}")

    @property
    def root(self) -> Any:
        """testinfra's view from inside, as root, to look where the app user cannot."""
        return testinfra.get_host(f"docker://root@{self.id}")

    def logs(self) -> str:
        return self.stdout() + self.stderr()

    def stdout(self) -> str:
        return self._logs().stdout

    def stderr(self) -> str:
        return self._logs().stderr

    def _logs(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["docker", "logs", self.id], capture_output=True, text=True, check=False)


def start_container(
    tag: str,
    *options: str,
    port: int = 8000,
    tls: ssl.SSLContext | None = None,
    udp: bool = False,
    headers: dict[str, str] | None = None,
) -> Container:
    """`docker run` the image with `port` published on a free loopback port (TCP, and UDP
    if asked); `tls` is the client context for an image told to serve https."""
    published = ["--publish", f"127.0.0.1::{port}", *(["--publish", f"127.0.0.1::{port}/udp"] if udp else [])]
    container_id = docker("run", "--detach", *published, *options, tag).strip()
    scheme = "https" if tls else "http"
    url = f"{scheme}://127.0.0.1:{published_port(container_id, f'{port}/tcp')}"
    container = Container(container_id, url, tls, headers=headers)
    if udp:
        container.udp_port = published_port(container_id, f"{port}/udp")
    return container


def published_port(container_id: str, port: str) -> int:
    return int(docker("port", container_id, port).splitlines()[0].rsplit(":", 1)[1])


def wait_until_healthy(container: Container, path: str = "/healthz") -> None:
    """Poll until the app answers 200, the container dies, or READY_TIMEOUT passes."""
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        response = container.answer(path)
        if response is not None and response.status_code == 200:
            return
        if not is_running(container):
            break
        time.sleep(0.2)
    pytest.fail(f"{container.id[:12]} never answered {path}; its logs:\n{container.logs()}", pytrace=False)


def is_running(container: Container) -> bool:
    return docker("inspect", "--format", "{{.State.Running}}", container.id).strip() == "true"


def remove_container(container_id: str) -> None:
    docker("rm", "--force", "--volumes", container_id, check=False)


@contextmanager
def running(tag: str, *options: str, ready: str = "/healthz", **kwargs: Any) -> Iterator[Container]:
    """A container of `tag` answering `ready` (the sample's /healthz), removed afterwards
    whatever happens (other keyword arguments: start_container's)."""
    container = start_container(tag, *options, **kwargs)
    try:
        wait_until_healthy(container, ready)
        yield container
    finally:
        remove_container(container.id)


@contextmanager
def toolbox_for(container: Container) -> Iterator[Any]:
    """testinfra host of a toolbox container inside `container`'s PID and network namespaces:
    ps and ss, which the slim images rightly lack, see its processes and sockets."""
    shared = f"container:{container.id}"
    toolbox_id = docker("run", "--detach", "--pid", shared, "--network", shared, image("toolbox")).strip()
    try:
        yield testinfra.get_host(f"docker://{toolbox_id}")
    finally:
        remove_container(toolbox_id)


def readable_copy(tmp_path: Path, source: Path = ROOT / "sample_app") -> Path:
    """A copy of sample_app/ (or another project) in tmp_path that the image's user (10001)
    can read, to bind-mount over /app and change."""
    project = tmp_path / "project"
    shutil.copytree(source, project)
    for path in [tmp_path, project, *project.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return project


def serving(server: str, *options: str, port: int = 8000, **kwargs: Any) -> AbstractContextManager[Container]:
    """The sample project on `server` (or another flavour) with extra `docker run` options."""
    return running(image(f"sample-{server}"), *options, port=port, **kwargs)


def index(container: Container, **kwargs: object) -> dict:
    response = container.get("/", **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


def assert_starts_clean(stderr: str) -> None:
    """Production-grade settings: Django's deployment checks ran once and found nothing, and
    nothing was worth a warning (DEBUG on, development settings)."""
    summaries = re.findall(r"; deployment checks: ([^;]*) in \d+\.\d\d s; ", stderr)
    assert summaries == ["none found"], stderr
    assert "django-asgi: check: " not in stderr and "django-asgi: warning: " not in stderr, stderr


@contextmanager
def on_a_network_of_its_own(tag: str, alias: str, ready: Callable[[str], bool], what: str) -> Iterator[tuple[str, str]]:
    """A container of `tag` (a service the tests build: PostgreSQL, Redis) on a network of its
    own, reachable there by `alias`, once `ready(container)` holds; (container, network),
    both removed afterwards."""
    network = f"django-asgi-test-{uuid.uuid4().hex[:12]}"
    docker("network", "create", network)
    container = docker("run", "--detach", f"--network={network}", f"--network-alias={alias}", tag).strip()
    try:
        eventually(lambda: ready(container), what)
        yield container, network
    finally:
        remove_container(container)
        docker("network", "rm", network, check=False)


def eventually(check: Callable[[], bool], what: str, timeout: float = 30, interval: float = 0.25) -> None:
    """Poll `check` until it holds; logs and servers take a moment to show an effect."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    pytest.fail(f"{what}: not seen within {timeout:g} s", pytrace=False)


def workers(toolbox: Any) -> list:
    """The server's worker processes: PID 1's Python children, less multiprocessing's tracker."""
    children = toolbox.process.filter(ppid=1)
    return [p for p in children if "/opt/venv/" in p.args and "resource_tracker" not in p.args]


def build_image(context: Path, *options: str, timeout: float = 1200) -> subprocess.CompletedProcess[str]:
    """`docker buildx build` of a context outside the bake file (a test's own project), its
    output kept for the assertions; `options` are buildx's (--build-arg, --tag, --load...)."""
    command = ["docker", "buildx", "build", "--progress", "plain", *options, str(context)]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False, cwd=ROOT)


def build_on_tag(context: Path, server: str, *options: str, **build_args: str) -> subprocess.CompletedProcess[str]:
    """build_image of a Dockerfile that starts `FROM org/django-asgi:${SERVER}` (README's
    recipes, examples/), on this run's image of `server`: SERVER and `build_args` as
    --build-arg, `options` as buildx's."""
    arguments = {"SERVER": server, **build_args}
    return build_image(
        context, *options, "--build-context", f"org/django-asgi:{server}=docker-image://{image(server)}",
        *(arg for name, value in arguments.items() for arg in ("--build-arg", f"{name}={value}")),
    )  # fmt: skip


def run_to_completion(
    tag: str, *options: str, command: Sequence[str] = (), timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`docker run --rm` in the foreground (the image's command, or `command`); a container
    still running at `timeout` (a guard against a hang, not a timing assertion) is removed
    before failing."""
    name = f"django-asgi-test-{uuid.uuid4().hex[:12]}"
    try:
        return subprocess.run(
            ["docker", "run", "--rm", f"--name={name}", *options, tag, *command],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as expired:
        remove_container(name)
        tail = (expired.stderr or b"")[-1500:].decode(errors="replace")
        pytest.fail(f"still running after {timeout:g} s; the end of its stderr:\n{tail}", pytrace=False)
