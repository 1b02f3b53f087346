"""A real registry on loopback: Debian's docker-registry (the CNCF distribution registry) on a
free port, its storage in memory, read through the registry API as any client
reads it (tags, manifests, blobs)."""

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from harness import docker

from bench.run import free_loopback_port

READY_TIMEOUT = 30.0  # seconds the registry may take to answer /v2/
# What a client accepts for a manifest: an index (multi-platform, or with attestations) or
# one image's manifest, OCI's or Docker's.
MANIFEST_TYPES = ", ".join([
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
])  # fmt: skip
# In memory: the filesystem driver writes a tag's link file in place, and BuildKit's
# parallel pushes then read it half written now and then (a 500, "invalid checksum digest
# format"); the in-memory driver, made for tests, writes under a lock.
CONFIG = """\
version: 0.1
log:
  level: warn
storage:
  inmemory: {{}}
  delete:
    enabled: true
http:
  addr: {host}
"""


@dataclass(frozen=True)
class Registry:
    host: str  # 127.0.0.1:PORT, as image references name it

    def get(self, path: str, **headers: str) -> httpx.Response:
        response = httpx.get(f"http://{self.host}/v2/{path}", headers=headers, timeout=30)
        response.raise_for_status()
        return response

    def tags(self, repository: str) -> set[str]:
        return set(self.get(f"{repository}/tags/list").json()["tags"])

    def manifest(self, repository: str, reference: str) -> dict[str, Any]:
        return self.get(f"{repository}/manifests/{reference}", Accept=MANIFEST_TYPES).json()

    def digest(self, repository: str, reference: str) -> str:
        return self.get(f"{repository}/manifests/{reference}", Accept=MANIFEST_TYPES).headers["Docker-Content-Digest"]

    def blob(self, repository: str, digest: str) -> dict[str, Any]:
        return json.loads(self.get(f"{repository}/blobs/{digest}").content)

    def platform_manifest(self, repository: str, reference: str, platform: str = "linux/amd64") -> dict[str, Any]:
        """One platform's image manifest, through the index when there is one."""
        manifest = self.manifest(repository, reference)
        if "manifests" not in manifest:
            return manifest
        os_name, architecture = platform.split("/")
        entry = next(
            m for m in manifest["manifests"]
            if m["platform"]["os"] == os_name and m["platform"]["architecture"] == architecture
        )  # fmt: skip
        return self.manifest(repository, entry["digest"])

    def labels(self, repository: str, reference: str) -> dict[str, str]:
        config = self.platform_manifest(repository, reference)["config"]["digest"]
        return self.blob(repository, config)["config"].get("Labels") or {}


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@contextmanager
def registry_on_loopback(directory: Path) -> Iterator[Registry]:
    """docker-registry on 127.0.0.1 (its config and log in `directory`), stopped afterwards."""
    host = f"127.0.0.1:{free_loopback_port()}"
    config = directory / "config.yml"
    config.write_text(CONFIG.format(host=host))
    log = (directory / "registry.log").open("w")
    process = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while not answers(f"http://{host}/v2/"):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"docker-registry did not start: {(directory / 'registry.log').read_text()}", pytrace=False)
            time.sleep(0.1)
        yield Registry(host)
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@contextmanager
def pulled_from(registry: Registry, local_tag: str, repository: str) -> Iterator[str]:
    """A local image as a platform deploys it (`fly deploy --image`, a Kubernetes node):
    pushed to the registry under a name of its own, pulled back by that name into a store
    that had no image of it, and that pulled reference yielded; removed afterwards."""
    reference = f"{registry.host}/{repository}:{uuid.uuid4().hex[:12]}"
    docker("tag", local_tag, reference)
    try:
        docker("push", "--quiet", reference)
        docker("image", "rm", reference)
        docker("pull", "--quiet", reference)
        yield reference
    finally:
        docker("image", "rm", reference, check=False)
