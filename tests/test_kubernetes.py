"""examples/kubernetes, which no cluster can run here: rendered by `kubectl kustomize`
(Debian's kubernetes-client), validated by kubernetes-validate against a current
Kubernetes's schemas, and held to the image's contract as fly.toml is: the port, the health
route, a grace period covering DRAIN_DELAY and GRACEFUL_TIMEOUT, env names the image or the
project reads, the image's user and the restricted Pod Security Standard on every pod."""

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from harness import ROOT

from django_asgi.config import DEFAULT_PORT, HEALTH_PATH, read_seconds
from django_asgi.launcher import CONTRACT_VARIABLES
from django_asgi.supervisor import EXIT_MARGIN

EXAMPLE = ROOT / "examples" / "kubernetes"
PROJECT_SETTINGS = ROOT / "examples" / "fly" / "config" / "settings.py"  # the project it deploys
READ_BY_ITS_PACKAGES = {"DATABASE_URL"}  # dj_database_url.config() in those settings
KUBERNETES_VERSION = "1.37.0"  # the newest kubernetes-validate has schemas for
APP_UID = int(re.search(r"APP_UID=(\d+)", (ROOT / "images" / "base" / "Dockerfile").read_text()).group(1))


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    result = subprocess.run(["kubectl", "kustomize", str(EXAMPLE)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    path = tmp_path_factory.mktemp("kubernetes") / "rendered.yaml"
    path.write_text(result.stdout)
    return path


@pytest.fixture(scope="module")
def resources(rendered: Path) -> dict[tuple[str, str], dict[str, Any]]:
    return {(doc["kind"], doc["metadata"]["name"]): doc for doc in yaml.safe_load_all(rendered.read_text())}


def pod_specs(resources: dict) -> Iterator[tuple[str, dict]]:
    for (kind, name), resource in resources.items():
        if kind in ("Deployment", "Job"):
            yield f"{kind}/{name}", resource["spec"]["template"]["spec"]


def env_of(container: dict) -> dict[str, dict]:
    return {variable["name"]: variable for variable in container.get("env", [])}


def web_container(resources: dict) -> dict:
    (container,) = resources["Deployment", "web"]["spec"]["template"]["spec"]["containers"]
    return container


def test_it_is_valid_for_a_current_kubernetes(rendered: Path, resources: dict) -> None:
    result = subprocess.run(
        [str(Path(ROOT, ".venv", "bin", "kubernetes-validate")), "--strict", "-k", KUBERNETES_VERSION, str(rendered)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert set(resources) == {
        ("Deployment", "web"), ("Service", "web"), ("PodDisruptionBudget", "web"),
        ("HorizontalPodAutoscaler", "web"), ("Job", "migrate"), ("Deployment", "worker"),
    }  # fmt: skip


def test_the_web_pods_serve_on_the_images_port_and_probe_its_health_route(resources: dict) -> None:
    """The image's route never reaches Django (no Host needed) and says 503 while draining,
    so readiness takes a pod out as soon as SIGTERM came."""
    container = web_container(resources)
    assert [(port["name"], port["containerPort"]) for port in container["ports"]] == [("http", DEFAULT_PORT)]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": HEALTH_PATH, "port": "http"}, probe
    service = resources["Service", "web"]["spec"]
    assert service["ports"][0]["targetPort"] == "http"
    pod_labels = resources["Deployment", "web"]["spec"]["template"]["metadata"]["labels"]
    for selector in (service["selector"], resources["PodDisruptionBudget", "web"]["spec"]["selector"]["matchLabels"]):
        assert selector.items() <= pod_labels.items(), selector


def test_the_grace_period_covers_the_drain(resources: dict) -> None:
    env = {
        name: variable["value"] for name, variable in env_of(web_container(resources)).items() if "value" in variable
    }
    drain = read_seconds(env, "DRAIN_DELAY", default=0)
    graceful = read_seconds(env, "GRACEFUL_TIMEOUT", default=0)
    assert drain > 0, "endpoints and ingresses learn late that a pod is going"
    grace = resources["Deployment", "web"]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace >= drain + graceful + EXIT_MARGIN, (grace, drain, graceful)


def test_web_concurrency_follows_the_cpu_limit(resources: dict) -> None:
    workers = env_of(web_container(resources))["WEB_CONCURRENCY"]["valueFrom"]["resourceFieldRef"]
    assert workers == {"resource": "limits.cpu", "divisor": "1"}
    assert "cpu" in web_container(resources)["resources"]["limits"]


def test_every_env_name_is_the_images_or_the_projects(resources: dict) -> None:
    """A typo in a manifest's env would be silently ignored."""
    settings = PROJECT_SETTINGS.read_text()
    for where, spec in pod_specs(resources):
        for container in spec["containers"]:
            for name in env_of(container):
                known = CONTRACT_VARIABLES | READ_BY_ITS_PACKAGES | {"DJANGO_SETTINGS_MODULE"}
                assert name in known or f'"{name}"' in settings, (where, name)


def test_every_pod_meets_the_restricted_profile_as_the_images_user(resources: dict) -> None:
    for where, spec in pod_specs(resources):
        restricted = {"runAsNonRoot": True, "runAsUser": APP_UID, "runAsGroup": APP_UID}
        assert spec["securityContext"] == {**restricted, "seccompProfile": {"type": "RuntimeDefault"}}, where
        assert spec["automountServiceAccountToken"] is False, where
        tmp_volumes = {volume["name"] for volume in spec["volumes"] if "emptyDir" in volume}
        for container in spec["containers"]:
            assert container["image"] == "registry.example.com/team/mysite:1.0.0", where
            assert container["securityContext"] == {
                "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]},
            }, where  # fmt: skip
            mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
            assert mounts.get("/tmp") in tmp_volumes, where  # read-only root: /tmp is the writable place
            assert {"requests", "limits"} <= container["resources"].keys(), where


def test_migrations_run_once_in_a_job_not_in_the_web_pods(resources: dict) -> None:
    (job,) = resources["Job", "migrate"]["spec"]["template"]["spec"]["containers"]
    assert job["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert "DJANGO_MIGRATE" not in env_of(web_container(resources))


def test_the_worker_runs_a_manage_command_and_serves_nothing(resources: dict) -> None:
    (worker,) = resources["Deployment", "worker"]["spec"]["template"]["spec"]["containers"]
    assert worker["command"][:2] == ["python", "manage.py"]
    assert "ports" not in worker and not {"readinessProbe", "livenessProbe"} & worker.keys()


def test_the_autoscaler_scales_the_web_deployment(resources: dict) -> None:
    spec = resources["HorizontalPodAutoscaler", "web"]["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
    assert resources["Deployment", "web"]["spec"]["replicas"] == spec["minReplicas"] >= 2
