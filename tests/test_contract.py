"""The runtime contract takes effect on every server: each test starts its own container
of the sample project with one setting changed and looks at what the server does."""

import time
import uuid
from pathlib import Path

import httpx
import pytest
from capabilities import Matrix
from harness import (
    Container,
    eventually,
    index,
    readable_copy,
    serving,
    toolbox_for,
    workers,
)

pytestmark = pytest.mark.usefixtures("family")

MULTIPROCESS = ("hypercorn", "uvicorn", "granian")


def test_start_line_and_no_lifespan_complaints(sample: Container, server: str) -> None:
    logs = sample.logs()
    assert f"django-asgi: {server} serving hello_django.asgi:application on 0.0.0.0:8000" in logs
    lowered = logs.lower()
    assert "lifespan error" not in lowered and "lifespan unsupported" not in lowered, logs


def test_port_moves(server: str) -> None:
    with serving(server, "--env=PORT=9000", port=9000) as container:
        assert index(container)["server"] == server
        assert "on 0.0.0.0:9000" in container.stderr()


@pytest.mark.parametrize("server", MULTIPROCESS)
def test_web_concurrency_sets_the_worker_count(server: str) -> None:
    with serving(server, "--env=WEB_CONCURRENCY=3") as container, toolbox_for(container) as toolbox:
        eventually(lambda: len(workers(toolbox)) == 3, "3 workers")


@pytest.mark.parametrize("server", MULTIPROCESS)
def test_one_cpu_means_one_worker_by_default(server: str) -> None:
    with serving(server, "--cpus=1") as container, toolbox_for(container) as toolbox:
        assert "1 worker (1 CPU available)" in container.stderr()
        eventually(lambda: len(workers(toolbox)) == 1, "1 worker")


def marked_request(container: Container) -> str:
    """A request whose path appears in an access log line (a 404 is fine)."""
    marker = f"/marker-{uuid.uuid4().hex}"
    httpx.get(container.url + marker, timeout=10)
    return marker


def test_access_log_on_stdout_when_asked(server: str) -> None:
    """(Django logs the 404 too, but to stderr: stdout holds only the access log.)"""
    with serving(server, "--env=ACCESS_LOG=1") as container:
        marker = marked_request(container)
        eventually(lambda: marker in container.stdout(), "the request in the access log on stdout")


def test_access_log_off_by_default(sample: Container) -> None:
    """Requests to /healthz (200s, which Django itself does not log) leave no line at all:
    the access log costs throughput (docs/benchmarks.md), so it is opt-in. Its format, the
    same on every server, is tests/test_logs.py's."""
    for _ in range(3):
        assert httpx.get(sample.url + "/healthz", timeout=10).status_code == 200
    time.sleep(1)  # the time an access line would take to reach the log
    assert "GET /healthz" not in sample.logs()


def test_forwarded_headers_ignored_by_default(sample: Container) -> None:
    seen = index(sample, headers={"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"})
    assert seen["client"] != "203.0.113.7" and seen["scheme"] == "http"


def test_forwarded_headers_from_any_proxy(server: str) -> None:
    with serving(server, "--env=FORWARDED_ALLOW_IPS=*") as container:
        seen = index(container, headers={"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"})
        assert (seen["client"], seen["scheme"]) == ("203.0.113.7", "https")


@pytest.mark.parametrize("server", ["uvicorn", "granian"])
def test_forwarded_headers_only_from_listed_proxies(server: str) -> None:
    """Servers that can limit trust to addresses: another address is not trusted, the
    docker gateway (where published-port traffic comes from) is."""
    headers = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
    with serving(server, "--env=FORWARDED_ALLOW_IPS=192.0.2.1") as container:
        gateway = index(container, headers=headers)["client"]
        assert gateway != "203.0.113.7"
    with serving(server, f"--env=FORWARDED_ALLOW_IPS={gateway}") as container:
        assert index(container, headers=headers)["client"] == "203.0.113.7"


def test_root_path(server: str) -> None:
    """Behind a proxy that keeps the prefix and one that strips it, Django sees /sub/."""
    with serving(server, "--env=ROOT_PATH=/sub") as container:
        for path in ("/sub/", "/"):
            seen = httpx.get(container.url + path, timeout=10).json()
            assert (seen["path"], seen["script_name"]) == ("/sub/", "/sub"), path


def test_prestart_migrate_and_collectstatic_run_first(server: str, tmp_path: Path) -> None:
    script = tmp_path / "prestart.sh"
    script.write_text("echo prestart ran as $(id -u) > /tmp/prestart-ran\n")
    script.chmod(0o644)
    options = ("--env=DJANGO_COLLECTSTATIC=1", f"--volume={script}:/app/prestart.sh:ro")
    with serving(server, *options) as container:
        assert container.host.file("/tmp/prestart-ran").content_string == "prestart ran as 10001\n"
        assert container.host.file("/tmp/static/hello/hello.css").exists
        log = container.stderr()
        steps = ["running prestart script /app/prestart.sh", "DJANGO_MIGRATE=1: running migrate"]
        steps.append("DJANGO_COLLECTSTATIC=1: running collectstatic")
        positions = [log.index(step) for step in steps]
        assert positions == sorted(positions), log
        assert log.index(steps[-1]) < log.index("django-asgi: exec ")


@pytest.fixture
def editable_project(tmp_path: Path) -> Path:
    return readable_copy(tmp_path)


@pytest.mark.capability("reload")
def test_reload_picks_up_an_edited_view(server: str, editable_project: Path, capabilities: Matrix) -> None:
    with serving(server, "--env=RELOAD=1", f"--volume={editable_project}:/app:ro") as container:
        assert index(container)["message"] == "Hello from Django over ASGI"
        views = editable_project / "hello" / "views.py"
        edited_source = views.read_text().replace("Hello from Django over ASGI", "Hello again")

        def edited() -> bool:
            # (re)write the file each time: a reloader that took its first look at the
            # files after an earlier write would not count that write as a change
            views.write_text(edited_source)
            try:
                return httpx.get(container.url + "/", timeout=5).json()["message"] == "Hello again"
            except (httpx.TransportError, ValueError):
                return False  # restarting

        eventually(edited, "the edited view", interval=1.0)
    capabilities.record(server, "reload", "yes")
