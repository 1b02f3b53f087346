"""The benchmark tool cannot rot: its wrk reader, its bad input, and one short run of one
server end to end (numbers are recorded, never judged: speed lives in bench/, not here)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from harness import ROOT, servers

from bench import report, wrk
from bench.setups import (
    HEAVY_BARE,
    HEAVY_KINDS,
    HEAVY_OURS,
    HEAVY_UNCHECKED,
    NAIVE_COMMANDS,
    REAL_OURS,
    SIDE_BY_SIDE,
    WSGI,
    WSGI_COMMANDS,
    default_line,
    setups,
    side_by_side_pairs,
)

WRK_OUTPUT = """Running 5s test @ http://127.0.0.1:32768/
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    26.41ms    6.21ms  61.86ms   81.70%
  Latency Distribution
     50%   25.99ms
     75%   28.75ms
     90%   33.32ms
     99%    1.20s
  5982 requests in 5.01s, 2.41MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 7
Requests/sec:   1193.23
"""


def test_wrk_output_is_read_with_its_units() -> None:
    load = wrk.parse(WRK_OUTPUT)
    assert (load.requests, load.seconds, load.errors, load.non_2xx) == (5982, 5.01, 3, 7)
    assert (load.p50_ms, load.p99_ms) == (25.99, 1200.0)
    assert load.rps == pytest.approx(5982 / 5.01)


def test_wrk_output_without_a_total_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="wrk printed no total"):
        wrk.parse("unable to connect to 127.0.0.1:1 Connection refused")


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", *args], capture_output=True, text=True, cwd=ROOT, timeout=600, check=False
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--servers", "nginx"], "--servers 'nginx': the default line's servers are daphne"),
        (["--seconds", "0"], "argument --seconds: '0' is not a whole number above 0"),
        (["--repeats", "many"], "argument --repeats: 'many' is not a whole number above 0"),
        (["--rolling-only", "--starts-only"], "argument --starts-only: not allowed with argument --rolling-only"),
    ],
)
def test_bad_input_is_one_line(args: list[str], message: str) -> None:
    result = bench(*args)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr


def test_rolling_rounds_are_judged_against_the_goal() -> None:
    """--rolling-only's rounds (measured on a swarm: tests/test_swarm.py runs the same code)
    in the report: per server and update order, the medians of the rounds and each round's p99
    during an update over its steady one, the median judged against the goal."""
    measured = {"server": "granian", "date": "2026-12-04", "failed": 0, "steady_requests": 950}
    start_first = {**measured, "order": "start-first", "steady_p99_ms": 20.0}
    stop_first = {**measured, "order": "stop-first", "steady_p99_ms": 10.0}
    rounds = [
        {**stop_first, "requests": 3100, "during_p99_ms": 30.0},
        {**start_first, "requests": 1600, "during_p99_ms": 30.0},
        {**stop_first, "requests": 3200, "during_p99_ms": 25.0, "failed": 2},
        {**start_first, "requests": 1500, "during_p99_ms": 50.0, "date": "2026-12-05"},
        {**start_first, "requests": 1700, "during_p99_ms": 20.0},
    ]
    section = report.rolling_section({"servers": ["granian"], "rolling": rounds})
    start_row = "| granian | start-first | 1,600 | 0 | 20 | 30 | 1.5x (1.5 / 2.5 / 1.0) | 3 (2026-12-04, 2026-12-05) |"
    stop_row = "| granian | stop-first | 3,150 | 2 | 10 | 28 | 2.8x (3.0 / 2.5), over the goal | 2 (2026-12-04) |"
    assert start_row in section and stop_row in section, section
    assert section.index(start_row) < section.index(stop_row)
    assert report.rolling_section({"servers": ["granian"]}) == ""


def test_every_server_has_the_seeds_command_line() -> None:
    assert set(NAIVE_COMMANDS) == set(servers())


@pytest.mark.usefixtures("family")
def test_a_short_run_of_one_server_writes_every_result(tmp_path: Path) -> None:
    server = servers()[-1]
    result = bench(
        "--servers", server, "--seconds", "1", "--warmup", "1", "--repeats", "1", "--starts", "1",
        "--skip-build", "--output", str(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    results = json.loads((tmp_path / "benchmarks.json").read_text())
    measured = {run["setup"] for run in results["runs"]}
    assert measured == {setup["key"] for setup in results["setups"] if setup["kind"] not in HEAVY_KINDS}
    assert len(measured) >= 4  # ours, the seed's, host network, at least one alternative
    for run in results["runs"]:
        assert run["requests"] > 0 and run["errors"] == run["non_2xx"] == 0, run
        assert run["rss_idle_mib"] > 0 and run["rss_after_mib"] > 0, run
    wsgi = {f"{WSGI}: {label}" for label, (image_server, _) in WSGI_COMMANDS.items() if image_server == server}
    heavy = {f"{server}: {label}" for label in (HEAVY_OURS, HEAVY_BARE, HEAVY_UNCHECKED)}  # started, never loaded
    expected_starts = {f"{server}: ours", f"{server}: seed's setup", f"{server}: {REAL_OURS}", *wsgi, *heavy}
    assert {start["setup"] for start in results["cold_starts"]} == expected_starts
    said = {start["setup"]: start.get("checks_seconds") for start in results["cold_starts"]}
    assert said[f"{server}: {HEAVY_OURS}"] is not None and said[f"{server}: {HEAVY_BARE}"] is None
    assert results["sizes"][server]["own_bytes"] > 0
    side_by_side = results["side_by_side"]
    assert {r["change"] for r in side_by_side} == {change.name for change in SIDE_BY_SIDE}
    for measured in side_by_side:
        for load in (measured["ours"], measured["other"]):
            assert load["requests"] > 0 and load["errors"] == load["non_2xx"] == 0 and load["cpu_us"] > 0, measured
    assert "## The access log's cost, side by side" in (tmp_path / "benchmarks.md").read_text()
    markdown = (tmp_path / "benchmarks.md").read_text()
    assert f"| {server} |" in markdown and "WHY_" not in markdown
    assert "## A real app's sync pages" in markdown
    assert "## Cold start on a heavy app, against the bare server command" in markdown
    assert (tmp_path / "benchmarks.png").read_bytes().startswith(b"\x89PNG")
    again = bench("--servers", server, "--starts", "1", "--starts-only", "--skip-build", "--output", str(tmp_path))
    assert again.returncode == 0, again.stderr[-2000:]
    remeasured = json.loads((tmp_path / "benchmarks.json").read_text())
    assert remeasured["runs"] == results["runs"] and remeasured["starts_date"]
    assert {start["setup"] for start in remeasured["cold_starts"]} == expected_starts
    assert remeasured["cold_starts"] != results["cold_starts"]  # timings, measured again
    assert "cold starts measured again on" in (tmp_path / "benchmarks.md").read_text()
    beside = bench(
        "--servers", server, "--seconds", "1", "--warmup", "1", "--repeats", "1", "--side-by-side-only",
        "--skip-build", "--output", str(tmp_path),
    )  # fmt: skip
    assert beside.returncode == 0, beside.stderr[-2000:]
    again_beside = json.loads((tmp_path / "benchmarks.json").read_text())
    assert again_beside["runs"] == results["runs"] and again_beside["cold_starts"] == remeasured["cold_starts"]
    assert again_beside["side_by_side"] != results["side_by_side"] and again_beside["side_by_side_date"]
    assert {r["date"] for r in again_beside["side_by_side"]} == {again_beside["side_by_side_date"]}
    assert "Measured with `--side-by-side-only`, on the dates" in (tmp_path / "benchmarks.md").read_text()


def test_the_setups_differ_from_ours_in_one_thing_each() -> None:
    """An alternative is our image with one setting changed; the seed's setup is another image."""
    for server in servers():
        line_setups = setups(server, default_line())
        ours = next(setup for setup in line_setups if setup.kind == "ours")
        for setup in line_setups:
            if setup.kind == "alternative":
                assert setup.image == ours.image
                assert len(set(setup.env.items()) - set(ours.env.items())) == 1, setup
            if setup.kind == "naive":
                assert setup.image != ours.image and setup.command
        for (mine, beside), change in zip(side_by_side_pairs(server, default_line()), SIDE_BY_SIDE, strict=True):
            assert (mine.image, mine.env) == (ours.image, ours.env) and beside.image == ours.image
            assert beside.env == {**ours.env, **change.env}, beside
        heavy = next(setup for setup in line_setups if setup.kind == "heavy")
        bare = next(setup for setup in line_setups if setup.kind == "heavy bare")
        assert (bare.image, bare.env, heavy.command) == (heavy.image, heavy.env, ()) and bare.command
        unchecked = next(setup for setup in line_setups if setup.kind == "heavy unchecked")
        assert (unchecked.image, unchecked.env) == (heavy.image, {**heavy.env, "DJANGO_CHECK_DEPLOY": "off"})
        real = next(setup for setup in line_setups if setup.kind == "real")
        for setup in line_setups:
            if setup.kind == "real alternative":
                assert setup.image == real.image and set(setup.env.items()) - set(real.env.items()) == {
                    ("SYNC_THREADS", setup.env["SYNC_THREADS"])
                }, setup
