"""What the GitHub workflows ask of the repository, as commands (`python3 -m tools <name>`)
that print `key=value` lines for $GITHUB_OUTPUT. They read the bake file with
`docker buildx bake --print`, never by hand.

    lines           CI's jobs: server x Python x Django, with a GHA cache scope per target

The release and its base-moved check are tools/release.py.
"""

import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST_GROUPS = ("default", "test")


def bake_print(*groups: str, env: dict[str, str] | None = None) -> dict:
    output = subprocess.run(
        ["docker", "buildx", "bake", "--print", *groups],
        capture_output=True, text=True, check=True, cwd=ROOT, env={**os.environ, **(env or {})},
    ).stdout  # fmt: skip
    return json.loads(output)


def matrix_lines(targets: dict) -> list[tuple[str, str]]:
    return sorted({(t["args"]["PYTHON_VERSION"], t["args"]["DJANGO_VERSION"]) for t in targets.values()})


def matrix_servers(targets: dict) -> list[str]:
    return sorted({t["args"]["ASGI_SERVER"] for t in targets.values() if "ASGI_SERVER" in t["args"]})


def cache_settings(targets: list[str], job_suffix: str) -> str:
    """bake --set lines giving each target its own GitHub Actions cache scope (the test
    targets, named alike in every job, get the job's server and line in theirs)."""
    settings = []
    for target in targets:
        scope = target if "-py" in target else f"{target}{job_suffix}"
        settings += [
            f"{target}.cache-from=type=gha,scope={scope}",
            f"{target}.cache-to=type=gha,scope={scope},mode=max",
        ]
    return "\n".join(settings)


def lines() -> str:
    """One CI job per server x Python x Django line: the job bakes the line's base, the
    server's flavours and their sample images (ONLY_SERVERS), then tests them."""
    targets = bake_print("all")["target"]
    entries = []
    for server in matrix_servers(targets):
        for python, django in matrix_lines(targets):
            env = {"PYTHON_VERSION": python, "DJANGO_VERSION": django, "ONLY_SERVERS": server}
            job = sorted(bake_print(*TEST_GROUPS, env=env)["target"])
            cache = cache_settings(job, f"-{server}-py{python}-django{django}")
            entries.append({"server": server, "python": python, "django": django, "cache": cache})
    return f"lines={json.dumps(entries)}"


COMMANDS = {"lines": lines}
