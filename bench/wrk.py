"""wrk, run and read: the one load generator of the benchmarks and the load tests."""

import re
import subprocess
from dataclasses import dataclass

# wrk prints latency percentiles like "99%   12.34ms" under --latency.
PERCENTILE = re.compile(r"^\s*(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True)
class Load:
    """What one wrk run counted."""

    requests: int
    seconds: float
    errors: int  # socket errors: connect, read, write, timeout
    non_2xx: int
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def run(
    url: str, *, connections: int, seconds: int, threads: int = 1, cpu: int | None = None, script: str | None = None
) -> Load:
    """wrk against `url` for `seconds` (wrk counts whole seconds); `cpu` pins wrk to one CPU (taskset) so that it and
    the server under test do not take turns on the same core; `script`, a Lua file choosing each request."""
    command = [
        "wrk",
        f"--threads={threads}",
        f"--connections={connections}",
        f"--duration={seconds}s",
        "--timeout=10s",
        "--latency",
        *([f"--script={script}"] if script else []),
        url,
    ]
    if cpu is not None:
        command = ["taskset", "--cpu-list", str(cpu), *command]
    result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=False)
    return parse(result.stdout + result.stderr)


def parse(output: str) -> Load:
    total = re.search(r"(\d+) requests in ([\d.]+)(m?s)", output)
    if not total:
        raise RuntimeError(f"wrk printed no total: {output.strip()[-300:]}")
    seconds = float(total.group(2)) / (1000 if total.group(3) == "ms" else 1)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    percentiles = {p: float(value) * UNIT_MS[unit] for p, value, unit in PERCENTILE.findall(output)}
    return Load(
        requests=int(total.group(1)),
        seconds=seconds,
        errors=sum(map(int, errors.groups())) if errors else 0,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        p50_ms=percentiles.get("50", 0.0),
        p99_ms=percentiles.get("99", 0.0),
    )
