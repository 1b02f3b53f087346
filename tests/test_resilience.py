"""How each server lives through what production does to it: docker stop with a request in
flight, and a worker process killed. Each test records what it saw in the capability matrix."""

import asyncio
import contextlib
import re
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from capabilities import Matrix
from harness import Container, docker, eventually, is_running, serving, toolbox_for, workers
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

import bench.run
import bench.wrk

pytestmark = pytest.mark.usefixtures("family")

STOP_TIMEOUT = 10  # docker stop's default: SIGKILL after this many seconds
KILLED = 137  # the exit status of a container docker had to SIGKILL
GOING_AWAY = 1001  # RFC 6455's close code for a server going down


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
    assert status != KILLED, "the server outlived docker stop's timeout"
    if finished == 200:
        assert newcomer != 200, "a server draining for shutdown still took a new request"
        assert status == 0
        capabilities.record(server, "drain", "yes")
        capabilities.measure(server, "drain", f"200 after it, stopped in {stopped_in:.1f} s, exit 0")
    else:
        capabilities.record(server, "drain", "no: requests in flight are cut")


DRAIN_DELAY = 6  # long enough for the requests below, whatever the machine's load


@contextlib.contextmanager
def echo_socket(container: Container) -> Iterator[ClientConnection]:
    """A WebSocket to the sample's echo route, answering."""
    with connect(container.websocket_url(), open_timeout=30, close_timeout=10) as connection:
        assert echoed(connection, "hello") == "hello"
        yield connection


def echoed(connection: ClientConnection, message: str) -> str | bytes:
    connection.send(message)
    return connection.recv(timeout=10)


def close_code(connection: ClientConnection) -> int | None:
    """Waits for the server to end the WebSocket: the code it closed it with (None: dropped
    without a close frame)."""
    with pytest.raises(ConnectionClosed):
        connection.recv(timeout=STOP_TIMEOUT + 20)
    return connection.close_code


def test_drain_delay_serves_on_with_the_health_route_at_503(server: str) -> None:
    """DRAIN_DELAY after SIGTERM: the health route says 503, requests on a kept-alive
    connection and on new ones are still served, with `Connection: close`, and an open
    WebSocket still answers; then the server stops as it would have, the WebSocket closed with
    1001 (going away), exit status 0."""
    with serving(server, f"--env=DRAIN_DELAY={DRAIN_DELAY}") as container, echo_socket(container) as open_socket:
        with httpx.Client(base_url=container.url, timeout=10) as kept_alive:
            assert kept_alive.get("/-/health").status_code == 200
            docker("kill", "--signal=TERM", container.id)
            eventually(lambda: httpx.get(container.url + "/-/health").status_code == 503, "the health route at 503")
            on_the_same_connection = kept_alive.get("/healthz")
        on_a_new_one = httpx.get(container.url + "/healthz")
        for response in (on_the_same_connection, on_a_new_one):
            assert response.status_code == 200 and response.headers["connection"] == "close", response.headers
        assert echoed(open_socket, "still here") == "still here"
        assert close_code(open_socket) == GOING_AWAY
        assert docker("wait", container.id).strip() == "0", container.logs()
        assert f"SIGTERM: serving on for DRAIN_DELAY={DRAIN_DELAY} s" in container.stderr()


@pytest.mark.parametrize("preload", ["1", "0"])
def test_docker_stop_closes_open_websockets_with_1001(server: str, preload: str) -> None:
    """Without DRAIN_DELAY too (the server itself PID 1 on granian and gunicorn), with its
    workers forked or started afresh: the WebSockets open at `docker stop` are closed with 1001
    (going away) as the stop begins, rather than each server's own way (dropped, 1011 once
    GRACEFUL_TIMEOUT has passed, 1012), and the container exits 0."""
    with serving(server, f"--env=PRELOAD={preload}") as container:
        with echo_socket(container) as first, echo_socket(container) as second:
            docker("stop", "--time", str(STOP_TIMEOUT), container.id)
            assert [close_code(first), close_code(second)] == [GOING_AWAY, GOING_AWAY]
        assert exit_code(container) == 0, container.logs()


def test_graceful_timeout_shorter_than_the_request_cuts_it(server: str) -> None:
    """GRACEFUL_TIMEOUT=1 with a 6 s request: cut off, and the container still exits well
    inside docker stop's timeout rather than being killed by it."""
    with serving(server, "--env=GRACEFUL_TIMEOUT=1") as container, ThreadPoolExecutor(1) as pool:
        in_flight = pool.submit(outcome, container, "/slow?seconds=6")
        time.sleep(1)
        docker("stop", "--time", str(STOP_TIMEOUT), container.id)
        assert in_flight.result() != 200
        assert exit_code(container) != KILLED


class Traffic:
    """Requests sent in a loop from a few keep-alive clients until stopped: when each was
    answered, and when and how each failed."""

    def __init__(self, container: Container, threads: int = 4) -> None:
        self.container, self.running = container, True
        self.answered: list[float] = []
        self.failures: list[tuple[float, int | str]] = []
        self.pool = ThreadPoolExecutor(threads)
        self.loops = [self.pool.submit(self.loop) for _ in range(threads)]

    def loop(self) -> None:
        with httpx.Client(timeout=30) as client:  # keep-alive, as a proxy in front would
            while self.running:
                try:
                    status: int | str = client.get(self.container.url + "/healthz").status_code
                except httpx.TransportError as error:
                    status = type(error).__name__
                if status == 200:
                    self.answered.append(time.monotonic())
                else:
                    self.failures.append((time.monotonic(), status))

    @property
    def sent(self) -> int:
        return len(self.answered) + len(self.failures)

    def stop(self) -> None:
        self.running = False
        for loop in self.loops:
            loop.result()
        self.pool.shutdown()


@pytest.mark.capability("respawn")
def test_a_killed_worker_is_replaced(server: str, capabilities: Matrix) -> None:
    """Two CPUs, so two workers where the server has workers (daphne: its one process,
    under the supervisor). Requests keep flowing: what the kill costs is the connections the
    killed worker held (and any new one that reached it as it died), cut between the kill and
    its replacement; never an error response, and nothing after the replacement."""
    with serving(server, "--cpus=2") as container, toolbox_for(container) as toolbox:
        before = {p.pid for p in workers(toolbox)}
        if not before:
            capabilities.record(server, "respawn", "no: one process")
            return
        traffic = Traffic(container)
        time.sleep(1)
        victim = min(before)
        killed_at = time.monotonic()
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
        replaced_at = time.monotonic()
        time.sleep(1)
        traffic.stop()
        survived = is_running(container)
        if survived:
            assert container.get("/healthz").status_code == 200
            assert all(killed_at <= at <= replaced_at for at, _ in traffic.failures), (killed_at, traffic.failures)
            assert all(isinstance(status, str) for _, status in traffic.failures), traffic.failures
            assert any(at > replaced_at for at in traffic.answered), "the traffic flows after the replacement"
    capabilities.record(server, "respawn", "yes" if survived else "no: the server exits")
    capabilities.measure(server, "crash", f"{len(traffic.failures)} of {traffic.sent}")


LOAD_ROUND_SECONDS = 5
MAX_LOAD_ROUNDS = 24  # a bound on the whole load: two minutes


def wrk_round(url: str, connections: int) -> dict[str, float]:
    """One LOAD_ROUND_SECONDS run of wrk at `connections` connections: what it counted."""
    load = bench.wrk.run(url, connections=connections, seconds=LOAD_ROUND_SECONDS, threads=2)
    return {"total": load.requests, "seconds": load.seconds, "errors": load.errors, "non_2xx": load.non_2xx}


def wrk(url: str, requests: int, connections: int) -> dict[str, float]:
    """wrk runs for a time, not a count: rounds until at least `requests` were answered."""
    counts = {"total": 0, "seconds": 0.0, "errors": 0, "non_2xx": 0}
    for _ in range(MAX_LOAD_ROUNDS):
        for key, value in wrk_round(url, connections).items():
            counts[key] += value
        if counts["total"] >= requests:
            break
    return {**counts, "rps": counts["total"] / counts["seconds"]}


LOAD_REQUESTS = 5_000
LOAD_CONNECTIONS = 64


def test_load_without_errors(sample: Container, server: str, capabilities: Matrix) -> None:
    """5,000 requests of the sample's index page at 64 connections: no error, no non-2xx."""
    before = bench.run.rss_mib(sample.id)
    counts = wrk(sample.url + "/", LOAD_REQUESTS, LOAD_CONNECTIONS)
    after = bench.run.rss_mib(sample.id)
    assert counts["total"] >= LOAD_REQUESTS, counts
    assert counts["errors"] == counts["non_2xx"] == 0, counts
    assert sample.get("/healthz").status_code == 200
    capabilities.measure(
        server, "load", f"{counts['total']:.0f} in {counts['seconds']:.0f} s, {counts['rps']:.0f}/s, 0 errors"
    )
    capabilities.measure(server, "memory", f"{before:.0f} → {after:.0f} MiB")


SLOW_CLIENTS = 200
SLOW_SECONDS = 6


async def slow_client(port: int, stop: asyncio.Event) -> None:
    """A request's headers, one byte a second, never finished; closed when told."""
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for byte in b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"x" * 100:
            if stop.is_set():
                break
            writer.write(bytes([byte]))
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1)
    finally:
        writer.close()


async def latency_beside_slow_clients(container: Container) -> float:
    stop = asyncio.Event()
    clients = [asyncio.create_task(slow_client(container.port, stop)) for _ in range(SLOW_CLIENTS)]
    try:
        await asyncio.sleep(SLOW_SECONDS / 2)  # every slow client connected and dripping
        async with httpx.AsyncClient(timeout=1.0) as client:  # the bound: under 1 s
            started = time.monotonic()
            response = await client.get(container.url + "/healthz")
            took = time.monotonic() - started
        assert response.status_code == 200
        return took
    finally:
        stop.set()
        await asyncio.gather(*clients, return_exceptions=True)


def test_slow_clients_do_not_hold_up_a_normal_request(sample: Container, server: str, capabilities: Matrix) -> None:
    took = asyncio.run(latency_beside_slow_clients(sample))
    capabilities.measure(server, "slow_clients", f"{took * 1000:.0f} ms")
    assert sample.get("/healthz").status_code == 200


# Sent from inside the container, to the server itself: docker's port proxy would turn a
# server's "400 and close" into a bare reset when the client is still uploading.
RAW_CLIENT = """
import select, socket, sys
request = sys.stdin.buffer.read()
answer = b""
with socket.create_connection(("127.0.0.1", 8000), timeout=10) as conn:
    try:
        for start in range(0, len(request), 4096):  # small chunks, reading as soon as it answers
            conn.sendall(request[start : start + 4096])
            if select.select([conn], [], [], 0.001)[0]:
                break
        answer = conn.recv(4096)
    except ConnectionError:
        pass
sys.stdout.buffer.write(answer)
"""


def raw_request(container: Container, request: bytes) -> bytes:
    """The start of what the server answers to raw bytes; b"" if it only closed."""
    result = subprocess.run(
        ["docker", "exec", "-i", container.id, "python", "-c", RAW_CLIENT],
        input=request,
        capture_output=True,
        timeout=60,
        check=True,
    )
    return result.stdout


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Huge: " + b"x" * 200_000 + b"\r\n\r\n",
    ],
    ids=["malformed-request-line", "oversized-header"],
)
def test_bad_requests_get_a_4xx_and_the_server_keeps_serving(sample: Container, request_bytes: bytes) -> None:
    answer = raw_request(sample, request_bytes)
    assert re.match(rb"HTTP/1\.[01] 4\d\d", answer), answer[:200]
    assert sample.get("/healthz").status_code == 200
