"""How each server lives through what production does to it: docker stop with a request in
flight, and a worker process killed. Each test records what it saw in the capability matrix."""

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from capabilities import Matrix
from harness import Container, docker, eventually, serving, toolbox_for, workers

pytestmark = pytest.mark.usefixtures("family")

STOP_TIMEOUT = 10  # docker stop's default: SIGKILL after this many seconds
KILLED = 137  # the exit status of a container docker had to SIGKILL


def outcome(container: Container, path: str) -> int | str:
    """The status of a GET, or the name of the error that stopped it."""
    try:
        return container.get(path, timeout=30).status_code
    except httpx.TransportError as error:
        return type(error).__name__


def exit_code(container: Container) -> int:
    return int(docker("inspect", "--format", "{{.State.ExitCode}}", container.id))


@pytest.mark.capability("drain")
def test_docker_stop_with_a_request_in_flight(server: str, capabilities: Matrix) -> None:
    with serving(server) as container, ThreadPoolExecutor(2) as pool:
        in_flight = pool.submit(outcome, container, "/slow?seconds=3")
        time.sleep(1)  # the request is being served
        started = time.monotonic()
        stop = pool.submit(docker, "stop", "--time", str(STOP_TIMEOUT), container.id)
        time.sleep(0.5)
        newcomer = outcome(container, "/healthz")
        stop.result()
        stopped_in = time.monotonic() - started
        finished = in_flight.result()
        status = exit_code(container)
    print(f"{server}: in flight {finished}, new {newcomer}, stopped in {stopped_in:.1f} s, exit {status}")
    assert status != KILLED, "the server outlived docker stop's timeout"
    if finished == 200:
        assert newcomer != 200, "a server draining for shutdown still took a new request"
        capabilities.record(server, "drain", "yes")
    else:
        capabilities.record(server, "drain", "no: requests in flight are cut")


@pytest.mark.capability("respawn")
def test_a_killed_worker_is_replaced(server: str, capabilities: Matrix) -> None:
    """Two CPUs, so the default is two workers where the server has workers at all."""
    with serving(server, "--cpus=2") as container, toolbox_for(container) as toolbox:
        before = {p.pid for p in workers(toolbox)}
        if not before:
            capabilities.record(server, "respawn", "no: one process")
            return
        victim = min(before)
        toolbox.run(f"kill -KILL {victim}")

        def replaced_or_gone() -> bool:
            if not is_running(container):
                return True
            try:
                now = {p.pid for p in workers(toolbox)}
            except AssertionError:  # the toolbox went with the container
                return not is_running(container)
            return len(now) == len(before) and victim not in now

        eventually(replaced_or_gone, "a new worker or the end of the container")
        survived = is_running(container)
        if survived:
            assert container.get("/healthz").status_code == 200
        print(f"{server}: survived {survived}, exit {exit_code(container)}")
    capabilities.record(server, "respawn", "yes" if survived else "no: the server exits")


def is_running(container: Container) -> bool:
    return docker("inspect", "--format", "{{.State.Running}}", container.id).strip() == "true"
