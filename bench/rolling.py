"""Rolling updates on a one-node Docker Swarm, and the load that measures them: a swarm made
for the run (and left after it), examples/swarm deployed (the project's image, balancers in
front as plain containers published on loopback) and removed, service updates followed to
their end, and keep-alive clients recording every request's outcome and latency. Nothing
here needs pytest: tests/test_swarm.py and `python3 -m bench --rolling-only` use it alike."""

import json
import os
import secrets
import statistics
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "swarm"
# Debian's HAProxy in an image built here (haproxy.Dockerfile; nothing is pulled), and the
# balancer that learns late (late.cfg: no health check, no retry, a replica kept 10 s).
HAPROXY = ROOT / "tests" / "swarm"
HAPROXY_TAG = "django-asgi-test-haproxy:latest"
LATE_CONFIG = HAPROXY / "late.cfg"
HOST = "mysite.example.com"  # the stack's DJANGO_ALLOWED_HOSTS
REPLICAS = 2
# The window before each change that its p99 is compared with: the tests' (which judge
# failures, not latency) and the bench's, long enough for a p99 of a thousand requests.
STEADY_SECONDS = 3.0
BENCH_STEADY_SECONDS = 12.0
ORDERS = ("start-first", "stop-first")
CONFIG_PATH = "/usr/local/etc/haproxy/haproxy.cfg"
# The worker's command where the project has no task queue (the sample): an idle manage.py
# process proves the worker's service runs the image, locked down, and that Swarm leaves it
# alone (no health check of a port nobody listens on).
IDLE_WORKER = ["python", "manage.py", "shell", "--command", "import signal; signal.pause()"]

STACK_LABEL = "com.docker.stack.namespace"
UPDATE_TIMEOUT = 180.0  # a guard against an update that hangs, not a timing assertion
POLL_INTERVAL = 1.0  # the swarm polled once a second: its cost on two cores stays small in both windows


class SwarmError(Exception):
    """Something the swarm did not do in time, or refused: one line."""


def docker(*args: str, check: bool = True, timeout: float = 120) -> str:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise SwarmError(f"docker {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    return result.stdout


def wait_for(check: Callable[[], bool], what: str, timeout: float = UPDATE_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SwarmError(f"{what}: not seen within {timeout:g} s")
        time.sleep(POLL_INTERVAL)


@contextmanager
def one_node_swarm() -> Iterator[None]:
    """This engine as a swarm manager: made one here if it was none (and left afterwards),
    used as it is if it already was one."""
    state = docker("info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}").split()
    if state[0] == "active" and state[1] != "true":
        raise SwarmError("this engine is a swarm worker: stacks need a manager")
    initialised = state[0] == "inactive"
    if initialised:
        docker("swarm", "init", "--advertise-addr", "127.0.0.1")
    try:
        yield
    finally:
        if initialised:
            docker("swarm", "leave", "--force", check=False)


def stack_config(compose_file: Path, variables: dict[str, str]) -> dict[str, Any]:
    """The stack as `docker stack deploy` reads it with `variables` in its environment:
    interpolated, relative paths made absolute."""
    result = subprocess.run(
        ["docker", "stack", "config", "--compose-file", str(compose_file)],
        capture_output=True, text=True, env={**os.environ, **variables}, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise SwarmError(f"docker stack config failed: {result.stderr.strip()}")
    return yaml.safe_load(result.stdout)


def deploy(config: dict[str, Any], name: str, directory: Path) -> None:
    """`docker stack deploy` of a stack's config, with the local images as they are (no
    registry to resolve them in)."""
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    docker("stack", "deploy", "--resolve-image", "never", "--detach", "--compose-file", str(path), name)


def remove_stack(name: str) -> None:
    """The stack, its containers (killed: they would drain for their DRAIN_DELAY), its
    configs and its network, whatever state they are in."""
    docker("stack", "rm", name, check=False)
    containers = docker("ps", "--all", "--quiet", "--filter", f"label={STACK_LABEL}={name}", check=False).split()
    if containers:
        docker("rm", "--force", *containers, check=False)
    wait_for(lambda: not stack_leftovers(name), f"stack {name} removed", timeout=60)


def stack_leftovers(name: str) -> list[str]:
    label = f"label={STACK_LABEL}={name}"
    return [
        *docker("ps", "--all", "--quiet", "--filter", label, check=False).split(),
        *docker("network", "ls", "--quiet", "--filter", label, check=False).split(),
    ]


def inspect_service(service: str) -> dict[str, Any]:
    return json.loads(docker("service", "inspect", service))[0]


def tasks(service: str) -> list[dict[str, str]]:
    """The service's tasks as `docker service ps` shows them: ID, Name, DesiredState,
    CurrentState ("Running 3 seconds ago"), Error."""
    output = docker("service", "ps", "--no-trunc", "--format", "{{json .}}", service)
    return [json.loads(line) for line in output.splitlines()]


def task_states(service: str) -> list[str]:
    """Each task's current state: Running, Starting, Complete, Failed..."""
    return [task["CurrentState"].split()[0] for task in tasks(service)]


def running_tasks(service: str) -> list[dict[str, str]]:
    """Tasks running and meant to (not one told to stop, still draining)."""
    return [
        task
        for task in tasks(service)
        if task["DesiredState"] == "Running" and task["CurrentState"].startswith("Running")
    ]


def containers_of(service: str) -> list[str]:
    """The service's containers still there (a stopped task's container drains first)."""
    filters = ("--filter", f"label=com.docker.swarm.service.name={service}", "--filter", "status=running")
    return docker("ps", "--quiet", *filters).split()


def update(service: str, *options: str) -> str:
    """`docker service update` with `options`, followed until it ends: its final state
    (completed, rollback_completed, paused...). The old tasks may still be draining."""
    previous = inspect_service(service).get("UpdateStatus", {}).get("StartedAt")
    docker("service", "update", "--detach", *options, service)
    ended = ("completed", "paused", "rollback_completed", "rollback_paused")

    def over() -> bool:
        status = inspect_service(service).get("UpdateStatus", {})
        return status.get("StartedAt") != previous and status.get("State") in ended

    wait_for(over, f"the update of {service}")
    return inspect_service(service)["UpdateStatus"]["State"]


def service_settled(service: str, replicas: int) -> bool:
    """As many tasks running as wanted, and no other container left (none draining)."""
    return len(running_tasks(service)) == replicas and len(containers_of(service)) == replicas


def build_balancer(python: str) -> str:
    """Debian's HAProxy in an image built on the stand-in base of `python` (nothing is
    pulled): its tag."""
    options = ("--file", str(HAPROXY / "haproxy.Dockerfile"), "--build-arg", f"PYTHON_VERSION={python}")
    docker("build", "--quiet", *options, "--tag", HAPROXY_TAG, str(HAPROXY), timeout=900)
    return HAPROXY_TAG


# ---- load ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    started: float  # time.monotonic() when the request was sent
    seconds: float
    failure: str | None  # None for a 200; the status or the transport error otherwise


@dataclass
class Load:
    """`clients` keep-alive clients (one thread each) sending GET `path` to `url`, each one
    request every `pace` seconds at most, until stopped or `limit` seconds have passed."""

    url: str
    headers: dict[str, str]
    path: str = "/"
    clients: int = 4
    pace: float = 0.02
    limit: float = 900.0  # beyond any bounded wait of a test: the load never outlives one by much
    outcomes: list[Outcome] = field(default_factory=list, init=False, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, init=False, repr=False)
    _threads: list[threading.Thread] = field(default_factory=list, init=False, repr=False)

    def __enter__(self) -> "Load":
        self._threads = [threading.Thread(target=self._client, daemon=True) for _ in range(self.clients)]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _client(self) -> None:
        end = time.monotonic() + self.limit
        with httpx.Client(base_url=self.url, headers=self.headers, timeout=10) as client:
            while not self._stop.is_set() and time.monotonic() < end:
                started = time.monotonic()
                self.outcomes.append(Outcome(started, *self._send(client, self.path)))  # append: thread-safe
                self._stop.wait(max(0.0, started + self.pace - time.monotonic()))

    @staticmethod
    def _send(client: httpx.Client, path: str) -> tuple[float, str | None]:
        started = time.monotonic()
        try:
            response = client.get(path)
        except httpx.TransportError as error:
            return time.monotonic() - started, type(error).__name__  # ConnectError, RemoteProtocolError...
        failure = None if response.status_code == 200 else f"HTTP {response.status_code}"
        return time.monotonic() - started, failure

    def between(self, start: float, end: float) -> list[Outcome]:
        return [outcome for outcome in list(self.outcomes) if start <= outcome.started < end]


@dataclass(frozen=True)
class Figures:
    requests: int
    failures: Counter[str]
    p99_ms: float

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    def __str__(self) -> str:
        kinds = f" ({', '.join(f'{n} x {kind}' for kind, n in self.failures.most_common())})" if self.failures else ""
        return f"{self.requests} requests, {self.failed} failed{kinds}, p99 {self.p99_ms:.0f} ms"


def figures(outcomes: list[Outcome]) -> Figures:
    latencies = [outcome.seconds for outcome in outcomes]
    p99 = statistics.quantiles(latencies, n=100, method="inclusive")[98] if len(latencies) > 1 else 0.0
    failures = Counter(outcome.failure for outcome in outcomes if outcome.failure)
    return Figures(len(outcomes), failures, p99 * 1000)


# ---- examples/swarm, deployed here ------------------------------------------------------


def example_env(web_image: str = "registry.example.com/team/mysite:1.0.0", haproxy: str = "") -> dict[str, str]:
    """What the stack's variables are set to: the project's image, HAProxy's if given."""
    env = {"WEB_IMAGE": web_image, "DJANGO_SECRET_KEY": secrets.token_urlsafe(50), "DATABASE_URL": "sqlite:///x"}
    return {**env, "HAPROXY_IMAGE": haproxy} if haproxy else env


def deployable(web_image: str, haproxy: str) -> dict[str, Any]:
    """The example as deployed here with the sample project (which migrates its own SQLite
    in /tmp: not here), the worker idle, HAProxy's port left out (Swarm would publish it on
    every interface: the balancers measured are plain containers on loopback instead)."""
    config = stack_config(EXAMPLE / "stack.yaml", example_env(web_image, haproxy))
    services = config["services"]
    del services["haproxy"]["ports"]
    services["worker"]["command"] = IDLE_WORKER
    services["web"]["environment"]["DJANGO_MIGRATE"] = "0"
    return config


@dataclass(frozen=True)
class Balancer:
    name: str
    container: str
    url: str
    stats: str | None  # its stats page, when it has one

    def load(self) -> Load:
        return Load(self.url, {"Host": HOST}, clients=4, pace=0.05)

    def serves(self) -> bool:
        try:
            return httpx.get(self.url, headers={"Host": HOST}, timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    def sends_to(self) -> int:
        """How many replicas it still sends to (from its stats page: servers with an address)."""
        assert self.stats, self.name
        rows = [row.split(",") for row in httpx.get(f"{self.stats};csv", timeout=5).text.splitlines()]
        status = rows[0].index("status")
        return sum(1 for row in rows[1:] if row[:1] == ["web"] and row[1] != "BACKEND" and "MAINT" not in row[status])


@dataclass(frozen=True)
class BalancerSpec:
    """A balancer to put in front: its name, its HAProxy config, whether it has a stats page."""

    name: str
    config: Path
    stats: bool = False


PROMPT = BalancerSpec("prompt", EXAMPLE / "haproxy.cfg")  # the example's: health checks, retries
LATE = BalancerSpec("late", LATE_CONFIG, stats=True)


def start_balancer(spec: BalancerSpec, network: str, tag: str, *options: str) -> Balancer:
    """HAProxy with `spec`'s config on the stack's network, published on loopback."""
    ports = ["--publish=127.0.0.1::8080", *(["--publish=127.0.0.1::8404"] if spec.stats else [])]
    mount = f"--volume={spec.config}:{CONFIG_PATH}:ro"
    container = docker("run", "--detach", f"--network={network}", *ports, mount, *options, tag).strip()

    def url(port: str) -> str:
        return "http://" + docker("port", container, port).splitlines()[0]

    return Balancer(spec.name, container, url("8080/tcp"), url("8404/tcp") + "/stats" if spec.stats else None)


@dataclass(frozen=True)
class Deployed:
    name: str
    server: str
    balancers: tuple[Balancer, ...]

    @property
    def web(self) -> str:
        return f"{self.name}_web"

    def settled(self, replicas: int) -> bool:
        """Every replica running, none left draining, and every balancer sending to them only."""
        late = [balancer for balancer in self.balancers if balancer.stats]
        return service_settled(self.web, replicas) and all(balancer.sends_to() == replicas for balancer in late)


@contextmanager
def deployed_example(
    server: str, web_image: str, haproxy: str, directory: Path, specs: tuple[BalancerSpec, ...], *options: str
) -> Iterator[Deployed]:
    """The example deployed with `web_image` (served by `server`), serving through a balancer
    per spec (`options`: their `docker run` options); removed afterwards, whatever happens."""
    name = f"django-asgi-test-{uuid.uuid4().hex[:8]}"
    with ExitStack() as cleanup:
        cleanup.callback(remove_stack, name)
        deploy(deployable(web_image, haproxy), name, directory)
        balancers = []
        for spec in specs:
            started = start_balancer(spec, f"{name}_backend", haproxy, *options)
            cleanup.callback(docker, "rm", "--force", started.container, check=False)
            balancers.append(started)
        stack = Deployed(name, server, tuple(balancers))
        wait_for(lambda: stack.settled(REPLICAS) and all(b.serves() for b in balancers), "the stack serving")
        yield stack


@dataclass(frozen=True)
class Measured:
    """One change under load, behind one balancer."""

    balancer: str
    steady: Figures
    during: Figures

    @property
    def ratio(self) -> float:
        """p99 during the change over p99 before it."""
        return self.during.p99_ms / self.steady.p99_ms if self.steady.p99_ms else 0.0

    def __str__(self) -> str:
        return f"{self.balancer}: {self.during}; steady p99 {self.steady.p99_ms:.0f} ms ({self.ratio:.1f}x)"


@contextmanager
def under_load(stack: Deployed) -> Iterator[dict[str, Load]]:
    with ExitStack() as loads:
        yield {balancer.name: loads.enter_context(balancer.load()) for balancer in stack.balancers}


def changed(
    stack: Deployed,
    loads: dict[str, Load],
    change: Callable[[], object],
    replicas: int = REPLICAS,
    steady_seconds: float = STEADY_SECONDS,
) -> list[Measured]:
    """`change()` under the loads, measured from its start until the web service has settled
    at `replicas` (the last old replica gone, every balancer sending to the new ones only),
    against the `steady_seconds` before it."""
    start = watched(stack, replicas, steady_seconds)
    change()
    wait_for(lambda: stack.settled(replicas), f"{stack.web} settled at {replicas} replicas")
    end = time.monotonic()
    return [
        Measured(name, figures(load.between(start - steady_seconds, start)), figures(load.between(start, end)))
        for name, load in loads.items()
    ]


def watched(stack: Deployed, replicas: int, seconds: float) -> float:
    """The steady window: `seconds` under the same load and the same polling of the swarm as
    the change that follows (docker's CLI and engine take their share of this machine's two
    cores; a quiet window before a polled one would count their cost as the change's).
    When it ends."""
    end = time.monotonic() + seconds
    while (now := time.monotonic()) < end:
        stack.settled(replicas)
        time.sleep(min(POLL_INTERVAL, max(0.0, end - now)))
    return time.monotonic()


def forced_update(stack: Deployed, order: str) -> Callable[[], str]:
    """Every replica replaced (`docker service update --force`) in `order`; its final state."""
    return lambda: update(stack.web, "--force", "--update-order", order)
