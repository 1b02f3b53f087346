"""What the GitHub workflows ask of the repository, as commands (`python3 -m tools <name>`)
that print `key=value` lines for $GITHUB_OUTPUT. They read the bake file with
`docker buildx bake --print`, never by hand.

    lines           CI's jobs: server x Python x Django, with a GHA cache scope per target
    release-stamp   the build date and commit time; writes docker-bake.override.json with
                    CREATED and each python:X.Y-slim digest for the labels
    base-moved      whether any python:X.Y-slim moved since the published images were built
    signing-refs    <repository>@<digest> of every image bake pushed (from BAKE_METADATA)
"""

import json
import os
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OVERRIDE = ROOT / "docker-bake.override.json"
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


def matrix_pythons() -> list[str]:
    return sorted({python for python, _ in matrix_lines(bake_print("all")["target"])})


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


def image_digest(reference: str) -> str | None:
    result = subprocess.run(
        ["docker", "buildx", "imagetools", "inspect", reference, "--format", "{{json .Manifest}}"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return json.loads(result.stdout)["digest"] if result.returncode == 0 else None


def base_digests(pythons: list[str]) -> dict[str, str]:
    return {python: image_digest(f"docker.io/library/python:{python}-slim") or "" for python in pythons}


def release_stamp() -> str:
    epoch = subprocess.run(
        ["git", "log", "-1", "--format=%ct"], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.strip()
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(epoch)))
    pythons = matrix_pythons()
    variables = {"CREATED": {"default": created}, "BASE_DIGESTS": {"default": base_digests(pythons)}}
    OVERRIDE.write_text(json.dumps({"variable": variables}, indent=2) + "\n")
    return f"date={time.strftime('%Y%m%d', time.gmtime())}\nepoch={epoch}"


def published_base_digest(reference: str) -> str | None:
    result = subprocess.run(
        ["docker", "buildx", "imagetools", "inspect", reference, "--format",
         '{{json (index .Image "linux/amd64").Config.Labels}}'],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        return None
    return json.loads(result.stdout).get("org.opencontainers.image.base.digest")


def base_moved() -> str:
    image = os.environ["IMAGE_NAME"]
    pythons = matrix_pythons()
    current = base_digests(pythons)
    moved = [p for p in pythons if published_base_digest(f"{image}:base-py{p}") != current[p]]
    return f"moved={'true' if moved else 'false'}"


def signing_refs(metadata: str) -> str:
    """One `<repository>@<digest>` per pushed image, from bake's metadata JSON."""
    refs = []
    for target in json.loads(metadata).values():
        if not isinstance(target, dict) or "containerimage.digest" not in target:
            continue
        repository = target["image.name"].split(",")[0].rsplit(":", 1)[0]
        refs.append(f"{repository}@{target['containerimage.digest']}")
    return "\n".join(sorted(set(refs)))


COMMANDS = {
    "lines": lines,
    "release-stamp": release_stamp,
    "base-moved": base_moved,
    "signing-refs": lambda: signing_refs(os.environ["BAKE_METADATA"]),
}
