"""python3 -m bench [--servers a,b] [--seconds S] [--repeats N] ... : measure the default
line's servers against the seed's setups and against their alternatives, and write
docs/benchmarks.{md,png,json}. Run from the repository root with any Python 3.11+: it makes
`.venv/` (the tests' hash-locked tools, matplotlib among them) and re-runs itself there."""

import argparse
import os
import sys
import time
from pathlib import Path

from tools.environment import VENV, VENV_BIN, ensure_debian_tools, ensure_venv

ROOT = Path(__file__).resolve().parent.parent


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        """One line, not a usage block: what is wrong, and exit 2."""
        self.exit(2, f"{self.prog}: {message}\n")


def positive(raw: str) -> int:
    if not raw.isdigit() or int(raw) == 0:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number above 0")
    return int(raw)


def options_parser() -> Parser:
    parser = Parser(prog="python3 -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--servers", help="comma-separated servers of the default line (default: all)")
    parser.add_argument("--seconds", type=positive, default=10, help="seconds of each measured load run (10)")
    parser.add_argument("--warmup", type=positive, default=2, help="unmeasured load before each run, seconds (2)")
    parser.add_argument("--repeats", type=positive, default=5, help="rounds of every setup (5)")
    parser.add_argument("--connections", type=positive, default=32, help="wrk's connections (32)")
    parser.add_argument("--starts", type=positive, default=5, help="cold starts of each setup (5)")
    parser.add_argument("--no-sizes", action="store_true", help="skip the image sizes (docker save | gzip)")
    parser.add_argument("--skip-build", action="store_true", help="the family's images exist: do not bake them")
    only = parser.add_mutually_exclusive_group()
    parser.add_argument("--output", type=Path, default=ROOT / "docs", help="where the results go (docs/)")
    only.add_argument(
        "--report-only", action="store_true", help="measure nothing: write the .md and .png again from the .json"
    )
    only.add_argument(
        "--starts-only",
        action="store_true",
        help="measure the cold starts again (after a change to start-up) and keep the .json's load runs",
    )
    only.add_argument(
        "--side-by-side-only",
        action="store_true",
        help="measure the side-by-side rounds again (the access log's cost) and keep the rest of the .json",
    )
    only.add_argument(
        "--rolling-only",
        action="store_true",
        help="measure rolling updates of examples/swarm on a one-node swarm (p99 during against steady) "
        "into the .json, keeping the rest",
    )
    return parser


def in_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def main() -> int:
    parser = options_parser()
    arguments = parser.parse_args()
    if not in_venv():
        ensure_venv()
        ensure_debian_tools()
        os.execv(VENV_BIN / "python", [str(VENV_BIN / "python"), "-m", "bench", *sys.argv[1:]])
    from .run import BenchError
    from .session import measure, measure_rolling, measure_side_by_side, measure_starts
    from .setups import default_line

    if arguments.report_only:
        return rewrite_report(arguments.output)

    line = default_line()
    servers = chosen_servers(parser, arguments.servers, line.servers)
    date = time.strftime("%Y-%m-%d", time.gmtime())
    try:
        if arguments.starts_only:
            measure_starts(arguments, line, servers, date)
        elif arguments.side_by_side_only:
            measure_side_by_side(arguments, line, servers, date)
        elif arguments.rolling_only:
            measure_rolling(arguments, line, servers, date)
        else:
            measure(arguments, line, servers, date=date)
    except BenchError as error:
        parser.exit(1, f"{parser.prog}: {error}\n")
    return 0


def rewrite_report(directory: Path) -> int:
    """After a change to the report's code or texts: the same figures, written again."""
    import json

    from . import report

    raw = directory / "benchmarks.json"
    if not raw.is_file():
        sys.exit(f"python3 -m bench: no {raw}: run the benchmarks first")
    report.write(json.loads(raw.read_text()), directory)
    print(f"bench: wrote {directory}/benchmarks.md and .png from {raw.name}", flush=True)
    return 0


def chosen_servers(parser: Parser, raw: str | None, available: tuple[str, ...]) -> tuple[str, ...]:
    if raw is None:
        return available
    chosen = tuple(name.strip() for name in raw.split(",") if name.strip())
    unknown = [name for name in chosen if name not in available]
    if unknown or not chosen:
        parser.error(f"--servers {raw!r}: the default line's servers are {', '.join(available)}")
    return chosen


if __name__ == "__main__":
    sys.exit(main())
