"""The release, one command for release.yml and for anyone publishing the family under their
own name: build, push with the full tag scheme and labels, attest, sign.

    python3 -m tools release --registry HOST[:PORT] --name OWNER/NAME [--cosign-key KEY]
                             [--all] [--platforms linux/amd64,linux/arm64] [--sbom auto|on|off]
                             [--base-repository REPOSITORY] [--pull] [--no-cache]
    python3 -m tools base-moved --registry HOST[:PORT] --name OWNER/NAME [--all]
                             [--base-repository REPOSITORY]

`release` bakes the default line (or `--all`, the whole matrix) with `--push`, a provenance
attestation (mode=max) and an SBOM where the builder can make one, the labels `revision`,
`created` (the commit's time) and `base.digest`, and a dated twin of every tag; then signs
every pushed digest with cosign: keyless in GitHub Actions (its OIDC token), with
`--cosign-key` elsewhere (COSIGN_PASSWORD from the environment, as cosign reads it; such a
signature is not uploaded to the public transparency log). Stdout gets one line per image
pushed; bake's progress goes to stderr. `base-moved` prints `moved=true|false` for
$GITHUB_OUTPUT: whether python:X.Y-slim's digest differs from the one the published base
images were built on. Bad input is one line and exit status 2, before anything is built.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .ci import ROOT, bake_print, matrix_lines

BAKE_FILES = (ROOT / "docker-bake.hcl", ROOT / "docker-bake.json")
DEFAULT_BASE_REPOSITORY = "docker.io/library/python"
# BuildKit makes SBOMs by running this image: no SBOM where the builder cannot pull it.
SBOM_SCANNER = "docker.io/docker/buildkit-syft-scanner:stable-1"
REGISTRY = re.compile(r"^(localhost|[a-z0-9.-]+\.[a-z0-9-]+|\d+\.\d+\.\d+\.\d+|\[[0-9a-f:]+\])(:\d{1,5})?$", re.I)
NAME = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)+$")
LOOPBACK = re.compile(r"^(localhost|127(?:\.\d+){3}|\[::1\])(:\d+)?$")
COMMAND_TIMEOUT = 120  # seconds for a registry or cosign call (the build has none)


class ReleaseError(Exception):
    """Bad input or a failed step: one line for the user."""


class OneLineParser(argparse.ArgumentParser):
    """argparse, but an error is one line (no usage block) and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise ReleaseError(message)


@dataclass(frozen=True)
class Target:
    """Where the family goes and which of it."""

    registry: str
    name: str
    everything: bool
    base_repository: str

    @property
    def image_name(self) -> str:
        return f"{self.registry}/{self.name}"

    def pythons(self) -> list[str]:
        definition = bake_print("all" if self.everything else "default")
        return sorted({python for python, _ in matrix_lines(definition["target"])})


def registry_argument(value: str) -> str:
    if not REGISTRY.match(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not HOST or HOST:PORT (no scheme, no path)")
    return value


def name_argument(value: str) -> str:
    if not NAME.match(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a lowercase OWNER/NAME repository")
    return value


def target_parser(prog: str) -> OneLineParser:
    parser = OneLineParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("--registry", required=True, type=registry_argument, help="HOST[:PORT] of the registry")
    parser.add_argument("--name", required=True, type=name_argument, help="OWNER/NAME of the repository")
    parser.add_argument("--all", dest="everything", action="store_true", help="the whole matrix, not the default line")
    parser.add_argument(
        "--base-repository", default=DEFAULT_BASE_REPOSITORY,
        help=f"where python:X.Y-slim is read from for base.digest ({DEFAULT_BASE_REPOSITORY})",
    )  # fmt: skip
    return parser


def target_of(options: argparse.Namespace) -> Target:
    return Target(options.registry, options.name, options.everything, options.base_repository)


# ---- the registry --------------------------------------------------------------------


def scheme(registry: str) -> str:
    """Plain HTTP on loopback, as Docker, BuildKit and cosign treat it; HTTPS elsewhere."""
    return "http" if LOOPBACK.match(registry) else "https"


def check_reachable(registry: str) -> None:
    url = f"{scheme(registry)}://{registry}/v2/"
    try:
        urllib.request.urlopen(url, timeout=10).close()
    except urllib.error.HTTPError:
        return  # 401: there, asking for the credentials `docker login` gave
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise ReleaseError(f"the registry {registry} cannot be reached ({url}: {reason})") from None


def image_digest(reference: str) -> str | None:
    """The digest a registry gives a reference (its index, for a multi-platform image)."""
    result = subprocess.run(
        ["docker", "buildx", "imagetools", "inspect", reference, "--format", "{{json .Manifest}}"],
        capture_output=True, text=True, check=False, timeout=COMMAND_TIMEOUT,
    )  # fmt: skip
    return json.loads(result.stdout)["digest"] if result.returncode == 0 else None


def local_digest(reference: str) -> str | None:
    """The digest of an image in the local store (the containerd store keeps the registry's)."""
    result = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", reference], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        return None
    return result.stdout.strip() or None


def base_digest(base_repository: str, python: str) -> str:
    """python:X.Y-slim's digest now, from the base repository, or else from the local store."""
    reference = f"{base_repository}:{python}-slim"
    digest = image_digest(reference) or local_digest(f"python:{python}-slim")
    if digest is None:
        raise ReleaseError(f"{reference} cannot be read, and python:{python}-slim is not in the local image store")
    return digest


def published_base_digest(reference: str) -> str | None:
    """The base.digest label of a published image (its first platform's config)."""
    result = subprocess.run(
        ["docker", "buildx", "imagetools", "inspect", reference, "--format", "{{json .Image}}"],
        capture_output=True, text=True, check=False, timeout=COMMAND_TIMEOUT,
    )  # fmt: skip
    if result.returncode != 0:
        return None
    image = json.loads(result.stdout)
    if "config" not in image:  # an index: platform -> image
        image = next(iter(image.values()))
    return image.get("config", {}).get("Labels", {}).get("org.opencontainers.image.base.digest")


def base_moved(target: Target) -> bool:
    """True when any base the target's lines build on moved since its published base image
    was built, or when that image is missing (there is then something to publish)."""
    moved = False
    for python in target.pythons():
        now = base_digest(target.base_repository, python)
        published = published_base_digest(f"{target.image_name}:base-py{python}")
        verdict = "not moved" if published == now else "moved"
        moved = moved or published != now
        said = f"python:{python}-slim is {now}; base-py{python} was built on {published}: {verdict}"
        print(f"base-moved: {said}", file=sys.stderr)
    return moved


# ---- signing -------------------------------------------------------------------------


@dataclass(frozen=True)
class Signer:
    key: Path | None  # None: keyless, with GitHub Actions' OIDC token

    def command(self, reference: str) -> list[str]:
        if self.key is None:
            return ["cosign", "sign", "--yes", reference]
        return ["cosign", "sign", "--yes", "--key", str(self.key), "--tlog-upload=false", reference]

    def describe(self) -> str:
        return "keyless" if self.key is None else f"with {self.key.name}"


def last_line(text: str) -> str:
    """What a failed cosign said, in one line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1].removeprefix("error during command execution: ") if lines else "no output"


def signer_for(key: Path | None) -> Signer:
    """Check what signing needs before anything is built: cosign, and a key it can open."""
    if shutil.which("cosign") is None:
        raise ReleaseError("cosign is not installed (https://docs.sigstore.dev/cosign/system_config/installation/)")
    if key is None:
        if os.environ.get("GITHUB_ACTIONS") != "true":
            raise ReleaseError(
                "--cosign-key KEY is needed outside GitHub Actions (keyless signing needs its OIDC token)"
            )
        return Signer(None)
    if not key.is_file():
        raise ReleaseError(f"--cosign-key {key}: no such file")
    if "COSIGN_PASSWORD" not in os.environ:
        raise ReleaseError(f"COSIGN_PASSWORD is not set: cosign reads {key}'s password from it (empty for none)")
    opened = subprocess.run(
        ["cosign", "public-key", "--key", str(key)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False, timeout=COMMAND_TIMEOUT,
    )  # fmt: skip
    if opened.returncode != 0:
        raise ReleaseError(f"cosign cannot open {key} with COSIGN_PASSWORD: {last_line(opened.stderr)}")
    return Signer(key)


def sign(signer: Signer, reference: str) -> None:
    result = subprocess.run(
        signer.command(reference), stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False,
        timeout=COMMAND_TIMEOUT,
    )  # fmt: skip
    if result.returncode != 0:
        raise ReleaseError(f"cosign could not sign {reference}: {last_line(result.stderr)}")


# ---- the build -----------------------------------------------------------------------


@dataclass(frozen=True)
class Stamp:
    """What a release writes into its images besides the code: the commit and its time, the
    day (the dated tags) and the base images' digests."""

    revision: str
    epoch: str
    build_date: str
    base_digests: dict[str, str]

    @property
    def created(self) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(self.epoch)))

    def bake_variables(self) -> dict:
        """docker-bake.hcl's variables as a bake file (maps cannot come from the environment)."""
        return {"variable": {"CREATED": {"default": self.created}, "BASE_DIGESTS": {"default": self.base_digests}}}

    def environment(self, target: Target) -> dict[str, str]:
        return {
            "IMAGE_NAME": target.image_name, "BUILD_DATE": self.build_date, "SOURCE_DATE_EPOCH": self.epoch,
            "REVISION": self.revision,
        }  # fmt: skip


def git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=True, cwd=ROOT).stdout.strip()


def stamp_for(target: Target) -> Stamp:
    digests = {python: base_digest(target.base_repository, python) for python in target.pythons()}
    build_date = time.strftime("%Y%m%d", time.gmtime())
    return Stamp(git("rev-parse", "HEAD"), git("log", "-1", "--format=%ct"), build_date, digests)


def sbom_wanted(choice: str) -> bool:
    if choice == "auto":
        return image_digest(SBOM_SCANNER) is not None
    return choice == "on"


@dataclass(frozen=True)
class Build:
    platforms: str | None
    sbom: bool
    pull: bool
    no_cache: bool

    def command(self, group: str, variables: Path, metadata: Path) -> list[str]:
        files = [argument for path in (*BAKE_FILES, variables) for argument in ("--file", str(path))]
        command = ["docker", "buildx", "bake", *files, "--push", "--provenance", "mode=max"]
        command += ["--metadata-file", str(metadata), "--progress", "plain"]
        command += ["--sbom", "true"] if self.sbom else []
        command += ["--set", f"*.platform={self.platforms}"] if self.platforms else []
        command += ["--pull"] if self.pull else []
        command += ["--no-cache"] if self.no_cache else []
        return [*command, group]


def bake(target: Target, build: Build, stamp: Stamp) -> dict:
    """Build and push; bake's metadata (per target: digest and tags)."""
    with tempfile.TemporaryDirectory(prefix="django-asgi-release-") as scratch:
        variables, metadata = Path(scratch, "variables.json"), Path(scratch, "metadata.json")
        variables.write_text(json.dumps(stamp.bake_variables()))
        command = build.command("all" if target.everything else "default", variables, metadata)
        env = {**os.environ, **stamp.environment(target)}
        result = subprocess.run(command, cwd=ROOT, env=env, stdout=sys.stderr, check=False)
        if result.returncode != 0:
            raise ReleaseError(f"docker buildx bake failed (exit status {result.returncode}): its output is above")
        return json.loads(metadata.read_text())


@dataclass(frozen=True)
class Pushed:
    repository: str
    digest: str
    tags: list[str]

    @property
    def reference(self) -> str:
        return f"{self.repository}@{self.digest}"


def pushed_images(metadata: dict) -> list[Pushed]:
    """One entry per image bake pushed, from its metadata JSON."""
    images = []
    for entry in metadata.values():
        if not isinstance(entry, dict) or "containerimage.digest" not in entry:
            continue
        names = entry["image.name"].split(",")
        tags = [name.rsplit(":", 1)[1] for name in names]  # bake's order: the full tag first
        images.append(Pushed(names[0].rsplit(":", 1)[0], entry["containerimage.digest"], tags))
    return sorted(images, key=lambda image: image.tags[0])


def release_parser() -> OneLineParser:
    parser = target_parser("python3 -m tools release")
    parser.add_argument("--cosign-key", type=Path, help="cosign private key (default: keyless, in GitHub Actions)")
    parser.add_argument("--platforms", help="comma-separated platforms (default: the builder's own)")
    parser.add_argument("--sbom", choices=("auto", "on", "off"), default="auto", help="auto: where the builder can")
    parser.add_argument("--pull", action="store_true", help="pull the base images fresh, whatever the builder has")
    parser.add_argument("--no-cache", action="store_true", help="build every step again, whatever the builder has")
    return parser


def release(argv: Sequence[str]) -> None:
    options = release_parser().parse_args(argv)
    target = target_of(options)
    started = time.monotonic()
    check_reachable(target.registry)
    signer = signer_for(options.cosign_key)
    build = Build(options.platforms, sbom_wanted(options.sbom), options.pull, options.no_cache)
    images = pushed_images(bake(target, build, stamp_for(target)))
    for image in images:
        sign(signer, image.reference)
        print(f"release: {image.reference} {' '.join(image.tags)} (signed {signer.describe()})", flush=True)
    attestations = "provenance (mode=max)" + (" and SBOM" if build.sbom else ", no SBOM (the builder cannot make one)")
    seconds = time.monotonic() - started
    print(f"release: {len(images)} images pushed to {target.image_name} with {attestations}, in {seconds:.0f} s")


def print_base_moved(argv: Sequence[str]) -> None:
    target = target_of(target_parser("python3 -m tools base-moved").parse_args(argv))
    check_reachable(target.registry)
    print(f"moved={'true' if base_moved(target) else 'false'}")


COMMANDS = {"release": release, "base-moved": print_base_moved}


def main(command: str, argv: Sequence[str]) -> int:
    try:
        COMMANDS[command](argv)
    except ReleaseError as error:
        print(f"tools {command}: error: {error}", file=sys.stderr)
        return 2
    return 0
