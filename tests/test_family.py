"""The family as bake defines it and builds it: the matrix, its names and tags, shared layers."""

import json
import os
import subprocess

import pytest
from harness import (
    ROOT,
    bake_definition,
    cell,
    docker,
    flavours,
    image,
    inspect_image,
    line,
    parent_of,
    python_version,
    servers,
)

# What the matrix must cover (issue: Python 3.12-3.14 x Django 5.2 LTS and 6.1).
PYTHONS = {"3.12", "3.13", "3.14"}
DJANGOS = {"5.2", "6.1"}


def matrix() -> dict[str, dict]:
    return bake_definition("all")["target"]


def pins() -> dict[str, str]:
    return json.loads((ROOT / "docker-bake.json").read_text())["variable"]["PINS"]["default"]


def printed(*groups: str, **variables: str) -> dict:
    """`bake --print` with some bake variables set (on top of the environment's)."""
    return json.loads(docker("buildx", "bake", "--print", *groups, env={**os.environ, **variables}))


def test_one_name_everywhere() -> None:
    """images/<name>/ is the flavour <name>; the default group is the tested line's cells."""
    image_dirs = {path.parent.name for path in ROOT.glob("images/*/requirements.in")}
    whole_family = printed("default", ONLY_SERVERS="")["group"]["default"]["targets"]
    assert {name.rsplit("-py", 1)[0] for name in whole_family} == image_dirs
    assert bake_definition("default")["group"]["default"]["targets"] == [cell(f) for f in ["base", *flavours()]]


@pytest.mark.parametrize(
    ("only", "built"),
    [("granian", ["base", "granian"]), ("hypercorn", ["base", "hypercorn", "hypercorn-h3"]),
     ("uvicorn, daphne", ["base", "uvicorn", "daphne"])],
)  # fmt: skip
def test_only_servers_restricts_the_family_with_its_extra_flavours(only: str, built: list[str]) -> None:
    """What CI's per-server jobs build: the base, the servers named, and their extras."""
    assert printed("default", ONLY_SERVERS=only)["group"]["default"]["targets"] == [cell(f) for f in built]
    assert set(printed("all", ONLY_SERVERS=only)["target"]) == {
        cell(f, p, d) for f in built for p in PYTHONS for d in DJANGOS
    }


def test_only_servers_refuses_a_server_the_family_lacks() -> None:
    result = subprocess.run(
        ["docker", "buildx", "bake", "--print", "default"],
        capture_output=True, text=True, check=False, cwd=ROOT, env={**os.environ, "ONLY_SERVERS": "granain"},
    )  # fmt: skip
    assert result.returncode != 0
    assert 'Call to function "known_server" failed' in result.stderr


def test_the_matrix_is_every_flavour_on_every_python_and_django() -> None:
    targets = matrix()
    pythons = {target["args"]["PYTHON_VERSION"] for target in targets.values()}
    djangos = {target["args"]["DJANGO_VERSION"] for target in targets.values()}
    assert (pythons, djangos) == (PYTHONS, DJANGOS)
    assert set(targets) == {cell(f, p, d) for f in ["base", *flavours()] for p in pythons for d in djangos}
    assert set(bake_definition("all")["group"]["all"]["targets"]) == {"base", "variant"}


def expected_tags(flavour: str, python: str, django: str, default: tuple[str, str]) -> list[str]:
    """The documented scheme, written out plainly."""
    tags = [f"{flavour}-py{python}-django{django}"]
    if django == default[1]:
        tags.append(f"{flavour}-py{python}")
        if python == default[0]:
            tags.append(flavour)
    tags.append(f"{pins()[f'{flavour}-django{django}']}-py{python}-django{pins()[f'django{django}']}")
    name = os.environ.get("IMAGE_NAME", "org/django-asgi")
    return [f"{name}:{tag}" for tag in tags]


def default_line() -> tuple[str, str]:
    """The line of the short tags: DEFAULT_PYTHON_VERSION/DEFAULT_DJANGO_VERSION if set,
    else the bake file's own default line (as written, without the environment's overrides)."""
    python, django = line(bake_definition("default", overrides=False))
    return os.environ.get("DEFAULT_PYTHON_VERSION") or python, os.environ.get("DEFAULT_DJANGO_VERSION") or django


def test_tags_follow_the_scheme_on_every_cell() -> None:
    default = default_line()
    for name, target in matrix().items():
        flavour = name.rsplit("-py", 1)[0]
        python, django = target["args"]["PYTHON_VERSION"], target["args"]["DJANGO_VERSION"]
        assert target["tags"] == expected_tags(flavour, python, django, default), name


def test_no_tag_lacks_a_lock() -> None:
    tags = {tag for target in matrix().values() for tag in target["tags"]}
    assert not [tag for tag in tags if "unlocked" in tag], "docker-bake.json lacks a lock: python3 -m tools lock"


def test_no_tag_is_claimed_twice() -> None:
    tags = [tag for target in matrix().values() for tag in target["tags"]]
    assert len(tags) == len(set(tags))


def test_a_build_date_gives_every_tag_a_dated_twin() -> None:
    for name, target in printed("all", BUILD_DATE="20261124")["target"].items():
        plain = [tag for tag in target["tags"] if not tag.endswith("-20261124")]
        assert target["tags"] == [t for tag in plain for t in (tag, f"{tag}-20261124")], name


def test_variants_build_on_a_target_not_a_registry() -> None:
    """One Dockerfile for every variant, FROM the `parent` context that bake fills with
    another cell of the same line (base; hypercorn for hypercorn-h3)."""
    assert (ROOT / "images" / "variant.Dockerfile").read_text().count("\nFROM parent\n") == 1
    for name, target in matrix().items():
        if name.startswith("base-"):
            continue
        assert target["dockerfile"] == "../variant.Dockerfile"
        suffix = name[name.rindex("-py") :]
        assert target["contexts"]["parent"].endswith(suffix), name


@pytest.mark.usefixtures("family")
@pytest.mark.parametrize("flavour", flavours())
def test_variant_shares_its_parents_layers_and_adds_one(flavour: str) -> None:
    parent_layers = inspect_image(image(parent_of(flavour)))["RootFS"]["Layers"]
    layers = inspect_image(image(flavour))["RootFS"]["Layers"]
    assert layers[: len(parent_layers)] == parent_layers
    assert len(layers) == len(parent_layers) + 1, "a variant should cost exactly one layer of its own"


@pytest.mark.usefixtures("family")
@pytest.mark.parametrize("target", ["base", *flavours()])
def test_oci_labels(target: str) -> None:
    config = inspect_image(image(target))["Config"]
    labels = config["Labels"]
    assert labels["org.opencontainers.image.title"] == f"django-asgi:{target}"
    assert labels["org.opencontainers.image.base.name"] == f"docker.io/library/python:{python_version()}-slim"
    version = labels["org.opencontainers.image.version"]
    assert version.endswith(f"-py{python_version()}-django{pins()[f'django{line()[1]}']}"), version
    for key in ("description", "source", "licenses"):
        assert labels[f"org.opencontainers.image.{key}"], key
    if target != "base":
        server = dict(variable.split("=", 1) for variable in config["Env"])["ASGI_SERVER"]
        assert server in servers()
        assert server in labels["org.opencontainers.image.description"]


def test_the_definition_does_not_vary_between_builds_of_one_commit() -> None:
    """Nothing in the tags, labels or args comes from the clock: two reads of the bake
    file give the same targets (bake lists a matrix group's members in no fixed order), and
    `created` appears only when CREATED is set (releases set it from the commit's
    SOURCE_DATE_EPOCH). Two uncached builds with SOURCE_DATE_EPOCH were checked by hand to
    give the same image config and creation time; an uncached build inside the suite would
    leave BuildKit's shared cache out of step with the family."""
    first = json.loads(docker("buildx", "bake", "--print", "all"))
    assert json.loads(docker("buildx", "bake", "--print", "all"))["target"] == first["target"]
    labels = [t["labels"] for t in first["target"].values()]
    assert not any("org.opencontainers.image.created" in label for label in labels)
    stamped = printed(cell("base"), CREATED="2026-11-24T00:00:00Z")
    assert stamped["target"][cell("base")]["labels"]["org.opencontainers.image.created"] == "2026-11-24T00:00:00Z"
