"""Developer commands, run from the repository root with any Python 3.11+:

    python3 -m tools test [PYTEST ARGS]   build the family and run the whole test suite
    python3 -m tools lock                 regenerate every hash-locked requirements file
    python3 -m tools matrix               copy the last full test run's capability matrix into README.md
    python3 -m tools release --registry HOST --name OWNER/NAME [...]
                                          build, push, attest and sign (tools/release.py)
    python3 -m tools base-moved --registry HOST --name OWNER/NAME [--all]
                                          whether a python:X.Y-slim base moved since the release
    python3 -m tools lines                CI's jobs, for the workflow (tools/ci.py)

Both first make `.venv/` from tests/requirements.txt (hash-locked) when it is missing or
out of date, so a fresh machine needs nothing but Python and Docker.
"""

import argparse
import subprocess
import sys
from pathlib import Path

from .ci import COMMANDS as CI_COMMANDS
from .environment import VENV_BIN, ensure_debian_tools, ensure_venv
from .release import COMMANDS as RELEASE_COMMANDS
from .release import main as release_main

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(prog="python3 -m tools", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("test", help="build the family and run the test suite")
    commands.add_parser("lock", help="regenerate the hash-locked requirements files")
    commands.add_parser("matrix", help="copy the last full test run's capability matrix into README.md")
    for name in CI_COMMANDS:
        commands.add_parser(name, help="for the GitHub workflows: see tools/ci.py")
    for name in RELEASE_COMMANDS:  # their options are tools/release.py's own
        commands.add_parser(name, add_help=False, help="see tools/release.py (--help)")
    options, rest = parser.parse_known_args()
    if options.command == "matrix":
        return copy_matrix()
    if options.command in RELEASE_COMMANDS:
        return release_main(options.command, rest)
    if options.command in CI_COMMANDS:
        print(CI_COMMANDS[options.command]())
        return 0
    ensure_venv()
    if options.command == "lock":
        return lock_all()
    ensure_debian_tools()
    return run([str(VENV_BIN / "pytest"), *rest])


def lock_all() -> int:
    from .locks import lock_all as lock_everything

    lock_everything(VENV_BIN / "uv")
    return 0


def copy_matrix() -> int:
    """The README's capability matrix from the table the last complete test run observed."""
    sys.path.insert(0, str(ROOT / "tests"))
    from capabilities import FIGURES_END, FIGURES_START, LAST_FIGURES, LAST_RUN, README, with_matrix

    if not LAST_RUN.is_file():
        raise SystemExit(f"tools: no {LAST_RUN.relative_to(ROOT)} yet: run the whole suite, python3 -m tools test")
    text = with_matrix(README.read_text(), LAST_RUN.read_text())
    README.write_text(with_matrix(text, LAST_FIGURES.read_text(), FIGURES_START, FIGURES_END))
    print(f"tools: README.md's capability matrix is now {LAST_RUN.relative_to(ROOT)}'s")
    return 0


def run(command: list[str], **kwargs: object) -> int:
    return subprocess.run(command, check=False, **kwargs).returncode  # type: ignore[call-overload]


if __name__ == "__main__":
    sys.exit(main())
