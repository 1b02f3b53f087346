"""The sample project served by every variant: over HTTP from the host, and seen from a
toolbox container that shares the server's PID and network namespaces."""

import shlex

import httpx
import pytest
from harness import Container, workers

APP_UID = 10001

pytestmark = pytest.mark.usefixtures("family")


def get(sample: Container, path: str, **kwargs: object) -> httpx.Response:
    return httpx.get(sample.url + path, timeout=10, **kwargs)  # type: ignore[arg-type]


def server_program(sample: Container) -> str:
    """The server program the launcher runs, from its own dry run (gunicorn for uvicorn,
    django_asgi.daphne for `python -m django_asgi.daphne`)."""
    argv = shlex.split(sample.host.check_output("django-asgi --print"))
    return argv[2] if argv[:2] == ["python", "-m"] else argv[0]


def supervised(sample: Container) -> bool:
    return "supervised:" in sample.host.run("django-asgi --print").stderr


# The package of the server each image runs (uvicorn's runs under gunicorn).
SERVER_MODULES = {"daphne": "daphne", "hypercorn": "hypercorn", "uvicorn": "uvicorn", "granian": "granian"}


def test_index_names_the_server_that_answered(sample: Container, server: str) -> None:
    """The worker that answered runs the server's code; its command line is the server's, or
    the supervisor's, which forked it with the app imported."""
    response = get(sample, "/")
    assert response.status_code == 200
    body = response.json()
    assert body["server"] == server
    assert SERVER_MODULES[server] in body["server_modules"]
    assert body["program"] == ("django_asgi.supervisor" if supervised(sample) else server_program(sample))
    assert body["asgi"]["version"] == "3.0"


def test_healthz(sample: Container) -> None:
    response = get(sample, "/healthz")
    assert (response.status_code, response.text) == (200, "ok")


def test_async_orm_writes_and_counts(sample: Container) -> None:
    first = get(sample, "/visits").json()
    second = get(sample, "/visits").json()
    assert second["visit"] > first["visit"]
    assert second["visits"] == first["visits"] + 1


@pytest.mark.parametrize(("query", "status"), [("seconds=0.2", 200), ("seconds=abc", 400), ("seconds=61", 400)])
def test_slow_view(sample: Container, query: str, status: int) -> None:
    assert get(sample, f"/slow?{query}").status_code == status


def test_unknown_host_is_refused(sample: Container) -> None:
    assert get(sample, "/", headers={"Host": "evil.example"}).status_code == 400


def test_listens_on_all_interfaces_port_8000(toolbox) -> None:
    assert toolbox.socket("tcp://0.0.0.0:8000").is_listening


def test_pid_1_is_the_server_or_its_supervisor_and_every_process_is_the_app_user(toolbox, sample: Container) -> None:
    """The launcher exec'd the server, or the supervisor that forks it (daphne, hypercorn);
    the server and its workers run as 10001."""
    program = server_program(sample)
    pid_1 = toolbox.process.get(pid=1).args
    if supervised(sample):
        assert "-m django_asgi.supervisor" in pid_1
        assert workers(toolbox) and all(p.args == pid_1 for p in workers(toolbox))  # forked with the app
    else:
        assert program in pid_1
    # The toolbox's own processes share the namespace; the server's all run from the venv.
    server_processes = [p for p in toolbox.process.filter() if "/opt/venv/" in p.args]
    assert server_processes
    assert {p.euid for p in server_processes} == {APP_UID}, [(p.pid, p.euid, p.args) for p in server_processes]
