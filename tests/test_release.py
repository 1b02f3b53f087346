"""The release rehearsed on a real registry, as release.yml and README's "Publishing under your
own name" run it (`python3 -m tools release`): the tag scheme on the registry, each index with
its provenance, every variant its parent's layers plus one, the labels, cosign signatures that
verify (and do not, for a tampered tag), a pull into a store that has no image of that name and
a project built FROM the pulled tag; `tools base-moved` with a base that moved and one that did
not; bad input in one line. Both architectures under the opt-in `arm64` marker."""

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from harness import (
    LOCKED_DOWN,
    ROOT,
    build_image,
    django_version,
    docker,
    flavours,
    index,
    parent_of,
    python_version,
    readable_copy,
    running,
    servers,
)
from registry import Registry

from tools.ci import bake_print

pytestmark = pytest.mark.usefixtures("family")

PASSWORD = "a rehearsal's password"
PUSHED_LINE = re.compile(r"^release: (?P<repository>\S+)@(?P<digest>sha256:[0-9a-f]{64}) (?P<tags>.+) \(signed ", re.M)
DATED = re.compile(r"-(\d{8})$")
ATTESTATION = "attestation-manifest"
PROVENANCE_TYPES = ("https://slsa.dev/provenance/v0.2", "https://slsa.dev/provenance/v1")
COMMAND_TIMEOUT = 1800  # a guard against a hang: the default line's release, cached, takes a minute or two


@dataclass(frozen=True)
class Keys:
    private: Path
    public: Path


@dataclass(frozen=True)
class Released:
    registry: Registry
    repository: str  # OWNER/NAME under the registry
    base_repository: str  # where the release read python:X.Y-slim's digest
    base_digest: str  # python:X.Y-slim's digest there, at the release
    images: dict[str, str]  # the first (full) tag of each pushed image -> its digest
    keys: Keys
    output: subprocess.CompletedProcess[str]

    @property
    def name(self) -> str:
        return f"{self.registry.host}/{self.repository}"

    def digest_of(self, flavour: str) -> str:
        return self.images[f"{flavour}-py{python_version()}-django{django_version()}"]

    def build_date(self) -> str:
        return next(match.group(1) for tags in self.tag_lines() for tag in tags if (match := DATED.search(tag)))

    def tag_lines(self) -> list[list[str]]:
        return [match.group("tags").split() for match in PUSHED_LINE.finditer(self.output.stdout)]


def tools(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`python3 -m tools ...` from the repository root, as release.yml and README run it."""
    return subprocess.run(
        [sys.executable, "-m", "tools", *args], cwd=ROOT, capture_output=True, text=True, check=False,
        env={**os.environ, **(env or {})}, timeout=timeout,
    )  # fmt: skip


def cosign(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["cosign", *args], capture_output=True, text=True, check=False, timeout=120)


def verify(keys: Keys, reference: str) -> subprocess.CompletedProcess[str]:
    """What a user runs (README): the key's signature, which is not in the public log."""
    return cosign("verify", "--key", str(keys.public), "--insecure-ignore-tlog=true", reference)


def local_images(name: str) -> list[str]:
    listed = docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}").split()
    return [reference for reference in listed if reference.startswith(f"{name}:")]


def remove_local_images(name: str) -> None:
    for reference in local_images(name):
        docker("image", "rm", reference, check=False)


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    directory = tmp_path_factory.mktemp("cosign")
    made = subprocess.run(
        ["cosign", "generate-key-pair"], cwd=directory, env={**os.environ, "COSIGN_PASSWORD": PASSWORD},
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    return Keys(directory / "cosign.key", directory / "cosign.pub")


@pytest.fixture(scope="session")
def base_repository(registry: Registry) -> str:
    """The tested line's python:X.Y-slim pushed to the registry, as Docker Hub holds it for
    release.yml, so that base-moved can watch it move."""
    repository = f"{registry.host}/library/python"
    copy = f"{repository}:{python_version()}-slim"
    docker("tag", f"python:{python_version()}-slim", copy)
    docker("push", "--quiet", copy)
    docker("image", "rm", copy)
    return repository


def release(registry: Registry, repository: str, base: str, keys: Keys, *options: str) -> subprocess.CompletedProcess:
    return tools(
        "release", "--registry", registry.host, "--name", repository, "--cosign-key", str(keys.private),
        "--base-repository", base, *options, env={"COSIGN_PASSWORD": PASSWORD}, timeout=COMMAND_TIMEOUT,
    )  # fmt: skip


@pytest.fixture(scope="session")
def released(registry: Registry, base_repository: str, keys: Keys) -> Iterator[Released]:
    """The default line released to the registry under a name of its own; its local copies
    (bake also keeps what it pushes) removed afterwards."""
    repository = f"rehearsal/django-asgi-{uuid.uuid4().hex[:8]}"
    base_digest = registry.digest(base_repository.removeprefix(f"{registry.host}/"), f"{python_version()}-slim")
    output = release(registry, repository, base_repository, keys)
    assert output.returncode == 0, output.stderr[-3000:]
    images = {m.group("tags").split()[0]: m.group("digest") for m in PUSHED_LINE.finditer(output.stdout)}
    result = Released(registry, repository, base_repository, base_digest, images, keys, output)
    try:
        yield result
    finally:
        remove_local_images(result.name)


def test_one_line_per_image_pushed(released: Released) -> None:
    """Every image of the default line, once, with its digest and its tags; then the summary."""
    pushed = [tags[0] for tags in released.tag_lines()]
    line = f"py{python_version()}-django{django_version()}"
    assert sorted(pushed) == sorted(f"{flavour}-{line}" for flavour in ["base", *flavours()])
    assert re.search(r"^release: \d+ images pushed to \S+ with provenance \(mode=max\)", released.output.stdout, re.M)


def test_the_registry_holds_the_tag_scheme(released: Released) -> None:
    """The tags on the registry are those bake's definition gives (with the release's dated
    twins) and cosign's signature per digest; they follow README's scheme: short, per
    Python, per line, fully pinned."""
    date = released.build_date()
    definition = bake_print("default", env={"IMAGE_NAME": released.name, "BUILD_DATE": date})
    defined = {tag.rsplit(":", 1)[1] for target in definition["target"].values() for tag in target["tags"]}
    signatures = {f"{digest.replace(':', '-')}.sig" for digest in released.images.values()}
    tags = released.registry.tags(released.repository)
    assert signatures <= tags
    on_registry = tags - signatures
    assert on_registry == defined
    assert on_registry == {tag for tags in released.tag_lines() for tag in tags}
    python, django = python_version(), django_version()
    for flavour in flavours():
        for tag in [flavour, f"{flavour}-py{python}", f"{flavour}-py{python}-django{django}"]:
            assert {tag, f"{tag}-{date}"} <= on_registry, tag
        pinned = re.compile(rf"^{re.escape(flavour.split('-')[0])}\d[\w.]*(-h3)?-py{python}-django{django}\.\d+$")
        assert any(pinned.match(tag) for tag in on_registry), flavour


def test_every_index_carries_its_provenance(released: Released) -> None:
    """Each pushed digest is an index: the image for linux/amd64 and, for it, an attestation
    manifest holding SLSA provenance of the build (mode=max: the build's steps), whose
    materials name the python:X.Y-slim base, by the digest the labels give where BuildKit
    records one (it records none for a base it took from the local image store, as the
    base target here does)."""
    python, recorded = python_version(), set()
    for tag, digest in released.images.items():
        entries = released.registry.manifest(released.repository, digest)["manifests"]
        images = [e for e in entries if e.get("annotations", {}).get("vnd.docker.reference.type") != ATTESTATION]
        attestations = [e for e in entries if e not in images]
        assert [(e["platform"]["os"], e["platform"]["architecture"]) for e in images] == [("linux", "amd64")], tag
        assert [a["annotations"]["vnd.docker.reference.digest"] for a in attestations] == [images[0]["digest"]], tag
        layers = released.registry.manifest(released.repository, attestations[0]["digest"])["layers"]
        kinds = [layer["annotations"]["in-toto.io/predicate-type"] for layer in layers]
        provenance = [layer for layer, kind in zip(layers, kinds, strict=True) if kind in PROVENANCE_TYPES]
        assert provenance, f"{tag}: {kinds}"
        predicate = released.registry.blob(released.repository, provenance[0]["digest"])["predicate"]
        assert "buildConfig" in predicate, f"{tag}: mode=max records the build's steps"
        bases = [m["uri"] for m in predicate["materials"] if m["uri"].startswith(f"pkg:docker/python@{python}-slim?")]
        assert bases, f"{tag}: {predicate['materials']}"
        digests = {re.search(r"digest=([^&]+)", uri).group(1) for uri in bases if "digest=" in uri}
        assert digests <= {released.base_digest}, f"{tag}: built on another base than its label says"
        recorded |= digests
    assert recorded == {released.base_digest}, "no provenance names the base by its digest"


def test_each_variant_is_its_parent_plus_one_layer(released: Released) -> None:
    """On the registry, as a pull sees it: a second variant costs one layer."""
    for flavour in flavours():
        own = released.registry.platform_manifest(released.repository, released.digest_of(flavour))["layers"]
        parent = released.registry.platform_manifest(released.repository, released.digest_of(parent_of(flavour)))
        assert [layer["digest"] for layer in own[:-1]] == [layer["digest"] for layer in parent["layers"]], flavour
        assert len(own) == len(parent["layers"]) + 1, flavour


def test_labels_name_the_commit_its_time_and_the_base(released: Released) -> None:
    revision = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True)
    epoch = subprocess.run(["git", "log", "-1", "--format=%cI"], cwd=ROOT, capture_output=True, text=True, check=True)
    for flavour in ["base", *flavours()]:
        labels = released.registry.labels(released.repository, released.digest_of(flavour))
        assert labels["org.opencontainers.image.revision"] == revision.stdout.strip()
        assert labels["org.opencontainers.image.created"].startswith(epoch.stdout.strip()[:10])
        assert labels["org.opencontainers.image.base.digest"] == released.base_digest
        assert labels["org.opencontainers.image.base.name"] == f"docker.io/library/python:{python_version()}-slim"


def test_cosign_verifies_every_image_by_its_tag(released: Released) -> None:
    for tag in released.images:
        verified = verify(released.keys, f"{released.name}:{tag}")
        assert verified.returncode == 0, verified.stderr


def test_cosign_refuses_a_tampered_tag(released: Released) -> None:
    """A tag made to point at another image (here: the same one with an annotation added,
    so another digest) has no signature; the tags around it keep theirs."""
    server = servers()[-1]
    tampered = f"{released.name}:{server}-{released.build_date()}"
    docker("buildx", "imagetools", "create", "--tag", tampered, "--annotation", "index:org.example.tampered=yes",
           f"{released.name}:{server}")  # fmt: skip
    refused = verify(released.keys, tampered)
    assert refused.returncode != 0 and "no signatures found" in refused.stderr, refused.stderr
    assert verify(released.keys, f"{released.name}:{server}").returncode == 0


def test_a_clean_store_pulls_every_tag_and_builds_a_project_from_one(released: Released, tmp_path: Path) -> None:
    """As a user on another machine: no image of that name here, every server's tag pulls, and
    a project whose Dockerfile says `FROM <registry>/<name>:<server>` builds and serves (on one
    server: the FROM line is the same for all)."""
    remove_local_images(released.name)
    assert local_images(released.name) == []
    for server in servers():
        docker("pull", "--quiet", f"{released.name}:{server}")
    assert sorted(local_images(released.name)) == sorted(f"{released.name}:{server}" for server in servers())
    server = servers()[-1]
    project = readable_copy(tmp_path)
    dockerfile = project / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("org/django-asgi:${SERVER}", f"{released.name}:{server}"))
    tag = f"django-asgi-rehearsal-app:{uuid.uuid4().hex[:8]}"
    built = build_image(project, "--tag", tag, "--load")
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    assert f"FROM {released.name}:{server}" in dockerfile.read_text()
    try:
        with running(tag, *LOCKED_DOWN) as container:
            assert index(container)["server"] == server
    finally:
        docker("image", "rm", tag, check=False)


def test_base_moved_says_whether_the_base_moved(released: Released) -> None:
    """False while python:X.Y-slim is the image the release was built on; true once it moves
    (another digest under the same tag) and for a name with nothing published."""

    def moved(name: str) -> str:
        options = ("--registry", released.registry.host, "--base-repository", released.base_repository)
        result = tools("base-moved", *options, "--name", name)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    assert moved(released.repository) == "moved=false"
    assert moved("rehearsal/never-released") == "moved=true"
    base = f"{released.base_repository}:{python_version()}-slim"
    docker("buildx", "imagetools", "create", "--tag", base, "--annotation", "index:org.example.rebuilt=yes", base)
    assert moved(released.repository) == "moved=true"


@pytest.mark.parametrize(
    ("case", "options", "env", "said"),
    [
        ("unknown option", ["--colour"], {}, "unrecognized arguments: --colour"),
        ("bad registry", ["--registry=https://example.test"], {}, "is not HOST or HOST:PORT"),
        ("unreachable registry", ["--registry=127.0.0.1:9"], {}, "cannot be reached"),
        ("wrong password", [], {"COSIGN_PASSWORD": "not it"}, "cannot open"),
        ("no password", [], {"COSIGN_PASSWORD": None}, "COSIGN_PASSWORD is not set"),
        ("missing key", ["--cosign-key=/nonexistent/cosign.key"], {}, "no such file"),
    ],
)
def test_bad_input_is_one_line_before_anything_is_built(
    registry: Registry, keys: Keys, case: str, options: list[str], env: dict[str, str | None], said: str
) -> None:
    arguments = ["--registry", registry.host, "--name", "rehearsal/bad-input", "--cosign-key", str(keys.private)]
    environment = {k: v for k, v in {**os.environ, "COSIGN_PASSWORD": PASSWORD, **env}.items() if v is not None}
    result = subprocess.run(
        [sys.executable, "-m", "tools", "release", *arguments, *options], cwd=ROOT, env=environment,
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2, case
    assert result.stdout == "" and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("tools release: error: ") and said in result.stderr, result.stderr


@pytest.mark.arm64
def test_both_architectures_are_released_signed_and_attested(
    registry: Registry, base_repository: str, keys: Keys
) -> None:
    """Opt-in (QEMU): --platforms linux/amd64,linux/arm64 gives each index both images, each
    with its provenance, and one signature over both."""
    repository = f"rehearsal/django-asgi-multiarch-{uuid.uuid4().hex[:8]}"
    output = release(registry, repository, base_repository, keys, "--platforms", "linux/amd64,linux/arm64")
    try:
        assert output.returncode == 0, output.stderr[-3000:]
        for match in PUSHED_LINE.finditer(output.stdout):
            entries = registry.manifest(repository, match.group("digest"))["manifests"]
            platforms = sorted(e["platform"]["architecture"] for e in entries if e["platform"]["os"] == "linux")
            attested = [e for e in entries if e.get("annotations", {}).get("vnd.docker.reference.type") == ATTESTATION]
            assert platforms == ["amd64", "arm64"] and len(attested) == 2, entries
            verified = verify(keys, f"{registry.host}/{repository}@{match.group('digest')}")
            assert verified.returncode == 0, verified.stderr
    finally:
        remove_local_images(f"{registry.host}/{repository}")
