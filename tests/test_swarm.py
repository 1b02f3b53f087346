"""examples/swarm on a one-node swarm (this engine, made a swarm for the run and left after it
if it was none), on every server: the stack deployed as `docker stack deploy` reads it, with
the sample project as WEB_IMAGE and HAProxy from Debian's package (tests/swarm/), and two
balancers in front at once: the example's haproxy.cfg (health checks on /-/health, retries)
and one that learns late (tests/swarm/late.cfg: no health check, no retry, a replica kept
10 s after it leaves DNS). Keep-alive clients send requests through both while `docker
service update --force` replaces every replica, start-first then stop-first: no request
fails behind either, with the stack's own DRAIN_DELAY. The figures (requests, failures, p99
during each update against a steady window before it) are printed (`pytest -s`).

The balancers are plain containers on the stack's attachable overlay, published on
127.0.0.1: this kernel has no IPVS (no routing mesh, no VIP), and Swarm would publish the
stack's HAProxy on every interface, so the copy deployed here leaves its port out. The
stack is also held to the image's contract, as examples/kubernetes is."""

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from harness import LOCKED_DOWN, docker, image, python_version, servers
from test_kubernetes import PROJECT_SETTINGS, READ_BY_ITS_PACKAGES

from bench.rolling import (
    CONFIG_PATH,
    EXAMPLE,
    LATE,
    LATE_CONFIG,
    ORDERS,
    PROMPT,
    REPLICAS,
    Deployed,
    Figures,
    Measured,
    build_balancer,
    changed,
    deployed_example,
    example_env,
    forced_update,
    inspect_service,
    one_node_swarm,
    running_tasks,
    stack_config,
    task_states,
    tasks,
    under_load,
    update,
    wait_for,
)
from django_asgi.config import DEFAULT_PORT, HEALTH_PATH, read_seconds
from django_asgi.launcher import CONTRACT_VARIABLES
from django_asgi.supervisor import EXIT_MARGIN

ONE_SERVER = servers()[-1]
IMAGE_SERVICES = ("web", "migrate", "worker")  # the project's image; haproxy is HAProxy's


@pytest.fixture(scope="module")
def example() -> dict[str, Any]:
    return stack_config(EXAMPLE / "stack.yaml", example_env())


def web_env(config: dict[str, Any]) -> dict[str, str]:
    return {name: str(value) for name, value in config["services"]["web"]["environment"].items()}


def seconds(duration: str) -> float:
    """A compose duration ("22s", "1m30s", "500ms") in seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|m|s|us)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(float(number) * units[unit] for number, unit in parts)


def late_hold(config: str) -> float:
    """How long the late balancer may send to a replica after it left DNS: its hold on an
    address gone from the answer, and one interval between two resolutions."""
    hold = re.search(r"^\s*hold obsolete (\S+)", config, re.MULTILINE).group(1)
    resolve = re.search(r"^\s*timeout resolve (\S+)", config, re.MULTILINE).group(1)
    return seconds(hold) + seconds(resolve)


# ---- the stack against the image's contract (no swarm needed) ------------------------


def test_the_stack_is_what_docker_stack_deploy_reads(example: dict[str, Any]) -> None:
    assert set(example["services"]) == {"web", "haproxy", "migrate", "worker"}
    assert example["networks"]["backend"] == {"driver": "overlay", "attachable": True}
    assert example["services"]["haproxy"]["image"] == "haproxy:3.2"


def test_haproxy_finds_the_replicas_by_dns_and_checks_the_images_health_route(example: dict[str, Any]) -> None:
    web = example["services"]["web"]
    assert web["deploy"]["endpoint_mode"] == "dnsrr"  # tasks.web: one address per task
    config = (EXAMPLE / "haproxy.cfg").read_text()
    assert re.search(rf"^\s*server-template web \d+ tasks\.web:{DEFAULT_PORT}$", config, re.MULTILINE)
    assert re.search(rf"^\s*option httpchk GET {re.escape(HEALTH_PATH)}$", config, re.MULTILINE)
    assert re.search(r"^\s*nameserver docker 127\.0\.0\.11:53$", config, re.MULTILINE)  # Docker's DNS
    assert late_hold(config) <= 1, "the example's HAProxy drops a replica as soon as it leaves DNS"
    assert example["services"]["haproxy"]["configs"] == [{"source": "haproxy", "target": CONFIG_PATH}]


def test_updates_wait_for_the_health_check_and_roll_back_by_themselves(example: dict[str, Any]) -> None:
    web = example["services"]["web"]
    assert web["healthcheck"]["test"] == ["CMD", "python", "-m", "django_asgi.healthcheck"]  # the image's
    assert seconds(web["healthcheck"]["start_interval"]) <= 1, "an update waits for the first pass"
    update_config = web["deploy"]["update_config"]
    assert (update_config["order"], update_config["failure_action"], update_config["parallelism"]) == (
        "start-first", "rollback", 1,
    )  # fmt: skip
    assert web["deploy"]["rollback_config"]["order"] == "start-first"
    assert web["deploy"]["replicas"] == REPLICAS


def test_the_stop_grace_period_covers_the_drain_a_late_balancer_needs(example: dict[str, Any]) -> None:
    env = web_env(example)
    drain = read_seconds(env, "DRAIN_DELAY", default=0)
    graceful = read_seconds(env, "GRACEFUL_TIMEOUT", default=0)
    assert drain >= late_hold(LATE_CONFIG.read_text()) + 1, "a replica serves on until every balancer let it go"
    grace = seconds(example["services"]["web"]["stop_grace_period"])
    assert grace >= drain + graceful + EXIT_MARGIN, (grace, drain, graceful)


def test_every_env_name_is_the_images_or_the_projects(example: dict[str, Any]) -> None:
    """A typo in a stack's environment would be silently ignored."""
    settings = PROJECT_SETTINGS.read_text()
    known = CONTRACT_VARIABLES | READ_BY_ITS_PACKAGES
    for name in IMAGE_SERVICES:
        for variable in example["services"][name].get("environment", {}):
            assert variable in known or f'"{variable}"' in settings, (name, variable)


def test_every_service_is_locked_down(example: dict[str, Any]) -> None:
    """Read-only root, no capabilities; /tmp in memory the only writable place of the
    project's containers (Swarm has no no-new-privileges: nothing in the images is setuid,
    tests/test_hardening.py). The image's own user: the stack sets none."""
    for name, service in example["services"].items():
        assert (service["read_only"], service["cap_drop"]) == (True, ["ALL"]), name
        assert "user" not in service, name
    for name in IMAGE_SERVICES:
        (tmp,) = example["services"][name]["volumes"]
        assert (tmp["type"], tmp["target"]) == ("tmpfs", "/tmp"), name


def test_migrations_run_once_in_a_job_not_in_the_web_replicas(example: dict[str, Any]) -> None:
    migrate = example["services"]["migrate"]
    assert migrate["deploy"]["mode"] == "replicated-job"
    assert migrate["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert "DJANGO_MIGRATE" not in web_env(example)


def test_the_worker_runs_a_manage_command_and_serves_nothing(example: dict[str, Any]) -> None:
    worker = example["services"]["worker"]
    assert worker["command"][:2] == ["python", "manage.py"]
    assert worker["healthcheck"] == {"disable": True} and "ports" not in worker


# ---- the stack on a swarm --------------------------------------------------------------


# Session-scoped: a full run groups the tests by server across modules, and would otherwise
# make the swarm and build the image again for each server's group.
@pytest.fixture(scope="session")
def swarm() -> Iterator[None]:
    with one_node_swarm():
        yield


@pytest.fixture(scope="session")
def haproxy_image(family: None) -> str:
    return build_balancer(python_version())


@pytest.fixture(scope="module")
def deployed(
    family: None, swarm: None, haproxy_image: str, server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployed]:
    """The example deployed with `server`'s sample project, serving through both balancers
    (locked down as production runs them); removed afterwards, whatever happens."""
    directory = tmp_path_factory.mktemp("swarm")
    specs = (PROMPT, LATE)
    with deployed_example(server, image(f"sample-{server}"), haproxy_image, directory, specs, *LOCKED_DOWN) as stack:
        yield stack


def report(stack: Deployed, what: str, measured: list[Measured]) -> None:
    for one in measured:
        print(f"swarm {stack.server} {what} {one}")


def failed(measured: list[Measured]) -> dict[str, Figures]:
    return {one.balancer: one.during for one in measured if one.during.failed or not one.during.requests}


def test_the_migration_runs_once_and_the_worker_and_haproxy_run(deployed: Deployed) -> None:
    migrate = f"{deployed.name}_migrate"
    wait_for(lambda: task_states(migrate) == ["Complete"], "the migration job complete, once", timeout=60)
    for service in (f"{deployed.name}_worker", f"{deployed.name}_haproxy"):
        wait_for(lambda service=service: len(running_tasks(service)) == 1, f"{service} running", timeout=30)
    assert not [task for task in tasks(f"{deployed.name}_worker") if task["Error"]]


def test_rolling_updates_fail_no_request_behind_either_balancer(deployed: Deployed) -> None:
    results, states = {}, []
    with under_load(deployed) as loads:
        for order in ORDERS:
            update = forced_update(deployed, order)
            results[order] = changed(deployed, loads, lambda update=update: states.append(update()))
            report(deployed, order, results[order])
    summary = "; ".join(
        f"{order} {one.balancer} {one.during.requests} requests {one.during.failed} failed "
        f"p99 {one.during.p99_ms:.0f} (steady {one.steady.p99_ms:.0f}) ms"
        for order, measured in results.items()
        for one in measured
    )
    print(f"swarm {deployed.server}: {summary}")
    assert states == ["completed"] * len(ORDERS)
    assert {order: failed(measured) for order, measured in results.items()} == {order: {} for order in ORDERS}


def test_a_new_image_that_never_turns_healthy_is_rolled_back(deployed: Deployed, server: str) -> None:
    """One server: the rollback is Swarm's, the same whatever serves. The new replicas'
    health check asks a route that answers 404; the failing spec checks every second after a
    start period of 1 s (0 would mean the image's 60 s), so that the failure shows in seconds
    rather than after the stack's 30 s for slow imports. The service ends at its old spec,
    the old replicas serving throughout."""
    if server != ONE_SERVER:
        pytest.skip(f"the rollback is tested on {ONE_SERVER}")
    unhealthy = (
        "--env-add", f"HEALTHCHECK_PATH=/not-found-{uuid.uuid4().hex[:8]}", "--health-interval", "1s",
        "--health-start-period", "1s", "--health-retries", "1", "--update-order", "start-first",
    )  # fmt: skip
    before = inspect_service(deployed.web)["Spec"]["TaskTemplate"]
    with under_load(deployed) as loads:
        states = []
        measured = changed(deployed, loads, lambda: states.append(update(deployed.web, *unhealthy)))
    report(deployed, "rollback", measured)
    assert states == ["rollback_completed"]
    assert inspect_service(deployed.web)["Spec"]["TaskTemplate"]["ContainerSpec"] == before["ContainerSpec"]
    assert failed(measured) == {}


def test_scaling_2_4_1_under_load_fails_no_request(deployed: Deployed, server: str) -> None:
    """One server: scaling starts and stops replicas as an update does, which every server
    passes above; here it is Swarm's DNS and the balancers that are tested."""
    if server != ONE_SERVER:
        pytest.skip(f"scaling is tested on {ONE_SERVER}")
    try:
        with under_load(deployed) as loads:
            for replicas in (4, 1):
                scale = ("service", "scale", "--detach", f"{deployed.web}={replicas}")
                measured = changed(deployed, loads, lambda scale=scale: docker(*scale), replicas)
                report(deployed, f"scaled to {replicas}", measured)
                assert failed(measured) == {}, replicas
    finally:
        docker("service", "scale", "--detach", f"{deployed.web}={REPLICAS}")
        wait_for(lambda: deployed.settled(REPLICAS), f"{deployed.web} back at {REPLICAS}")
