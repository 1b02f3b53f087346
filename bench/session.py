"""One benchmark session: build, measure every setup interleaved, write the results."""

import argparse
import json
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from . import report, rolling
from .run import (
    LOAD_CPU,
    SERVER_CPU,
    BenchError,
    Options,
    bake_line,
    build,
    image_sizes,
    interleaved_loads,
    interleaved_side_by_side,
    interleaved_starts,
    machine,
    rolling_rounds,
)
from .setups import NAIVE_PACKAGES, Line, Setup, naive_requirements, setups, side_by_side_pairs, wsgi_setups


def versions(line: Line, servers: tuple[str, ...]) -> dict[str, object]:
    pinned = dict(
        requirement.split("==") for server in servers for requirement in naive_requirements(server, line.django)
    )
    return {
        "python": line.python,
        "django": pinned.pop("django"),
        "servers": {package: pinned[package] for server in servers for package in NAIVE_PACKAGES[server]},
    }


def last_results(arguments: argparse.Namespace) -> dict[str, Any]:
    raw = arguments.output / "benchmarks.json"
    if not raw.is_file():
        raise BenchError(f"no {raw} to measure into: run the whole benchmark first")
    return json.loads(raw.read_text())


def measure_starts(arguments: argparse.Namespace, line: Line, servers: tuple[str, ...], date: str) -> None:
    """The cold starts of every setup, measured again into the last session's results (its
    load runs kept, and the report says when each was measured)."""
    results = last_results(arguments)
    build(line, servers, family=not arguments.skip_build)
    all_setups = [setup for server in servers for setup in setups(server, line)] + wsgi_setups(line, servers)
    options = Options(servers, seconds=0, warmup=0, repeats=0, connections=0, starts=arguments.starts, sizes=False)
    results["cold_starts"] = interleaved_starts(all_setups, options)
    results["starts_date"] = date
    results["options"]["starts"] = arguments.starts
    report.write(results, arguments.output)
    print(f"bench: wrote {arguments.output}/benchmarks.md, .png and .json (cold starts of {date})", flush=True)


def measure_side_by_side(arguments: argparse.Namespace, line: Line, servers: tuple[str, ...], date: str) -> None:
    """The side-by-side rounds of `servers` (after a change to what they compare) measured
    again into the last session's results, the rest kept (other servers' rounds too); each
    round says when it was measured."""
    results = last_results(arguments)
    build(line, servers, family=not arguments.skip_build)
    earlier = results.get("side_by_side_date") or results["date"]
    kept = [{"date": earlier, **r} for r in results.get("side_by_side", []) if r["server"] not in servers]
    measured = interleaved_side_by_side(pairs_of(line, servers), options_from(arguments, servers))
    results["side_by_side"] = kept + [{**r, "date": date} for r in measured]
    results["side_by_side_date"] = date
    report.write(results, arguments.output)
    print(f"bench: wrote {arguments.output}/benchmarks.md, .png and .json (side by side on {date})", flush=True)


def measure_rolling(arguments: argparse.Namespace, line: Line, servers: tuple[str, ...], date: str) -> None:
    """Rolling updates of `servers` on a one-node swarm (made here, left afterwards), measured
    into the last session's results, the other servers' rounds kept."""
    results = last_results(arguments)
    if not arguments.skip_build:
        bake_line()
    haproxy = balancer_image(line)
    kept = [r for r in results.get("rolling", []) if r["server"] not in servers]
    try:
        with rolling.one_node_swarm(), tempfile.TemporaryDirectory() as directory:
            rounds = (rolling_rounds(s, line, haproxy, Path(directory), date, arguments.repeats) for s in servers)
            measured = [r for server_rounds in rounds for r in server_rounds]
    except rolling.SwarmError as error:
        raise BenchError(str(error)) from None
    results["rolling"] = kept + measured
    report.write(results, arguments.output)
    print(f"bench: wrote {arguments.output}/benchmarks.md, .png and .json (rolling updates on {date})", flush=True)


def balancer_image(line: Line) -> str:
    print("bench: building HAProxy's image (tests/swarm/haproxy.Dockerfile)", flush=True)
    try:
        return rolling.build_balancer(line.python)
    except rolling.SwarmError as error:
        raise BenchError(str(error)) from None


def pairs_of(line: Line, servers: tuple[str, ...]) -> list[tuple[Setup, Setup]]:
    return [pair for server in servers for pair in side_by_side_pairs(server, line)]


def options_from(arguments: argparse.Namespace, servers: tuple[str, ...]) -> Options:
    return Options(
        servers=servers,
        seconds=arguments.seconds,
        warmup=arguments.warmup,
        repeats=arguments.repeats,
        connections=arguments.connections,
        starts=arguments.starts,
        sizes=not arguments.no_sizes,
    )


def measure(arguments: argparse.Namespace, line: Line, servers: tuple[str, ...], date: str) -> dict[str, object]:
    options = options_from(arguments, servers)
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
        "side_by_side": interleaved_side_by_side(pairs_of(line, servers), options),
        "cold_starts": interleaved_starts(all_setups, options),
        "sizes": image_sizes(line, servers) if options.sizes else {},
    }
    report.write(results, arguments.output)
    print(f"bench: wrote {arguments.output}/benchmarks.md, .png and .json", flush=True)
    return results
