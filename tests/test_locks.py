"""The hash-locked requirements: one per (image, Django line), current with its inputs."""

import pytest
from harness import bake_definition
from lockfiles import pinned

from tools.locks import (
    PINS_FILE,
    STANDALONE_LOCKS,
    input_digest,
    pins_document,
    recorded_digest,
    specs,
    standalone_digest,
)  # fmt: skip


def lock_specs() -> list:
    return specs(bake_definition("all")["target"])


@pytest.mark.parametrize("spec", lock_specs(), ids=lambda spec: f"{spec.image}-django{spec.django}")
def test_each_lock_is_current_with_its_requirements_in(spec) -> None:
    """Fails when a requirements.in (or the lock under it) changed and its lock was not
    regenerated with `python3 -m tools lock`."""
    assert spec.target.is_file(), f"{spec.target} is missing: python3 -m tools lock"
    assert recorded_digest(spec.target) == input_digest(spec), f"{spec.target.name} is stale: python3 -m tools lock"


@pytest.mark.parametrize("spec", lock_specs(), ids=lambda spec: f"{spec.image}-django{spec.django}")
def test_each_lock_holds_its_django_line_and_its_parents_pins(spec) -> None:
    for python in ("3.12", "3.13", "3.14"):
        pins = pinned(spec.target, python)
        if spec.parent is None:
            assert pins["django"].startswith(f"{spec.django}."), pins["django"]
        else:
            parent = pinned(spec.constraint, python)
            assert all(parent[name] == version for name, version in pins.items() if name in parent)


def test_the_pinned_versions_file_matches_the_locks() -> None:
    assert PINS_FILE.read_text() == pins_document(lock_specs())


@pytest.mark.parametrize("source", list(STANDALONE_LOCKS), ids=lambda source: "/".join(source.parts[-2:]))
def test_each_standalone_lock_is_current(source) -> None:
    """The tests' tools and the example project: locked from their requirements.in too."""
    lock = source.with_suffix(".txt")
    assert recorded_digest(lock) == standalone_digest(source), f"{lock} is stale: python3 -m tools lock"
