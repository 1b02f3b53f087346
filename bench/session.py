"""One benchmark session: build, measure every setup interleaved, write the results."""

import argparse
import json
from dataclasses import asdict

from . import report
from .run import (
    LOAD_CPU,
    SERVER_CPU,
    BenchError,
    Options,
    build,
    image_sizes,
    interleaved_loads,
    interleaved_starts,
    machine,
)
from .setups import NAIVE_PACKAGES, Line, naive_requirements, setups, wsgi_setups


def versions(line: Line, servers: tuple[str, ...]) -> dict[str, object]:
    pinned = dict(
        requirement.split("==") for server in servers for requirement in naive_requirements(server, line.django)
    )
    return {
        "python": line.python,
        "django": pinned.pop("django"),
        "servers": {package: pinned[package] for server in servers for package in NAIVE_PACKAGES[server]},
    }


def measure_starts(arguments: argparse.Namespace, line: Line, servers: tuple[str, ...], date: str) -> None:
    """The cold starts of every setup, measured again into the last session's results (its
    load runs kept, and the report says when each was measured)."""
    raw = arguments.output / "benchmarks.json"
    if not raw.is_file():
        raise BenchError(f"no {raw} to add the cold starts to: run the whole benchmark first")
    results = json.loads(raw.read_text())
    build(line, servers, family=not arguments.skip_build)
    all_setups = [setup for server in servers for setup in setups(server, line)] + wsgi_setups(line, servers)
    options = Options(servers, seconds=0, warmup=0, repeats=0, connections=0, starts=arguments.starts, sizes=False)
    results["cold_starts"] = interleaved_starts(all_setups, options)
    results["starts_date"] = date
    results["options"]["starts"] = arguments.starts
    report.write(results, arguments.output)
    print(f"bench: wrote {arguments.output}/benchmarks.md, .png and .json (cold starts of {date})", flush=True)


def measure(arguments: argparse.Namespace, line: Line, servers: tuple[str, ...], date: str) -> dict[str, object]:
    options = Options(
        servers=servers,
        seconds=arguments.seconds,
        warmup=arguments.warmup,
        repeats=arguments.repeats,
        connections=arguments.connections,
        starts=arguments.starts,
        sizes=not arguments.no_sizes,
    )
    build(line, servers, family=not arguments.skip_build)
    all_setups = [setup for server in servers for setup in setups(server, line)] + wsgi_setups(line, servers)
    results = {
        "date": date,
        "machine": machine(),
        "versions": versions(line, servers),
        "options": {**asdict(options), "server_cpu": SERVER_CPU, "load_cpu": LOAD_CPU},
        "servers": list(servers),
        "setups": [{**asdict(setup), "key": setup.key} for setup in all_setups],
        "runs": interleaved_loads(all_setups, options),
        "cold_starts": interleaved_starts(all_setups, options),
        "sizes": image_sizes(line, servers) if options.sizes else {},
    }
    report.write(results, arguments.output)
    print(f"bench: wrote {arguments.output}/benchmarks.md, .png and .json", flush=True)
    return results
