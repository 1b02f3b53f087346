"""MAX_WORKER_MEMORY on every server: a worker whose memory grows over the limit (the sample's
/sync/leak keeps what it is asked to, for good) is replaced under load, drained first: not one
request fails, the workers that answer afterwards are new ones, and the container stays up."""

import re

import pytest
from capabilities import Matrix
from harness import LOCKED_DOWN, Container, docker, eventually, is_running, serving

import bench.wrk

pytestmark = pytest.mark.usefixtures("family")

# The sample's workers use 45-50 MiB idle (daphne's 70): a limit well above, reached in a
# few seconds of leaking under load.
LIMIT_MIB = 160
LEAK_KIB = 256  # kept by every request
CONNECTIONS = 64
ROUND_SECONDS = 2
MAX_ROUNDS = 15  # a bound on the load: half a minute
RECYCLED = re.compile(
    rf"^django-asgi: worker (\d+) uses \d+ MiB, over MAX_WORKER_MEMORY={LIMIT_MIB}: replacing it \(drained first\)$",
    re.MULTILINE,
)


def recycled(container: Container) -> set[int]:
    """The workers that said they are over the limit."""
    return {int(pid) for pid in RECYCLED.findall(container.stderr())}


def processes(container: Container) -> set[int]:
    return {int(name) for name in docker("exec", container.id, "ls", "/proc").split() if name.isdigit()}


def answering(container: Container, requests: int = 10) -> set[int]:
    """The workers that answer new connections (one request each): every answer a 200."""
    pids = set()
    for _ in range(requests):
        response = container.get("/sync/leak?kib=0")
        assert response.status_code == 200, response.text
        pids.add(response.json()["pid"])
    return pids


def test_a_worker_over_max_worker_memory_is_replaced_under_load_without_a_failed_request(
    server: str, capabilities: Matrix
) -> None:
    """Locked down, two CPUs: two workers (daphne: its one process). wrk leaks into every
    worker until one of them is over the limit and gone; every request of the load must succeed."""
    with serving(server, *LOCKED_DOWN, "--cpus=2", f"--env=MAX_WORKER_MEMORY={LIMIT_MIB}") as container:
        loads: list[bench.wrk.Load] = []
        for _ in range(MAX_ROUNDS):
            url = f"{container.url}/sync/leak?kib={LEAK_KIB}"
            loads.append(bench.wrk.run(url, connections=CONNECTIONS, seconds=ROUND_SECONDS, threads=2))
            if recycled(container) - processes(container):
                break
        replaced = recycled(container) - processes(container)
        sent = sum(load.requests for load in loads)
        failed = sum(load.errors + load.non_2xx for load in loads)
        said = container.stderr()[-3000:]
        assert replaced, f"no worker over the limit was replaced in {sent} requests:\n{said}"
        assert failed == 0, f"{failed} of {sent} requests failed while workers were replaced:\n{said}"
        eventually(lambda: answering(container).isdisjoint(recycled(container)), "only new workers answering")
        assert is_running(container)
    p99 = max(load.p99_ms for load in loads)
    figure = f"{len(replaced)} replaced in {sent:,} requests, 0 failed, p99 {p99:.0f} ms"
    capabilities.measure(server, "recycle", figure)
