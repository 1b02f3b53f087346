"""The family as bake defines it and builds it: names, tags, shared layers."""

import os

import pytest
from harness import (
    ROOT,
    bake_definition,
    bake_target,
    default_python_version,
    image,
    inspect_image,
    python_version,
    servers,
)


def test_one_name_everywhere() -> None:
    """images/<name>/ is the bake target <name>, and the default group builds them all."""
    image_dirs = {path.parent.name for path in ROOT.glob("images/*/Dockerfile")}
    assert set(servers()) | {"base"} == image_dirs
    default = bake_definition()["group"]["default"]["targets"]
    assert "base" in default and "server" in default


@pytest.mark.parametrize("target", ["base", *servers()])
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


def test_variants_build_on_the_base_target_not_a_registry() -> None:
    for server in servers():
        assert bake_target(server)["contexts"] == {"base": "target:base"}
        assert (ROOT / "images" / server / "Dockerfile").read_text().count("\nFROM base\n") == 1


@pytest.mark.usefixtures("family")
@pytest.mark.parametrize("server", servers())
def test_variant_shares_the_base_layers_and_adds_one(server: str) -> None:
    base_layers = inspect_image(image("base"))["RootFS"]["Layers"]
    layers = inspect_image(image(server))["RootFS"]["Layers"]
    assert layers[: len(base_layers)] == base_layers
    assert len(layers) == len(base_layers) + 1, "a variant should cost exactly one layer of its own"


@pytest.mark.usefixtures("family")
@pytest.mark.parametrize("target", ["base", *servers()])
def test_oci_labels(target: str) -> None:
    labels = inspect_image(image(target))["Config"]["Labels"]
    assert labels["org.opencontainers.image.title"] == f"django-asgi:{target}"
    assert labels["org.opencontainers.image.base.name"] == f"docker.io/library/python:{python_version()}-slim"
    for key in ("description", "source", "version", "licenses"):
        assert labels[f"org.opencontainers.image.{key}"], key
    if target != "base":
        assert target in labels["org.opencontainers.image.description"]
