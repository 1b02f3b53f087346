"""WebSocket echo round trips, the benchmark's load for the sample's /ws/echo route (wrk
speaks no WebSocket): `connections` clients on one event loop, each sending a message and
waiting for its echo before the next, for `seconds`. Counted as wrk's Load: a round trip is
a request."""

import asyncio
import os
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager

from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

from .wrk import Load

MESSAGE = "x" * 64  # a small chat-sized message
TIMEOUT = 10.0  # seconds a connection or an echo may take before it counts as an error


async def client(url: str, deadline: float, latencies: list[float], errors: list[int]) -> None:
    try:
        async with connect(url, open_timeout=TIMEOUT, max_size=None) as websocket:
            while (sent := time.perf_counter()) < deadline:
                await websocket.send(MESSAGE)
                reply = await asyncio.wait_for(websocket.recv(), TIMEOUT)
                if reply != MESSAGE:
                    errors.append(1)
                    return
                latencies.append(time.perf_counter() - sent)
    except (OSError, TimeoutError, WebSocketException):
        errors.append(1)


async def clients(url: str, connections: int, seconds: float) -> tuple[list[float], int, float]:
    latencies: list[float] = []
    errors: list[int] = []
    began = time.perf_counter()
    await asyncio.gather(*(client(url, began + seconds, latencies, errors) for _ in range(connections)))
    return latencies, len(errors), time.perf_counter() - began


@contextmanager
def pinned(cpu: int | None) -> Iterator[None]:
    """This process on one CPU while the load runs, as wrk under taskset."""
    if cpu is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def run(url: str, *, connections: int, seconds: int, cpu: int | None = None) -> Load:
    with pinned(cpu):
        latencies, errors, elapsed = asyncio.run(clients(url, connections, seconds))
    if not latencies:
        raise RuntimeError(f"no WebSocket round trip completed on {url} ({errors} connections failed)")
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    p50_ms, p99_ms = cuts[49] * 1000, cuts[98] * 1000
    return Load(requests=len(latencies), seconds=elapsed, errors=errors, non_2xx=0, p50_ms=p50_ms, p99_ms=p99_ms)
