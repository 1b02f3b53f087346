"""Running the setups: containers pinned to one CPU, wrk pinned to another, rounds
interleaved across every setup so that machine drift hits all of them alike."""

import platform
import re
import socket
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from . import rolling, websocket, wrk
from .setups import HEAVY_KINDS, Line, Setup, heavy_image, naive_image, naive_requirements, realapp_image

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 60.0  # seconds a container may take to answer its first request
# The server gets one CPU and the load generator the other (this is a 2-core machine);
# docker's proxy is left to the scheduler, as it is in production.
SERVER_CPU = "1"
LOAD_CPU = 0


@dataclass(frozen=True)
class Options:
    servers: tuple[str, ...]
    seconds: int  # each measured load run
    warmup: int  # load before each measured run, not counted
    repeats: int  # rounds of every setup
    connections: int
    starts: int  # cold starts of each setup
    sizes: bool


class BenchError(Exception):
    """A setup that cannot be measured: one line for the user."""


def docker(*args: str, timeout: float = 900) -> str:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False, cwd=ROOT)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise BenchError(f"docker {args[0]} failed: {last}")
    return result.stdout


def build(line: Line, servers: tuple[str, ...], family: bool) -> None:
    """The family's default line and its sample images (bake, unless told they exist), and
    the seed's setup for each server (pip, cached by BuildKit after the first run)."""
    if family:
        bake_line()
    for server in servers:
        print(f"bench: building the seed's setup for {server}", flush=True)
        requirements = " ".join(naive_requirements(server, line.django))
        image_build(
            "naive.Dockerfile", ROOT / "sample_app", naive_image(server, line),
            PYTHON_VERSION=line.python, REQUIREMENTS=requirements,
        )  # fmt: skip
        print(f"bench: building the heavy app's image for {server}", flush=True)
        image_build("heavyapp.Dockerfile", ROOT / "bench", heavy_image(server, line), BASE=line.images[server])
        print(f"bench: building the real app's image for {server}", flush=True)
        image_build(
            "realapp.Dockerfile", ROOT / "bench", realapp_image(server, line), BASE=line.images[f"corpus-{server}"]
        )


def bake_line() -> None:
    print("bench: building the default line and the sample images (docker buildx bake default test)", flush=True)
    docker("buildx", "bake", "default", "test")


def image_build(dockerfile: str, context: Path, tag: str, **build_args: str) -> None:
    """`docker build` of one of bench/'s Dockerfiles (cached by BuildKit after the first run)."""
    args = [arg for name, value in build_args.items() for arg in ("--build-arg", f"{name}={value}")]
    docker("build", "--quiet", "--file", str(ROOT / "bench" / dockerfile), *args, "--tag", tag, str(context))


def rolling_rounds(
    server: str, line: Line, haproxy: str, directory: Path, date: str, repeats: int
) -> list[dict[str, object]]:
    """examples/swarm with `server`'s sample project behind the example's HAProxy, under
    rolling.Load's keep-alive clients: every replica replaced in each update order, `repeats`
    times, the p99 while it lasts (until the last old replica is gone) against the seconds
    before it."""
    print(f"bench: rolling updates of {server} on a one-node swarm", flush=True)
    image = line.images[f"sample-{server}"]
    rounds: list[dict[str, object]] = []
    try:
        with (
            rolling.deployed_example(server, image, haproxy, directory, (rolling.PROMPT,)) as stack,
            rolling.under_load(stack) as loads,
        ):
            for _ in range(repeats):
                for order in rolling.ORDERS:
                    (measured,) = rolling.changed(
                        stack, loads, rolling.forced_update(stack, order), steady_seconds=rolling.BENCH_STEADY_SECONDS
                    )
                    rounds.append(rolling_round(server, order, measured, date))
    except rolling.SwarmError as error:
        raise BenchError(str(error)) from None
    return rounds


def rolling_round(server: str, order: str, measured: rolling.Measured, date: str) -> dict[str, object]:
    during, steady = measured.during, measured.steady
    return {
        "server": server, "order": order, "date": date, "requests": during.requests, "failed": during.failed,
        "steady_requests": steady.requests, "steady_p99_ms": steady.p99_ms, "during_p99_ms": during.p99_ms,
    }  # fmt: skip


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class Running:
    id: str
    url: str  # what must answer 200 before the load starts, and what wrk loads
    base: str  # http://127.0.0.1:<port>


def start(setup: Setup) -> Running:
    options = ["--detach", f"--cpuset-cpus={SERVER_CPU}"]
    env = dict(setup.env)
    if setup.host_network:
        port = free_loopback_port()
        env.update(HOST="127.0.0.1", PORT=str(port))
        options += ["--network", "host"]
    else:
        options += ["--publish", "127.0.0.1::8000"]
    for name, value in env.items():
        options += ["--env", f"{name}={value}"]
    container = docker("run", *options, setup.image, *setup.command).strip()
    if not setup.host_network:
        port = int(docker("port", container, "8000/tcp").splitlines()[0].rsplit(":", 1)[1])
    base = f"http://127.0.0.1:{port}"
    return Running(container, base + ("/" if setup.websocket else setup.path), base)


def wait_for_first_answer(container: Running, setup: Setup) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    with httpx.Client(timeout=1) as client:
        while time.monotonic() < deadline:
            try:
                if client.get(container.url).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.01)
    logs = subprocess.run(["docker", "logs", "--tail", "1", container.id], capture_output=True, text=True)
    last = (logs.stdout + logs.stderr).strip().splitlines()
    raise BenchError(
        f"{setup.key} never answered {setup.path} in {READY_TIMEOUT:.0f} s: {last[-1] if last else 'no logs'}"
    )


@contextmanager
def running(setup: Setup) -> Iterator[Running]:
    container = start(setup)
    try:
        wait_for_first_answer(container, setup)
        yield container
    finally:
        subprocess.run(["docker", "rm", "--force", container.id], capture_output=True, check=False)


def rss_mib(container_id: str) -> float:
    """Anonymous memory of a container's cgroup (what its processes hold, without the page
    cache): `anon` on cgroup v2, `total_rss` on v1."""
    stat = docker(
        "exec",
        container_id,
        "sh",
        "-c",
        "cat /sys/fs/cgroup/memory.stat 2>/dev/null || cat /sys/fs/cgroup/memory/memory.stat",
    )
    values = dict(line.split() for line in stat.splitlines() if len(line.split()) == 2)
    return int(values.get("anon", values.get("total_rss", 0))) / 2**20


def cpu_seconds(container_id: str) -> float:
    """CPU time the container's processes have used so far: `usage_usec` on cgroup v2,
    cpuacct.usage (ns) on v1."""
    usage = docker(
        "exec",
        container_id,
        "sh",
        "-c",
        "grep '^usage_usec' /sys/fs/cgroup/cpu.stat 2>/dev/null || cat /sys/fs/cgroup/cpuacct/cpuacct.usage",
    ).split()
    return int(usage[1]) / 1e6 if usage[0] == "usage_usec" else int(usage[0]) / 1e9


def load_round(setup: Setup, options: Options) -> dict[str, object]:
    """One fresh container: a warm-up, then the measured run, with the CPU time it took
    (the server's cost per request, steadier than its throughput on a shared machine)."""
    with running(setup) as container:
        idle = rss_mib(container.id)
        try:
            load_for(setup, container, options.warmup, options)
            cpu_before = cpu_seconds(container.id)
            load = load_for(setup, container, options.seconds, options)
            cpu = cpu_seconds(container.id) - cpu_before
        except RuntimeError as error:
            raise BenchError(f"{setup.key}: {error}") from None
        after = rss_mib(container.id)
    return {**measured(load, cpu), "rss_idle_mib": idle, "rss_after_mib": after}


def measured(load: wrk.Load, cpu: float) -> dict[str, object]:
    """A load run's figures, with the CPU it took per request in µs."""
    return {**asdict(load), "rps": load.rps, "cpu_us": cpu / load.requests * 1e6 if load.requests else 0.0}


def side_by_side_round(
    ours: Setup, other: Setup, options: Options, first_is_ours: bool = True
) -> dict[str, dict[str, object]]:
    """Both containers at once on the server's CPU, each loaded by its own wrk (half the
    connections each) for the warm-up and the measured run, with the CPU time each took."""
    # which one starts first alternates by round: the second one started came out a few
    # percent cheaper than the first when both were ours
    order = [("ours", ours), ("other", other)][:: 1 if first_is_ours else -1]
    with running(order[0][1]) as first, running(order[1][1]) as second:
        pair = {order[0][0]: first, order[1][0]: second}
        connections = max(1, options.connections // 2)
        concurrent_loads(pair, options.warmup, connections)
        before = {name: cpu_seconds(container.id) for name, container in pair.items()}
        loads = concurrent_loads(pair, options.seconds, connections)
        used = {name: cpu_seconds(container.id) - before[name] for name, container in pair.items()}
    return {name: measured(load, used[name]) for name, load in loads.items()}


def concurrent_loads(pair: dict[str, Running], seconds: int, connections: int) -> dict[str, wrk.Load]:
    loads: dict[str, wrk.Load] = {}
    failures: list[str] = []

    def load(name: str, container: Running) -> None:
        try:
            loads[name] = wrk.run(container.url, connections=connections, seconds=seconds, cpu=LOAD_CPU)
        except RuntimeError as error:
            failures.append(str(error))

    threads = [threading.Thread(target=load, args=item) for item in pair.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise BenchError(f"side by side: {failures[0]}")
    return loads


def interleaved_side_by_side(pairs: list[tuple[Setup, Setup]], options: Options) -> list[dict[str, object]]:
    rounds = []
    for repeat in range(options.repeats):
        for ours, other in pairs:
            print(f"bench: round {repeat + 1}/{options.repeats}: {other.server}: beside {other.label}", flush=True)
            measured = side_by_side_round(ours, other, options, first_is_ours=repeat % 2 == 0)
            rounds.append({"server": other.server, "change": other.label, "repeat": repeat, **measured})
    return rounds


def load_for(setup: Setup, container: Running, seconds: int, options: Options) -> wrk.Load:
    if setup.websocket:
        url = "ws" + container.base.removeprefix("http") + setup.path
        return websocket.run(url, connections=options.connections, seconds=seconds, cpu=LOAD_CPU)
    script = str(ROOT / setup.script) if setup.script else None
    return wrk.run(container.url, connections=options.connections, seconds=seconds, cpu=LOAD_CPU, script=script)


# What the process that imported the project says it took (django_asgi/building.py).
SAID_TIMES = re.compile(r"django-asgi: imported .* in (\d+\.\d+) s; deployment checks: [^;]* in (\d+\.\d+) s;")


def cold_start(setup: Setup) -> dict[str, float]:
    """Seconds from `docker run` to the first 200 on its path (/), and for our images the
    import's and the deployment checks' seconds as their start-up line says them."""
    began = time.monotonic()
    with running(setup) as container:
        seconds = time.monotonic() - began
        logs = subprocess.run(["docker", "logs", container.id], capture_output=True, text=True, check=False)
    said = SAID_TIMES.search(logs.stderr)
    if not said:
        return {"seconds": seconds}
    return {"seconds": seconds, "import_seconds": float(said[1]), "checks_seconds": float(said[2])}


def interleaved_loads(all_setups: list[Setup], options: Options) -> list[dict[str, object]]:
    runs = []
    loaded = [setup for setup in all_setups if setup.kind not in HEAVY_KINDS]  # started, never loaded
    for repeat in range(options.repeats):
        for setup in loaded:
            print(f"bench: round {repeat + 1}/{options.repeats}: {setup.key}", flush=True)
            runs.append({"setup": setup.key, "repeat": repeat, **load_round(setup, options)})
    return runs


def interleaved_starts(all_setups: list[Setup], options: Options) -> list[dict[str, object]]:
    compared = [setup for setup in all_setups if setup.kind in ("ours", "naive", "real", "wsgi", *HEAVY_KINDS)]
    starts = []
    for repeat in range(options.starts):
        for setup in compared:
            starts.append({"setup": setup.key, "repeat": repeat, **cold_start(setup)})
    return starts


def history_bytes(tag: str) -> int:
    sizes = docker("history", "--no-trunc", "--human=false", "--format", "{{.Size}}", tag).split()
    return sum(int(size) for size in sizes)


def content_bytes(tag: str) -> int:
    """What a registry stores for the image: its compressed layers (the containerd image
    store's Size)."""
    return int(docker("image", "inspect", "--format", "{{.Size}}", tag).strip())


def saved_gzip_bytes(tag: str) -> int:
    """`docker save TAG | gzip -c | wc -c`."""
    save = subprocess.Popen(["docker", "save", tag], stdout=subprocess.PIPE)
    gzip = subprocess.Popen(["gzip", "-c"], stdin=save.stdout, stdout=subprocess.PIPE)
    assert save.stdout is not None and gzip.stdout is not None
    save.stdout.close()  # gzip holds the pipe now
    total = sum(len(chunk) for chunk in iter(lambda: gzip.stdout.read(1 << 20), b""))  # type: ignore[union-attr]
    if save.wait() != 0 or gzip.wait() != 0:
        raise BenchError(f"docker save {tag} | gzip failed")
    return total


def image_sizes(line: Line, servers: tuple[str, ...]) -> dict[str, dict[str, int | str]]:
    """Each image whole (uncompressed, and saved + gzipped), and what each variant adds to
    the base (uncompressed, and compressed as a registry serves it)."""
    base = line.images["base"]
    sizes: dict[str, dict[str, int | str]] = {"base": {"tag": base, **whole_image(base)}}
    for server in servers:
        print(f"bench: measuring the size of {server}'s images", flush=True)
        variant = line.images[server]
        sizes[server] = {
            "tag": variant,
            **whole_image(variant),
            "own_bytes": history_bytes(variant) - history_bytes(base),
            "own_compressed_bytes": content_bytes(variant) - content_bytes(base),
        }
        sizes[f"{server} (seed)"] = {"tag": naive_image(server, line), **whole_image(naive_image(server, line))}
    return sizes


def whole_image(tag: str) -> dict[str, int]:
    return {"bytes": history_bytes(tag), "saved_gzip_bytes": saved_gzip_bytes(tag)}


def machine() -> dict[str, object]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    models = [line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")]
    memory_kib = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cpu": models[0] if models else platform.processor(),
        "cpus": cpuinfo.count("processor\t:"),
        "memory_gib": round(memory_kib / 2**20),
        "kernel": platform.release(),
        "docker": docker("version", "--format", "{{.Server.Version}}").strip(),
    }


def medians(runs: list[dict[str, object]], key: str) -> dict[str, float]:
    by_setup: dict[str, list[float]] = {}
    for run in runs:
        if key in run:  # the start-up line's times: only our images say them
            by_setup.setdefault(str(run["setup"]), []).append(float(run[key]))  # type: ignore[arg-type]
    return {setup: statistics.median(values) for setup, values in by_setup.items()}
