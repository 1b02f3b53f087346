"""Rolling updates on a one-node Docker Swarm, and the load that measures them: a swarm made
for the run (and left after it), stacks deployed and removed, service updates followed to
their end, and keep-alive clients recording every request's outcome and latency. Nothing
here needs pytest, so the benchmark can use it as the tests do."""

import json
import os
import statistics
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

STACK_LABEL = "com.docker.stack.namespace"
UPDATE_TIMEOUT = 180.0  # a guard against an update that hangs, not a timing assertion
POLL_INTERVAL = 0.25


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
