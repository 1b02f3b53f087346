"""The family as bake defines it and builds it: names, tags, shared layers."""

import os

import pytest
from harness import (
    ROOT,
    bake_definition,
    bake_target,
    default_python_version,
    flavours,
    image,
    inspect_image,
    parent_of,
    python_version,
    servers,
)


def test_one_name_everywhere() -> None:
    """images/<name>/ is the bake target <name>, and the default group builds them all."""
    image_dirs = {path.parent.name for path in ROOT.glob("images/*/requirements.in")}
    assert {*flavours(), "base"} == image_dirs
    default = bake_definition()["group"]["default"]["targets"]
    extra_flavours = set(flavours()) - set(servers())  # hypercorn-h3: not in the server matrix
    assert {"base", "server", *extra_flavours} <= set(default)


@pytest.mark.parametrize("target", ["base", *flavours()])
def test_tags(target: str) -> None:
    """<flavour>-pyX.Y always; the plain <flavour> only for the default Python."""
    name = os.environ.get("IMAGE_NAME", "org/django-asgi")
    expected = [f"{name}:{target}-py{python_version()}"]
    if python_version() == default_python_version():
        expected.append(f"{name}:{target}")
    assert bake_target(target)["tags"] == expected


def test_no_tag_is_claimed_twice() -> None:
    tags = [tag for target in bake_definition()["target"].values() for tag in target.get("tags", [])]
    assert len(tags) == len(set(tags))


def test_variants_build_on_a_target_not_a_registry() -> None:
    """One Dockerfile for every variant, FROM the `parent` context that bake fills with
    another target of the family (base; hypercorn for hypercorn-h3)."""
    assert (ROOT / "images" / "variant.Dockerfile").read_text().count("\nFROM parent\n") == 1
    for flavour in flavours():
        target = bake_target(flavour)
        assert target["dockerfile"] == "../variant.Dockerfile"
        assert target["contexts"] == {"parent": f"target:{parent_of(flavour)}"}
        assert parent_of(flavour) in {"base", *flavours()}


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
    for key in ("description", "source", "version", "licenses"):
        assert labels[f"org.opencontainers.image.{key}"], key
    if target != "base":
        server = dict(variable.split("=", 1) for variable in config["Env"])["ASGI_SERVER"]
        assert server in labels["org.opencontainers.image.description"]
